"""Report tables of a figure against something other than the variant: against the swept value of
a grid (one column per line, not per variant: a 4-model x 5-value grid has 20 variants), and
against the training step (test accuracy every N steps, steps.csv)."""
from __future__ import annotations

import math

import pandas as pd

from bn_study.config.experiment_spec import ExperimentSpec, GridPoint
from bn_study.stats.files import finite
from bn_study.stats.labels import SWEEP_FIGURES, label


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def grid_representatives(spec: ExperimentSpec) -> list[str]:
    """The first variant of each grid model: its layers and settings stand for the model's line."""
    if spec.grid is None:
        return []
    return [next(p.variant for p in spec.grid_points if p.variant.startswith(f"{m.name}-")) for m in spec.grid.models]


def grid_setup_line(spec: ExperimentSpec) -> str:
    sweeps = "; ".join(f"`{s.key}` ∈ {{{', '.join(map(str, s.values))}}}" for s in spec.grid.sweep)
    models = ", ".join(f"**{m.name}** ({m.config}{', ' + ' '.join(m.set) if m.set else ''})" for m in spec.grid.models)
    return (f"- Grid: every model at every value of {sweeps}; models {models}. The model lines above show "
            f"each at its first grid value.")


def mean_std(mean: float, std: float) -> str:
    """'0.9910 ± 0.0012', '14.6 ± 3.6', '0.106 ± 0': the std to 2 significant digits, the mean
    to the same decimal place (4 significant digits when the std is 0 or unknown)."""
    if not finite(std) or std == 0:
        return f"{mean:.4g} ± 0" if finite(std) else f"{mean:.4g}"
    decimals = max(0, 1 - math.floor(math.log10(abs(std))))
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def _cell(rows: pd.DataFrame, aggregate: pd.DataFrame, variant: str, figure: str) -> str:
    """mean ± std (n) of the variant's complete runs (aggregate.csv), and how many diverged (summary.csv)."""
    diverged = int((rows["status"] == "diverged").sum())
    parts = []
    n = aggregate.loc[(variant, figure), "n"] if (variant, figure) in aggregate.index else 0
    if n:
        mean, std = aggregate.loc[(variant, figure), ["mean", "std"]]
        parts.append(f"{mean_std(mean, std)} (n={n})")
    if diverged:
        parts.append(f"**{diverged} of {len(rows)} diverged**")
    return ", ".join(parts) or "—"


def sweep_table(summary: pd.DataFrame, aggregate: pd.DataFrame, points: tuple[GridPoint, ...], figure: str) -> str:
    """One figure against the swept value: rows the swept values, columns the grid lines, each cell
    mean ± std over complete seeds (n) and how many runs diverged."""
    lines = list(dict.fromkeys(p.line for p in points))
    xs = list(dict.fromkeys(p.x for p in points))
    where = {(p.line, p.x): p.variant for p in points}
    header = [f"{points[0].key} → {label(figure)}"] + lines
    rows = [[f"{x:g}" if isinstance(x, float) else str(x)]
            + [_cell(summary[summary["variant"] == where[(line, x)]], aggregate, where[(line, x)], figure)
               if (line, x) in where else "—"
               for line in lines] for x in xs]
    return markdown_table(header, rows)


def sweep_section(summary: pd.DataFrame, aggregate: pd.DataFrame, points: tuple[GridPoint, ...]) -> str:
    """Per figure, a table: rows the swept values, columns the grid lines, mean ± std over seeds."""
    if not points or summary.empty:
        return ""
    out = ["## Results against the swept value", "",
           "Mean ± standard deviation over complete seeds (n); diverged runs are counted, not averaged.", ""]
    for figure in SWEEP_FIGURES:
        if figure in summary.columns:
            out += [sweep_table(summary, aggregate, points, figure), ""]
    return "\n".join(out)


def steps_section(curves: pd.DataFrame, variants: list[str], rows: int = 5) -> str:
    """Test accuracy at `rows` evenly spaced recorded steps (and the last), mean ± std over seeds (curves.csv)."""
    steps_curves = curves[(curves["source"] == "steps") & (curves["column"] == "test_accuracy")]
    tables = {v: steps_curves[steps_curves["variant"] == v].set_index("x") for v in variants}
    tables = {v: t for v, t in tables.items() if not t.empty}
    if not tables:
        return ""
    steps = sorted(set.intersection(*(set(t.index) for t in tables.values())))
    chosen = sorted({steps[round(i * (len(steps) - 1) / rows)] for i in range(1, rows + 1)})
    rows = [[f"{step:,}"] + [f"{t.loc[step, 'mean']:.4f}" + (f" ± {t.loc[step, 'std']:.4f}" if t.loc[step, "n"] > 1 else "")
                             + f" (n={t.loc[step, 'n']})" for t in tables.values()] for step in chosen]
    lines = ["## Test accuracy during training", "",
             "Recorded every `train.test_every_steps` steps in inference mode (steps.csv); mean ± std over seeds.", "",
             markdown_table(["step", *tables], rows)]
    return "\n".join(lines + [""])
