"""Does a reproduction agree with the reference? The statistics of `bn-study compare REFERENCE LOCAL`.

For each variant both folders share: per seed found in both, whether the run is bit-identical
(every history column but the clock's, and metrics.json, equal to the last bit); per figure, both
means with their 95% Student-t CIs, the difference with the 95% CI of Welch's t, raw and
Holm-adjusted p (one family: every figure of every variant) and a verdict by rules.COMPARE_RULE.
Written as COMPARE.csv in LOCAL; report/compare.py formats it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bn_study.config.differences import config_differences
from bn_study.errors import UserError
from bn_study.results import RunRecord, bit_identical, write_text
from bn_study.stats.aggregate import mean_ci
from bn_study.stats.claims import exact_p, no_spread, welch
from bn_study.stats.files import COMPARE_CSV, ExperimentRuns, read_experiment, read_statistics
from bn_study.stats.holm import holm
from bn_study.stats.labels import COMPARE_FIGURES
from bn_study.stats.rules import ALPHA

CONSISTENT, DIFFERS = "consistent", "differs"


@dataclass(frozen=True)
class SeedMatch:
    """One variant's runs on both sides: complete seeds, those in both, those bit-identical."""

    variant: str
    reference_seeds: tuple[int, ...]
    local_seeds: tuple[int, ...]
    shared: tuple[int, ...]
    identical: tuple[int, ...]
    # The resolved configs' differences (dotted key, reference value, local value; seed aside), from the
    # first complete run on each side: a comparison of another precision or epochs says so.
    differences: tuple[tuple[str, Any, Any], ...] = ()


@dataclass(frozen=True)
class Comparison:
    """Both sides read once, the seeds matched, and COMPARE.csv's table (one row per variant and figure)."""

    reference: ExperimentRuns
    local: ExperimentRuns
    matches: tuple[SeedMatch, ...]
    table: pd.DataFrame


def same_run(a: RunRecord, b: RunRecord) -> bool:
    """Bit-identical (results.bit_identical): history but the clock's columns, and test metrics."""
    return bit_identical(a.history, a.metrics, b.history, b.metrics)


def figure_test(variant: str, figure: str, reference: pd.Series, local: pd.Series) -> dict:
    """One figure of one variant: each side's n, mean and 95% CI, the difference with Welch's 95% CI,
    the raw p; a note when a side has fewer than 2 seeds."""
    row = {"variant": variant, "figure": figure}
    for side, values in (("reference", reference), ("local", local)):
        n, mean, _, low, high = mean_ci(values)
        row.update({f"{side}_n": n, f"{side}_mean": mean, f"{side}_ci_low": low, f"{side}_ci_high": high})
    row.update({"difference": np.nan, "difference_ci_low": np.nan, "difference_ci_high": np.nan,
                "no_spread": False, "p": np.nan, "note": ""})
    a, b = reference.dropna().to_numpy(float), local.dropna().to_numpy(float)
    if len(a) < 2 or len(b) < 2:
        return {**row, "note": "too few seeds (< 2 a side)"}
    difference = b.mean() - a.mean()
    if no_spread(a) and no_spread(b):  # Welch's t is undefined; the difference is known (claims.py's rule)
        return {**row, "difference": difference, "no_spread": True, "p": exact_p(difference)}
    test = welch(b, a)
    low, high = test.confidence_interval(0.95)
    return {**row, "difference": difference, "difference_ci_low": low, "difference_ci_high": high,
            "p": float(test.pvalue)}


def judge_tests(tests: list[dict]) -> pd.DataFrame:
    """Holm-adjusted p across every figure of every variant (one family, as the reports' claims)
    and the verdict: differs when the adjusted p < alpha."""
    table = pd.DataFrame(tests)
    table["holm_p"] = holm(list(table["p"]))
    table["verdict"] = [note if note else (DIFFERS if holm_p < ALPHA else CONSISTENT)
                        for note, holm_p in zip(table["note"], table["holm_p"])]
    return table


def _complete(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["status"] == "complete"] if not summary.empty else summary


def compare(reference_dir: Path, local_dir: Path) -> Comparison:
    """The comparison of two results folders of the same experiment, from their summary.csv and runs."""
    reference, local = read_experiment(reference_dir), read_experiment(local_dir)
    variants = [v for v in dict.fromkeys(r.variant for r in reference.runs) if any(r.variant == v for r in local.runs)]
    if not variants:
        raise UserError(f"{local_dir}: no variant in common with {reference_dir} (expected folders like "
                        f"{reference_dir}/<variant>/seed-<k>)")
    ref_table, local_table = (_complete(read_statistics(side).summary) for side in (reference, local))
    if local_table.empty:
        raise UserError(f"{local_dir}: no complete run yet; finish it first (rerun the command that trained it)")
    matches, tests = [], []
    for variant in variants:
        ref_runs = {r.seed: r for r in reference.complete if r.variant == variant}
        local_runs = {r.seed: r for r in local.complete if r.variant == variant}
        shared = sorted(set(ref_runs) & set(local_runs))
        identical = tuple(s for s in shared if same_run(ref_runs[s], local_runs[s]))
        differences = (tuple(config_differences(next(iter(ref_runs.values())).config, next(iter(local_runs.values())).config))
                       if ref_runs and local_runs else ())
        matches.append(SeedMatch(variant, tuple(sorted(ref_runs)), tuple(sorted(local_runs)), tuple(shared), identical,
                                 differences))
        a = ref_table[ref_table["variant"] == variant]
        b = local_table[local_table["variant"] == variant]
        tests += [figure_test(variant, f, a[f], b[f]) for f in COMPARE_FIGURES if f in a and f in b]
    return Comparison(reference, local, tuple(matches), judge_tests(tests))


def write_comparison_table(comparison: Comparison) -> Path:
    """COMPARE.csv in the reproduction's folder, at full precision."""
    path = comparison.local.directory / COMPARE_CSV
    write_text(path, comparison.table.to_csv(index=False))
    return path
