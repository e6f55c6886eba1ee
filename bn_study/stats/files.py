"""The one read path of the views: an experiment's results folder opened once (open_results), its spec,
runs and statistics files checked and returned typed, and the statistics files' names and readers.

Pandas only (no scipy): every view reads through here, so that a page can be written on a machine
that could not compute the statistics; no module under report/ opens a CSV, JSON or YAML file itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bn_study.config.experiment_spec import SPEC_FILE, ExperimentSpec, load_spec
from bn_study.errors import UserError
from bn_study.results import (COMMANDS_FILE, COMPLETE, DIVERGED, FINAL, READ_ERRORS, SHRUNK_FILE, RunRecord, find_runs,
                              read_json, stopped_while_running, unreadable)

SUMMARY_FILE, AGGREGATE_FILE, CLAIMS_FILE = "summary.csv", "aggregate.csv", "claims.csv"
CURVES_FILE = "curves.csv"  # per variant: the band over seeds of each curve (stats/aggregate.py)
PROBE_MOVEMENT_FILE = "probe_movement.csv"  # written only when a run recorded probe.csv (stats/probe.py)
COMPARE_CSV = "COMPARE.csv"  # `bn-study compare`: written in the reproduction's folder (stats/comparison.py)
STATISTICS_FILES = (SUMMARY_FILE, AGGREGATE_FILE, CLAIMS_FILE, CURVES_FILE)
# What the statistics were computed from and what they wrote: the runs counted (with their files'
# hashes), the damaged runs left out, and the size and SHA-256 of each statistics file.
STATISTICS_RECORD = "statistics.json"


@dataclass(frozen=True)
class ExperimentRuns:
    """An experiment's results folder read once: its resolved spec and its variants' runs."""

    directory: Path
    spec: ExperimentSpec
    runs: tuple[RunRecord, ...]  # every run of the spec's variants, whatever its status
    shrunk: dict | None = None  # shrunk.json: the --set and --seeds that made it differ from its file
    commands: pd.DataFrame = field(default_factory=pd.DataFrame)  # commands.csv: the commands that trained here

    @property
    def variants(self) -> list[str]:
        return [v.name for v in self.spec.all_variants]

    @property
    def complete(self) -> list[RunRecord]:
        return [r for r in self.runs if r.run.get("status") == COMPLETE]

    @property
    def finished(self) -> list[RunRecord]:
        return [r for r in self.runs if r.run.get("status") in FINAL]

    @property
    def diverged(self) -> list[RunRecord]:
        return [r for r in self.runs if r.run.get("status") == DIVERGED]

    @property
    def damaged(self) -> list[RunRecord]:
        return [r for r in self.runs if r.problems]

    @property
    def stopped(self) -> list[RunRecord]:
        """Runs left 'running' by a process that no longer exists (results.stopped_while_running)."""
        return [r for r in self.runs if stopped_while_running(r.directory, r.run)]


def read_experiment(results_dir: Path) -> ExperimentRuns:
    """The spec, runs and records of an experiment's results folder; UserError in one line when it is not
    one or when its experiment.yaml, shrunk.json or commands.csv cannot be read."""
    results_dir = Path(results_dir)
    if not (results_dir / SPEC_FILE).is_file():
        raise UserError(f"{results_dir}: not an experiment's results folder (no {SPEC_FILE})")
    spec = load_spec(results_dir / SPEC_FILE)
    variants = {v.name for v in spec.all_variants}
    try:
        shrunk = read_json(results_dir / SHRUNK_FILE) if (results_dir / SHRUNK_FILE).is_file() else None
        commands = _read_csv(results_dir / COMMANDS_FILE) if (results_dir / COMMANDS_FILE).is_file() else pd.DataFrame()
    except READ_ERRORS as e:
        raise UserError(f"{results_dir}: {unreadable(e)}; the experiment's command writes it again") from None
    runs = tuple(r for r in find_runs(results_dir) if r.variant in variants)
    return ExperimentRuns(results_dir, spec, runs, shrunk, commands)


def open_results(results_dir: Path, statistics_required: bool = True) -> tuple[ExperimentRuns, "Statistics | None"]:
    """What every view reads: the experiment (spec, runs checked, records) and its statistics files, refused
    in one line when they count a run that is damaged now. Without `statistics_required`, None when the
    statistics have not been computed yet."""
    experiment = read_experiment(results_dir)
    if not statistics_required and not (experiment.directory / SUMMARY_FILE).is_file():
        return experiment, None
    return experiment, read_statistics(experiment)


def _path(results_dir: Path, name: str) -> Path:
    path = Path(results_dir) / name
    if not path.is_file():
        raise UserError(f"{results_dir}: no {name}; `bn-study stats {results_dir}` writes the statistics")
    return path


def _read_csv(path: Path, **options) -> pd.DataFrame:
    return pd.read_csv(path, **options) if path.stat().st_size > 1 else pd.DataFrame()


def read_summary(results_dir: Path, variants: list[str]) -> pd.DataFrame:
    """summary.csv with its variants in the experiment's order."""
    summary = _read_csv(_path(results_dir, SUMMARY_FILE))
    if not summary.empty:
        summary["variant"] = pd.Categorical(summary["variant"].astype(str), categories=variants, ordered=True)
    return summary


