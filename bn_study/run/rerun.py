"""`bn-study rerun RUN_DIR`: train a finished run again from its own files and say whether it
reproduced to the bit, and if not by how much, beside the machine facts that differ.

The run's config.yaml (seed included) is trained again with the thread counts, the oneDNN
setting and the BN kernel its run.json recorded; both must be fixed before TensorFlow starts, so `rerun_environment`
is applied first and the training comes after.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from bn_study import results
from bn_study.errors import UserError
from bn_study.train.machine import BN_KERNEL_VARIABLE

# TensorFlow 2.21 turns oneDNN on by default on CPUs with any of these (as /proc/cpuinfo names them).
ONEDNN_DEFAULT_ISA = {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"}

# run.json keys that decide a run's digits, compared between the original and the rerun.
MACHINE_KEYS = ("cpu", "threads", "numerics", "python", "tensorflow", "keras", "numpy", "deterministic", "commit",
                "dirty", "diff_sha256")


def read_original(run_dir: Path) -> dict:
    """The original run's run.json; UserError unless it is a complete run."""
    run_file = Path(run_dir) / results.RUN_FILE
    if not run_file.is_file():
        raise UserError(f"{run_dir}: no {results.RUN_FILE}; rerun takes a run directory, e.g. results/article/bn/seed-0")
    record = results.read_json(run_file)
    if record.get("status") != results.COMPLETE:
        raise UserError(f"{run_dir}: status '{record.get('status')}', not complete: nothing to compare a rerun with")
    return record


def rerun_environment(record: dict) -> dict[str, str]:
    """The environment variables that give the rerun the original's threads, oneDNN setting and BN kernel."""
    env = dict((record.get("numerics") or {}).get("environment", {}))
    numerics = record.get("numerics")
    if numerics is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = "1" if numerics.get("onednn") else "0"
    elif (record.get("cpu") or {}).get("isa"):  # before 2026-12-01: TensorFlow's default for that CPU
        env["TF_ENABLE_ONEDNN_OPTS"] = "1" if set(record["cpu"]["isa"]) & ONEDNN_DEFAULT_ISA else "0"
    # Runs from before the fused default (2026-12-01) did not record the kernel: Keras' BN made them.
    env[BN_KERNEL_VARIABLE] = (numerics or {}).get("bn_kernel", "keras")
    threads = record.get("threads") or {}
    for key, variable in (("intra_op", "TF_NUM_INTRAOP_THREADS"), ("inter_op", "TF_NUM_INTEROP_THREADS")):
        if threads.get(key):
            env[variable] = str(threads[key])
    return env


def default_out(run_dir: Path, results_root: Path = Path("results")) -> Path:
    """results/local/rerun/<experiment>__<variant>__seed-<k> (git-ignored scratch): the run
    folder's last three parts name it wherever it lies."""
    return results_root / "local" / "rerun" / "__".join(Path(run_dir).resolve().parts[-3:])


def compare_runs(original: Path, again: Path) -> dict:
    """Largest absolute difference of every history column (not the clock's) and test metric."""
    first, second = (pd.read_csv(Path(d) / results.HISTORY_FILE) for d in (original, again))
    columns = [c for c in results.numbers_columns(first, second) if c != "epoch"]
    if len(first) != len(second):
        raise UserError(f"{again}: {len(second)} epochs against the original's {len(first)}")
    differences = {c: float((first[c] - second[c]).abs().max()) for c in columns}
    metrics = [results.read_json(Path(d) / results.METRICS_FILE) for d in (original, again)]
    differences.update({k: abs(metrics[0][k] - metrics[1][k]) for k in metrics[0] if k in metrics[1]})
    identical = results.bit_identical(first, metrics[0], second, metrics[1])
    return {"bit_identical": identical, "max_abs_difference": differences,
            "test_accuracy": {"original": metrics[0].get("test_accuracy"), "rerun": metrics[1].get("test_accuracy")}}


def differing_facts(original: dict, again: dict) -> dict:
    """The machine facts of MACHINE_KEYS that differ: {key: [original, rerun]}."""
    return {key: [original.get(key), again.get(key)] for key in MACHINE_KEYS if original.get(key) != again.get(key)}


def rerun(run_dir: Path, out: Path, verbose=2, log=print) -> dict:
    """Train run_dir's config again into `out` (call after rerun_environment is in os.environ and
    before anything else starts TensorFlow); write and return out/rerun.json."""
    from bn_study.config.schema import load_config
    from bn_study.data.datasets import load_dataset
    from bn_study.train.threads import configure_threads

    run_dir, out = Path(run_dir), Path(out)
    original = read_original(run_dir)
    config = load_config(run_dir / results.CONFIG_FILE)
    if (out / results.RUN_FILE).is_file() and results.run_status(out) in results.FINAL:
        raise UserError(f"{out}: already holds a finished run; delete it or give another --out")
    configure_threads(None)  # start TensorFlow quietly; threads come from the environment set above
    from bn_study.train.training import train_run

    images = load_dataset(config.data.path, config.data.dataset, log=log)
    train_run(config, out, images, variant=original.get("variant"), verbose=verbose, log=log)
    report = {"original": str(run_dir), "rerun": str(out), **compare_runs(run_dir, out),
              "differing_facts": differing_facts(original, results.read_json(out / results.RUN_FILE)),
              "environment": {k: os.environ.get(k) for k in rerun_environment(original)}}
    results.write_json(out / "rerun.json", report)
    return report


def describe(report: dict) -> str:
    """A few lines for the console."""
    accuracy = report["test_accuracy"]
    if report["bit_identical"]:
        head = f"bit-identical: every history value and test metric equal (test accuracy {accuracy['rerun']:.4f})"
    else:
        worst = max(report["max_abs_difference"].items(), key=lambda item: item[1])
        head = (f"not bit-identical: test accuracy {accuracy['original']:.4f} then {accuracy['rerun']:.4f}; "
                f"largest difference {worst[1]:.3g} in {worst[0]}")
    facts = report["differing_facts"]
    lines = [f"{report['rerun']}: {head}",
             "machine facts that differ: " + ("none" if not facts else "; ".join(
                 f"{key} {json.dumps(a)} -> {json.dumps(b)}" for key, (a, b) in facts.items()))]
    return "\n".join(lines)
