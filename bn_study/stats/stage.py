"""The statistics stage: one entry point from an experiment's run folders to its statistics files.

- summary.csv: one row per finished run (complete or diverged), every figure a claim may name,
- aggregate.csv: per variant and figure, n, mean, std, the 95% Student-t CI, min, median and max,
- claims.csv: every claim with its numbers (effect, CI, n per side, raw and Holm p), verdict and
  evidence in words,
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


def test_text(claim: ClaimSpec) -> str:
    """The claim's test in a few words, as the report's table shows it."""
    if claim.expect:
        return f"{claim.test}: {claim.metric} ({claim.expect} for {claim.treatment})"
    if claim.test == "range":
        return f"{claim.test}: {claim.metric} ≥ {claim.value:g}, wider for {claim.treatment}"
    if claim.test in ("gain", "equivalence"):
        center = claim.value or 0.0
        return (f"{claim.test}: {claim.metric} of {claim.treatment} − {claim.baseline} in "
                f"[{center - claim.tolerance:g}, {center + claim.tolerance:g}]")
    return f"{claim.test}: {claim.metric}"


def _band(claim: ClaimSpec) -> tuple[float, float]:
    """The band a value, gain or equivalence claim is judged against; NaN for the others."""
    if claim.test == "value":
        return claim.value - claim.tolerance, claim.value + claim.tolerance
    if claim.test in ("gain", "equivalence"):
        center = claim.value or 0.0
        return center - claim.tolerance, center + claim.tolerance
    return float("nan"), float("nan")


CLAIM_COLUMNS = ["number", "claim", "source", "test", "test_text", "metric", "expect", "baseline", "treatment",
                 "variant", "effect", "ci_low", "ci_high", "ci_level", "band_low", "band_high", "n_baseline",
                 "mean_baseline", "std_baseline", "n_treatment", "mean_treatment", "std_treatment", "p", "holm_p",
                 "verdict", "evidence"]


def claims_table(spec: ExperimentSpec, summary: pd.DataFrame) -> pd.DataFrame:
    """claims.csv's rows, in the experiment file's order."""
    verdicts = judge_all(spec.claims, summary, spec.grid_points) if not summary.empty else []
    return pd.DataFrame([{
        "number": i, "claim": v.claim.claim, "source": v.claim.source, "test": v.claim.test,
        "test_text": test_text(v.claim), "metric": v.claim.metric, "expect": v.claim.expect or "",
        "baseline": v.claim.baseline, "treatment": v.claim.treatment, "variant": v.claim.variant,
        "effect": v.effect, "ci_low": v.ci_low, "ci_high": v.ci_high, "ci_level": v.ci_level,
        "band_low": _band(v.claim)[0], "band_high": _band(v.claim)[1],
        "n_baseline": v.n_baseline, "mean_baseline": v.mean_baseline, "std_baseline": v.std_baseline,
        "n_treatment": v.n_treatment, "mean_treatment": v.mean_treatment, "std_treatment": v.std_treatment,
        "p": v.p_value, "holm_p": v.adjusted_p,
        "verdict": v.verdict, "evidence": v.evidence} for i, v in enumerate(verdicts, 1)], columns=CLAIM_COLUMNS)


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
