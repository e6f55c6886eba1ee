"""What an experiment still has to train (its jobs), and how: the engine and its settings.

An experiment's runs are independent, so the same job list runs one after another in this
process, N at once in spawned processes on this machine (pool.py), or as Ray tasks (ray_engine.py).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bn_study import results
from bn_study.config.schema import RunConfig
from bn_study.errors import UserError
from bn_study.train.threads import default_threads

ENGINES = ("local", "ray")
# Per-run peak RSS assumed before any run of the experiment has measured one: the BN model's
# highest bn_study process in results/bench/ (1,427 MB with the probe), rounded up.
UNMEASURED_PEAK_MB = 1500.0


@dataclass(frozen=True)
class Job:
    """One run to train: a variant's config at one seed, into its run directory."""

    index: int  # 1-based position in the experiment's list of variant x seed
    total: int
    variant: str
    seed: int
    config: RunConfig
    run_dir: Path

    @property
    def label(self) -> str:
        return f"{self.variant} seed {self.seed}"

    def epochs_done(self) -> int:
        """Complete epochs in history.csv so far (the header is not one)."""
        path = self.run_dir / results.HISTORY_FILE
        try:
            return max(0, path.read_text().count("\n") - 1)
        except OSError:
            return 0


@dataclass(frozen=True)
class Engine:
    """Where the jobs run. jobs: runs at once (Ray: at most in flight; None = as the cluster has
    CPUs); threads: TensorFlow intra- and inter-op threads per run (None = the default)."""

    name: str = "local"
    jobs: int | None = None
    threads: int | None = None
    address: str | None = None

    @property
    def parallel(self) -> bool:
        return self.name == "ray" or (self.jobs or 1) > 1

    def threads_per_run(self) -> int | None:
        """Local: --threads-per-run, else cores // jobs (None for one job: TensorFlow's default,
        which is what every committed sequential run used). Ray: --threads-per-run, else 1."""
        if self.threads is not None:
            return self.threads
        if self.name == "ray":
            return 1
        return default_threads(self.jobs) if (self.jobs or 1) > 1 else None


def make_engine(name: str = "local", jobs: int | None = None, threads: int | None = None,
                address: str | None = None) -> Engine:
    """Validate the command line's engine options; UserError names the option and what is right."""
    if name not in ENGINES:
        raise UserError(f"--engine: unknown engine '{name}'; known: {', '.join(ENGINES)}")
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs: expected a positive number of runs at once, got {jobs}")
    if threads is not None and threads < 1:
        raise UserError(f"--threads-per-run: expected a positive number of threads, got {threads}")
    if address is not None and name != "ray":
        raise UserError("--address: only with --engine ray")
    return Engine(name, jobs, threads, address)


@dataclass(frozen=True)
class PlannedRun(Job):
    """What an experiment will do with one variant x seed (a Job, when it trains), decided by reading its
    folder only."""

    action: str  # TRAIN, RESUME, SKIP (final with this config), REUSE (copied from `source`)
    status: str = ""  # the status of the run found there (the final one when skipped)
    damaged: str = ""  # a damaged run's problems: it is set aside first, then trained again or reused
    source: Path | None = None

    @property
    def trains(self) -> bool:
        return self.action in (TRAIN, RESUME)


TRAIN, RESUME, SKIP, REUSE = "train", "resume", "skip", "reuse"


def plan_runs(variants: tuple[str, ...], seeds: tuple[int, ...], configs: dict[str, RunConfig], out: Path,
              reuse_from: Path | None = None) -> list[PlannedRun]:
    """Every variant x seed, seed by seed (so partial results stay paired), and what to do with it:
    skip a run already final with the same config, copy (with `reuse_from`) a complete run with the same
    fingerprint found under that folder (run/reuse.py), train or resume the rest. Reads; writes nothing."""
    from bn_study.run.reuse import complete_runs, sound

    pairs = [(variant, seed) for seed in seeds for variant in variants]
    sources = complete_runs(reuse_from, exclude=out) if reuse_from is not None and Path(reuse_from).is_dir() else {}
    planned = []
    for i, (variant, seed) in enumerate(pairs, 1):
        config = configs[variant].with_seed(seed)
        run_dir = results.run_dir(out, variant, seed)
        status = results.run_status(run_dir)
        here = dict(index=i, total=len(pairs), variant=variant, seed=seed, config=config, run_dir=run_dir)
        damaged = ""
        if status == results.DAMAGED:
            damaged, status = "; ".join(results.checked_run(run_dir).problems), None
        if status in results.FINAL:
            previous = results.read_json(run_dir / results.RUN_FILE)
            if previous.get("fingerprint") == config.fingerprint():
                planned.append(PlannedRun(**here, action=SKIP, status=previous["status"]))
                continue
        elif status is None and (source := sound(sources.get(config.fingerprint(), []))):
            planned.append(PlannedRun(**here, action=REUSE, damaged=damaged, source=source))
            continue
        resumes = status is not None and status not in results.FINAL  # else absent, or another config's
        planned.append(PlannedRun(**here, action=RESUME if resumes else TRAIN, status=status or "", damaged=damaged))
    return planned