def read_aggregate(results_dir: Path) -> pd.DataFrame:
    """aggregate.csv indexed by (variant, figure)."""
    aggregate = _read_csv(_path(results_dir, AGGREGATE_FILE))
    return aggregate.astype({"variant": str}).set_index(["variant", "figure"]) if not aggregate.empty else aggregate


def read_claims(results_dir: Path) -> pd.DataFrame:
    """claims.csv (baseline and treatment None where a claim has none)."""
    claims = _read_csv(_path(results_dir, CLAIMS_FILE), keep_default_na=False,
                       na_values={c: [""] for c in NUMERIC_CLAIM_COLUMNS}, dtype={c: str for c in TEXT_CLAIM_COLUMNS})
    for column in NUMERIC_CLAIM_COLUMNS:
        if column in claims:
            claims[column] = pd.to_numeric(claims[column], errors="coerce").astype(int if column.startswith(("n_", "never_reached_")) else float)
    return claims.replace({"baseline": {"": None}, "treatment": {"": None}}) if not claims.empty else claims


def read_curves(results_dir: Path) -> pd.DataFrame:
    """curves.csv: per source, variant, column and x, the band over seeds."""
    return _read_csv(_path(results_dir, CURVES_FILE), dtype={"variant": str})


def read_probe_movement(results_dir: Path) -> pd.DataFrame:
    """probe_movement.csv, or an empty table when no run recorded the probe."""
    path = Path(results_dir) / PROBE_MOVEMENT_FILE
    return _read_csv(path) if path.is_file() else pd.DataFrame()


# claims.csv's columns of swept values and notes: text, even when they hold one number ('0.1').
TEXT_CLAIM_COLUMNS = ("note", "range_key", "trains_well_baseline", "trains_well_treatment")
# claims.csv's numeric columns (stats/stage.py writes them).
NUMERIC_CLAIM_COLUMNS = ("value", "effect", "ci_low", "ci_high", "ci_level", "band_low", "band_high", "n_baseline",
                         "mean_baseline", "std_baseline", "n_treatment", "mean_treatment", "std_treatment", "p",
                         "holm_p", "never_reached_baseline", "never_reached_treatment", "seeds_for_power", "min_effect")


@dataclass(frozen=True)
class Statistics:
    """An experiment's statistics as its files hold them."""

    summary: pd.DataFrame  # one row per finished run
    aggregate: pd.DataFrame  # indexed by (variant, figure)
    claims: pd.DataFrame
    curves: pd.DataFrame
    probe: pd.DataFrame  # empty when no run recorded the probe

    @property
    def complete(self) -> pd.DataFrame:
        """summary.csv's complete runs."""
        return self.summary[self.summary["status"] == "complete"] if not self.summary.empty else self.summary


def run_key(run: RunRecord) -> str:
    """'bn/seed-0': a run's place in its experiment folder."""
    return f"{run.directory.parent.name}/{run.directory.name}"


def counted_runs(directory: Path) -> dict:
    """statistics.json's runs the statistics counted ({} when the files predate the record)."""
    path = Path(directory) / STATISTICS_RECORD
    return read_json(path).get("runs", {}) if path.is_file() else {}


def read_statistics(experiment: ExperimentRuns) -> Statistics:
    """The statistics files of an experiment; UserError naming `bn-study stats` when one is missing,
    or when they count a run that is damaged now (leaving it out would change them)."""
    directory = experiment.directory
    try:
        counted = counted_runs(directory)
    except ValueError:
        raise UserError(f"{directory / STATISTICS_RECORD}: unreadable; `bn-study stats {directory}` writes it again") from None
    stale = [run_key(r) for r in experiment.damaged if run_key(r) in counted]
    if stale:
        raise UserError(f"{directory}: the statistics count {', '.join(stale)}, damaged since; `bn-study stats "
                        f"{directory}` recomputes them without it (and the experiment's command retrains it)")
    return Statistics(read_summary(directory, experiment.variants), read_aggregate(directory),
                      read_claims(directory), read_curves(directory), read_probe_movement(directory))


def finite(value) -> bool:
    return value is not None and bool(np.isfinite(float(value)))
