"""Experiments: which configs (variants) are compared, over which seeds, with which plots and claims.

An experiment YAML is validated like a config; every variant's config (with the command line's
--set applied) is loaded and its model built before anything is trained, so a mistake in any of
them stops the experiment before a single file is written.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bn_study import results
from bn_study.config import RunConfig, from_raw, load_config, suggest, to_raw
from bn_study.errors import UserError
from bn_study.jobs import Engine, Job, check_memory, plan_jobs
from bn_study.summary import figure_names
from bn_study.yamlio import dump_yaml, read_yaml

PLOTS = ("article_figure", "compare_accuracy", "loss", "mean_curves", "test_accuracy", "epochs_to_threshold",
         "probe", "sweep", "steps")
TESTS = ("difference", "value", "gain", "equivalence", "spread", "range")
SPEC_FILE = "experiment.yaml"


@dataclass(frozen=True)
class VariantSpec:
    name: str
    config: str  # relative to the experiment file
    set: tuple[str, ...] = ()  # --set overrides for this variant only


@dataclass(frozen=True)
class SweepSpec:
    key: str  # a dotted config key, as for --set
    values: tuple[Any, ...] = field(metadata={"check": (lambda v: len(v) > 0, "a non-empty list")})
    # Keys set together with `key`, one value per value of it (e.g. a learning rate per batch size);
    # they follow the swept key and do not appear in variant names.
    paired: dict[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class GridSpec:
    """Every model crossed with every combination of swept values, expanded into variants."""

    models: tuple[VariantSpec, ...] = field(metadata={"check": (lambda v: len(v) > 0, "a non-empty list")})
    sweep: tuple[SweepSpec, ...] = field(metadata={"check": (lambda v: len(v) > 0, "a non-empty list")})


@dataclass(frozen=True)
class GridPoint:
    """Where a grid variant sits: its line (model and any further swept values) and its x value."""

    variant: str
    line: str
    key: str
    x: Any


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def expand_grid(grid: GridSpec) -> tuple[tuple[VariantSpec, ...], tuple[GridPoint, ...]]:
    """Variants named <model>-<key>=<value>[-<key>=<value>...]; the first swept key is the x axis."""
    variants, points = [], []
    for model in grid.models:
        for combo in itertools.product(*[[(s, i) for i in range(len(s.values))] for s in grid.sweep]):
            sets = tuple(f"{k}={v}" for s, i in combo for k, v in [(s.key, s.values[i])] + [(pk, pv[i]) for pk, pv in s.paired.items()])
            combo = [(s.key, s.values[i]) for s, i in combo]
            name = "-".join([model.name] + [f"{_short(k)}={v}" for k, v in combo])
            variants.append(VariantSpec(name, model.config, model.set + sets))
            line = "-".join([model.name] + [f"{_short(k)}={v}" for k, v in combo[1:]])
            points.append(GridPoint(name, line, combo[0][0], combo[0][1]))
    return tuple(variants), tuple(points)


@dataclass(frozen=True)
class ClaimSpec:
    """A claim the experiment tests; see claims.py for each test's verdict rule."""

    claim: str
    test: str = field(metadata={"check": (lambda v: v in TESTS, f"one of {', '.join(TESTS)}")})
    metric: str
    source: str = ""
    baseline: str | None = None  # difference / spread: the variant compared against; range: a grid line
    treatment: str | None = None
    expect: str | None = field(default=None, metadata={"check": (lambda v: v in (None, "higher", "lower"), "higher or lower")})
    variant: str | None = None  # value: the variant whose mean is compared with `value`
    value: float | None = None  # value: the claimed value; range: the level that counts as "trains well"
    tolerance: float | None = None  # value, gain: the band's half-width; equivalence: the margin
    # difference: the smallest effect worth detecting, for the seeds-needed estimate of an
    # inconclusive verdict (default: the observed difference).
    min_effect: float | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    question: str = ""  # one line, shown atop the report and on the results index
    variants: tuple[VariantSpec, ...] = ()
    grid: GridSpec | None = None
    seeds: tuple[int, ...] = (0,)
    plots: tuple[str, ...] = PLOTS
    claims: tuple[ClaimSpec, ...] = ()
    thresholds: tuple[float, ...] = (0.98, 0.99)  # validation accuracies for 'epochs to reach'

    @property
    def all_variants(self) -> tuple[VariantSpec, ...]:
        """The listed variants, then the grid's."""
        return self.variants + (expand_grid(self.grid)[0] if self.grid else ())

    @property
    def grid_points(self) -> tuple[GridPoint, ...]:
        return expand_grid(self.grid)[1] if self.grid else ()


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: its spec, its file, and each variant's resolved config."""

    spec: ExperimentSpec
    path: Path
    configs: dict[str, RunConfig]


