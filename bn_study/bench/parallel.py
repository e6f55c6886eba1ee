"""`bench --parallel`: one small experiment run sequentially, with --jobs 2 and on a local Ray,
side by side.

Each arm is the whole `python -m bn_study experiment` command in its own process, into a fresh
results folder: start-up (TensorFlow, Ray) and the final plots and report included, as a user
would time it. The arms alternate within each round; ratios divide by the sequential arm of the
same round. CPU seconds are the process tree's user + system time as wait4 reports it (children
that were waited for); Ray's workers are not children of the driver, so for every arm the table
also gives the runs' own CPU seconds (the sum of their run.json `cpu_seconds`).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bn_study.bench.harness import add_ratios, alternate, machine_lines, write_measurement
from bn_study.bench.timed import run_timed
from bn_study.results import run_files
from bn_study.train.threads import available_cores

ROOT = Path(__file__).resolve().parents[2]  # the checkout: bn_study/bench/../..
EXPERIMENT = ROOT / "experiments/article.yaml"
ARMS = {"sequential": [], "jobs_2": ["--jobs", "2"], "ray": ["--engine", "ray"]}


def _command(arm: str, epochs: int, seeds: str, shrink: list[str], out: Path) -> list[str]:
    sets = [f"train.epochs={epochs}", *shrink]
    return [sys.executable, "-m", "bn_study", "experiment", str(EXPERIMENT), "--seeds", seeds, "--out", str(out),
            *[a for s in sets for a in ("--set", s)], *ARMS[arm]]


def measure(arm: str, epochs: int, seeds: str, shrink: list[str]) -> dict:
    """Run one arm's experiment command; its wall seconds, CPU seconds and the runs' own figures."""
    with tempfile.TemporaryDirectory() as tmp:
        out, log = Path(tmp) / "out", Path(tmp) / "log"
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
        with open(log, "w") as output:
            wall, code, usage = run_timed(_command(arm, epochs, seeds, shrink, out), env, output, output)
        if code != 0:
            raise RuntimeError(f"bench arm {arm} failed: {log.read_text().strip().splitlines()[-1:]}")
        runs = [json.loads(p.read_text()) for p in run_files(out)]
    return {"arm": arm, "runs": len(runs), "wall_s": round(wall, 1),
            "tree_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "runs_cpu_s": round(sum(r["cpu_seconds"] for r in runs), 1),
            "runs_wall_s": round(sum(r["total_seconds"] for r in runs), 1),
            "threads_per_run": runs[0]["threads"]["intra_op"] if runs else None}


def run_parallel_bench(rounds: int, epochs: int, seeds: str, shrink: list[str], out: Path, command: str,
                       log=print) -> pd.DataFrame:
    """Alternate the three arms `rounds` times; write bench.csv and README.md in `out`."""
    rows = alternate(list(ARMS), rounds, lambda arm: measure(arm, epochs, seeds, shrink), log,
                     describe=lambda r: f"{r['wall_s']} s wall, {r['tree_cpu_s']} CPU s")
    table = add_ratios(pd.DataFrame(rows), "sequential", {"wall_s": "ratio_to_"}, ["round"])
    summary = table.groupby("arm", sort=False).agg(
        median_wall_s=("wall_s", "median"), median_ratio=("ratio_to_sequential", "median"),
        min_ratio=("ratio_to_sequential", "min"), max_ratio=("ratio_to_sequential", "max"),
        median_tree_cpu_s=("tree_cpu_s", "median"), median_runs_cpu_s=("runs_cpu_s", "median"),
        threads_per_run=("threads_per_run", "first")).reset_index()
    explanation = (
        f"Each row of bench.csv is the whole `experiment` command (experiments/article.yaml, seeds {seeds}, "
        f"{epochs} epochs) in a fresh results folder: start-up, training, plots and report. The arms "
        f"alternate ({', '.join(ARMS)}) in each of {rounds} rounds; ratios divide by the sequential arm of "
        "the same round. tree_cpu_s: user + system seconds of the command's process tree (wait4); "
        "runs_cpu_s: the runs' own, from run.json (Ray's workers are not in the driver's tree).")
    import ray

    machine = machine_lines(f", Ray {ray.__version__}; {available_cores()} cores available")
    write_measurement(out, "Parallel benchmark", command, table, summary, explanation, machine)
    return table
