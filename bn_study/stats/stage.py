"""The statistics stage: one entry point from an experiment's run folders to its statistics files.

- summary.csv: one row per finished run (complete or diverged), every figure a claim may name,
- aggregate.csv: per variant and figure, n, mean, std, the 95% Student-t CI, min, median and max,
- claims.csv: every claim with its numbers and facts (effect, CI, n per side, raw and Holm p, why a
  test could not run, runs that never reached a threshold) and its verdict; report/words.py words them,
- curves.csv: per variant, the band over seeds of each training curve,
- probe_movement.csv: what the probe saw, when a run recorded it.

`bn-study stats` and `bn-study experiment` (after training) run it; plots, reports, the site and the
docs' tables only read these files (files.read_statistics), so that no two pages can judge a claim differently.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bn_study.config.experiment_spec import ClaimSpec, ExperimentSpec
from bn_study.results import FILES_KEY, file_facts, write_json, write_text
from bn_study.stats.aggregate import aggregate_table, curves_table
from bn_study.stats.files import (AGGREGATE_FILE, CLAIMS_FILE, CURVES_FILE, PROBE_MOVEMENT_FILE, STATISTICS_RECORD,
                                  SUMMARY_FILE, ExperimentRuns, Statistics, read_experiment, read_statistics, run_key)
from bn_study.stats.holm import judge_all
from bn_study.stats.probe import probe_movement_table
from bn_study.stats.summary import summary_table


def _band(claim: ClaimSpec) -> tuple[float, float]:
    """The band a value, gain or equivalence claim is judged against; NaN for the others."""
    if claim.test == "value":
        return claim.value - claim.tolerance, claim.value + claim.tolerance
    if claim.test in ("gain", "equivalence"):
        center = claim.value or 0.0
        return center - claim.tolerance, center + claim.tolerance
    return float("nan"), float("nan")


CLAIM_COLUMNS = ["number", "claim", "source", "test", "paired", "metric", "expect", "baseline", "treatment",
                 "variant", "value", "effect", "ci_low", "ci_high", "ci_level", "band_low", "band_high", "n_baseline",
                 "mean_baseline", "std_baseline", "n_treatment", "mean_treatment", "std_treatment", "p", "holm_p",
                 "verdict", "note", "never_reached_baseline", "never_reached_treatment", "seeds_for_power",
                 "min_effect", "range_key", "trains_well_baseline", "trains_well_treatment"]


def verdict_row(number: int, v) -> dict:
    """claims.csv's row for a verdict: the claim as specified, its numbers and facts, no words."""
    return {
        "number": number, "claim": v.claim.claim, "source": v.claim.source, "test": v.claim.test,
        "paired": v.claim.paired, "metric": v.claim.metric, "expect": v.claim.expect or "",
        "baseline": v.claim.baseline, "treatment": v.claim.treatment, "variant": v.claim.variant,
        "value": v.claim.value, "effect": v.effect, "ci_low": v.ci_low, "ci_high": v.ci_high, "ci_level": v.ci_level,
        "band_low": _band(v.claim)[0], "band_high": _band(v.claim)[1],
        "n_baseline": v.n_baseline, "mean_baseline": v.mean_baseline, "std_baseline": v.std_baseline,
        "n_treatment": v.n_treatment, "mean_treatment": v.mean_treatment, "std_treatment": v.std_treatment,
        "p": v.p_value, "holm_p": v.adjusted_p, "verdict": v.verdict, "note": v.note,
        "never_reached_baseline": v.never_reached_baseline, "never_reached_treatment": v.never_reached_treatment,
        "seeds_for_power": v.seeds_for_power, "min_effect": v.claim.min_effect, "range_key": v.range_key,
        "trains_well_baseline": v.trains_well_baseline, "trains_well_treatment": v.trains_well_treatment}


def claims_table(spec: ExperimentSpec, summary: pd.DataFrame) -> pd.DataFrame:
    """claims.csv's rows, in the experiment file's order."""
    verdicts = judge_all(spec.claims, summary, spec.grid_points) if not summary.empty else []
    return pd.DataFrame([verdict_row(i, v) for i, v in enumerate(verdicts, 1)], columns=CLAIM_COLUMNS)


def write_statistics(experiment: ExperimentRuns) -> list[Path]:
    """Compute the statistics of an experiment's finished runs and write their files (full precision)."""
    directory = experiment.directory
    summary = summary_table(experiment.finished, experiment.spec.thresholds, experiment.variants)
    tables = {SUMMARY_FILE: summary,
              AGGREGATE_FILE: aggregate_table(summary) if not summary.empty else pd.DataFrame(),
              CLAIMS_FILE: claims_table(experiment.spec, summary),
              CURVES_FILE: curves_table(experiment.complete)}
    probe = probe_movement_table(experiment.complete, experiment.variants)
    if not probe.empty:
        tables[PROBE_MOVEMENT_FILE] = probe
    else:
        (directory / PROBE_MOVEMENT_FILE).unlink(missing_ok=True)
    for name, table in tables.items():
        write_text(directory / name, table.to_csv(index=False))
    record = {"runs": {run_key(r): {"status": r.run["status"], "files": r.run.get(FILES_KEY)} for r in experiment.finished},
              "left_out": {run_key(r): list(r.problems) for r in experiment.damaged},
              "files": {name: file_facts(directory / name) for name in tables}}
    write_json(directory / STATISTICS_RECORD, record)
    return [directory / name for name in (*tables, STATISTICS_RECORD)]


def make_statistics(results_dir: Path | ExperimentRuns) -> tuple[ExperimentRuns, Statistics, list[Path]]:
    """The stage: read the experiment once, write its statistics files, and return them as read back,
    so that every view sees exactly what the files hold."""
    experiment = results_dir if isinstance(results_dir, ExperimentRuns) else read_experiment(results_dir)
    paths = write_statistics(experiment)
    return experiment, read_statistics(experiment), paths
