"""One step from an experiment's run folders to its statistics files, computed once:

- summary.csv: one row per finished run (complete or diverged), every figure a claim may name,
- aggregate.csv: per variant and figure, n, mean, std and the 95% Student-t CI,
- claims.csv: every claim of the experiment with its evidence, raw and Holm-adjusted p and verdict.

`bn-study plot` writes them (before drawing); plots, REPORT, the site and the effect map only read
them, so that no two pages can judge a claim differently.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bn_study.config.experiment_spec import SPEC_FILE, ClaimSpec, load_spec
from bn_study.errors import UserError
from bn_study.report.summary import AGGREGATE_FILE, SUMMARY_FILE, aggregate_table, summary_table
from bn_study.report.verdicts import judge_all
from bn_study.results import FINAL, find_runs, write_text

CLAIMS_FILE = "claims.csv"


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


def claims_table(results_dir: Path, summary: pd.DataFrame) -> pd.DataFrame:
    """claims.csv's rows, in the experiment file's order."""
    spec = load_spec(Path(results_dir) / SPEC_FILE)
    verdicts = judge_all(spec.claims, summary, spec.grid_points) if not summary.empty else []
    return pd.DataFrame([{
        "number": i, "claim": v.claim.claim, "source": v.claim.source, "test": v.claim.test,
        "test_text": test_text(v.claim), "metric": v.claim.metric, "expect": v.claim.expect or "",
        "baseline": v.claim.baseline, "treatment": v.claim.treatment, "variant": v.claim.variant, "evidence": v.evidence,
        "p": v.p_value, "holm_p": v.adjusted_p, "verdict": v.verdict} for i, v in enumerate(verdicts, 1)],
        columns=["number", "claim", "source", "test", "test_text", "metric", "expect", "baseline", "treatment",
                 "variant", "evidence", "p", "holm_p", "verdict"])


def write_statistics(results_dir: Path) -> list[Path]:
    """summary.csv, aggregate.csv and claims.csv in results_dir, from its run folders."""
    results_dir = Path(results_dir)
    spec = load_spec(results_dir / SPEC_FILE)
    variants = [v.name for v in spec.all_variants]
    finished = [r for r in find_runs(results_dir) if r.run.get("status") in FINAL and r.variant in variants]
    summary = summary_table(finished, spec.thresholds, variants)
    paths = [results_dir / name for name in (SUMMARY_FILE, AGGREGATE_FILE, CLAIMS_FILE)]
    # Full precision: the report's statistics are computed from these values.
    write_text(paths[0], summary.to_csv(index=False))
    write_text(paths[1], (aggregate_table(summary) if not summary.empty else pd.DataFrame()).to_csv(index=False))
    write_text(paths[2], claims_table(results_dir, summary).to_csv(index=False))
    return paths


def read_summary(results_dir: Path) -> pd.DataFrame:
    """summary.csv with its variants in the experiment's order; UserError when it was not written."""
    results_dir = Path(results_dir)
    path = results_dir / SUMMARY_FILE
    if not path.is_file():
        raise UserError(f"{results_dir}: no {SUMMARY_FILE}; `bn-study plot {results_dir}` writes the statistics")
    if path.stat().st_size <= 1:
        return pd.DataFrame()
    summary = pd.read_csv(path)
    variants = [v.name for v in load_spec(results_dir / SPEC_FILE).all_variants]
    summary["variant"] = pd.Categorical(summary["variant"].astype(str), categories=variants, ordered=True)
    return summary


def read_claims(results_dir: Path) -> pd.DataFrame:
    """claims.csv; UserError when it was not written."""
    path = Path(results_dir) / CLAIMS_FILE
    if not path.is_file():
        raise UserError(f"{results_dir}: no {CLAIMS_FILE}; `bn-study plot {results_dir}` writes the statistics")
    claims = pd.read_csv(path, keep_default_na=False, na_values={"p": [""], "holm_p": [""]})
    for column in ("p", "holm_p"):
        claims[column] = pd.to_numeric(claims[column], errors="coerce").astype(float)
    return claims.replace({"baseline": {"": None}, "treatment": {"": None}}) if not claims.empty else claims


def finite(value) -> bool:
    return value is not None and bool(np.isfinite(float(value)))
