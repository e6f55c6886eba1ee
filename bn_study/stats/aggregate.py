"""Statistics over seeds: per variant and figure (aggregate.csv), and per variant, curve and point
of training (curves.csv: the bands of the mean-curve plots and the report's step table)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bn_study.results import RunRecord

HISTORY_CURVES = ("accuracy", "val_accuracy", "loss", "val_loss")
LANDSCAPE_CURVES = ("loss_variation", "grad_change_max", "beta_smoothness")


def mean_ci(values, confidence: float = 0.95) -> tuple[int, float, float, float, float]:
    """n, mean, sample std and the Student-t confidence interval of the mean (NaN when n < 2)."""
    x = pd.Series(values, dtype=float).dropna().to_numpy()
    n = len(x)
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean = x.mean()
    if n < 2:
        return n, mean, np.nan, np.nan, np.nan
    std = x.std(ddof=1)
    half = stats.t.ppf(0.5 + confidence / 2, df=n - 1) * std / np.sqrt(n)
    return n, mean, std, mean - half, mean + half


def aggregate_table(summary: pd.DataFrame) -> pd.DataFrame:
    """aggregate.csv: per variant and figure, n, mean, std, the 95% Student-t CI, min, median and max
    over the runs that have the figure (tidy rows)."""
    figures = [c for c in summary.columns if c not in ("variant", "seed", "status")]
    rows = []
    for variant, group in summary.groupby("variant", observed=True, sort=True):
        for figure in figures:
            values = group[figure].astype(float).dropna()
            n, mean, std, low, high = mean_ci(values)
            rows.append({"variant": variant, "figure": figure, "n": n, "mean": mean, "std": std,
                         "ci95_low": low, "ci95_high": high, "min": values.min(), "median": values.median(),
                         "max": values.max()})
    return pd.DataFrame(rows)


def _band_rows(frames: list[pd.DataFrame], source: str, x: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """Per variant, column and x: n, mean, std (ddof 1), min and max over the seeds' values."""
    if not frames:
        return pd.DataFrame()
    long = pd.concat(frames).melt(id_vars=["variant", x], value_vars=list(columns), var_name="column")
    table = long.groupby(["variant", "column", x], sort=False)["value"].agg(
        n="count", mean="mean", std="std", min="min", max="max").reset_index()
    return table.rename(columns={x: "x"}).assign(source=source)


def curves_table(runs: list[RunRecord]) -> pd.DataFrame:
    """curves.csv: per variant, the band over seeds of each curve at each point: the history's four
    curves by epoch (1-based), test accuracy by step (steps.csv) and the landscape's three measures
    by step (landscape.csv)."""
    history = [r.history.assign(epoch=r.history["epoch"] + 1, variant=r.variant)
               for r in runs if not r.history.empty]
    steps = [r.steps.assign(variant=r.variant) for r in runs if not r.steps.empty]
    landscape = [r.landscape.assign(variant=r.variant) for r in runs if not r.landscape.empty]
    parts = [_band_rows(history, "history", "epoch", HISTORY_CURVES),
             _band_rows(steps, "steps", "step", ("test_accuracy",)),
             _band_rows(landscape, "landscape", "step", LANDSCAPE_CURVES)]
    parts = [p for p in parts if not p.empty]
    columns = ["source", "variant", "column", "x", "n", "mean", "std", "min", "max"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