def load_spec(path: Path, seeds: tuple[int, ...] | None = None) -> ExperimentSpec:
    raw = read_yaml(path)
    try:
        spec = from_raw(ExperimentSpec, raw if raw is not None else {})
    except UserError as e:
        raise UserError(f"{path}: {e}") from None
    for i, sweep in enumerate(spec.grid.sweep if spec.grid else ()):
        for key, values in sweep.paired.items():
            if len(values) != len(sweep.values):
                raise UserError(f"{path}: grid.sweep.{i}.paired.{key}: {len(values)} values for the {len(sweep.values)} "
                                f"of {sweep.key}; give one per value")
    names = [v.name for v in spec.all_variants]
    lines = list(dict.fromkeys(p.line for p in spec.grid_points))
    if not names:
        raise UserError(f"{path}: needs 'variants' or a 'grid'")
    if len(set(names)) != len(names):
        raise UserError(f"{path}: variants: names must be unique, got {names}")
    for i, claim in enumerate(spec.claims):
        needed = {"value": ("variant", "value", "tolerance"), "range": ("baseline", "treatment", "value"),
                  "gain": ("baseline", "treatment", "value", "tolerance"),
                  "equivalence": ("baseline", "treatment", "tolerance")}.get(
            claim.test, ("baseline", "treatment", "expect"))
        missing = [k for k in needed if getattr(claim, k) is None]
        if missing:
            raise UserError(f"{path}: claims.{i}: a '{claim.test}' claim needs {', '.join(needed)}; missing {', '.join(missing)}")
        if claim.metric not in figure_names(spec.thresholds):
            raise UserError(f"{path}: claims.{i}.metric: unknown figure '{claim.metric}'{suggest(claim.metric, figure_names(spec.thresholds))}")
        known, kind = (lines, "grid line") if claim.test == "range" else (names, "variant")
        for key in ("baseline", "treatment", "variant"):
            name = getattr(claim, key)
            if name is not None and name not in known:
                raise UserError(f"{path}: claims.{i}.{key}: '{name}' is not a {kind} ({', '.join(known) or 'no grid'})")
    unknown = [p for p in spec.plots if p not in PLOTS]
    if unknown:
        raise UserError(f"{path}: plots: unknown plot '{unknown[0]}'; known: {', '.join(PLOTS)}")
    if seeds is not None:
        spec = dataclasses.replace(spec, seeds=tuple(seeds))
    return spec


def load_experiment(path: str | Path, overrides: list[str] = (), seeds: tuple[int, ...] | None = None) -> Experiment:
    """Load the spec and every variant's config; build each model once to surface Keras errors."""
    from bn_study.models import check_buildable

    path = Path(path)
    spec = load_spec(path, seeds)
    configs = {}
    for variant in spec.all_variants:
        config_path = path.parent / variant.config
        try:
            configs[variant.name] = load_config(config_path, list(variant.set) + list(overrides))
            check_buildable(configs[variant.name])
        except UserError as e:
            raise UserError(f"variant '{variant.name}': {e}") from None
    return Experiment(spec, path, configs)


def run_experiment(experiment: Experiment, out: Path, verbose="auto", log=print,
                   engine: Engine = Engine()) -> Counter:
    """Train every variant x seed not yet complete; returns a count per final status.

    One run after another in this process by default; N at once in spawned processes
    (engine.jobs > 1, pool.py) or as Ray tasks (engine.name == 'ray', ray_engine.py).
    """
    from bn_study.data import load_dataset

    out = Path(out)
    if engine.name == "local" and engine.parallel:
        check_memory(engine.jobs, out)  # before anything is written
    with results.lock(out):
        # The resolved spec beside the runs: plots and reports read variants, claims and
        # thresholds from here, never from the (editable) experiments/ file.
        results.write_text(out / SPEC_FILE, dump_yaml(to_raw(experiment.spec)))
        variants = tuple(v.name for v in experiment.spec.all_variants)
        jobs, skipped = plan_jobs(variants, experiment.spec.seeds, experiment.configs, out, log)
        data = {}
        for job in jobs:  # verified once here, whatever the engine
            if _data_key(job.config) not in data:
                data[_data_key(job.config)] = load_dataset(job.config.data.path, job.config.data.dataset, log=log)
        if engine.name == "ray":
            from bn_study.ray_engine import run_on_ray
            counts = run_on_ray(jobs, data, engine, _data_key, log) if jobs else Counter()
        elif engine.parallel:
            from bn_study.pool import run_in_processes
            counts = run_in_processes(jobs, data, engine, _data_key, log) if jobs else Counter()
        else:
            counts = _run_here(experiment, jobs, data, verbose, log)
    if skipped:
        counts["skipped"] = skipped
    return counts


def _data_key(config: RunConfig) -> tuple:
    return config.data.path, config.data.dataset


def _run_here(experiment: Experiment, jobs: list[Job], data: dict, verbose, log) -> Counter:
    """One run after another in this process (the console shows Keras' own progress)."""
    from bn_study.training import train_run

    counts = Counter()
    for job in jobs:
        log(f"[run {job.index}/{job.total}] {experiment.spec.name}: {job.variant} seed {job.seed} -> {job.run_dir}")
        status = train_run(job.config, job.run_dir, data[_data_key(job.config)], variant=job.variant,
                           verbose=verbose, log=log, extra_record={"engine": "local", "jobs": 1})
        counts[status] += 1
    return counts
