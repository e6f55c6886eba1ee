"""Verdicts on claims, one claim at a time, by the rules stated in stats/rules.py (CLAIM_RULES, which
the reports quote), over seeds at alpha = 0.05. Each verdict carries its numbers (the effect, its CI,
n per side, the raw p) for claims.csv's columns, and its evidence in words for the reports.
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
from bn_study.stats.rules import ALPHA, INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


@dataclass(frozen=True)
class Verdict:
    claim: ClaimSpec
    evidence: str  # the measured numbers, in words
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


def _no_spread_words(paired: bool) -> str:
    return "the same difference at every seed" if paired else "no spread in either variant"


def judge_difference(claim: ClaimSpec, a: np.ndarray, b: np.ndarray) -> Verdict:
    """Welch's t-test of treatment b against baseline a (paired by seed with claim.paired)."""
    evidence = f"{_describe(claim.baseline, a)}; {_describe(claim.treatment, b)}"
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, evidence + "; too few seeds for a test", np.nan, INCONCLUSIVE)
    effect = b.mean() - a.mean()
    if known_exactly(a, b, claim.paired):  # the difference is known exactly (module docstring)
        p, side = exact_p(effect), _side(effect, claim.expect)
        return Verdict(claim, evidence + f"; Δ = {_fmt(effect)}, {_no_spread_words(claim.paired)} (p taken as {p:g})",
                       p, verdict_for_p(p, side), side, effect=effect, ci_low=effect, ci_high=effect, ci_level=0.95)
    test = mean_difference_test(b, a, claim.paired)
    low, high = test.confidence_interval(0.95)
    name = "paired t" if claim.paired else "Welch"
    evidence += f"; Δ = {_fmt(effect)} [95% CI {_fmt(low)}, {_fmt(high)}], {name} p = {test.pvalue:.2g}"
    side = _side(effect, claim.expect)
    return Verdict(claim, evidence, float(test.pvalue), verdict_for_p(test.pvalue, side), side,
                   effect=effect, ci_low=low, ci_high=high, ci_level=0.95)


def judge_value(claim: ClaimSpec, x: np.ndarray) -> Verdict:
    n, mean, _, low, high = mean_ci(x)
    evidence = f"{_describe(claim.variant, x)}, 95% CI [{_fmt(low)}, {_fmt(high)}] vs claimed {claim.value:g} ± {claim.tolerance:g}"
    if n < 2:
        return Verdict(claim, evidence + "; too few seeds for a CI", np.nan, INCONCLUSIVE, effect=mean)
    return Verdict(claim, evidence, np.nan, _ci_against_band(low, high, claim), effect=mean, ci_low=low,
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
    evidence = f"{_describe(claim.baseline, a)}; {_describe(claim.treatment, b)}"
    if len(a) < 2 or len(b) < 2:
        return Verdict(claim, evidence + "; too few seeds for a test", np.nan, INCONCLUSIVE)
    effect = b.mean() - a.mean()
    inside = band_low <= effect <= band_high
    band = f"band [{band_low:g}, {band_high:g}]"
    if known_exactly(a, b, claim.paired):  # the difference is known exactly (module docstring)
        # Whether the exactly known difference lies in the band is certain either way: p is taken as 0.
        return Verdict(claim, evidence + f"; Δ = {_fmt(effect)}, {_no_spread_words(claim.paired)}, vs {band} (p taken as 0)",
                       0.0, verdict_for_p(0.0, inside), inside, effect=effect, ci_low=effect, ci_high=effect,
                       ci_level=1 - 2 * ALPHA)

    def test(shift: float = 0.0, **options):
        return mean_difference_test(b, a + shift, claim.paired, **options)

    low, high = test().confidence_interval(1 - 2 * ALPHA)
    evidence += f"; Δ = {_fmt(effect)} [90% CI {_fmt(low)}, {_fmt(high)}{', paired by seed' if claim.paired else ''}] vs {band}"
    if inside:
        above_low = test(band_low, alternative="greater").pvalue
        below_high = test(band_high, alternative="less").pvalue
        p = float(max(above_low, below_high))
        evidence += f", TOST p = {p:.2g}"
    else:  # the one-sided test that the difference lies beyond the edge it is observed beyond
        edge, alternative = (band_high, "greater") if effect > band_high else (band_low, "less")
        p = float(test(edge, alternative=alternative).pvalue)
        evidence += f", p (outside the band) = {p:.2g}"
    return Verdict(claim, evidence, p, verdict_for_p(p, inside), inside, effect=effect, ci_low=low, ci_high=high,
                   ci_level=1 - 2 * ALPHA)


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
    return Verdict(claim, evidence, float(p), verdict_for_p(p, side), side, effect=sb / sa if sa else np.inf)


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
    return dataclasses.replace(verdict, evidence=verdict.evidence + _never_reached(summary, claim),
                               effect=effect, **_sides(a, b))


def _sides(a: np.ndarray, b: np.ndarray) -> dict:
    """n, mean and sample std of each side, for claims.csv."""
    def described(x: np.ndarray) -> tuple:
        return len(x), x.mean() if len(x) else np.nan, x.std(ddof=1) if len(x) > 1 else np.nan
    (na, ma, sa), (nb, mb, sb) = described(a), described(b)
    return {"n_baseline": na, "mean_baseline": ma, "std_baseline": sa,
            "n_treatment": nb, "mean_treatment": mb, "std_treatment": sb}
