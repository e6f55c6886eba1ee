"""Verdicts on claims, one claim at a time, by the rules stated in stats/rules.py (CLAIM_RULES, which
the reports quote), over seeds at rules.ALPHA. Each verdict carries numbers and facts only (the effect,
its CI, n per side, the raw p, what kept a test from running, the runs that never reached a threshold):
claims.csv's columns, which report/words.py puts into the evidence's words for every page.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bn_study.config.experiment_spec import ClaimSpec
from bn_study.stats.aggregate import mean_ci
from bn_study.stats.rules import (ALPHA, INCONCLUSIVE, NO_FIGURE, NO_SPREAD, NOT_SUPPORTED, SUPPORTED, TOO_FEW,
                                  UNDEFINED)


@dataclass(frozen=True)
class Verdict:
    claim: ClaimSpec
    p_value: float  # raw; NaN for value and range claims (a CI or a count, no test) and untestable ones
    verdict: str
    on_claimed_side: bool | None = None  # the effect's side (interval: inside the band), for a re-judged p
    adjusted_p: float = np.nan  # Holm-adjusted within the experiment (holm.judge_all)
    # The numbers behind the evidence (claims.csv): the effect is treatment − baseline for difference,
    # gain and equivalence, the variant's mean for value, the std ratio treatment / baseline for spread.
    effect: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    ci_level: float = np.nan  # 0.95, or 0.90 for gain and equivalence (TOST)
    n_baseline: int = 0
    n_treatment: int = 0  # for value claims: the variant's runs
    mean_baseline: float = np.nan
    std_baseline: float = np.nan
    mean_treatment: float = np.nan  # for value claims: the variant's
    std_treatment: float = np.nan
    note: str = ""  # why there is no test or CI (rules.TOO_FEW, NO_SPREAD, UNDEFINED, NO_FIGURE), "" when there is one
    never_reached_baseline: int = 0  # epochs_to_* / test_steps_to_*: runs counted as one past the end
    never_reached_treatment: int = 0
    seeds_for_power: float = np.nan  # an inconclusive difference: runs per variant for 80% power (holm.py)
    trains_well_baseline: str = ""  # range claims: the swept values where every seed trains well
    trains_well_treatment: str = ""
    range_key: str = ""  # range claims: the swept key's last part



def variant_values(summary: pd.DataFrame, variant: str, metric: str) -> np.ndarray:
    """One value per complete run of `variant`; a threshold never reached counts as one epoch (step) past the end."""
    rows = summary[(summary["variant"] == variant) & (summary["status"] == "complete")]
    values = rows[metric].astype(float)
    if metric.startswith("epochs_to"):
        values = values.fillna(rows["epochs"] + 1)
    elif metric.startswith("test_steps_to"):
        values = values.fillna(rows["last_test_step"] + 1)
    return values.to_numpy()


def never_reached(summary: pd.DataFrame, claim: ClaimSpec) -> dict:
    """For epochs_to_* and test_steps_to_* claims, the runs per side that never reached the threshold."""
    if not claim.metric.startswith(("epochs_to", "test_steps_to")):
        return {}
    done = summary[summary["status"] == "complete"]
    return {f"never_reached_{side}": int(done.loc[done["variant"] == v, claim.metric].isna().sum())
            for side, v in (("baseline", claim.baseline), ("treatment", claim.treatment))}


def no_spread(x: np.ndarray) -> bool:
    """All values equal to float32 rounding: Welch's t would divide by ~0 (scipy warns of
    catastrophic cancellation) and means nothing."""
    return len(x) > 0 and bool(np.ptp(x) <= 1e-6 * max(np.abs(x).max(), 1e-12))


def welch(b: np.ndarray, a: np.ndarray, **options):
    """Welch's t-test of b against a (scipy's ttest_ind). One variant without spread is a valid case
    (BN's validation accuracy after epoch 1 is 0.106 on every seed): the test rests on the other's
    variance; scipy's precision-loss warning for the constant sample says nothing then and is dropped."""
    with warnings.catch_warnings():
        if no_spread(a) or no_spread(b):
            warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        return stats.ttest_ind(b, a, equal_var=False, **options)


def mean_difference_test(b: np.ndarray, a: np.ndarray, paired: bool = False, **options):
    """Welch's t-test of b against a; with `paired`, the paired t-test of b - a (the arrays aligned by
    seed: paired_values), which removes what the seed alone decides from the comparison."""
    if paired:
        return stats.ttest_rel(b, a, **options)
    return welch(b, a, **options)


def known_exactly(a: np.ndarray, b: np.ndarray, paired: bool = False) -> bool:
    """Whether the difference has no spread: neither variant has any, or (paired) b - a is one value."""
    return no_spread(b - a) if paired else no_spread(a) and no_spread(b)


def paired_values(summary: pd.DataFrame, baseline: str, treatment: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Both variants' values (as variant_values) at the seeds where both completed, in seed order."""
    def by_seed(variant: str) -> pd.Series:
        rows = summary[(summary["variant"] == variant) & (summary["status"] == "complete")]
        return pd.Series(variant_values(summary, variant, metric), index=rows["seed"].to_numpy())
    a, b = by_seed(baseline), by_seed(treatment)
    seeds = sorted(set(a.index) & set(b.index))
    return a[seeds].to_numpy(), b[seeds].to_numpy()


def exact_p(effect: float) -> float:
    """The p-value of a difference between two variants without spread: known exactly, so 0 when
    non-zero, 1 when zero (the limit of Welch's test as both spreads vanish)."""
    return 1.0 if effect == 0 else 0.0


def _side(effect: float, expect: str | None) -> bool:
    return effect > 0 if expect == "higher" else effect < 0


def judge_difference(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> Verdict:
    """Welch's t-test of treatment b against baseline a (paired by seed with claim.paired)."""
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, np.nan, INCONCLUSIVE, note=TOO_FEW)
    effect = b.mean() - a.mean()
    if known_exactly(a, b, claim.paired):  # the difference is known exactly (module docstring)
        p, side = exact_p(effect), _side(effect, claim.expect)
        return Verdict(claim, p, verdict_for_p(p, side), side, effect=effect, ci_low=effect, ci_high=effect,
                       ci_level=0.95, note=NO_SPREAD)
    test = mean_difference_test(b, a, claim.paired)
    low, high = test.confidence_interval(0.95)
    side = _side(effect, claim.expect)
    return Verdict(claim, float(test.pvalue), verdict_for_p(test.pvalue, side), side,
                   effect=effect, ci_low=low, ci_high=high, ci_level=0.95)


def judge_value(claim: ClaimSpec, x: np.ndarray) -> Verdict:
    n, mean, _, low, high = mean_ci(x)
    if n < 2:
        return Verdict(claim, np.nan, INCONCLUSIVE, effect=mean, note=TOO_FEW)
    return Verdict(claim, np.nan, _ci_against_band(low, high, claim), effect=mean, ci_low=low,
                   ci_high=high, ci_level=0.95)


def _ci_against_band(low: float, high: float, claim: ClaimSpec) -> str:
    """supported: the CI lies inside value +- tolerance; not supported: wholly outside it."""
    band_low, band_high = claim.value - claim.tolerance, claim.value + claim.tolerance
    if band_low <= low and high <= band_high:
        return SUPPORTED
    if high < band_low or low > band_high:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def judge_interval(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> Verdict:
    """gain and equivalence: is treatment b's mean minus baseline a's inside value +- tolerance? (TOST;
    paired by seed with claim.paired)"""
    center = claim.value or 0.0
    band_low, band_high = center - claim.tolerance, center + claim.tolerance
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, np.nan, INCONCLUSIVE, note=TOO_FEW)
    effect = b.mean() - a.mean()
    inside = band_low <= effect <= band_high
    if known_exactly(a, b, claim.paired):  # the difference is known exactly (module docstring)
        # Whether the exactly known difference lies in the band is certain either way: p is taken as 0.
        return Verdict(claim, 0.0, verdict_for_p(0.0, inside), inside, effect=effect, ci_low=effect, ci_high=effect,
                       ci_level=1 - 2 * ALPHA, note=NO_SPREAD)

    def test(shift: float = 0.0, **options):
        return mean_difference_test(b, a + shift, claim.paired, **options)

    low, high = test().confidence_interval(1 - 2 * ALPHA)
    if inside:
        above_low = test(band_low, alternative="greater").pvalue
        below_high = test(band_high, alternative="less").pvalue
        p = float(max(above_low, below_high))
    else:  # the one-sided test that the difference lies beyond the edge it is observed beyond
        edge, alternative = (band_high, "greater") if effect > band_high else (band_low, "less")
        p = float(test(edge, alternative=alternative).pvalue)
    return Verdict(claim, p, verdict_for_p(p, inside), inside, effect=effect, ci_low=low, ci_high=high,
                   ci_level=1 - 2 * ALPHA)


def judge_spread(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> Verdict:
    sa, sb = (x.std(ddof=1) if len(x) > 1 else np.nan for x in (a, b))
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, np.nan, INCONCLUSIVE, note=TOO_FEW)
    if no_spread(a) and no_spread(b):
        return Verdict(claim, np.nan, INCONCLUSIVE, note=NO_SPREAD)
    if no_spread(np.abs(a - np.median(a))) and no_spread(np.abs(b - np.median(b))):
        return Verdict(claim, np.nan, INCONCLUSIVE, note=UNDEFINED)
    p = stats.levene(a, b, center="median").pvalue
    side = _side(sb - sa, claim.expect)
    return Verdict(claim, float(p), verdict_for_p(p, side), side, effect=sb / sa if sa else np.inf)


def trains_well(summary: pd.DataFrame, points, line: str, metric: str, level: float) -> list:
    """The swept values at which every run of grid line `line` completed with `metric` >= level."""
    good = []
    for point in (p for p in points if p.line == line):
        rows = summary[summary["variant"] == point.variant]
        if len(rows) and (rows["status"] == "complete").all() and (rows[metric] >= level).all():
            good.append(point.x)
    return good


def values_field(values: list) -> str:
    """Swept values as one claims.csv field, e.g. '0.01 0.03 0.1' (a float as :g does it)."""
    return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def judge_range(claim: ClaimSpec, summary: pd.DataFrame, points) -> Verdict:
    a, b = (trains_well(summary, points, line, claim.metric, claim.value) for line in (claim.baseline, claim.treatment))
    key = points[0].key.rsplit(".", 1)[-1] if points else "the swept key"
    if set(b) > set(a):
        verdict = SUPPORTED
    elif set(b) <= set(a):
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return Verdict(claim, np.nan, verdict, trains_well_baseline=values_field(a), trains_well_treatment=values_field(b),
                   range_key=key)


def verdict_for_p(p: float, on_claimed_side: bool) -> str:
    """Supported or not supported when p < ALPHA (by the effect's side), otherwise inconclusive."""
    if not np.isfinite(p) or p >= ALPHA:
        return INCONCLUSIVE
    return SUPPORTED if on_claimed_side else NOT_SUPPORTED


def judge(claim: ClaimSpec, summary: pd.DataFrame, points=()) -> Verdict:
    """The verdict on one claim from the summary table (one row per finished run); `points`: the grid."""
    if claim.metric not in summary.columns:
        return Verdict(claim, np.nan, INCONCLUSIVE, note=NO_FIGURE)
    if claim.test == "range":
        return judge_range(claim, summary, points)
    if claim.test == "value":
        x = variant_values(summary, claim.variant, claim.metric)
        return dataclasses.replace(judge_value(claim, x), **_sides(np.array([]), x))
    if claim.paired:
        a, b = paired_values(summary, claim.baseline, claim.treatment, claim.metric)
    else:
        a, b = (variant_values(summary, v, claim.metric) for v in (claim.baseline, claim.treatment))
    judges = {"difference": judge_difference, "gain": judge_interval, "equivalence": judge_interval,
              "spread": judge_spread}
    verdict = judges[claim.test](claim, a, b)
    # Every two-sided claim says how many runs each side had, and its effect even when too few for a test.
    effect = verdict.effect
    if not np.isfinite(effect) and claim.test != "spread" and len(a) and len(b):
        effect = b.mean() - a.mean()
    return dataclasses.replace(verdict, effect=effect, **never_reached(summary, claim), **_sides(a, b))


def _sides(a: np.ndarray, b: np.ndarray) -> dict:
    """n, mean and sample std of each side, for claims.csv."""
    def described(x: np.ndarray) -> tuple:
        return len(x), x.mean() if len(x) else np.nan, x.std(ddof=1) if len(x) > 1 else np.nan
    (na, ma, sa), (nb, mb, sb) = described(a), described(b)
    return {"n_baseline": na, "mean_baseline": ma, "std_baseline": sa,
            "n_treatment": nb, "mean_treatment": mb, "std_treatment": sb}
