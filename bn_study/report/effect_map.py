"""The "where BN helps" figure: one panel per claimed figure, a cell per (grid line pair, swept
value), coloured by treatment minus baseline (e.g. BN minus no BN) and marked with the claim's
Holm-adjusted verdict, so that a reader sees at a glance where the effect is real.

Cells come from the experiment's `difference` claims whose baseline and treatment are grid
variants at the same swept value: the column is the baseline's line (its model name), the row the
swept value.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bn_study.report.figures import plt, save_figure
from bn_study.report.words import cell_words
from bn_study.stats.rules import ALPHA, MARKS


def effect_cells(claims_table: pd.DataFrame, points) -> pd.DataFrame:
    """One row per difference claim (claims.csv) between grid variants at one swept value: metric,
    column (the baseline's line), row (the swept value), the difference of means (claims.csv's
    effect), the verdict and whether the claim expects the treatment lower."""
    where = {p.variant: p for p in points}
    rows = []
    for _, c in claims_table.iterrows():
        if c["test"] != "difference" or c["baseline"] not in where or c["treatment"] not in where:
            continue
        base, treat = where[c["baseline"]], where[c["treatment"]]
        if base.x != treat.x:
            continue
        rows.append({"metric": c["metric"], "column": f"{base.line} → {treat.line}", "row": base.x,
                     "difference": c["effect"],
                     "verdict": c["verdict"],
                     "lower_better": c["expect"] == "lower",
                     "baseline": c["baseline"], "treatment": c["treatment"], **cell_words(c)})
    return pd.DataFrame(rows)


def effect_map(claims_table: pd.DataFrame, points, out: Path) -> Path | None:
    """effect_map.png: a heat map per metric (see the module docstring); None without such claims."""
    cells = effect_cells(claims_table, points)
    if cells.empty:
        return None
    metrics = list(dict.fromkeys(cells["metric"]))
    columns = list(dict.fromkeys(cells["column"]))
    rows = sorted(dict.fromkeys(cells["row"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(1.6 * len(columns) * len(metrics) + 2, 0.55 * len(rows) + 3.2),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        mine = cells[cells["metric"] == metric]
        grid = mine.pivot(index="row", columns="column", values="difference").reindex(index=rows, columns=columns)
        limit = np.nanmax(np.abs(grid.to_numpy())) if np.isfinite(grid.to_numpy()).any() else 1.0
        # Where the claims expect lower values (epochs to a threshold, loss spikes) the colours turn
        # round: blue still means "treatment better", and the colour bar keeps the cells' signs.
        lower_better = bool(mine["lower_better"].all())
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r" if lower_better else "RdBu",
                          vmin=-limit or -1, vmax=limit or 1, aspect="auto")
        for _, cell in mine.iterrows():
            i, j = rows.index(cell["row"]), columns.index(cell["column"])
            dark = abs(cell["difference"]) > 0.6 * limit  # the colour map's deep ends: white text reads there
            ax.text(j, i, f"{cell['difference']:+.3g}\n{MARKS.get(cell['verdict'], '?')}", ha="center", va="center",
                    fontsize=8, color="white" if dark else "black")
        ax.set_xticks(range(len(columns)), [c.replace(" → ", "\n→ ") for c in columns], fontsize=7, rotation=0)
        ax.set_yticks(range(len(rows)), [str(r) for r in rows])
        ax.set_ylabel(points[0].key)
        ax.set_title(f"{metric.replace('_', ' ')}: treatment − baseline\n(blue: treatment better)", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"✓ supported, ✗ not supported, · inconclusive (Holm-adjusted, α = {ALPHA})", fontsize=9)
    return save_figure(fig, out / EFFECT_MAP_PNG)


EFFECT_MAP_PNG, EFFECT_MAP_PAGE = "effect_map.png", "effect_map.html"
