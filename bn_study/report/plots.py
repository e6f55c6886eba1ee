"""An experiment's figures, drawn with matplotlib from its run folders and statistics files alone
(no training, no statistic computed here: the bands, means and CIs come from stats/).

Every plot is a PNG in results/<experiment>/plots/ titled with what it compares. History epochs
are shown 1-based (Keras' CSV column is 0-based).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from bn_study.errors import UserError
from bn_study.report.figures import integer_epochs, plt, save_figure
from bn_study.results import RunRecord
from bn_study.stats.files import ExperimentRuns, Statistics
from bn_study.stats.labels import label

PLOTS_DIR = "plots"
CURVES_PAGE = "curves.html"  # every experiment's interactive curves (report/interactive.py)


def _colors(variants: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {v: cycle[i % len(cycle)] for i, v in enumerate(variants)}


def _epochs(history: pd.DataFrame) -> np.ndarray:
    return history["epoch"].to_numpy() + 1


def article_figure(run: RunRecord, out: Path) -> Path:
    """The article's figure for one run: accuracy and val_accuracy per epoch, legend train/test."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot(_epochs(run.history), run.history["accuracy"])
    ax.plot(_epochs(run.history), run.history["val_accuracy"])
    ax.set_title(f"model accuracy — {run.variant}, seed {run.seed}\n"
                 "(as in the article; its 'test' curve is the 20% validation split)", fontsize=10)
    ax.set_ylabel("accuracy")
    ax.set_xlabel("epoch")
    integer_epochs(ax)
    ax.legend(["train", "test"], loc="lower right")
    ax.grid(alpha=0.3)
    return save_figure(fig, out / f"article_figure_{run.variant}.png")


