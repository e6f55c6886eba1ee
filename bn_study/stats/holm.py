"""Verdicts on all of an experiment's claims at once: Holm's adjustment and the seeds a test needs.

An experiment tests several claims on the same runs; at alpha = 0.05 each, ten claims have a good
chance of one false "supported". Holm's step-down method keeps the chance of any false rejection
at or below alpha: sort the m p-values, multiply the i-th smallest by (m - i + 1), keep them
increasing, cap at 1. Verdicts of the p-valued tests (difference, spread, gain and equivalence)
are then read from the adjusted p-values; value (a CI against a band) and range (a count of swept
values) are not p-values and keep their verdicts.

For an inconclusive difference the report also says how many seeds per variant would detect the
observed difference (or the claim's `min_effect`) with 80% power in a two-sided two-sample t-test
at alpha = 0.05, from the pooled standard deviation of the two variants' runs.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from bn_study.config.experiment_spec import ClaimSpec
from bn_study.stats import claims
from bn_study.stats.claims import Verdict
from bn_study.stats.rules import ALPHA, INCONCLUSIVE, MAX_SEEDS, POWER

P_VALUED = ("difference", "spread", "gain", "equivalence")


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the given order (NaN stays NaN and does not count)."""
    finite = [(p, i) for i, p in enumerate(p_values) if np.isfinite(p)]
    adjusted = [np.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(finite)):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[i] = running
    return adjusted


def seeds_for_power(a: np.ndarray, b: np.ndarray, effect: float, alpha: float = ALPHA,
                    power: float = POWER) -> int | None:
    """Runs per variant for a two-sided two-sample t-test to detect `effect` with `power`; None
    when the runs have no spread or the effect is zero, MAX_SEEDS + 1 when it needs more than MAX_SEEDS."""
    sd = np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    if not (sd > 0 and effect):
        return None
    d = abs(effect) / sd
    for n in range(2, MAX_SEEDS + 1):
        df, shift = 2 * n - 2, d * np.sqrt(n / 2)
        critical = stats.t.ppf(1 - alpha / 2, df)
        if stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift) >= power:
            return n
    return MAX_SEEDS + 1


def _seeds_for_power(claim: ClaimSpec, summary: pd.DataFrame) -> float:
    """Runs per variant for 80% power to detect the claim's min_effect (else the observed difference);
    NaN when there is no such number."""
    a, b = (claims.variant_values(summary, v, claim.metric) for v in (claim.baseline, claim.treatment))
    if len(a) < 2 or len(b) < 2:
        return np.nan
    effect = claim.min_effect if claim.min_effect is not None else b.mean() - a.mean()
    n = seeds_for_power(a, b, effect)
    return np.nan if n is None else float(n)


def judge_all(specs: tuple[ClaimSpec, ...], summary: pd.DataFrame, points=()) -> list[Verdict]:
    """Every claim's verdict, p-valued ones re-read from Holm-adjusted p-values (module docstring)."""
    verdicts = [claims.judge(c, summary, points) for c in specs]
    family = [v.p_value if v.claim.test in P_VALUED else np.nan for v in verdicts]
    out = []
    for v, adjusted in zip(verdicts, holm(family)):
        if np.isfinite(adjusted):
            v = dataclasses.replace(v, adjusted_p=adjusted, verdict=claims.verdict_for_p(adjusted, v.on_claimed_side))
        if v.claim.test == "difference" and v.verdict == INCONCLUSIVE:
            v = dataclasses.replace(v, seeds_for_power=_seeds_for_power(v.claim, summary))
        out.append(v)
    return out
