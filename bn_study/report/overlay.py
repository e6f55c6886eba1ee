"""The overlay's figure and page: every group's four curves on one figure (several seeds as mean ±
1 std bands, one run as a line), the table of the figures that matter and where a single run falls
in a reference's spread (stats/overlay.py computes them)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bn_study.report.figures import integer_epochs, plt, save_figure
from bn_study.report.tables import markdown_table, mean_std
from bn_study.report.words import differences_text
from bn_study.results import write_text

OVERLAY_PNG, OVERLAY_MD, OVERLAY_PAGE = "overlay.png", "overlay.md", "overlay.html"
PANELS = (("accuracy", "training accuracy"), ("val_accuracy", "validation accuracy"),
          ("loss", "training loss"), ("val_loss", "validation loss"))


def draw_overlay(curves: pd.DataFrame, groups: list[str], out: Path) -> Path:
    """overlay.png: four panels, a band or a line per group."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    history = curves[curves["source"] == "history"]
    for ax, (column, title) in zip(axes.flat, PANELS):
        lowest, highest = [], []
        for i, group in enumerate(groups):
            band = history[(history["variant"] == group) & (history["column"] == column)].set_index("x").sort_index()
            color, n = colors[i % len(colors)], int(band["n"].max())
            ax.plot(band.index, band["mean"], color=color, lw=2 if n > 1 else 1.5, ls="-" if n > 1 else "--",
                    marker=None if n > 1 else "o", ms=3, label=f"{group} ({f'{n} seeds, mean ± std' if n > 1 else '1 run'})")
            if n > 1:
                ax.fill_between(band.index, band["mean"] - band["std"].fillna(0), band["mean"] + band["std"].fillna(0),
                                color=color, alpha=0.2, lw=0)
            late = band.iloc[max(1, len(band) // 5):] if len(band) > 2 else band
            lowest.append(late["mean"].min())
            highest.append((late["mean"] + late["std"].fillna(0)).max())
        ax.set_title(title)
        ax.set_xlabel("epoch")
        integer_epochs(ax)
        ax.grid(alpha=0.3, which="both")
        if "loss" in column:
            ax.set_yscale("log")
        else:  # zoomed on where the groups differ, after the first fifth of the epochs
            bottom, top = min(lowest), min(max(highest), 1.0)
            span = max(top - bottom, 0.005)  # at least half a point of accuracy in view
            ax.set_ylim(top - 1.15 * span, top + 0.1 * span)
            ax.ticklabel_format(axis="y", useOffset=False)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Overlay: " + " vs ".join(groups), fontsize=10)
    return save_figure(fig, out / OVERLAY_PNG)


def differences_lines(differences: list[tuple[str, list]], first: str) -> list[str]:
    """One line per group after the first: how its config differs from the first group's."""
    return [differences_text(found, first, group) for group, found in differences]


def overlay_text(table: pd.DataFrame, statements: list[str], command: str,
                 differences: list[tuple[str, list]] = ()) -> str:
    """overlay.md: the inputs, what differs between their configs, the table (mean ± std over each
    group's runs) and the spread statements."""
    groups = list(dict.fromkeys(table["group"]))
    figures = list(dict.fromkeys(table["figure"]))
    indexed = table.set_index(["group", "figure"])
    rows = []
    for figure in figures:
        cells = []
        for group in groups:
            row = indexed.loc[(group, figure)]
            if row["n"] == 0:
                cells.append(f"never (0 of {row['runs']} runs)")
            else:
                text = mean_std(row["mean"], row["std"]) if row["n"] > 1 else f"{row['mean']:.4g}"
                cells.append(text + (f" ({row['n']} of {row['runs']} runs)" if row["n"] != row["runs"]
                                     else f" (n={row['n']})"))
        rows.append([indexed.loc[(groups[0], figure), "label"], *cells])
    lines = ["# Overlay", "", f"Written by `{command}` from the run folders alone.", "",
             *[f"- {line}" for line in differences_lines(list(differences), groups[0])], "",
             "![overlay](overlay.png)", "", markdown_table(["figure (mean ± std over runs)", *groups], rows), ""]
    if statements:
        lines += ["## Where a single run falls", "", *[f"- {s}" for s in statements], "",
                  "A 95% prediction interval is where one more run of the reference's kind would fall with "
                  "probability 0.95 (Student t with n − 1 degrees of freedom, mean ± t·s·√(1 + 1/n)).", ""]
    return "\n".join(lines)


def write_overlay(curves: pd.DataFrame, table: pd.DataFrame, statements: list[str], out: Path,
                  command: str, differences: list[tuple[str, list]] = (), singles: dict | None = None) -> list[Path]:
    """overlay.png, overlay.md and the page to explore, overlay.html, in `out` (stats/overlay.py writes the
    table, overlay.csv); `singles`: the groups that are one run, by label (drawn as lines)."""
    from bn_study.report.interactive import groups_page

    out.mkdir(parents=True, exist_ok=True)
    groups = list(dict.fromkeys(table["group"]))
    figure = draw_overlay(curves, groups, out)
    write_text(out / OVERLAY_MD, overlay_text(table, statements, command, differences))
    history = curves[curves["source"] == "history"]
    singles = singles or {}
    bands = {g: history[history["variant"] == g] for g in groups if g not in singles}
    intro = "".join(f"<p>{line}</p>" for line in differences_lines(list(differences), groups[0]))
    page = groups_page(bands, singles, out / OVERLAY_PAGE, "Overlay: " + " vs ".join(groups), intro)
    return [figure, out / OVERLAY_MD, page]


def console_text(table: pd.DataFrame, statements: list[str], differences: list[tuple[str, list]] = ()) -> str:
    """What `plot` prints: what differs, each figure's mean per group, then where a single run falls."""
    groups = list(dict.fromkeys(table["group"]))
    wide = table.pivot(index="label", columns="group", values="mean").reindex(
        index=list(dict.fromkeys(table["label"])), columns=groups)
    rows = [[name, *(f"{v:.4f}" for v in row)] for name, row in wide.iterrows()]
    return "\n".join([*differences_lines(list(differences), groups[0]), markdown_table(["figure (mean)", *groups], rows),
                      *statements])