def overlay(runs: list[RunRecord], variants: list[str], metric: str, out: Path, name: str, label: str) -> Path:
    """One seed's curves of every variant: validation solid, training dashed.

    Accuracy gets a second panel zoomed on the epochs after the first fifth, where the variants
    differ by tenths of a percent (a BN model's first epochs can sit near chance, see the report).
    """
    seed = min(r.seed for r in runs)
    colors = _colors(variants)
    chosen = [r for v in variants for r in runs if r.variant == v and r.seed == seed]
    # The zoom shows the epochs after the first fifth: it needs 5 epochs to hold more than one.
    zoom = metric != "loss" and min(len(r.history) for r in chosen) >= 5
    fig, axes = plt.subplots(1, 2 if zoom else 1, figsize=(12 if zoom else 7, 4.5), squeeze=False)
    for ax in axes[0]:
        for run in chosen:
            e = _epochs(run.history)
            ax.plot(e, run.history[f"val_{metric}"], color=colors[run.variant], label=f"{run.variant} validation")
            ax.plot(e, run.history[metric], color=colors[run.variant], ls="--", label=f"{run.variant} training")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        integer_epochs(ax)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_title(f"{label}: {' vs '.join(variants)} (seed {seed})")
    axes[0][0].legend()
    if metric == "loss":
        axes[0][0].set_yscale("log")
    if zoom:
        start = max(1, len(chosen[0].history) // 5)
        late = [r.history[c].iloc[start:] for r in chosen for c in (metric, f"val_{metric}")]
        bottom = min(float(x.min()) for x in late)
        axes[0][1].set_xlim(start + 0.5, len(chosen[0].history) + 0.5)
        axes[0][1].set_ylim(bottom - 0.1 * (1 - bottom), 1 + 0.05 * (1 - bottom))
        axes[0][1].set_title(f"zoom: epochs {start + 1}–{len(chosen[0].history)}")
    return save_figure(fig, out / name)


def curve_band(curves: pd.DataFrame, variant: str, column: str, source: str = "history") -> pd.DataFrame:
    """curves.csv's band of one curve of one variant, indexed by epoch (1-based) or step."""
    rows = curves[(curves["source"] == source) & (curves["variant"] == variant) & (curves["column"] == column)]
    return rows.set_index("x").sort_index()


def mean_curves(curves: pd.DataFrame, variants: list[str], out: Path) -> Path:
    """Mean over seeds with a ±1 std band: accuracy, validation accuracy, loss, validation loss."""
    colors = _colors(variants)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = [("accuracy", "training accuracy"), ("val_accuracy", "validation accuracy"),
              ("loss", "training loss"), ("val_loss", "validation loss")]
    for ax, (column, title) in zip(axes.flat, panels):
        lowest = []
        for v in variants:
            s = curve_band(curves, v, column)
            lowest.append(s["mean"].iloc[1:].min() if len(s) > 2 else s["mean"].min())
            ax.plot(s.index, s["mean"], color=colors[v], label=f"{v} (n={int(s['n'].max())})")
            ax.fill_between(s.index, s["mean"] - s["std"].fillna(0), s["mean"] + s["std"].fillna(0),
                            color=colors[v], alpha=0.25)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        integer_epochs(ax)
        if "loss" in column:
            ax.set_yscale("log")
        else:  # zoom on where the variants differ; epoch 1 may fall below (see the report)
            bottom = min(lowest)
            ax.set_ylim(bottom - 0.1 * (1 - bottom), 1 + 0.02 * (1 - bottom))
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle(f"Mean ± 1 std over seeds: {' vs '.join(variants)}")
    return save_figure(fig, out / "mean_curves.png")


def test_accuracy(summary: pd.DataFrame, aggregate: pd.DataFrame, variants: list[str], out: Path) -> Path:
    """Test accuracy of each seed as a point, with the mean and its 95% CI per variant."""
    colors = _colors(variants)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for i, v in enumerate(variants):
        values = summary.loc[summary["variant"] == v, "test_accuracy"]
        jitter = np.linspace(-0.08, 0.08, len(values)) if len(values) > 1 else [0]
        ax.scatter(i + np.asarray(jitter), values, color=colors[v], alpha=0.7, label=f"{v} seeds (n={len(values)})")
        n, mean, low, high = aggregate.loc[(v, "test_accuracy"), ["n", "mean", "ci95_low", "ci95_high"]]
        if n >= 2:
            ax.errorbar(i + 0.25, mean, yerr=[[mean - low], [high - mean]], fmt="o", color="black", capsize=5)
        ax.plot([i + 0.15, i + 0.35], [mean, mean], color="black")
    ax.set_xticks(range(len(variants)), variants)
    ax.set_ylabel("test accuracy (10,000 images)")
    ax.set_title("Test accuracy per seed; black: mean and 95% CI")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return save_figure(fig, out / "test_accuracy.png")


def epochs_to_threshold(summary: pd.DataFrame, aggregate: pd.DataFrame, variants: list[str], thresholds,
                        out: Path) -> Path:
    """Epochs until validation accuracy first reached each threshold; × marks 'never reached'."""
    colors = _colors(variants)
    fig, axes = plt.subplots(1, len(thresholds), figsize=(5 * len(thresholds), 4.2), squeeze=False)
    for ax, t in zip(axes[0], thresholds):
        column = f"epochs_to_val_{t:g}"
        for i, v in enumerate(variants):
            rows = summary[summary["variant"] == v]
            reached = rows[column].dropna()
            ax.scatter(np.full(len(reached), i) + np.linspace(-0.1, 0.1, len(reached)), reached,
                       color=colors[v], alpha=0.7)
            never = rows[column].isna().sum()
            if never:
                ax.scatter([i], [rows["epochs"].max() + 1], marker="x", color=colors[v], s=60)
                ax.annotate(f"{never} never", (i, rows["epochs"].max() + 1), textcoords="offset points", xytext=(8, -3))
            if len(reached):  # aggregate.csv's mean is over the runs that reached it
                ax.plot([i - 0.2, i + 0.2], [aggregate.loc[(v, column), "mean"]] * 2, color="black")
        ax.set_xticks(range(len(variants)), variants)
        # From 0 to past the 'never' marks: a 2-epoch run's axis would otherwise span 2.85-3.15.
        ax.set_ylim(0, summary["epochs"].max() + 1.8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"epochs to reach validation accuracy {t:g}")
        ax.set_ylabel("epochs (black: mean of runs that reached it)")
        ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, out / "epochs_to_threshold.png")


