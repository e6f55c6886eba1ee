"""Side-by-side benchmark: bn_study's `run` path against the article's plain Keras script.

Each measurement is a separate process (fresh TensorFlow, own peak RSS), arms alternate
A B A B ... for `pairs` rounds, and the first epoch of every process is warm-up, excluded. Seconds
per epoch are wall time from epoch begin to epoch end (training steps + validation), as
history.csv's `seconds`; for bn_study arms `median_val_s` is the validation pass alone. Arms:
- reference: the article's script (Sequential, fit on NumPy arrays with validation_split),
- reference_tf_data: the same script fed a tf.data pipeline of the same arrays (cache, shuffle
  each epoch, batch 250, prefetch; the last 20% for validation, as validation_split takes it),
- reference_tf_data_uint8: the same pipeline over uint8 images, scaled to [0, 1] batch by batch
  (the same float32 values: x / 255 is one correctly rounded division either way),
- bn_study: `python -m bn_study run` with its callbacks and files,
- bn_study_probe: the same with the probe on (cost of looking inside),
- bn_study_nondeterministic: the same with train.deterministic=false (cost of op determinism),
- bn_study_fused, bn_study_manual (BN model only): the BN model with FusedBatchNorm (TensorFlow's
  fused kernel) or ManualBatchNorm (the textbook equations) in place of Keras' BatchNormalization.
Each row also has the CPU seconds (user + system, all threads) of the same epochs, and of the whole
process beside its wall time: on a shared machine wall time swings between identical runs far
more than CPU time; the last epoch's accuracies show whether an arm learns the same (the BN
model's validation accuracy in its first epochs swings with its moving averages: read it with care).
Any arm may take `:KEY=VALUE;KEY=VALUE`: a KEY in capitals is an environment variable of that
process (e.g. TF_NUM_INTRAOP_THREADS=1), any other a --set override of a bn_study arm.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bn_study.bench.harness import add_ratios, alternate, machine_lines, write_measurement
from bn_study.bench.timed import run_timed
from bn_study.errors import UserError

ROOT = Path(__file__).resolve().parents[2]  # the checkout: bn_study/bench/../..
CONFIGS = {"no_bn": ROOT / "configs/article_no_bn.yaml", "bn": ROOT / "configs/article_bn.yaml"}
PROBES = {"no_bn": "probe.layers=[0,2,5]", "bn": "probe.layers=[0,4,9]"}
# Arms that train another config than CONFIGS[model], and only for the models listed.
ARM_CONFIGS = {"bn_study_fused": {"bn": ROOT / "configs/article_bn_fused.yaml"},
               "bn_study_manual": {"bn": ROOT / "configs/article_bn_manual.yaml"}}
ARMS = ("reference", "reference_tf_data", "reference_tf_data_uint8", "bn_study", "bn_study_probe",
        "bn_study_nondeterministic", *ARM_CONFIGS)


def parse_arm(arm: str) -> tuple[str, dict[str, str], list[str]]:
    """'bn_study:TF_NUM_INTRAOP_THREADS=1;train.shuffle=true' -> (base arm, environment, --set overrides)."""
    base, _, extra = arm.partition(":")
    if base not in ARMS:
        raise UserError(f"--arms: unknown '{base}'; known: {', '.join(ARMS)}")
    env, sets = {}, []
    for part in filter(None, extra.split(";")):
        key, sep, _ = part.partition("=")
        if not sep or not key:
            raise UserError(f"--arms {arm}: '{part}' is not KEY=VALUE")
        if key.isupper():
            env[key] = part.split("=", 1)[1]
        elif base.startswith("reference"):
            raise UserError(f"--arms {arm}: reference arms take only environment variables (NAME=VALUE in capitals)")
        else:
            sets.append(part)
    return base, env, sets


def check_arms(arms: list[str], models: list[str]) -> None:
    """UserError for an unknown arm, or one that has no config for one of the models."""
    for arm in arms:
        base = parse_arm(arm)[0]
        missing = [m for m in models if base in ARM_CONFIGS and m not in ARM_CONFIGS[base]]
        if missing:
            raise UserError(f"--arms {arm}: has no '{missing[0]}' model; use it with --variants "
                            f"{','.join(ARM_CONFIGS[base])}")


def _command(arm: str, model: str, epochs: int, shrink: list[str], out: Path) -> list[str]:
    base, _, arm_sets = parse_arm(arm)
    if base.startswith("reference"):
        limit = next((s.split("=")[1] for s in shrink if s.startswith("data.train_limit=")), "none")
        path = next((s.split("=", 1)[1] for s in shrink if s.startswith("data.path=")), "none")
        dataset = next((s.split("=")[1] for s in shrink if s.startswith("data.dataset=")), "mnist")
        return [sys.executable, "-m", "bn_study.bench.reference_script", model, str(epochs), limit, path, dataset, base]
    sets = [f"train.epochs={epochs}", *shrink]
    if base == "bn_study_probe":
        sets.append(PROBES[model])
    if base == "bn_study_nondeterministic":
        sets.append("train.deterministic=false")
    sets += arm_sets
    config = ARM_CONFIGS.get(base, CONFIGS)[model]
    return [sys.executable, "-m", "bn_study", "run", str(config), "--out", str(out),
            *[a for s in sets for a in ("--set", s)]]


def measure(arm: str, model: str, epochs: int, shrink: list[str]) -> dict:
    """Run one process; its per-epoch wall and CPU seconds (first epoch excluded), and its own
    wall time, CPU time and peak RSS (wait4)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, stdout, stderr = Path(tmp) / "run", Path(tmp) / "stdout", Path(tmp) / "stderr"
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", **parse_arm(arm)[1])
        with open(stdout, "w") as so, open(stderr, "w") as se:
            process_wall, code, usage = run_timed(_command(arm, model, epochs, shrink, out), env, so, se)
        if code != 0:
            raise RuntimeError(f"{arm} {model} failed: {stderr.read_text().strip().splitlines()[-1:]}")
        if arm.startswith("reference"):
            report = json.loads(stdout.read_text().strip().splitlines()[-1])
            validation = None
        else:
            history = pd.read_csv(out / "history.csv")
            run = json.loads((out / "run.json").read_text())
            report = {"seconds": history["seconds"].tolist(), "cpu_seconds": history["cpu_seconds"].tolist(),
                      "n_train": run["n_train"], "threads": run["threads"]["intra_op"],
                      "final_accuracy": history["accuracy"].iloc[-1],
                      "final_val_accuracy": history["val_accuracy"].iloc[-1],
                      "cpu": run["cpu"]["model"], "isa": " ".join(run["cpu"]["isa"]),
                      "onednn": run["numerics"]["onednn"]}
            validation = statistics.median(history["val_seconds"].iloc[1:] if len(history) > 1 else history["val_seconds"])
    per_epoch = statistics.median(report["seconds"][1:] or report["seconds"])
    cpu_per_epoch = statistics.median(report["cpu_seconds"][1:] or report["cpu_seconds"])
    return {"arm": arm, "model": model, "epochs_timed": max(len(report["seconds"]) - 1, 1),
            "median_epoch_s": round(per_epoch, 3), "median_epoch_cpu_s": round(cpu_per_epoch, 3),
            "median_val_s": None if validation is None else round(validation, 3),
            "samples_per_s": round(report["n_train"] / per_epoch, 1), "intra_op_threads": report.get("threads"),
            "samples_per_s_per_thread": round(report["n_train"] / per_epoch / report["threads"], 1)
            if report.get("threads") else None,
            "cpu_ms_per_sample": round(1000 * cpu_per_epoch / report["n_train"], 4),
            "process_wall_s": round(process_wall, 1), "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "final_accuracy": round(float(report["final_accuracy"]), 5),
            "final_val_accuracy": round(float(report["final_val_accuracy"]), 5),
            # What decides the speed and the digits (bn_study arms; the reference script records none).
            "cpu": report.get("cpu"), "isa": report.get("isa"), "onednn": report.get("onednn")}


