"""Result tables in README.md and docs/*.md, generated from the statistics files, never typed.

A block between
    <!-- results:EXPERIMENT:KIND -->
    ...
    <!-- /results -->
is rewritten by `bn-study docs` (run by `make plots`) from results/EXPERIMENT/summary.csv and
claims.csv; `bn-study docs --check` (and a test) fails when a block is out of date. Kinds:
- claims: every claim with the evidence's effect, the Holm-adjusted p and the verdict;
- effect: for a grid of paired lines (e.g. ReLU SGD without / with BN) the treatment-minus-baseline
  difference of the first difference-claim metric per swept value, with the verdict marked.
"""
from __future__ import annotations

import os
import re
from pathlib import Path


from bn_study.config.experiment_spec import SPEC_FILE, load_spec
from bn_study.errors import UserError
from bn_study.report.effect_map import MARKS, effect_cells
from bn_study.report.statistics import finite, read_claims, read_summary
from bn_study.report.tables import markdown_table

BLOCK = re.compile(r"(<!-- results:(?P<name>[\w.-]+):(?P<kind>\w+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def _effect(evidence: str) -> str:
    """The part of a claim's evidence that states the effect: the difference, else the CI."""
    parts = evidence.split("; ")
    return next((p for p in parts if "Δ" in p), next((p for p in parts if "CI" in p), evidence))


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
    note = (f"\n\n{metric.replace('_', ' ')}: {columns[0].split(' → ')[1]} minus {columns[0].split(' → ')[0]} "
            "and so on for each column, mean over seeds; "
            "✓ supported, ✗ not supported, · inconclusive (Holm-adjusted, α = 0.05).")
    return markdown_table([key] + columns_shown, rows) + note


def _pair_name(column: str) -> str:
    """'sigmoid_sgd_none → sigmoid_sgd_bn' -> 'sigmoid_sgd' (what the two lines share), else as is."""
    baseline, _, treatment = column.partition(" → ")
    shared = os.path.commonprefix([baseline, treatment]).rstrip("_-")
    return shared or column


KINDS = {"claims": claims_block, "effect": effect_block}


def render(text: str, results_root: Path) -> str:
    """`text` with every results block regenerated."""
    def block(match: re.Match) -> str:
        kind = match.group("kind")
        if kind not in KINDS:
            raise UserError(f"results block '{match.group('name')}:{kind}': unknown kind; known: {', '.join(KINDS)}")
        return match.group(1) + KINDS[kind](Path(results_root) / match.group("name")) + "\n" + match.group(5)
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
