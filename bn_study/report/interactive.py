"""Interactive pages, drawn with Plotly: a run's, an overlay's and an experiment's curves, a grid's effect map.

A reader hovers an epoch and reads every run's (or band's) value there, clicks a legend entry to hide a run
or a variant (a band and its runs together), zooms into the last epochs and switches the y axes between
linear and log. The pages open from a folder of files with no network: Plotly's script (plotly.min.js,
from the pinned Python package) is stored once, in the nearest `results/` folder above the page
(results/assets/), and each page refers to it by a relative path; a page holds only its own numbers.
The numbers come from the read path (runs' histories, curves.csv, claims.csv); nothing is computed here.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import plotly
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bn_study.results import RunRecord, write_text

ASSETS_DIR = "assets"
SCRIPT = f"plotly-{plotly.__version__}.min.js"
PANELS = (("accuracy", "training accuracy"), ("val_accuracy", "validation accuracy"),
          ("loss", "training loss"), ("val_loss", "validation loss"))
COLORS = plotly.colors.qualitative.Plotly
MAX_RUN_LINES = 40  # experiments with more runs show their variants' bands only (pages stay light)
# Linear/log for every y axis, as the static figures draw loss on a log scale.
SCALE_BUTTONS = [dict(type="buttons", direction="right", x=0.0, xanchor="left", y=1.1, yanchor="bottom",
                      buttons=[dict(label=f"y: {scale}", method="relayout",
                                    args=[{f"yaxis{i if i > 1 else ''}.type": scale for i in range(1, 5)}])
                               for scale in ("linear", "log")])]


def script_for(page: Path) -> Path:
    """Plotly's script for `page`: in the nearest folder called results above it (else beside the page),
    copied there from the installed package once."""
    page = Path(page).resolve()
    root = next((p for p in page.parents if p.name == "results"), page.parent)
    script = root / ASSETS_DIR / SCRIPT
    if not script.is_file():
        script.parent.mkdir(parents=True, exist_ok=True)
        bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        shutil.copyfile(bundled, script)
    return script


CURVES_HELP = ("Hover an epoch for every curve's value; click a legend entry to hide or show it (double-click: only "
               "it); drag to zoom, double-click to zoom out; the buttons switch the y axes between linear and log.")


def write_page(fig: go.Figure, path: Path, title: str, intro_html: str = "", post_script: str = "",
               help_text: str = CURVES_HELP) -> Path:
    """`path`: a whole HTML page with the figure, its script referred to relatively."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = os.path.relpath(script_for(path), path.resolve().parent)
    body = fig.to_html(include_plotlyjs=source, full_html=False, config={"displaylogo": False, "responsive": True},
                       post_script=post_script or None, default_width="100%", default_height="760px")
    write_text(path, "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">", f"<title>{title}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}</style></head><body>",
        f"<h1>{title}</h1>", intro_html, body,
        f"<p><small>{help_text}</small></p>", "</body></html>", ""]))
    return path


def _panels() -> go.Figure:
    fig = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title in PANELS], shared_xaxes=True,
                        vertical_spacing=0.09, horizontal_spacing=0.07)
    fig.update_layout(hovermode="x unified", updatemenus=SCALE_BUTTONS, legend=dict(groupclick="togglegroup"),
                      margin=dict(t=90, l=60, r=20, b=50), template="plotly_white")
    fig.update_xaxes(title_text="epoch", row=2)
    fig.update_yaxes(type="log", row=2)  # losses, as the static figures draw them
    return fig