def sweep(summary: pd.DataFrame, aggregate: pd.DataFrame, points, figure: str, out: Path) -> Path:
    """A figure against the swept value, one line per model: the mean over complete seeds, and every
    seed as a dot (with 3 seeds that often split, e.g. 0.97 / 0.1 / 0.1, a t-interval would leave [0, 1]).

    Diverged runs have no figure: each is counted beside its point as 'k÷' (k of the seeds diverged).
    """
    lines = list(dict.fromkeys(p.line for p in points))
    colors = _colors(lines)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [p.x for p in points]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
    positions = {x: (x if numeric else i) for i, x in enumerate(dict.fromkeys(xs))}
    for line in lines:
        mine = [p for p in points if p.line == line]
        values = [summary.loc[(summary["variant"] == p.variant) & (summary["status"] == "complete"), figure].astype(float)
                  for p in mine]
        x = [positions[p.x] for p in mine]
        means = [aggregate.loc[(p.variant, figure), "mean"] if (p.variant, figure) in aggregate.index else np.nan
                 for p in mine]
        ax.plot(x, means, marker="o", color=colors[line], label=line)
        for xi, v in zip(x, values):
            ax.scatter([xi] * len(v), v, s=14, color=colors[line], alpha=0.45, lw=0)
        for p, xi in zip(mine, x):
            diverged = int((summary.loc[summary["variant"] == p.variant, "status"] == "diverged").sum())
            if diverged:
                ax.annotate(f"{diverged}÷", xy=(xi, 0.02), xycoords=("data", "axes fraction"),
                            color=colors[line], ha="center")
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 100:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(list(positions.values()), [str(x) for x in positions])
    ax.set_xlabel(points[0].key)
    ax.set_ylabel(label(figure))
    ax.set_title(f"{label(figure)} against {points[0].key}\n"
                 "line: mean over seeds; dots: each seed; k÷: k seeds diverged", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, out / f"sweep_{figure}.png")


def test_accuracy_by_step(curves: pd.DataFrame, variants: list[str], out: Path) -> Path | None:
    """Ioffe & Szegedy (2015) Fig. 1(a): test accuracy against training step, mean ± std over seeds."""
    colors = _colors(variants)
    bands = {v: curve_band(curves, v, "test_accuracy", "steps") for v in variants}
    bands = {v: band for v, band in bands.items() if not band.empty}
    if not bands:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for v, band in bands.items():
        mean, std = band["mean"], band["std"].fillna(0)
        ax.plot(band.index, mean, color=colors[v], label=f"{v} (n={int(band['n'].max())})")
        ax.fill_between(band.index, mean - std, mean + std, color=colors[v], alpha=0.25, lw=0)
    low = ax.get_ylim()[0]
    ax.set_ylim(max(low, 0.7), 1.0)  # the paper's axis starts at 0.7; earlier points lie below it
    ax.set_xlabel("training step")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy during training, mean ± 1 std over seeds (cf. Ioffe & Szegedy 2015, Fig. 1a)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, out / "test_accuracy_by_step.png")


@dataclass(frozen=True)
class Drawing:
    """What a plot is drawn from: the experiment, its statistics, its complete runs and the variants they cover."""

    experiment: ExperimentRuns
    statistics: Statistics
    runs: list[RunRecord]
    present: list[str]
    out: Path

    @property
    def first_seed_runs(self) -> list[RunRecord]:
        first = min(r.seed for r in self.runs)
        return [r for r in self.runs if r.seed == first]


def _effect_map(d: Drawing) -> list[Path]:
    from bn_study.report.effect_map import EFFECT_MAP_PAGE, effect_cells, effect_map
    from bn_study.report.interactive import effect_map_page

    points = d.experiment.spec.grid_points
    cells = effect_cells(d.statistics.claims, points)
    if cells.empty:
        return []
    return [effect_map(d.statistics.claims, points, d.out),
            effect_map_page(cells, points[0].key, d.out / EFFECT_MAP_PAGE, CURVES_PAGE)]


def _landscape(d: Drawing) -> list[Path]:
    from bn_study.report.landscape_plot import landscape_bands

    return [p for p in [landscape_bands(d.statistics.curves, d.present, d.out)] if p]


