"""Result tables in README.md and docs/*.md, generated from the statistics files, never typed.

A block between
    <!-- results:EXPERIMENT:KIND -->            or   <!-- results:EXPERIMENT:KIND:ARGUMENTS -->
    ...
    <!-- /results -->
is rewritten by `bn-study docs` (run by `make plots`) from results/EXPERIMENT/summary.csv,
aggregate.csv and claims.csv (their numbers, put into words by report/words.py as in the reports);
`bn-study docs --check` (and a test) fails when a block is out of
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


from bn_study.errors import UserError
from bn_study.report.effect_map import effect_cells
from bn_study.report.tables import markdown_table, mean_std, sweep_table
from bn_study.report.words import claim_effect
from bn_study.stats.files import AGGREGATE_FILE, SUMMARY_FILE, ExperimentRuns, Statistics, finite, open_results
from bn_study.stats.labels import label
from bn_study.stats.rules import ALPHA, MARKS

BLOCK = re.compile(r"(?P<open><!-- results:(?P<name>[\w.-]+):(?P<kind>\w+)(?::(?P<arguments>[\w.,-]+))? -->\n)"
                   r"(?P<body>.*?)(?P<close><!-- /results -->)", re.S)


def table_block(experiment: ExperimentRuns, statistics: Statistics, figures: str) -> str:
    results_dir, spec = experiment.directory, experiment.spec
    variants = [v.name for v in spec.variants]
    aggregate = statistics.aggregate.reorder_levels(["figure", "variant"])
    summary = statistics.summary
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
        rows.append([label(figure), *cells])
    seeds = "–".join(map(str, sorted({int(runs.min()), int(runs.max())})))
    return markdown_table([f"mean ± std over {seeds} seeds", *variants], rows)


def verdicts_block(experiment: ExperimentRuns, statistics: Statistics) -> str:
    lines = []
    for c in statistics.claims.itertuples():
        holm = f", Holm p = {c.holm_p:.2g}" if finite(c.holm_p) else ""
        lines.append(f"- {c.claim}: **{c.verdict}** ({claim_effect(c._asdict())}{holm})")
    return "\n".join(lines)


def claims_block(experiment: ExperimentRuns, statistics: Statistics) -> str:
    claims = statistics.claims
    rows = [[str(c.number), c.claim, claim_effect(c._asdict()), f"{c.holm_p:.2g}" if finite(c.holm_p) else "–",
             f"**{c.verdict}**"] for c in claims.itertuples()]
    return markdown_table(["#", "claim", "evidence", "Holm p", "verdict"], rows)


def effect_block(experiment: ExperimentRuns, statistics: Statistics) -> str:
    spec = experiment.spec
    cells = effect_cells(statistics.claims, spec.grid_points)
    if cells.empty:
        raise UserError(f"{experiment.directory}: no difference claims between grid variants for an effect table")
    metric = cells["metric"].iloc[0]
    cells = cells[cells["metric"] == metric]
    columns = list(dict.fromkeys(cells["column"]))
    grid = {(c.row, c.column): f"{c.difference:+.3f} {MARKS.get(c.verdict, '?')}" for c in cells.itertuples()}
    rows = [[str(row)] + [grid.get((row, column), "–") for column in columns] for row in sorted(set(cells["row"]))]
    key = spec.grid_points[0].key.rsplit(".", 1)[-1]
    columns_shown = [_pair_name(c) for c in columns]
    baseline, treatment = columns[0].split(" → ")
    note = (f"\n\n{label(metric)}, {treatment.removeprefix(columns_shown[0]).lstrip('_-')} minus "
            f"{baseline.removeprefix(columns_shown[0]).lstrip('_-')}, mean over seeds; ✓ supported, ✗ not supported, "
            f"· inconclusive (Holm, α = {ALPHA}).")
    return markdown_table([key] + columns_shown, rows) + note


def sweep_block(experiment: ExperimentRuns, statistics: Statistics, figure: str) -> str:
    results_dir, spec = experiment.directory, experiment.spec
    points = spec.grid_points
    summary = statistics.summary
    if not points:
        raise UserError(f"results block '{results_dir.name}:sweep:{figure}': {results_dir.name} is not a grid "
                        "experiment; use table:FIGURES")
    if figure not in summary.columns:
        raise UserError(f"results block '{results_dir.name}:sweep:{figure}': no figure '{figure}' in "
                        f"{results_dir / SUMMARY_FILE}")
    return sweep_table(summary, statistics.aggregate, points, figure)


def _pair_name(column: str) -> str:
    """'sigmoid_sgd_none → sigmoid_sgd_bn' -> 'sigmoid_sgd' (what the two lines share), else as is."""
    baseline, _, treatment = column.partition(" → ")
    shared = os.path.commonprefix([baseline, treatment]).rstrip("_-")
    return shared or column


KINDS = {"claims": claims_block, "effect": effect_block, "verdicts": verdicts_block, "table": table_block,
         "sweep": sweep_block}
TAKES_ARGUMENTS = {"table", "sweep"}


def render(text: str, results_root: Path, opened: dict | None = None) -> str:
    """`text` with every results block regenerated; each results folder opened once (`opened` caches them
    across pages)."""
    opened = {} if opened is None else opened

    def block(match: re.Match) -> str:
        name, kind, arguments = match.group("name", "kind", "arguments")
        if kind not in KINDS:
            raise UserError(f"results block '{name}:{kind}': unknown kind; known: {', '.join(KINDS)}")
        if (kind in TAKES_ARGUMENTS) != bool(arguments):
            usage = (f"takes figures, e.g. {kind}:test_accuracy" if kind in TAKES_ARGUMENTS else "takes no arguments")
            raise UserError(f"results block '{name}:{kind}{':' + arguments if arguments else ''}': {kind} {usage}")
        if name not in opened:
            opened[name] = open_results(Path(results_root) / name)
        body = KINDS[kind](*opened[name], *([arguments] if arguments else []))
        return match.group("open") + body + "\n" + match.group("close")
    return BLOCK.sub(block, text)


def update_docs(pages: list[Path], results_root: Path, check: bool = False) -> list[Path]:
    """Rewrite (or with `check`, only find) the pages whose results blocks are out of date."""
    stale, opened = [], {}
    for page in pages:
        text = Path(page).read_text()
        new = render(text, results_root, opened)
        if new != text:
            stale.append(Path(page))
            if not check:
                Path(page).write_text(new)
    return stale