def _position(i: int) -> dict:
    return dict(row=i // 2 + 1, col=i % 2 + 1)


def band_traces(fig: go.Figure, curves: pd.DataFrame, group: str, color: str, dash: str | None = None) -> None:
    """A group's mean over seeds with a ±1 std band in each panel (curves: column, x, n, mean, std)."""
    for i, (column, _) in enumerate(PANELS):
        band = curves[curves["column"] == column].sort_values("x")
        if band.empty:
            continue
        std = band["std"].fillna(0)
        where = _position(i)
        edge = dict(x=band["x"], mode="lines", line=dict(width=0, color=color), hoverinfo="skip", showlegend=False,
                    legendgroup=group)  # the band's edges: drawn, never hovered; the lower one filled up to the upper
        fig.add_trace(go.Scatter(y=band["mean"] + std, **edge), **where)
        fig.add_trace(go.Scatter(y=band["mean"] - std, fill="tonexty", fillcolor=_transparent(color), **edge), **where)
        n = band["n"].astype(int)
        fig.add_trace(go.Scatter(
            x=band["x"], y=band["mean"], mode="lines+markers", name=group, legendgroup=group, showlegend=i == 0,
            line=dict(color=color, width=2.5, dash=dash), marker=dict(size=4), customdata=list(zip(std, n)),
            hovertemplate="%{y:.4f} ± %{customdata[0]:.4f} (n=%{customdata[1]})"), **where)


def run_traces(fig: go.Figure, run: RunRecord, group: str, color: str, legend: bool, width: float = 1.0) -> None:
    """One run's four curves (history.csv), in the legend group of its variant or on their own."""
    history = run.history
    for i, (column, _) in enumerate(PANELS):
        if column not in history:
            continue
        fig.add_trace(go.Scatter(
            x=history["epoch"] + 1, y=history[column], mode="lines", name=f"{group} seed {run.seed}" if legend else group,
            legendgroup=group, showlegend=legend and i == 0, line=dict(color=color, width=width),
            opacity=1.0 if legend else 0.55, hovertemplate=f"seed {run.seed}: " + "%{y:.4f}"), **_position(i))


def _transparent(color: str, alpha: float = 0.18) -> str:
    r, g, b = plotly.colors.hex_to_rgb(color) if color.startswith("#") else plotly.colors.unlabel_rgb(color)
    return f"rgba({r},{g},{b},{alpha})"


def run_page(run: RunRecord, path: Path) -> Path:
    """A run's own page: its four curves."""
    fig = _panels()
    run_traces(fig, run, run.variant, COLORS[0], legend=True, width=2.0)
    test = run.metrics.get("test_accuracy")
    intro = f"<p>{run.directory}: test accuracy {test:.4f}.</p>" if test is not None else f"<p>{run.directory}</p>"
    return write_page(fig, path, f"{run.variant}, seed {run.seed}", intro)


def groups_page(bands: dict[str, pd.DataFrame], singles: dict[str, RunRecord], path: Path, title: str,
                intro_html: str = "", runs: dict[str, list[RunRecord]] | None = None, post_script: str = "") -> Path:
    """Several groups on one page: a band per group of seeds (with its runs' lines when given), a line per
    single run; legend entries toggle a group (band and runs together)."""
    fig = _panels()
    names = list(dict.fromkeys([*bands, *singles]))
    for k, name in enumerate(names):
        color = COLORS[k % len(COLORS)]
        if name in bands:
            band_traces(fig, bands[name], name, color)
            for run in (runs or {}).get(name, []):
                run_traces(fig, run, name, color, legend=False)
        else:
            run_traces(fig, singles[name], name, color, legend=True, width=2.0)
    return write_page(fig, path, title, intro_html, post_script)


# Shows only the variants named after '#' (comma-separated), as the effect map's cells link here.
SHOW_FROM_HASH = """var gd=document.getElementById('{plot_id}');var wanted=decodeURIComponent(location.hash.slice(1));
if(wanted){var keep=wanted.split(',');Plotly.restyle(gd,{visible:gd.data.map(function(t){
return keep.indexOf(t.legendgroup)>=0?true:'legendonly';})});}"""


def experiment_page(runs: list[RunRecord], curves: pd.DataFrame, variants: list[str], path: Path, title: str,
                    intro_html: str = "") -> Path:
    """An experiment's curves: each variant's band (curves.csv) and, for up to MAX_RUN_LINES runs, every run."""
    history = curves[curves["source"] == "history"]
    bands = {v: history[history["variant"] == v] for v in variants if (history["variant"] == v).any()}
    by_variant = {v: [r for r in runs if r.variant == v] for v in bands} if len(runs) <= MAX_RUN_LINES else None
    return groups_page(bands, {}, path, title, intro_html, by_variant, SHOW_FROM_HASH)


def effect_map_page(cells: pd.DataFrame, key: str, path: Path, curves_page: str) -> Path:
    """A grid's effect map: a heat map per metric, a cell per (line pair, swept value), coloured by the
    difference; hover shows n, the means, the CI and the verdict; a click opens the cell's curves."""
    metrics = list(dict.fromkeys(cells["metric"]))
    columns = list(dict.fromkeys(cells["column"]))
    rows = sorted(dict.fromkeys(cells["row"]))
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[f"{m}: treatment − baseline" for m in metrics])
    for k, metric in enumerate(metrics):
        mine = cells[cells["metric"] == metric].set_index(["row", "column"])
        z, text, data = [], [], []
        for row in rows:
            z.append([]), text.append([]), data.append([])
            for column in columns:
                cell = mine.loc[(row, column)] if (row, column) in mine.index else None
                z[-1].append(None if cell is None else cell["difference"])
                text[-1].append("" if cell is None else f"{cell['difference_text']} {cell['mark']}")
                data[-1].append(["", "", "", "", "", "", ""] if cell is None else
                                [cell["n"], cell["means"], cell["ci"], cell["verdict"], cell["holm_p"],
                                 f"{curves_page}#{cell['baseline']},{cell['treatment']}", cell["difference_text"]])
        limit = max((abs(v) for line in z for v in line if v is not None), default=1.0) or 1.0
        lower_better = bool(cells.loc[cells["metric"] == metric, "lower_better"].all())
        fig.add_trace(go.Heatmap(
            z=z, x=columns, y=[str(r) for r in rows], text=text, texttemplate="%{text}", customdata=data,
            colorscale="RdBu_r" if lower_better else "RdBu", zmin=-limit, zmax=limit, showscale=False,
            hovertemplate=(f"{key} = %{{y}}, %{{x}}<br>difference %{{customdata[6]}}<br>n per side %{{customdata[0]}}"
                           "<br>means %{customdata[1]}<br>%{customdata[2]}<br>%{customdata[3]} "
                           "(Holm p %{customdata[4]})<br>click: the cell's curves<extra></extra>")), row=1, col=k + 1)
        fig.update_yaxes(title_text=key, type="category", row=1, col=k + 1)
    fig.update_layout(template="plotly_white", margin=dict(t=80, l=70, r=20, b=90))
    click = ("var gd=document.getElementById('{plot_id}');gd.on('plotly_click',function(e){"
             "var link=e.points[0].customdata[5];if(link){window.location.href=link;}});")
    intro = ("<p>Each cell: treatment minus baseline at one value of the swept key, marked ✓ supported, ✗ not "
             "supported, · inconclusive (Holm-adjusted). Blue: the treatment is better.</p>")
    return write_page(fig, path, "Where BN helps: the effect map", intro, click,
                      "Hover a cell for its numbers and verdict; click it to open that cell's curves; drag to zoom.")
