"""`bn-study experiment FILE --dry-run`: the runs an experiment would train, resume, copy or skip, and
its wall time on this machine estimated from the runs already made here (run/estimate.py). Reads
the results folders only: trains nothing, writes nothing."""
from __future__ import annotations

from pathlib import Path

from bn_study.data.datasets import TRAINING_IMAGES
from bn_study.run.estimate import Estimate, estimate_run, lanes_wall_seconds, recorded_rates
from bn_study.run.jobs import REUSE, SKIP, Engine, PlannedRun, longest_first, plan_runs
from bn_study.train.machine import cpu_kind
from bn_study.train.threads import available_cores


def _images(run: PlannedRun) -> int:
    """Training + validation images: the data set's training images, or the first train_limit."""
    size = TRAINING_IMAGES[run.config.data.dataset]
    return min(size, run.config.data.train_limit or size)


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def estimate_plan(planned: list[PlannedRun], engine: Engine, results_root: Path) -> dict[int, Estimate]:
    """Each run to train's estimate (its epochs still to go) on this kind of CPU, as `engine` will run
    it, by the run's index."""
    rates = recorded_rates(results_root)
    kind, threads = cpu_kind(), engine.threads_per_run() or available_cores()  # None: TensorFlow's, all cores
    return {run.index: estimate_run(run.config, run.epochs_done(), rates, kind, threads, engine.parallel,
                                    _images(run))
            for run in planned if run.trains}


def wall_estimate(planned: list[PlannedRun], estimates: dict[int, Estimate], engine: Engine) -> float | None:
    """The training's wall time on the engine's lanes, runs taken as the engine takes them (None when a
    run has no estimate)."""
    if any(e.seconds is None for e in estimates.values()):
        return None
    jobs = longest_first([r for r in planned if r.index in estimates])
    lanes = (engine.jobs or 1) if engine.name == "local" else (engine.jobs or available_cores())
    return lanes_wall_seconds([estimates[j.index].seconds for j in jobs], lanes)


def dry_run(experiment, out: Path, engine: Engine, reuse_from: Path | None, results_root: Path, log=print) -> None:
    """Print the plan: one line per run, then the counts and the estimated wall time."""
    variants = tuple(v.name for v in experiment.spec.all_variants)
    planned = plan_runs(variants, experiment.spec.seeds, experiment.configs, out, reuse_from)
    estimates = estimate_plan(planned, engine, results_root)
    log(f"{experiment.path} -> {out}: {len(planned)} runs (variant x seed), --dry-run: nothing is trained or written")
    for run in planned:
        where = f"[run {run.index}/{run.total}] {run.variant} seed {run.seed}"
        damaged = f"; damaged ({run.damaged}), would be set aside" if run.damaged else ""
        if run.action == SKIP:
            log(f"{where}: skip ({run.status} in {run.run_dir})")
        elif run.action == REUSE:
            log(f"{where}: reuse {run.source}{damaged}")
        else:
            estimate = estimates[run.index]
            what = f"{run.action} ({run.status})" if run.status else run.action
            log(f"{where}: {what}, ~{_minutes(estimate.seconds)} ({estimate.basis}){damaged}")
    counts = {action: sum(r.action == action for r in planned) for action in ("train", "resume", "reuse", "skip")}
    summary = ", ".join(f"{n} to {action}" for action, n in counts.items() if n)
    log(f"{summary}; {estimate_words(planned, estimates, engine, results_root)}")


def estimate_words(planned: list[PlannedRun], estimates: dict[int, Estimate], engine: Engine, results_root: Path) -> str:
    """'estimated training wall time 38.2 min on this amd-epyc-avx512 CPU (2 at once), ...' or why there is none."""
    if not estimates:
        return "nothing to train"
    wall = wall_estimate(planned, estimates, engine)
    lanes = f"{engine.jobs} at once" if engine.parallel else "one after another"
    if wall is None:
        missing = sum(e.seconds is None for e in estimates.values())
        return (f"no estimate: {missing} of the {len(estimates)} runs to train have no complete run of their config "
                f"on this kind of CPU ({cpu_kind()}) under {results_root}")
    return f"estimated training wall time {_minutes(wall)} on this kind of CPU ({cpu_kind()}, {lanes}), from the runs under {results_root}"


def plan_estimate(planned: list[PlannedRun], engine: Engine, results_root: Path) -> tuple[float | None, str]:
    """The training's estimated wall seconds for this plan (None when unknown) and the words for it."""
    estimates = estimate_plan(planned, engine, results_root)
    return wall_estimate(planned, estimates, engine), estimate_words(planned, estimates, engine, results_root)