def _probe(d: Drawing) -> list[Path]:
    from bn_study.report.probe_report import probe_plots

    return probe_plots(d.runs, d.present, d.out)


@dataclass(frozen=True)
class Plot:
    """A plot an experiment may list (experiment.yaml's `plots`): the files it writes, the report's caption
    for each, and how it is drawn."""

    name: str
    captions: dict[str, str]  # file name ('{variant}' for one per variant) -> caption
    draw: Callable[[Drawing], list[Path]]
    grid_only: bool = False  # drawn only for grid experiments


REGISTRY = (  # in the order the report shows them
    Plot("article_figure", {"article_figure_{variant}.png": "The article's figure, redrawn from its first seed's history.csv."},
         lambda d: [article_figure(r, d.out) for r in d.first_seed_runs]),
    Plot("mean_curves", {"mean_curves.png": "Mean ± 1 std over seeds of the four curves."},
         lambda d: [mean_curves(d.statistics.curves, d.present, d.out)]),
    Plot("test_accuracy", {"test_accuracy.png": "Test accuracy of every seed, with the mean and its 95% CI."},
         lambda d: [test_accuracy(d.statistics.complete, d.statistics.aggregate, d.present, d.out)]),
    Plot("epochs_to_threshold", {"epochs_to_threshold.png": "Epochs until validation accuracy first reached each threshold."},
         lambda d: [epochs_to_threshold(d.statistics.complete, d.statistics.aggregate, d.present,
                                        d.experiment.spec.thresholds, d.out)]),
    Plot("compare_accuracy", {"compare_accuracy.png": "One seed, variants overlaid: validation (solid) and training (dashed) accuracy."},
         lambda d: [overlay(d.runs, d.present, "accuracy", d.out, "compare_accuracy.png", "Accuracy")]),
    Plot("loss", {"loss.png": "One seed, variants overlaid: validation (solid) and training (dashed) loss."},
         lambda d: [overlay(d.runs, d.present, "loss", d.out, "loss.png", "Loss")]),
    Plot("steps", {"test_accuracy_by_step.png": "Test accuracy every `train.test_every_steps` steps: mean ± 1 std over seeds."},
         lambda d: [p for p in [test_accuracy_by_step(d.statistics.curves, d.present, d.out)] if p]),
    Plot("sweep", {"sweep_test_accuracy.png": "Test accuracy against the swept value: mean over complete seeds (line), each seed (dots).",
                   "sweep_final_accuracy.png": "Training accuracy of the last epoch against the swept value."},
         lambda d: [sweep(d.statistics.summary, d.statistics.aggregate, d.experiment.spec.grid_points, figure, d.out)
                    for figure in ("test_accuracy", "final_accuracy")], grid_only=True),
    Plot("effect_map", {}, _effect_map, grid_only=True),  # the report shows it beside its claims, not under Plots
    Plot("landscape", {}, _landscape),
    Plot("probe", {}, _probe),  # the report's probe section shows them
)
CAPTIONS = {file: caption for plot in REGISTRY for file, caption in plot.captions.items()}


def draw_plots(experiment: ExperimentRuns, statistics: Statistics) -> list[Path]:
    """Every plot the experiment lists (REGISTRY, in its order), from its runs and statistics files, and the
    experiment's interactive curves page."""
    runs = experiment.complete  # curves: complete runs only; tables also count diverged
    if not runs:
        raise UserError(f"{experiment.directory}: no complete runs to plot")
    out = experiment.directory / PLOTS_DIR
    out.mkdir(exist_ok=True)
    present = [v for v in experiment.variants if any(r.variant == v for r in runs)]
    drawing, spec = Drawing(experiment, statistics, runs, present, out), experiment.spec
    paths = [p for plot in REGISTRY if plot.name in spec.plots and (spec.grid_points or not plot.grid_only)
             for p in plot.draw(drawing)]
    from bn_study.report.interactive import experiment_page

    return paths + [experiment_page(runs, statistics.curves, present, out / CURVES_PAGE,
                                    f"{spec.name}: the curves, to explore", f"<p>{spec.question}</p>" if spec.question else "")]
