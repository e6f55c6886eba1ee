"""Every run's own figure, as the article draws it and one panel more: training and validation
accuracy (left) and loss (right) by epoch, from the run folder's history.csv alone."""
from __future__ import annotations

from pathlib import Path

from bn_study.report.figures import integer_epochs, plt, save_figure
from bn_study.results import HISTORY_FILE, RunRecord

RUN_FIGURE, RUN_PAGE = "figure.png", "figure.html"  # the static figure and the page to explore


def draw_run_figure(run: RunRecord) -> tuple[Path, Path]:
    """<run folder>/figure.png and its interactive page, figure.html; their paths."""
    from bn_study.report.interactive import run_page

    return _draw_png(run), run_page(run, Path(run.directory) / RUN_PAGE)


def _draw_png(run: RunRecord) -> Path:
    history = run.history
    epochs = history["epoch"].to_numpy() + 1  # CSVLogger's epochs are 0-based
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.plot(epochs, history[metric], label="training", marker="o", ms=3)
        ax.plot(epochs, history[f"val_{metric}"], label="validation", marker="o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        integer_epochs(ax)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if metric == "accuracy" else "upper right")
    axes[1].set_yscale("log")
    test = run.metrics.get("test_accuracy")
    fig.suptitle(f"{run.variant}, seed {run.seed}" + (f": test accuracy {test:.4f}" if test is not None else ""),
                 fontsize=11)
    return save_figure(fig, Path(run.directory) / RUN_FIGURE)


def needs_figure(run: RunRecord) -> bool:
    """A complete run whose figure or page is missing or older than its history."""
    history = Path(run.directory) / HISTORY_FILE
    drawn = [Path(run.directory) / name for name in (RUN_FIGURE, RUN_PAGE)]
    return run.complete and any(not f.is_file() or f.stat().st_mtime < history.stat().st_mtime for f in drawn)
