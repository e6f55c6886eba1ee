"""The probe's numbers (probe.csv of each variant's first probed seed), for the report's section on
distributions and gradient flow: per probed layer how far and how jumpily unit 0's median
pre-activation moved after epoch 1, and per variant the means over layers and the first-to-last
kernel gradient-norm ratio (probe_movement.csv)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bn_study.results import RunRecord


def probe_tables(runs: list[RunRecord], variants: list[str]) -> dict[str, pd.DataFrame]:
    """probe.csv of each variant's first seed that has one."""
    tables = {}
    for v in variants:
        for run in sorted((r for r in runs if r.variant == v), key=lambda r: r.seed):
            if not run.probe.empty:
                tables[v] = run.probe.assign(seed=run.seed)
                break
    return tables


def _movement(table: pd.DataFrame, layer: str, from_step: int) -> tuple[float, float]:
    """How far and how jumpily unit 0's median pre-activation moved after `from_step`.

    drift: |median at the end − median at from_step|; jitter: the median |change| between
    consecutive records; both in units of the final 15th–85th percentile spread.
    """
    wide = table[table["layer"] == layer].pivot_table(index="step", columns="statistic", values="value")
    wide = wide[wide.index >= from_step]
    spread = wide["pre_p85"].iloc[-1] - wide["pre_p15"].iloc[-1]
    if not spread:
        return float("nan"), float("nan")
    drift = abs(wide["pre_p50"].iloc[-1] - wide["pre_p50"].iloc[0]) / spread
    return drift, float(wide["pre_p50"].diff().abs().median() / spread)


def probe_movement_table(runs: list[RunRecord], variants: list[str]) -> pd.DataFrame:
    """probe_movement.csv: a `layer` row per probed layer (drift, jitter) and a `variant` row per
    variant (the means of drift and jitter over its layers, NaN when nothing moved after epoch 1, the
    median gradient-norm ratio of its first to its last kernel, named in `layer`, and whether its drift,
    jitter and gradient ratio are below the first variant's: less_drift, less_jitter, lower_grad_ratio)."""
    rows = []
    for v, t in probe_tables(runs, variants).items():
        seed = int(t["seed"].iloc[0])
        after_epoch1 = int(t.loc[t["epoch"] == 0, "step"].max() or 0)
        moves = []
        for layer in dict.fromkeys(t.loc[t["statistic"] == "pre_p50", "layer"]):
            drift, jitter = _movement(t, layer, after_epoch1)
            moves.append((drift, jitter))
            rows.append({"kind": "layer", "variant": v, "seed": seed, "layer": layer, "drift": drift, "jitter": jitter})
        grads = t[t["statistic"] == "grad_norm"].pivot_table(index="step", columns="layer", values="value")
        by_position = sorted(grads.columns, key=lambda label: int(label.split(":")[0]))
        ratio = (grads[by_position[0]] / grads[by_position[-1]]).median()
        drift, jitter = (float(np.nanmean(x)) if np.isfinite(x).any() else float("nan") for x in zip(*moves))
        rows.append({"kind": "variant", "variant": v, "seed": seed,
                     "layer": f"gradient norm {by_position[0]} / {by_position[-1]}",
                     "drift": drift, "jitter": jitter, "grad_ratio": float(ratio)})
    table = pd.DataFrame(rows)
    if not table.empty:
        whole = table["kind"] == "variant"
        first = table[whole].iloc[0]
        for column, name in (("drift", "less_drift"), ("jitter", "less_jitter"), ("grad_ratio", "lower_grad_ratio")):
            table.loc[whole, name] = table.loc[whole, column] < first[column]
    return table
