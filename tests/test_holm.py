"""Family-level verdicts (stats/holm.py): Holm's adjustment, the no-spread case in the family, and
the seeds a test would need."""
import numpy as np
import pandas as pd
import pytest

from tests.conftest import evidence

from bn_study.config.experiment_spec import ClaimSpec
from bn_study.stats.holm import holm, judge_all, seeds_for_power
from bn_study.stats.rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


def test_holm_matches_the_textbook_example():
    # p = 0.01, 0.04, 0.03, 0.005 -> sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1, kept increasing
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm([np.nan, 0.2])[0]) and holm([np.nan, 0.2])[1] == pytest.approx(0.2)  # NaN is not counted


def test_seeds_for_power_give_the_textbook_answer():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 50), rng.normal(0, 1, 50)
    sd = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    n = seeds_for_power(a, b, effect=0.5 * sd)  # d = 0.5 at 80% power: 64 per group (noncentral t; the normal approximation says 63)
    assert n == 64
    assert seeds_for_power(a, b, effect=0.0) is None


def test_a_difference_without_spread_is_judged_inside_the_holm_family():
    """Every seed agrees in both variants (epochs to 0.98: 2 without BN, 4 with): no variance, so the
    difference is known; p is taken as 0 and judged in the family like any other claim."""
    summary = _summary({"a": [2.0] * 5, "b": [4.0] * 5, "c": [2.0, 3, 2, 4, 3], "d": [4.0, 5, 6, 5, 4]})
    claims = (ClaimSpec("b lower", "difference", "test_accuracy", baseline="a", treatment="b", expect="lower"),
              ClaimSpec("d higher", "difference", "test_accuracy", baseline="c", treatment="d", expect="higher"))
    exact, tested = judge_all(claims, summary)
    assert (exact.p_value, exact.adjusted_p, exact.verdict) == (0.0, 0.0, NOT_SUPPORTED)
    assert "no spread in either variant (p taken as 0)" in evidence(exact)
    # Holm's first step takes the p = 0 (x 2 = 0); the other is the second of two (x 1): in the family,
    # a certain claim costs the others nothing.
    assert tested.adjusted_p == pytest.approx(tested.p_value) and tested.verdict == SUPPORTED
    same = judge_all((ClaimSpec("a lower", "difference", "test_accuracy", baseline="a", treatment="a", expect="lower"),), summary)[0]
    assert (same.p_value, same.verdict) == (1.0, INCONCLUSIVE)


def _summary(groups: dict) -> pd.DataFrame:
    rows = [{"variant": v, "seed": i, "status": "complete", "test_accuracy": x}
            for v, xs in groups.items() for i, x in enumerate(xs)]
    return pd.DataFrame(rows)


def test_holm_turns_a_marginal_difference_inconclusive_and_says_how_many_seeds_would_do():
    base = [0.990, 0.9905, 0.991, 0.9915, 0.992]
    summary = _summary({"a": base, "b": [x + 0.0013 for x in base],  # Welch p about 0.03 alone
                        "c": base[::-1], "d": [x + 0.0001 for x in base[1:]] + [0.9899]})  # no difference
    claims = tuple(ClaimSpec(f"{v} higher", "difference", "test_accuracy", baseline="a", treatment=v, expect="higher")
                   for v in "bcd")
    alone = judge_all(claims[:1], summary)[0]
    assert 0.017 < alone.p_value < 0.05 and alone.verdict == SUPPORTED  # one claim: Holm changes nothing
    verdicts = judge_all(claims, summary)
    assert verdicts[0].adjusted_p == pytest.approx(3 * alone.p_value)  # the smallest of 3 p-values
    assert verdicts[0].verdict == INCONCLUSIVE
    assert "seeds for 80% power to detect the observed difference at α = 0.05 (before Holm): " in evidence(verdicts[0])
