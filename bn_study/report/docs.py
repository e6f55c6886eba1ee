"""Result tables in README.md and docs/*.md, generated from the statistics files, never typed.

A block between
    <!-- results:EXPERIMENT:KIND -->            or   <!-- results:EXPERIMENT:KIND:ARGUMENTS -->
    ...
    <!-- /results -->
is rewritten by `bn-study docs` (run by `make plots`) from results/EXPERIMENT/summary.csv,
aggregate.csv and claims.csv; `bn-study docs --check` (and a test) fails when a block is out of
date. Kinds:
- table:FIGURE,FIGURE,...: one row per figure of aggregate.csv, one column per listed variant,
  mean ± std over seeds (the std to 2 significant digits, the mean to the same decimal place);
- verdicts: one line per claim: the claim, its verdict, the effect and the Holm-adjusted p;
- claims: every claim with the evidence's effect, the Holm-adjusted p and the verdict;
- sweep:FIGURE: for a grid experiment, the figure against the swept value (rows) per grid line
  (columns), mean ± std over complete seeds, as in the report;
- effect: for a grid of paired lines (e.g. ReLU SGD without / with BN) the treatment-minus-baseline
  difference of the first difference-claim metric per swept value, with the verdict marked.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from bn_study.config.experiment_spec import SPEC_FILE, load_spec
from bn_study.errors import UserError
from bn_study.report.effect_map import MARKS, effect_cells
from bn_study.report.experiment_report import TABLE_FIGURES
from bn_study.report.summary import AGGREGATE_FILE, SUMMARY_FILE
from bn_study.report.statistics import finite, read_claims, read_summary
from bn_study.report.tables import SWEEP_FIGURES, markdown_table, mean_std, sweep_table

BLOCK = re.compile(r"(?P<open><!-- results:(?P<name>[\w.-]+):(?P<kind>\w+)(?::(?P<arguments>[\w.,-]+))? -->\n)"
                   r"(?P<body>.*?)(?P<close><!-- /results -->)", re.S)


def _effect(evidence: str) -> str:
    """The part of a claim's evidence that states the effect: the difference, else the CI."""
    parts = evidence.split("; ")
    return next((p for p in parts if "Δ" in p), next((p for p in parts if "CI" in p), evidence))


def figure_label(figure: str) -> str:
    """The report's name for a summary figure ('epochs_to_val_0.99' -> 'epochs to 0.99 validation accuracy')."""
    if figure.startswith("epochs_to_val_"):
        return f"epochs to {figure.removeprefix('epochs_to_val_')} validation accuracy"
    return TABLE_FIGURES.get(figure) or SWEEP_FIGURES.get(figure) or figure.replace("_", " ")


def table_block(results_dir: Path, figures: str) -> str:
    variants = [v.name for v in load_spec(results_dir / SPEC_FILE).variants]
    aggregate = pd.read_csv(results_dir / AGGREGATE_FILE).set_index(["figure", "variant"])
    summary = read_summary(results_dir)
    runs = summary[summary["status"] == "complete"].groupby("variant", observed=True).size()
    rows = []
    for figure in figures.split(","):
        if figure not in aggregate.index.get_level_values("figure"):
            raise UserError(f"results block '{results_dir.name}:table:{figures}': no figure '{figure}' in "
                            f"{results_dir / AGGREGATE_FILE}")
        cells = []
        for variant in variants:
            n, mean, std = aggregate.loc[(figure, variant), ["n", "mean", "std"]]
            # e.g. epochs to a threshold that some runs never reached: say how many it averages
            if n == 0:
                cells.append(f"never (0 of {runs[variant]} runs)")
            else:
                cells.append(mean_std(mean, std) + (f" ({int(n)} of {runs[variant]} runs)" if n != runs[variant] else ""))
        rows.append([figure_label(figure), *cells])
    seeds = "–".join(map(str, sorted({int(runs.min()), int(runs.max())})))
    return markdown_table([f"mean ± std over {seeds} seeds", *variants], rows)


RAW_P = re.compile(r", (Welch|TOST|Brown-Forsythe) p = [\d.e+-]+")  # the verdict rests on the Holm-adjusted p
VARIANT_MEAN = re.compile(r"^\S+ [\d.e+-]+ ± [\d.e+-]+ \(n=\d+\), ")


