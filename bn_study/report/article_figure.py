"""The article's figure for several experiments on one page: one row per experiment (e.g. MNIST and
Fashion-MNIST), one panel per variant, training and validation accuracy per epoch as the mean over
seeds with a +-1 std band (the article shows one run; its 'test' curve is the validation split).
"""
from __future__ import annotations

from pathlib import Path

from bn_study.errors import UserError
from bn_study.report.figures import integer_epochs, plt, save_figure
from bn_study.report.plots import curve_stats


def article_figures(results_dirs: list[Path], out: Path) -> Path:
    """Draw the page from each results folder's complete runs; returns the PNG's path."""
    from bn_study.data.datasets import TITLES
    from bn_study.config.experiment_spec import SPEC_FILE, load_spec
    from bn_study.results import find_runs

    rows = []
    for results_dir in map(Path, results_dirs):
        if not (results_dir / SPEC_FILE).is_file():
            raise UserError(f"{results_dir}: not an experiment's results folder (no {SPEC_FILE})")
        variants = [v.name for v in load_spec(results_dir / SPEC_FILE).all_variants]
        runs = [r for r in find_runs(results_dir) if r.complete and r.variant in variants]
        if not runs:
            raise UserError(f"{results_dir}: no complete runs to plot")
        dataset = runs[0].config["data"]["dataset"]
        rows.append((f"{results_dir.name} ({TITLES.get(dataset, dataset)})", variants, runs))
    columns = max(len(variants) for _, variants, _ in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(5.2 * columns, 3.8 * len(rows)), squeeze=False)
    for row_axes, (title, variants, runs) in zip(axes, rows):
        for ax, variant in zip(row_axes, variants):
            for column, label in (("accuracy", "train"), ("val_accuracy", "test (validation split)")):
                stats = curve_stats(runs, variant, column)
                line, = ax.plot(stats.index, stats["mean"], label=label)
                ax.fill_between(stats.index, stats["mean"] - stats["std"].fillna(0),
                                stats["mean"] + stats["std"].fillna(0), color=line.get_color(), alpha=0.25)
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
