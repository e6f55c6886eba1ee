"""Verdicts on claims, by rules stated in the report (RULES below), over seeds at alpha = 0.05.

- difference: Welch's t-test of `metric` between two variants; supported when p < alpha and the
  treatment's mean lies on the claimed side, not supported when p < alpha on the other side,
  inconclusive otherwise or with fewer than 2 runs per variant.
- value: the 95% Student-t CI of a variant's mean `metric` against value +- tolerance; supported
  when the CI lies inside that band, not supported when it lies wholly outside it.
- gain and equivalence (one procedure, two ways to state the band): is the difference of means
  (treatment - baseline) inside value +- tolerance? "Up to 2 points higher" (gain) is the band
  [0, 0.02]; "changes it by less than 0.005" (equivalence; value defaults to 0) is [-0.005, 0.005].
  Two one-sided Welch t-tests (TOST): supported when both reject, p = the larger of the two < alpha;
  not supported when a one-sided Welch test puts the difference outside the band (its p < alpha:
  the side the observed difference lies on); inconclusive otherwise. The evidence shows the 90% CI
  of the difference, the interval that matches these one-sided tests at alpha = 0.05 (inside the
  band exactly when TOST's p < 0.05). The p-value enters Holm's adjustment like any other.
- spread: Brown-Forsythe (median-centred Levene) test of equal variance across seeds; supported
  when p < alpha and the treatment's std is on the claimed side.
- range: on a grid, the swept values at which a line "trains well": every seed completed (none
  diverged) with `metric` >= value; supported when the treatment line trains well at every value
  the baseline does and at more, not supported when at no value beyond the baseline's,
  inconclusive when each trains well at values where the other does not.
No spread: a variant whose runs all agree to float32 rounding (relative 1e-6) has no spread; when
both variants have none, Welch's t is undefined, but the difference is known exactly: its p-value
is taken as 0 (the limit of Welch's test as the spread vanishes) when the difference is non-zero,
1 when it is zero, and the claim stays in the Holm family with that p (a difference claim then
follows the sign of the difference, a gain or equivalence claim whether the difference lies in
its band); a spread claim is inconclusive (no test; outside the family). A spread claim is also
inconclusive when the Brown-Forsythe statistic is undefined (within each variant every run lies
as far from its median: e.g. 2 runs).
For `epochs_to_*` (`test_steps_to_*`) figures a run that never reached the threshold counts as
epochs + 1 (last step + 1), a lower bound, so the variant that fails to reach it is not flattered
by dropping those runs.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bn_study.config.experiment_spec import ClaimSpec
from bn_study.report.summary import mean_ci

ALPHA = 0.05
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
RULES = __doc__.split("\n", 2)[2].strip()


@dataclass(frozen=True)
class Verdict:
    claim: ClaimSpec
    evidence: str  # the measured numbers, in words
    p_value: float  # raw; NaN for value and range claims (a CI or a count, no test) and untestable ones
    verdict: str
    on_claimed_side: bool | None = None  # the effect's side (interval: inside the band), for a re-judged p
    adjusted_p: float = np.nan  # Holm-adjusted within the experiment (verdicts.judge_all)


def variant_values(summary: pd.DataFrame, variant: str, metric: str) -> np.ndarray:
    """One value per complete run of `variant`; a threshold never reached counts as one epoch (step) past the end."""
    rows = summary[(summary["variant"] == variant) & (summary["status"] == "complete")]
    values = rows[metric].astype(float)
    if metric.startswith("epochs_to"):
        values = values.fillna(rows["epochs"] + 1)
    elif metric.startswith("test_steps_to"):
        values = values.fillna(rows["last_test_step"] + 1)
    return values.to_numpy()


def _never_reached(summary: pd.DataFrame, claim: ClaimSpec) -> str:
    """'; never reached ...' for epochs_to_* claims where some runs did not reach the threshold."""
    if not claim.metric.startswith(("epochs_to", "test_steps_to")):
        return ""
    done = summary[summary["status"] == "complete"]
    counts = {v: int(done.loc[done["variant"] == v, claim.metric].isna().sum())
              for v in (claim.baseline, claim.treatment)}
    never = ", ".join(f"{v} {n}" for v, n in counts.items() if n)
    unit = "epochs" if claim.metric.startswith("epochs_to") else "last step"
    return f"; runs that never reached it (counted as {unit} + 1): {never}" if never else ""


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def _describe(name: str, x: np.ndarray) -> str:
    std = x.std(ddof=1) if len(x) > 1 else np.nan
    return f"{name} {_fmt(x.mean()) if len(x) else 'n/a'} ± {_fmt(std, 2)} (n={len(x)})"


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


def exact_p(effect: float) -> float:
    """The p-value of a difference between two variants without spread: known exactly, so 0 when
    non-zero, 1 when zero (the limit of Welch's test as both spreads vanish)."""
    return 1.0 if effect == 0 else 0.0


def _side(effect: float, expect: str | None) -> bool:
    return effect > 0 if expect == "higher" else effect < 0


def judge_difference(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> Verdict:
    """Welch's t-test of treatment b against baseline a."""
    evidence = f"{_describe(claim.baseline, a)}; {_describe(claim.treatment, b)}"
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, evidence + "; too few seeds for a test", np.nan, INCONCLUSIVE)
    effect = b.mean() - a.mean()
    if no_spread(a) and no_spread(b):  # the difference is known exactly (module docstring)
        p, side = exact_p(effect), _side(effect, claim.expect)
        return Verdict(claim, evidence + f"; Δ = {_fmt(effect)}, no spread in either variant (p taken as {p:g})",
                       p, verdict_for_p(p, side), side)
    test = welch(b, a)
    low, high = test.confidence_interval(0.95)
    evidence += f"; Δ = {_fmt(effect)} [95% CI {_fmt(low)}, {_fmt(high)}], Welch p = {test.pvalue:.2g}"
    side = _side(effect, claim.expect)
    return Verdict(claim, evidence, float(test.pvalue), verdict_for_p(test.pvalue, side), side)


def judge_value(claim: ClaimSpec, x: np.ndarray) -> Verdict:
    n, mean, _, low, high = mean_ci(x)
    evidence = f"{_describe(claim.variant, x)}, 95% CI [{_fmt(low)}, {_fmt(high)}] vs claimed {claim.value:g} ± {claim.tolerance:g}"
    if n < 2:
        return Verdict(claim, evidence + "; too few seeds for a CI", np.nan, INCONCLUSIVE)
    return Verdict(claim, evidence, np.nan, _ci_against_band(low, high, claim))


def _ci_against_band(low: float, high: float, claim: ClaimSpec) -> str:
    """supported: the CI lies inside value +- tolerance; not supported: wholly outside it."""
    band_low, band_high = claim.value - claim.tolerance, claim.value + claim.tolerance
    if band_low <= low and high <= band_high:
        return SUPPORTED
    if high < band_low or low > band_high:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def judge_interval(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> Verdict:
    """gain and equivalence: is treatment b's mean minus baseline a's inside value +- tolerance? (TOST)"""
    center = claim.value or 0.0
    band_low, band_high = center - claim.tolerance, center + claim.tolerance
    evidence = f"{_describe(claim.baseline, a)}; {_describe(claim.treatment, b)}"
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, evidence + "; too few seeds for a test", np.nan, INCONCLUSIVE)
    effect = b.mean() - a.mean()
    inside = band_low <= effect <= band_high
    band = f"band [{band_low:g}, {band_high:g}]"
    if no_spread(a) and no_spread(b):  # the difference is known exactly (module docstring)
        # Whether the exactly known difference lies in the band is certain either way: p = 0.
        return Verdict(claim, evidence + f"; Δ = {_fmt(effect)}, no spread in either variant, vs {band} (p taken as 0)",
                       0.0, verdict_for_p(0.0, inside), inside)
    low, high = welch(b, a).confidence_interval(1 - 2 * ALPHA)
    evidence += f"; Δ = {_fmt(effect)} [90% CI {_fmt(low)}, {_fmt(high)}] vs {band}"
    if inside:
        above_low = welch(b, a + band_low, alternative="greater").pvalue
        below_high = welch(b, a + band_high, alternative="less").pvalue
        p = float(max(above_low, below_high))
        evidence += f", TOST p = {p:.2g}"
    else:  # the one-sided test that the difference lies beyond the edge it is observed beyond
        edge, alternative = (band_high, "greater") if effect > band_high else (band_low, "less")
        p = float(welch(b, a + edge, alternative=alternative).pvalue)
        evidence += f", p (outside the band) = {p:.2g}"
    return Verdict(claim, evidence, p, verdict_for_p(p, inside), inside)


def judge_spread(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> Verdict:
    sa, sb = (x.std(ddof=1) if len(x) > 1 else np.nan for x in (a, b))
    evidence = f"std over seeds: {claim.baseline} {_fmt(sa, 2)} (n={len(a)}), {claim.treatment} {_fmt(sb, 2)} (n={len(b)})"
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, evidence + "; too few seeds for a test", np.nan, INCONCLUSIVE)
    if no_spread(a) and no_spread(b):
        return Verdict(claim, evidence + "; no spread in either variant", np.nan, INCONCLUSIVE)
    if no_spread(np.abs(a - np.median(a))) and no_spread(np.abs(b - np.median(b))):
        return Verdict(claim, evidence + "; Brown-Forsythe undefined (each run as far from its variant's median)",
                       np.nan, INCONCLUSIVE)
    p = stats.levene(a, b, center="median").pvalue
    evidence += f", ratio {_fmt(sb / sa if sa else np.inf, 3)}, Brown-Forsythe p = {p:.2g}"
    side = _side(sb - sa, claim.expect)
    return Verdict(claim, evidence, float(p), verdict_for_p(p, side), side)


def trains_well(summary: pd.DataFrame, points, line: str, metric: str, level: float) -> list:
    """The swept values at which every run of grid line `line` completed with `metric` >= level."""
    good = []
    for point in (p for p in points if p.line == line):
        rows = summary[summary["variant"] == point.variant]
        if len(rows) and (rows["status"] == "complete").all() and (rows[metric] >= level).all():
            good.append(point.x)
    return good


def _values_text(values: list) -> str:
    if not values:
        return "none"
    text = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
    numeric = all(isinstance(v, int | float) and v > 0 for v in values)
    decades = np.log10(max(values) / min(values)) if numeric and len(values) > 1 else None
    return f"{text} ({decades:.3g} decade{'' if decades == 1 else 's'})" if decades else text


def judge_range(claim: ClaimSpec, summary: pd.DataFrame, points) -> Verdict:
    a, b = (trains_well(summary, points, line, claim.metric, claim.value) for line in (claim.baseline, claim.treatment))
    key = points[0].key.rsplit(".", 1)[-1] if points else "the swept key"
    evidence = (f"{claim.metric} ≥ {claim.value:g} in every seed at {key} = {claim.baseline}: {_values_text(a)}; "
                f"{claim.treatment}: {_values_text(b)}")
    if set(b) > set(a):
        verdict = SUPPORTED
    elif set(b) <= set(a):
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return Verdict(claim, evidence, np.nan, verdict)


def verdict_for_p(p: float, on_claimed_side: bool) -> str:
    """Supported or not supported when p < ALPHA (by the effect's side), otherwise inconclusive."""
    if not np.isfinite(p) or p >= ALPHA:
        return INCONCLUSIVE
    return SUPPORTED if on_claimed_side else NOT_SUPPORTED


def judge(claim: ClaimSpec, summary: pd.DataFrame, points=()) -> Verdict:
    """The verdict on one claim from the summary table (one row per finished run); `points`: the grid."""
    if claim.metric not in summary.columns:
        return Verdict(claim, f"no figure '{claim.metric}' in summary.csv", np.nan, INCONCLUSIVE)
    if claim.test == "range":
        return judge_range(claim, summary, points)
    if claim.test == "value":
        return judge_value(claim, variant_values(summary, claim.variant, claim.metric))
    a = variant_values(summary, claim.baseline, claim.metric)
    b = variant_values(summary, claim.treatment, claim.metric)
    judges = {"difference": judge_difference, "gain": judge_interval, "equivalence": judge_interval,
              "spread": judge_spread}
    verdict = judges[claim.test](claim, a, b)
    never = _never_reached(summary, claim)
    return dataclasses.replace(verdict, evidence=verdict.evidence + never) if never else verdict
