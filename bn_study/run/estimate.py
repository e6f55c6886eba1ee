"""What an experiment will cost before it runs: each run's wall time from the runs this machine's kind
of CPU has already made of the same config, and the whole command's on N lanes.

A run's cost scales with its epochs and its images (training + validation), so a finished run of the
same config whatever its size, seed or epochs gives a rate: wall seconds per epoch per image. The
rates come from run.json (total_seconds, n_train, n_val, threads, jobs, cpu) and config.yaml of every
complete original run (copies are their source again) under the results folder; runs with the same
threads per run and the same parallelism are preferred, since a neighbour slows a run.
"""
from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml

from bn_study import results
from bn_study.config.schema import DEFAULT_PRECISION, RunConfig
from bn_study.config.validate import drop_unset
from bn_study.train.machine import cpu_kind

SIZE_KEYS = (("seed",), ("data", "path"), ("data", "train_limit"), ("data", "test_limit"), ("train", "epochs"))
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def cost_key(raw: dict) -> str:
    """A hash of a resolved config (config.yaml's data) without what only scales its cost: seed, data
    size and epochs; the model, precision, batch size and every option that adds work stay in."""
    raw = json.loads(json.dumps(raw))  # a deep copy
    for section, *key in SIZE_KEYS:
        if key:
            (raw.get(section) or {}).pop(key[0], None)
        else:
            raw.pop(section, None)
    if (raw.get("train") or {}).get("precision") == DEFAULT_PRECISION:
        raw["train"].pop("precision")  # as in RunConfig.fingerprint: older runs have no such key
    return hashlib.sha256(json.dumps(drop_unset(raw), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Rate:
    """One finished run's speed: wall seconds per epoch per image, and how it ran."""

    cost_key: str
    cpu_kind: str
    threads: int | None  # intra-op threads
    parallel: bool  # trained beside other runs (--jobs > 1, Ray)
    seconds_per_epoch_image: float


def recorded_rates(root: Path) -> list[Rate]:
    """Every complete original run's rate under `root` (unreadable or partial records are skipped)."""
    rates = []
    for run_json in Path(root).rglob(results.RUN_FILE):
        try:
            record = results.read_json(run_json)
            if record.get("status") != results.COMPLETE or "reused_from" in record:
                continue
            raw = yaml.load((run_json.parent / results.CONFIG_FILE).read_text(), Loader=Loader)
            images = record["n_train"] + record["n_val"]
            seconds = float(record["total_seconds"]) / (raw["train"]["epochs"] * images)
            rates.append(Rate(cost_key(raw), cpu_kind(record["cpu"]), (record.get("threads") or {}).get("intra_op"),
                              record.get("engine") == "ray" or (record.get("jobs") or 1) > 1, seconds))
        except (*results.READ_ERRORS, ZeroDivisionError):
            continue
    return rates


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: no run of this config on this kind of CPU
    basis: str  # in words: how many runs, and whether they ran as this one will


def estimate_run(config: RunConfig, epochs_done: int, rates: list[Rate], kind: str, threads: int | None,
                 parallel: bool, images: int) -> Estimate:
    """The wall seconds `config` still needs (its epochs from `epochs_done` on, over `images` training +
    validation images), from the median rate of the same config on CPUs of `kind`."""
    key = cost_key(config.to_raw())
    same = [r for r in rates if r.cost_key == key and r.cpu_kind == kind]
    alike = [r for r in same if r.threads == threads and r.parallel == parallel]
    chosen = alike or same
    if not chosen:
        return Estimate(None, f"no complete run of this config on this kind of CPU ({kind}) yet")
    rate = statistics.median(r.seconds_per_epoch_image for r in chosen)
    how = "" if alike else " (run at other thread counts or parallelism)"
    seconds = rate * (config.train.epochs - epochs_done) * images
    return Estimate(seconds, f"median of {len(chosen)} run(s){how}")


def lanes_wall_seconds(seconds: list[float], lanes: int) -> float:
    """The wall time of runs taken in this order by `lanes` workers, each taking the next run when free."""
    free_at = [0.0] * max(1, lanes)
    for s in seconds:
        i = free_at.index(min(free_at))
        free_at[i] += s
    return max(free_at)