def run_bench(models: list[str], arms: list[str], epochs: int, pairs: int, shrink: list[str], out: Path,
              command: str, log=print) -> pd.DataFrame:
    """Alternate the arms for each model `pairs` times; write bench.csv and README.md in `out`."""
    if epochs < 2:
        raise UserError("--epochs must be at least 2 (the first is warm-up)")
    rows = []
    for model in models:
        rows += [{**row, "pair": row.pop("round")} for row in alternate(
            arms, pairs, lambda arm: measure(arm, model, epochs, shrink), log, label=f"{model} ",
            describe=lambda r: (f"{r['median_epoch_s']} s/epoch ({r['median_epoch_cpu_s']} CPU s), "
                                f"{r['samples_per_s']} samples/s, peak RSS {r['peak_rss_mb']} MB"))]
    table = add_ratios(pd.DataFrame(rows), arms[0], {"median_epoch_s": "ratio_to_", "median_epoch_cpu_s": "cpu_ratio_to_"},
                       ["model", "pair"])
    baseline = table[table["arm"] == arms[0]].set_index(["model", "pair"])
    same_pair = pd.MultiIndex.from_frame(table[["model", "pair"]])
    for column in ("accuracy", "val_accuracy"):
        table[f"{column}_diff_to_{arms[0]}"] = (
            table[f"final_{column}"] - baseline[f"final_{column}"].reindex(same_pair).to_numpy()).round(5)
    write_measurement(out, "Benchmark", command, table, _summary(table, arms), _explanation(arms, pairs), machine_lines())
    return table


def _summary(table: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    ratio, cpu_ratio, train_accuracy, accuracy = (
        f"{prefix}_to_{arms[0]}" for prefix in ("ratio", "cpu_ratio", "accuracy_diff", "val_accuracy_diff"))
    return table.groupby(["model", "arm"], sort=False).agg(
        median_epoch_s=("median_epoch_s", "median"), median_epoch_cpu_s=("median_epoch_cpu_s", "median"),
        median_val_s=("median_val_s", "median"), samples_per_s=("samples_per_s", "median"),
        intra_op_threads=("intra_op_threads", "max"), samples_per_s_per_thread=("samples_per_s_per_thread", "median"),
        median_ratio=(ratio, "median"), min_ratio=(ratio, "min"), max_ratio=(ratio, "max"),
        median_cpu_ratio=(cpu_ratio, "median"), max_abs_acc_diff=(train_accuracy, lambda d: d.abs().max()),
        max_abs_val_acc_diff=(accuracy, lambda d: d.abs().max()),
        peak_rss_mb=("peak_rss_mb", "max")).reset_index()


def _explanation(arms: list[str], pairs: int) -> str:
    return (f"Each row of bench.csv is one process; arms alternate ({' '.join(arms)}) in each of {pairs} pairs; "
            f"the first epoch of each process is excluded as warm-up. Ratios divide by the {arms[0]} process "
            f"of the same pair: median_ratio (the verdict's figure) of the median epoch wall time, "
            f"median_cpu_ratio of its CPU seconds (user + system, all threads), the cross-check that a "
            f"busy machine cannot fake; max_abs_acc_diff and max_abs_val_acc_diff are the largest gaps in "
            f"the last epoch's training and validation accuracy to the {arms[0]} process (same seed and "
            f"data; a BN model's early validation accuracy swings with its moving averages).")
