"""Per-run figures: summary.csv's rows, one per finished run, every figure a claim may name.

Epoch numbers here are 1-based counts ("reached 0.99 after 3 epochs"); history.csv keeps
Keras' 0-based `epoch` column as CSVLogger writes it.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from bn_study.results import COMPLETE, DIVERGED, RunRecord


def epochs_to(history: pd.DataFrame, column: str, threshold: float) -> float:
    """Epochs trained until `column` first reached `threshold` (NaN if it never did)."""
    reached = np.flatnonzero(history[column].to_numpy() >= threshold)
    return float(reached[0] + 1) if len(reached) else float("nan")


def steps_to(steps: pd.DataFrame, threshold: float) -> float:
    """The first recorded step at which test accuracy reached `threshold` (NaN if never)."""
    reached = steps.loc[steps["test_accuracy"] >= threshold, "step"]
    return float(reached.iloc[0]) if len(reached) else float("nan")


# summary.csv's landscape figures: the median over a run's measured steps of landscape.csv's columns.
LANDSCAPE_COLUMNS = {"landscape_loss_variation": "loss_variation", "landscape_grad_change": "grad_change_max",
                     "landscape_beta": "beta_smoothness"}


# A loss spike (step_loss.csv, train/step_loss.py): a step whose training loss is more than twice the
# median of the SPIKE_WINDOW steps before it and at least SPIKE_MIN_RISE above it. The absolute floor
# keeps the batch-to-batch noise of a nearly fitted net (losses of a few hundredths, which double
# easily) from counting.
SPIKE_WINDOW, SPIKE_FACTOR, SPIKE_MIN_RISE = 20, 2.0, 0.1


def count_spikes(losses) -> int:
    """Loss spikes in a series of per-step training losses (see above); none before the window fills."""
    losses = pd.Series(losses, dtype=float)
    before = losses.rolling(SPIKE_WINDOW).median().shift(1)
    return int(((losses > SPIKE_FACTOR * before) & (losses - before >= SPIKE_MIN_RISE)).sum())


def probe_movement(probe: pd.DataFrame) -> dict:
    """How much the last probed layer's unit-0 pre-activation moved over training, in its own units:
    the range of its median (a change in mean) and of its 15th-85th percentile spread (in variance)."""
    layers = probe.loc[probe["statistic"] == "pre_p50", "layer"].unique()
    last = max(layers, key=lambda label: int(label.split(":")[0]))
    wide = probe[probe["layer"] == last].pivot_table(index="step", columns="statistic", values="value")
    spread = wide["pre_p85"] - wide["pre_p15"]
    return {"probe_p50_range": wide["pre_p50"].max() - wide["pre_p50"].min(),
            "probe_spread_range": spread.max() - spread.min()}


def summarize_run(run: RunRecord, thresholds: tuple[float, ...]) -> dict:
    """One summary.csv row: end-of-training, best and test figures of a complete run."""
    h = run.history
    last = h.iloc[-1]
    late = h["val_accuracy"].iloc[len(h) // 2:]  # second half of training: past the fast rise
    row = {
        "variant": run.variant,
        "seed": run.seed,
        "epochs": len(h),
        "final_accuracy": last["accuracy"],
        "final_val_accuracy": last["val_accuracy"],
        "final_loss": last["loss"],
        "final_val_loss": last["val_loss"],
        "best_val_accuracy": h["val_accuracy"].max(),
        "best_val_epoch": int(h["val_accuracy"].idxmax()) + 1,
        "best_minus_final_val_accuracy": h["val_accuracy"].max() - last["val_accuracy"],
        "min_val_loss": h["val_loss"].min(),
        "test_accuracy": run.metrics.get("test_accuracy", np.nan),
        "test_loss": run.metrics.get("test_loss", np.nan),
        "gap_accuracy": last["accuracy"] - last["val_accuracy"],
        "val_accuracy_epoch1": h["val_accuracy"].iloc[0],
        "accuracy_epoch1": h["accuracy"].iloc[0],
        "val_accuracy_std_late": late.std(ddof=1) if len(late) > 1 else np.nan,
    }
    for t in thresholds:
        row[f"epochs_to_val_{t:g}"] = epochs_to(h, "val_accuracy", t)
    if not run.steps.empty:
        row["test_accuracy_step_mean"] = run.steps["test_accuracy"].mean()  # area under Fig. 1(a)'s curve
        row["last_test_step"] = run.steps["step"].max()
        for t in thresholds:
            row[f"test_steps_to_{t:g}"] = steps_to(run.steps, t)
    if not run.probe.empty and (run.probe["statistic"] == "pre_p50").any():
        row.update(probe_movement(run.probe))
    if not run.landscape.empty:  # medians over the measured steps (train/landscape.py)
        row.update({figure: run.landscape[column].median() for figure, column in LANDSCAPE_COLUMNS.items()})
    if not run.step_loss.empty:
        row["loss_spikes"] = count_spikes(run.step_loss["loss"])
    row["train_seconds"] = h["seconds"].sum()
    row["seconds_per_epoch"] = h["seconds"].iloc[1:].median() if len(h) > 1 else h["seconds"].iloc[0]
    return row


def diverged_row(run: RunRecord) -> dict:
    """A diverged run's row: when it diverged; its figures stay empty (NaN)."""
    return {"variant": run.variant, "seed": run.seed, "epochs": len(run.history),
            "diverged_epoch": run.run.get("diverged_epoch")}


def summary_table(runs: list[RunRecord], thresholds: tuple[float, ...], variants: list[str]) -> pd.DataFrame:
    """summary.csv: one row per finished run (complete or diverged), variants in the experiment's order."""
    rows = []
    for run in runs:
        if run.complete:
            rows.append({**summarize_run(run, thresholds), "status": COMPLETE, "diverged": 0.0})
        elif run.run.get("status") == DIVERGED:
            rows.append({**diverged_row(run), "status": DIVERGED, "diverged": 1.0})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["variant"] = pd.Categorical(table["variant"], categories=variants, ordered=True)
    table = table.sort_values(["variant", "seed"]).reset_index(drop=True)
    first = ["variant", "seed", "status"]
    return table[first + [c for c in table.columns if c not in first]]
