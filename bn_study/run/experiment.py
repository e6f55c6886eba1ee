"""Running an experiment: every variant x seed not yet complete, here, in processes or on Ray.

Every variant's config (with the command line's --set applied) is loaded and its model built
before anything is trained, so a mistake in any of them stops the experiment before a single file
is written. The spec itself (config/experiment_spec.py) is validated first.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bn_study import results
from bn_study.config.experiment_spec import SPEC_FILE, ExperimentSpec, load_spec
from bn_study.config.schema import RunConfig, load_config
from bn_study.config.validate import to_raw
from bn_study.config.yamlio import dump_yaml
from bn_study.errors import UserError
from bn_study.run.jobs import Engine, Job, PlannedRun, check_memory, plan_jobs, plan_runs
from bn_study.train.threads import configure_threads


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: its spec, its file, and each variant's resolved config."""

    spec: ExperimentSpec
    path: Path
    configs: dict[str, RunConfig]
    overrides: tuple[str, ...] = ()  # the command line's --set, applied to every variant
    seeds_replaced: bool = False  # --seeds replaced the experiment file's seeds


def load_experiment(path: str | Path, overrides: list[str] = (), seeds: tuple[int, ...] | None = None,
                    threads_per_run: int | None = None) -> Experiment:
    """Load the spec and every variant's config (before TensorFlow starts), set this process's
    TensorFlow threads (`threads_per_run`, when it trains here), then build each model once to
    surface Keras errors."""
    path = Path(path)
    spec = load_spec(path, seeds)
    configs = {}
    for variant in spec.all_variants:
        try:
            configs[variant.name] = load_config(path.parent / variant.config, list(variant.set) + list(overrides))
        except UserError as e:
            raise UserError(f"variant '{variant.name}': {e}") from None
    configure_threads(threads_per_run)  # starts TensorFlow: its thread pools before its first op
    from bn_study.model.build import check_buildable

    for name, config in configs.items():
        try:
            check_buildable(config)
        except UserError as e:
            raise UserError(f"variant '{name}': {e}") from None
    return Experiment(spec, path, configs, tuple(overrides), seeds is not None)


def run_experiment(experiment: Experiment, out: Path, verbose="auto", log=print,
                   engine: Engine = Engine(), reuse_from: Path | None = None,
                   planned: list[PlannedRun] | None = None) -> Counter:
    """Train every variant x seed not yet complete (copying, with `reuse_from`, a complete run of the
    same config and seed found under that folder instead); returns a count per final status. `planned`:
    plan_runs' plan when the caller made it already (to estimate the time), else it is made here.

    One run after another in this process by default; N at once in spawned processes
    (engine.jobs > 1, pool.py) or as Ray tasks (engine.name == 'ray', ray_engine.py).
    """
    from bn_study.data.datasets import load_dataset

    out = Path(out)
    if engine.name == "local" and engine.parallel:
        check_memory(engine.jobs, out)  # before anything is written
    with results.lock(out):
        # The resolved spec beside the runs: plots and reports read variants, claims and
        # thresholds from here, never from the (editable) experiments/ file.
        results.write_text(out / SPEC_FILE, dump_yaml(to_raw(experiment.spec)))
        _record_shrinking(experiment, out)
        variants = tuple(v.name for v in experiment.spec.all_variants)
        if planned is None:
            planned = plan_runs(variants, experiment.spec.seeds, experiment.configs, out, reuse_from)
        jobs, skipped, reused = plan_jobs(planned, log)
        data = {}
        for job in jobs:  # verified once here, whatever the engine
            if _data_key(job.config) not in data:
                data[_data_key(job.config)] = load_dataset(job.config.data.path, job.config.data.dataset, log=log)
        if engine.name == "ray":
            from bn_study.run.ray_engine import run_on_ray
            counts = run_on_ray(jobs, data, engine, _data_key, log) if jobs else Counter()
        elif engine.parallel:
            from bn_study.run.pool import run_in_processes
            counts = run_in_processes(jobs, data, engine, _data_key, log) if jobs else Counter()
        else:
            counts = _run_here(experiment, jobs, data, verbose, log)
    if skipped:
        counts["skipped"] = skipped
    if reused:
        counts["reused"] = reused
    return counts