def plan_jobs(planned: list[PlannedRun], log=print) -> tuple[list[Job], int, int]:
    """plan_runs' plan carried out: damaged runs set aside, reusable runs copied; returns (jobs to train,
    skipped, reused)."""
    from bn_study.run.reuse import reuse_run

    jobs, skipped, reused = [], 0, 0
    for run in planned:
        where = f"[run {run.index}/{run.total}] {run.variant} seed {run.seed}"
        if run.damaged:
            again = "copying it again" if run.action == REUSE else "training it again"
            log(f"{where}: damaged ({run.damaged}); moved to {set_aside(run.run_dir)}, {again}")
        if run.action == SKIP:
            log(f"{where}: {run.status}, skipped")
            skipped += 1
            continue
        if run.action == REUSE:
            reuse_run(run.source, run.run_dir, run.variant)
            log(f"{where}: reused {run.source} (same config and seed; --no-reuse trains it instead)")
            reused += 1
            continue
        jobs.append(run)
    return jobs, skipped, reused


def set_aside(run_dir: Path) -> Path:
    """Move a damaged run folder out of the way (nothing finished is deleted): <variant>/damaged-seed-<k>-<time>."""
    import time

    kept = run_dir.parent / f"damaged-{run_dir.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    run_dir.rename(kept)
    return kept


def longest_first(jobs: list[Job]) -> list[Job]:
    """Seed by seed as planned, but within a seed the costliest run first, so that parallel lanes
    end together: with the article's models (BN's epoch ~1.5-2x no BN's) taken in the order no_bn,
    bn, no_bn, bn, one lane idles while the other trains the last BN run alone. The cost is a
    rough epochs x images x layers (nothing is measured before a run)."""
    def cost(job: Job) -> float:
        return job.config.train.epochs * (job.config.data.train_limit or 60_000) * len(job.config.model.layers)

    seed_order = {seed: i for i, seed in enumerate(dict.fromkeys(j.seed for j in jobs))}
    return sorted(jobs, key=lambda j: (seed_order[j.seed], -cost(j), j.index))


def available_memory_mb() -> float | None:
    """MemAvailable from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo") as f:
            line = next(l for l in f if l.startswith("MemAvailable:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return None


def check_memory(jobs: int, out: Path) -> None:
    """Refuse `jobs` runs at once when jobs x the measured per-run peak RSS exceeds what is free."""
    available = available_memory_mb()
    if jobs < 2 or available is None:
        return
    peaks = []
    for path in results.run_files(out):
        try:
            peaks.append((results.read_json(path).get("peak_rss_mb") or 0.0, path))
        except (OSError, ValueError):
            continue
    peak, source = max(peaks, default=(0.0, None), key=lambda p: p[0])
    if peak <= 0:  # runs made before peak_rss_mb was recorded, or none yet
        peak, source = UNMEASURED_PEAK_MB, None
    source = f"measured in {source}" if source else "estimated; no run here has measured one yet"
    if jobs * peak > available:
        fit = max(1, int(available // peak))
        raise UserError(f"--jobs {jobs}: {jobs} runs x {peak:,.0f} MB peak memory per run ({source}) = "
                        f"{jobs * peak:,.0f} MB, more than the {available:,.0f} MB available; use --jobs {fit} or fewer")


def progress_bar(jobs: list[Job], unit: str = "epoch"):
    """One live line for the experiment on a terminal (tqdm); nothing when stderr is a file."""
    from tqdm import tqdm

    total = sum(j.config.train.epochs for j in jobs) if unit == "epoch" else len(jobs)
    initial = sum(j.epochs_done() for j in jobs) if unit == "epoch" else 0  # resumed runs' epochs
    return tqdm(total=total, initial=initial, unit=unit, dynamic_ncols=True, disable=not sys.stderr.isatty(),
                bar_format="{l_bar}{bar:12}| {n_fmt}/{total_fmt} {unit}s [{elapsed}<{remaining}]{postfix}")

