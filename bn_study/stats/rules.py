"""The rules by which claims are judged, as the reports state them, and the words of the verdicts.

Text and constants only (no scipy): the reports quote these; stats/claims.py and stats/holm.py
implement them.
"""
from __future__ import annotations

ALPHA = 0.05
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)
# Why a claim has no test (claims.csv's note); report/words.py says each in words.
TOO_FEW, NO_SPREAD, UNDEFINED, NO_FIGURE = "too few seeds", "no spread", "undefined", "no figure"
MARKS = {SUPPORTED: "✓", NOT_SUPPORTED: "✗", INCONCLUSIVE: "·"}  # effect maps and tables
POWER, MAX_SEEDS = 0.8, 1000

CLAIM_RULES = """- difference: Welch's t-test of `metric` between two variants; supported when p < alpha and the
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
paired: true (difference, gain, equivalence): the same tests on the per-seed differences at the seeds
both variants completed (a paired t-test instead of Welch's), for variants that share what the seed
decides; "no spread" then means the same difference at every seed.
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
by dropping those runs."""

HOLM_RULES = ("Verdicts of difference, spread, gain and equivalence claims use Holm-adjusted p-values (Holm's "
              "step-down method over this experiment's p-valued claims, so that the chance of any false "
              f"'supported' stays ≤ α); raw p-values are in the evidence. For an inconclusive difference, "
              f"'seeds for 80% power' is the number of runs per variant a two-sided t-test at α = {ALPHA} "
              "would need to detect the observed difference (or the claim's stated smallest effect) with "
              "80% probability, given the runs' pooled standard deviation.")

COMPARE_RULE = (f"A figure **differs** when Welch's two-sided t-test of the two sets of seeds gives a Holm-adjusted p "
                f"< {ALPHA} (Holm across every figure of every variant in this comparison; without spread on either "
                "side the difference is known exactly and its p is taken as 0, or 1 when it is zero, as in the reports' rules); "
                "otherwise it is **consistent**: no difference these seeds can detect, which is not proof of "
                "equality; the 95% CI of the difference bounds the difference that could hide. A seed is "
                "**bit-identical** when its history (all but the timing columns) and test metrics are equal to "
                "the last bit; across machines (another CPU's vector instructions, thread count or versions) "
                "expect it not to be, and the means to be consistent.")
