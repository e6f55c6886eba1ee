"""Experiment specs: which configs (variants) are compared, over which seeds, with which plots and
claims. An experiment YAML is validated like a config, once, into the frozen dataclasses below; the
figures a claim may name (the columns of summary.csv) come from the figure registry, config/figures.py.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bn_study.config.figures import THRESHOLDED, names
from bn_study.config.validate import from_raw, suggest
from bn_study.config.yamlio import read_yaml
from bn_study.errors import UserError

def figure_names(thresholds: tuple[float, ...]) -> tuple[str, ...]:
    """The columns of summary.csv besides variant and seed (what a claim's `metric` may name): the figure
    registry's (config/figures.py), the thresholded ones at each of the experiment's thresholds."""
    history, steps = (tuple(entry.name.format(f"{t:g}") for t in thresholds) for entry in THRESHOLDED)
    return names("history") + history + names("steps") + steps + names("probe", "landscape", "step_loss")


PLOTS = ("article_figure", "compare_accuracy", "loss", "mean_curves", "test_accuracy", "epochs_to_threshold",
         "probe", "sweep", "steps", "effect_map", "landscape")
TESTS = ("difference", "value", "gain", "equivalence", "spread", "range")
PAIRED_TESTS = ("difference", "gain", "equivalence")
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
    # difference, gain, equivalence: compare the two variants seed by seed (a paired t-test on the
    # differences at the seeds both completed) instead of as two independent samples. For variants that
    # share everything the seed decides (initial weights, batch order), e.g. one model in two precisions.
    paired: bool = False


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
        if claim.paired and claim.test not in PAIRED_TESTS:
            raise UserError(f"{path}: claims.{i}.paired: only a {', '.join(PAIRED_TESTS)} claim compares seed by seed, "
                            f"not a '{claim.test}' claim; remove paired")
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


