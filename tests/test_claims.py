"""The verdict rules on one claim (stats/claims.py), on constructed tables with known answers, and
the numbers each verdict carries into claims.csv."""
import numpy as np
import pandas as pd
import pytest

from tests.conftest import evidence

from bn_study.config.experiment_spec import ClaimSpec
from bn_study.stats.claims import judge, judge_interval
from bn_study.stats.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


def _table(metric, a, b):
    return pd.DataFrame({"variant": ["base"] * len(a) + ["treat"] * len(b), "epochs": 25,
                         "status": "complete", metric: list(a) + list(b)})


def _difference(expect, metric="test_accuracy"):
    return ClaimSpec(claim="x", test="difference", metric=metric, baseline="base", treatment="treat", expect=expect)


BASE = np.array([0.970, 0.971, 0.969, 0.972, 0.968])


@pytest.mark.parametrize("b, expect, verdict", [
    (BASE + 0.02, "higher", SUPPORTED),          # clear effect on the claimed side
    (BASE + 0.02, "lower", NOT_SUPPORTED),       # clear effect on the other side
    (BASE[::-1] + 0.0001, "higher", INCONCLUSIVE),  # no effect
    (BASE[:1] + 0.02, "higher", INCONCLUSIVE),   # one seed: too few for a test
])
def test_difference_rule(b, expect, verdict):
    result = judge(_difference(expect), _table("test_accuracy", BASE, b))
    assert result.verdict == verdict
    if len(b) > 1:
        assert "Welch p" in evidence(result)
    else:
        assert "too few seeds" in evidence(result)


def test_never_reached_counts_as_epochs_plus_one():
    table = _table("epochs_to_val_0.99", [np.nan] * 5, [3, 4, 3, 5, 4])
    result = judge(_difference("lower", "epochs_to_val_0.99"), table)
    assert result.verdict == SUPPORTED  # 26 (never, 25 epochs) against ~4
    assert "never reached" in evidence(result) and "base 5" in evidence(result)


@pytest.mark.parametrize("values, verdict", [
    ([0.9920, 0.9921, 0.9919, 0.9920, 0.9922], SUPPORTED),     # CI inside 0.992 ± 0.002
    ([0.9800, 0.9801, 0.9799, 0.9800, 0.9802], NOT_SUPPORTED), # CI wholly outside
    ([0.985, 0.999, 0.990, 0.996, 0.988], INCONCLUSIVE),       # CI straddles the band's edge
    ([0.992], INCONCLUSIVE),                                   # n = 1: no CI
])
def test_value_rule(values, verdict):
    claim = ClaimSpec(claim="x", test="value", metric="test_accuracy", variant="treat", value=0.992, tolerance=0.002)
    assert judge(claim, _table("test_accuracy", [], values)).verdict == verdict


@pytest.mark.parametrize("gain, verdict", [
    (0.010, SUPPORTED),       # "up to 2 points higher": +0.01 well inside [0, 0.02] (TOST)
    (0.030, NOT_SUPPORTED),   # more than claimed: significantly above the band
    (-0.010, NOT_SUPPORTED),  # lower, not higher: significantly below it
    (0.0005, INCONCLUSIVE),   # inside, but not significantly above 0, the band's lower edge
])
def test_gain_rule(gain, verdict):
    claim = ClaimSpec(claim="x", test="gain", metric="test_accuracy", baseline="base", treatment="treat",
                      value=0.01, tolerance=0.01)
    result = judge(claim, _table("test_accuracy", BASE, BASE[::-1] + gain))
    assert result.verdict == verdict and "vs band [0, 0.02]" in evidence(result)


def test_spread_rule():
    wide = [0.95, 0.99, 0.96, 1.00, 0.93, 0.97]
    narrow = [0.980, 0.9801, 0.9799, 0.980, 0.9802, 0.9798]
    claim = ClaimSpec(claim="x", test="spread", metric="test_accuracy", baseline="base", treatment="treat", expect="lower")
    assert judge(claim, _table("test_accuracy", wide, narrow)).verdict == SUPPORTED
    assert judge(claim, _table("test_accuracy", narrow, wide)).verdict == NOT_SUPPORTED
    assert judge(claim, _table("test_accuracy", wide, wide[::-1])).verdict == INCONCLUSIVE