def verdicts_block(results_dir: Path) -> str:
    lines = []
    for c in read_claims(results_dir).itertuples():
        effect = VARIANT_MEAN.sub("", RAW_P.sub("", _effect(c.evidence)))
        holm = f", Holm p = {c.holm_p:.2g}" if finite(c.holm_p) else ""
        lines.append(f"- {c.claim}: **{c.verdict}** ({effect}{holm})")
    return "\n".join(lines)


def claims_block(results_dir: Path) -> str:
    claims = read_claims(results_dir)
    rows = [[str(c.number), c.claim, _effect(c.evidence), f"{c.holm_p:.2g}" if finite(c.holm_p) else "–",
             f"**{c.verdict}**"] for c in claims.itertuples()]
    return markdown_table(["#", "claim", "evidence", "Holm p", "verdict"], rows)


def effect_block(results_dir: Path) -> str:
    spec = load_spec(results_dir / SPEC_FILE)
    claims, summary = read_claims(results_dir), read_summary(results_dir)
    cells = effect_cells(claims, summary, spec.grid_points)
    if cells.empty:
        raise UserError(f"{results_dir}: no difference claims between grid variants for an effect table")
    metric = cells["metric"].iloc[0]
    cells = cells[cells["metric"] == metric]
    columns = list(dict.fromkeys(cells["column"]))
    grid = {(c.row, c.column): f"{c.difference:+.3f} {MARKS.get(c.verdict, '?')}" for c in cells.itertuples()}
    rows = [[str(row)] + [grid.get((row, column), "–") for column in columns] for row in sorted(set(cells["row"]))]
    key = spec.grid_points[0].key.rsplit(".", 1)[-1]
    columns_shown = [_pair_name(c) for c in columns]
    baseline, treatment = columns[0].split(" → ")
    note = (f"\n\n{figure_label(metric)}, {treatment.removeprefix(columns_shown[0]).lstrip('_-')} minus "
            f"{baseline.removeprefix(columns_shown[0]).lstrip('_-')}, mean over seeds; ✓ supported, ✗ not supported, "
            "· inconclusive (Holm, α = 0.05).")
    return markdown_table([key] + columns_shown, rows) + note


def sweep_block(results_dir: Path, figure: str) -> str:
    points = load_spec(results_dir / SPEC_FILE).grid_points
    summary = read_summary(results_dir)
    if not points:
        raise UserError(f"results block '{results_dir.name}:sweep:{figure}': {results_dir.name} is not a grid "
                        "experiment; use table:FIGURES")
    if figure not in summary.columns:
        raise UserError(f"results block '{results_dir.name}:sweep:{figure}': no figure '{figure}' in "
                        f"{results_dir / SUMMARY_FILE}")
    return sweep_table(summary, points, figure)


def _pair_name(column: str) -> str:
    """'sigmoid_sgd_none → sigmoid_sgd_bn' -> 'sigmoid_sgd' (what the two lines share), else as is."""
    baseline, _, treatment = column.partition(" → ")
    shared = os.path.commonprefix([baseline, treatment]).rstrip("_-")
    return shared or column


KINDS = {"claims": claims_block, "effect": effect_block, "verdicts": verdicts_block, "table": table_block,
         "sweep": sweep_block}
TAKES_ARGUMENTS = {"table", "sweep"}


def render(text: str, results_root: Path) -> str:
    """`text` with every results block regenerated."""
    def block(match: re.Match) -> str:
        name, kind, arguments = match.group("name", "kind", "arguments")
        if kind not in KINDS:
            raise UserError(f"results block '{name}:{kind}': unknown kind; known: {', '.join(KINDS)}")
        if (kind in TAKES_ARGUMENTS) != bool(arguments):
            usage = (f"takes figures, e.g. {kind}:test_accuracy" if kind in TAKES_ARGUMENTS else "takes no arguments")
            raise UserError(f"results block '{name}:{kind}{':' + arguments if arguments else ''}': {kind} {usage}")
        body = KINDS[kind](Path(results_root) / name, *([arguments] if arguments else []))
        return match.group("open") + body + "\n" + match.group("close")
    return BLOCK.sub(block, text)


def update_docs(pages: list[Path], results_root: Path, check: bool = False) -> list[Path]:
    """Rewrite (or with `check`, only find) the pages whose results blocks are out of date."""
    stale = []
    for page in pages:
        text = Path(page).read_text()
        new = render(text, results_root)
        if new != text:
            stale.append(Path(page))
            if not check:
                Path(page).write_text(new)
    return stale
