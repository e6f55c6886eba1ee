"""The article's figure for several experiments on one page: one row per experiment (e.g. MNIST and
Fashion-MNIST), one panel per variant, training and validation accuracy per epoch as the mean over
seeds with a +-1 std band (the article shows one run; its 'test' curve is the validation split).
"""
from __future__ import annotations

from pathlib import Path

from bn_study.errors import UserError
from bn_study.report.figures import integer_epochs, plt, save_figure
from bn_study.report.plots import curve_band
from bn_study.stats.files import open_results


def article_figures(results_dirs: list[Path], out: Path) -> Path:
    """Draw the page from each results folder's curves.csv; returns the PNG's path."""
    from bn_study.data.datasets import TITLES

    rows = []
    for results_dir in map(Path, results_dirs):
        experiment, statistics = open_results(results_dir)
        runs = experiment.complete
        if not runs:
            raise UserError(f"{results_dir}: no complete runs to plot")
        dataset = runs[0].config["data"]["dataset"]
        rows.append((f"{results_dir.name} ({TITLES.get(dataset, dataset)})", experiment.variants, runs,
                     statistics.curves))
    columns = max(len(variants) for _, variants, _, _ in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(5.2 * columns, 3.8 * len(rows)), squeeze=False)
    for row_axes, (title, variants, runs, curves) in zip(axes, rows):
        for ax, variant in zip(row_axes, variants):
            for column, label in (("accuracy", "train"), ("val_accuracy", "test (validation split)")):
                band = curve_band(curves, variant, column)
                line, = ax.plot(band.index, band["mean"], label=label)
                ax.fill_between(band.index, band["mean"] - band["std"].fillna(0),
                                band["mean"] + band["std"].fillna(0), color=line.get_color(), alpha=0.25)
            seeds = len({r.seed for r in runs if r.variant == variant})
            ax.set_title(f"{title}: {variant}, {seeds} seeds", fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy")
            integer_epochs(ax)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right")
        for ax in row_axes[len(variants):]:
            ax.set_visible(False)
    fig.suptitle("The article's figure, mean ± 1 std over seeds")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, Path(out))