def _grid_table(accuracies: dict[str, list]) -> tuple[pd.DataFrame, tuple]:
    """Two lines (base, treat) at rates 0.001, 0.01, 0.1; None = a diverged seed."""
    from bn_study.config.experiment_spec import GridPoint

    rows, points = [], []
    for line, by_rate in accuracies.items():
        for rate, values in zip((0.001, 0.01, 0.1), by_rate):
            variant = f"{line}-learning_rate={rate}"
            points.append(GridPoint(variant, line, "optimizer.learning_rate", rate))
            rows += [{"variant": variant, "seed": s, "status": "diverged" if v is None else "complete",
                      "test_accuracy": np.nan if v is None else v} for s, v in enumerate(values)]
    return pd.DataFrame(rows), tuple(points)


RANGE = ClaimSpec(claim="x", test="range", metric="test_accuracy", baseline="base", treatment="treat", value=0.98)


@pytest.mark.parametrize("treat, verdict, words", [
    # base trains well at 0.001 and 0.01 only (0.1: one seed diverged)
    ([[0.99, 0.99], [0.99, 0.985], [0.99, 0.981]], SUPPORTED, "treat: 0.001, 0.01, 0.1 (2 decades)"),
    ([[0.99, 0.99], [0.99, 0.975], [0.99, 0.99]], INCONCLUSIVE, "treat: 0.001, 0.1 (2 decades)"),
    ([[0.99, 0.99], [0.99, 0.99], [None, 0.99]], NOT_SUPPORTED, "treat: 0.001, 0.01 (1 decade)"),
])
def test_range_claim_counts_rates_where_every_seed_trains_well(treat, verdict, words):
    table, points = _grid_table({"base": [[0.99, 0.99], [0.99, 0.99], [0.99, None]], "treat": treat})
    result = judge(RANGE, table, points)
    assert result.verdict == verdict
    assert "base: 0.001, 0.01 (1 decade)" in evidence(result) and words in evidence(result)



def test_each_verdict_carries_its_numbers():
    result = judge(_difference("higher"), _table("test_accuracy", BASE, BASE + 0.02))
    assert result.effect == pytest.approx(0.02) and result.ci_level == 0.95
    assert result.ci_low < 0.02 < result.ci_high and (result.n_baseline, result.n_treatment) == (5, 5)
    assert result.mean_treatment == pytest.approx(BASE.mean() + 0.02) and result.std_baseline > 0
    one_seed = judge(_difference("higher"), _table("test_accuracy", BASE, BASE[:1] + 0.02))
    assert one_seed.effect == pytest.approx(BASE[0] + 0.02 - BASE.mean()) and np.isnan(one_seed.ci_low)
    value = judge(ClaimSpec(claim="x", test="value", metric="test_accuracy", variant="treat", value=0.97,
                            tolerance=0.005), _table("test_accuracy", [], BASE))
    assert value.effect == pytest.approx(BASE.mean()) and value.n_treatment == 5 and value.ci_low < value.effect


def _claim(test, **kw):
    return ClaimSpec(claim="c", test=test, metric="test_accuracy", baseline="a", treatment="b", **kw)


def test_tost_supports_equivalence_only_when_both_sides_reject():
    a = np.array([0.990, 0.991, 0.992, 0.991, 0.990])
    assert judge_interval(_claim("equivalence", tolerance=0.005), a, a + 0.0003).verdict == SUPPORTED
    assert judge_interval(_claim("equivalence", tolerance=0.0005), a, a + 0.0003).verdict == INCONCLUSIVE
    outside = judge_interval(_claim("equivalence", tolerance=0.005), a, a + 0.02)
    assert outside.verdict == NOT_SUPPORTED and "p (outside the band) = " in evidence(outside)


def test_the_interval_shown_is_the_90_percent_ci_that_matches_tost():
    """TOST at alpha = 0.05 supports exactly when the 90% CI of the difference lies in the band:
    widen the band until it does and the verdict flips there, not at the 95% CI's edge."""
    a = np.array([0.990, 0.991, 0.992, 0.991, 0.990])
    b = a[::-1] + np.array([0.001, -0.0004, 0.0012, 0.0, 0.0009])
    shown = judge_interval(_claim("equivalence", tolerance=0.01), a, b)
    low, high = shown.ci_low, shown.ci_high
    assert shown.ci_level == pytest.approx(0.9) and f"[90% CI {low:.4g}, {high:.4g}]" in evidence(shown)
    edge = max(abs(low), abs(high))
    assert judge_interval(_claim("equivalence", tolerance=edge * 1.001), a, b).verdict == SUPPORTED
    assert judge_interval(_claim("equivalence", tolerance=edge * 0.999), a, b).verdict == INCONCLUSIVE