def _record_shrinking(experiment: Experiment, out: Path) -> None:
    """SHRUNK_FILE when --set or --seeds changed the experiment (the report then says so at its
    top); none when the experiment runs as its file says."""
    path = out / results.SHRUNK_FILE
    if experiment.overrides or experiment.seeds_replaced:
        results.write_json(path, {"set": list(experiment.overrides),
                                  "seeds": list(experiment.spec.seeds) if experiment.seeds_replaced else None})
    else:
        path.unlink(missing_ok=True)


def _data_key(config: RunConfig) -> tuple:
    return config.data.path, config.data.dataset


def _run_here(experiment: Experiment, jobs: list[Job], data: dict, verbose, log) -> Counter:
    """One run after another in this process (the console shows Keras' own progress)."""
    from bn_study.train.training import train_run

    counts = Counter()
    for job in jobs:
        log(f"[run {job.index}/{job.total}] {experiment.spec.name}: {job.variant} seed {job.seed} -> {job.run_dir}")
        status = train_run(job.config, job.run_dir, data[_data_key(job.config)], variant=job.variant,
                           verbose=verbose, log=log, extra_record={"engine": "local", "jobs": 1})
        counts[status] += 1
    return counts


def record_command(out: Path, command_line: str, engine: Engine, counts: Counter, wall_seconds: float,
                   estimated_seconds: float | None = None) -> None:
    """Append the command's wall time (and the estimate made before it trained) to out/commands.csv
    when it trained (the report quotes both)."""
    if not set(counts) - {"skipped", "reused"}:
        return
    results.append_row(out / results.COMMANDS_FILE, {
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": command_line,
        "engine": engine.name, "jobs": engine.jobs or (1 if engine.name == "local" else "all"),
        **{status: counts.get(status, 0) for status in ("complete", "diverged", "failed", "skipped", "reused")},
        "wall_s": round(wall_seconds, 1),
        "estimated_s": round(estimated_seconds, 1) if estimated_seconds is not None else None})


def run_and_report(experiment: Experiment, out: Path, engine: Engine, command_line: str,
                   verbose="auto", log=print, reuse_from: Path | None = None,
                   results_root: Path | None = None) -> Counter:
    """`bn-study experiment`: train what is missing, record the command, then the statistics stage,
    plots and report from the files; UserError at the end if a run did not complete. The wall time is
    estimated first from the runs under `results_root` (default: out's parent) and recorded beside
    what it took."""
    from bn_study.report.experiment_report import write_reports
    from bn_study.report.plots import draw_plots
    from bn_study.report.run_figure import RUN_FIGURE, RUN_PAGE, draw_run_figure, needs_figure
    from bn_study.stats.stage import make_statistics

    from bn_study.run.dry_run import plan_estimate

    variants = tuple(v.name for v in experiment.spec.all_variants)
    planned = plan_runs(variants, experiment.spec.seeds, experiment.configs, out, reuse_from)  # read once, used twice
    estimated, words = plan_estimate(planned, engine, results_root or out.parent)
    log(f"{out}: {words}")
    started = time.perf_counter()
    counts = run_experiment(experiment, out, verbose=verbose, log=log, engine=engine, reuse_from=reuse_from,
                            planned=planned)
    trained_in = time.perf_counter() - started
    log(f"{out}: " + (", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing to train")
        + f" ({trained_in / 60:.1f} min)")
    record_command(out, command_line, engine, counts, trained_in, estimated)
    runs, statistics, paths = make_statistics(out)
    for run in runs.damaged:
        log(f"warning: {results.damaged_line(run)}")
    figures = [draw_run_figure(run) for run in runs.runs if needs_figure(run)]  # each run's own figure
    if figures:
        log(f"wrote {len(figures)} run figure(s) and page(s): <run folder>/{RUN_FIGURE}, {RUN_PAGE}")
    for path in [*paths, *draw_plots(runs, statistics), *write_reports(runs, statistics)]:
        log(f"wrote {path}")
    log(f"{out}: done in {(time.perf_counter() - started) / 60:.1f} min wall (training, statistics, plots and report)")
    if counts.get("failed") or counts.get("lost"):
        raise UserError(f"{out}: {counts.get('failed', 0) + counts.get('lost', 0)} run(s) did not complete; "
                        f"their run.json and train.log say why, and the same command retrains them")
    return counts
