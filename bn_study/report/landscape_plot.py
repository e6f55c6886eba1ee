"""Santurkar et al.'s Figure 4 from landscape.csv: over training, per variant, the loss variation,
the gradient change and the effective beta-smoothness along the gradient (mean and the range over
seeds as a band), on log axes since they span orders of magnitude."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bn_study.report.figures import plt, save_figure

PANELS = {"loss_variation": "loss variation (max − min of L(w − ηg))",
          "grad_change_max": "gradient change max ‖∇L(w − ηg) − ∇L(w)‖",
          "beta_smoothness": "effective β-smoothness"}


def landscape_bands(curves: pd.DataFrame, variants: list[str], out: Path) -> Path | None:
    """landscape.png from curves.csv's landscape bands; None when no run measured the landscape."""
    measured = curves[curves["source"] == "landscape"]
    if measured.empty:
        return None
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.2 * len(PANELS), 4.2), squeeze=False)
    for ax, (column, title) in zip(axes[0], PANELS.items()):
        for i, variant in enumerate(v for v in variants if (measured["variant"] == v).any()):
            band = measured[(measured["variant"] == variant) & (measured["column"] == column)].set_index("x").sort_index()
            color = colors[i % len(colors)]
            ax.plot(band.index, band["mean"], color=color, label=f"{variant} (n={int(band['n'].max())})")
            ax.fill_between(band.index, band["min"], band["max"], color=color, alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Loss landscape along the gradient: mean over seeds, band = min–max "
                 "(cf. Santurkar et al. 2018, Fig. 4)", fontsize=10)
    return save_figure(fig, out / "landscape.png")
