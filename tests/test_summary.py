"""Statistics over seeds and the verdict rules, on constructed tables with known answers."""
import math

import numpy as np
import pandas as pd
import pytest

from bn_study.report.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, judge
from bn_study.config.experiment_spec import ClaimSpec
from bn_study.report.setup import commands_lines
from bn_study.report.summary import aggregate_table, epochs_to, mean_ci
from tests.conftest import ROOT


def test_mean_ci_known_answer():
    n, mean, std, low, high = mean_ci([1, 2, 3, 4, 5])
    # std = sqrt(2.5); t(0.975, df=4) = 2.7764451; half-width = t * std / sqrt(5) = 1.963243
    assert (n, mean) == (5, 3.0)
    assert std == pytest.approx(math.sqrt(2.5))
    assert (low, high) == pytest.approx((3 - 1.963243, 3 + 1.963243), abs=1e-6)
    n, mean, std, low, high = mean_ci([0.5])
    assert (n, mean) == (1, 0.5) and all(math.isnan(v) for v in (std, low, high))
    assert mean_ci([np.nan, 1.0, 3.0])[0] == 2  # missing values (never reached) are not counted


def test_aggregate_is_per_variant_and_figure():
    summary = pd.DataFrame({"variant": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
                            "test_accuracy": [0.9, 1.0, 0.5, 0.5]})
    table = aggregate_table(summary).set_index(["variant", "figure"])
    assert table.loc[("a", "test_accuracy"), "mean"] == pytest.approx(0.95)
    assert table.loc[("a", "test_accuracy"), "std"] == pytest.approx(math.sqrt(0.005))
    assert table.loc[("b", "test_accuracy"), "std"] == 0
    assert table.loc[("b", "test_accuracy"), "n"] == 2


def test_epochs_to_threshold_is_one_based_and_nan_when_never():
    history = pd.DataFrame({"val_accuracy": [0.95, 0.981, 0.979, 0.991]})
    assert epochs_to(history, "val_accuracy", 0.98) == 2
    assert epochs_to(history, "val_accuracy", 0.99) == 4
    assert math.isnan(epochs_to(history, "val_accuracy", 0.995))


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
        assert "Welch p" in result.evidence
    else:
        assert "too few seeds" in result.evidence


def test_never_reached_counts_as_epochs_plus_one():
    table = _table("epochs_to_val_0.99", [np.nan] * 5, [3, 4, 3, 5, 4])
    result = judge(_difference("lower", "epochs_to_val_0.99"), table)
    assert result.verdict == SUPPORTED  # 26 (never, 25 epochs) against ~4
    assert "never reached" in result.evidence and "base 5" in result.evidence


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
    assert result.verdict == verdict and "vs band [0, 0.02]" in result.evidence


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


@pytest.mark.parametrize("treat, verdict, evidence", [
    # base trains well at 0.001 and 0.01 only (0.1: one seed diverged)
    ([[0.99, 0.99], [0.99, 0.985], [0.99, 0.981]], SUPPORTED, "treat: 0.001, 0.01, 0.1 (2 decades)"),
    ([[0.99, 0.99], [0.99, 0.975], [0.99, 0.99]], INCONCLUSIVE, "treat: 0.001, 0.1 (2 decades)"),
    ([[0.99, 0.99], [0.99, 0.99], [None, 0.99]], NOT_SUPPORTED, "treat: 0.001, 0.01 (1 decade)"),
])
def test_range_claim_counts_rates_where_every_seed_trains_well(treat, verdict, evidence):
    table, points = _grid_table({"base": [[0.99, 0.99], [0.99, 0.99], [0.99, None]], "treat": treat})
    result = judge(RANGE, table, points)
    assert result.verdict == verdict
    assert "base: 0.001, 0.01 (1 decade)" in result.evidence and evidence in result.evidence


def test_steps_to_and_probe_movement_known_answers():
    from bn_study.report.summary import probe_movement, steps_to

    steps = pd.DataFrame({"step": [0, 500, 1000, 1500], "test_accuracy": [0.1, 0.93, 0.96, 0.955]})
    assert steps_to(steps, 0.95) == 1000 and math.isnan(steps_to(steps, 0.97))
    rows = []
    for step, (p15, p50, p85) in zip((0, 500, 1000), ((-1, 0, 1), (-2, 1, 2), (-1, -0.5, 3))):
        for layer, shift in (("3:Dense", 0.0), ("1:Dense", 100.0)):  # the last probed layer counts, by position
            rows += [(step, layer, f"pre_p{q}", v + shift) for q, v in ((15, p15), (50, p50), (85, p85))]
    probe = pd.DataFrame(rows, columns=["step", "layer", "statistic", "value"])
    # medians 0, 1, -0.5 -> range 1.5; spreads 2, 4, 4 -> range 2
    assert probe_movement(probe) == {"probe_p50_range": 1.5, "probe_spread_range": 2.0}


def test_steps_section_tabulates_test_accuracy_by_step(tmp_path):
    from bn_study.report.tables import steps_section
    from bn_study.results import RunRecord

    def run(variant, seed, accuracies):
        steps = pd.DataFrame({"step": [0, 500, 1000, 1500], "test_accuracy": accuracies})
        return RunRecord(tmp_path, variant, seed, {}, {}, pd.DataFrame(), {}, steps, pd.DataFrame())

    runs = [run("a", 0, [0.1, 0.5, 0.7, 0.8]), run("a", 1, [0.1, 0.7, 0.9, 1.0]), run("b", 0, [0.1, 0.9, 0.9, 0.9])]
    text = steps_section(runs, ["a", "b"], rows=3)
    assert "| step | a | b |" in text
    assert "| 1,500 | 0.9000 ± 0.1414 (n=2) | 0.9000 (n=1) |" in text and "| 500 |" in text
    assert steps_section(runs[:0], ["a"]) == ""


def test_commands_line_says_when_interrupted_commands_trained_runs(tmp_path):
    (tmp_path / "commands.csv").write_text(
        "finished_utc,command,engine,jobs,complete,diverged,failed,skipped,wall_s\n"
        "2026-11-30T17:34:43Z,bn-study experiment x.yaml --jobs 2,local,2,2,0,0,8,543.9\n")
    (line,) = commands_lines(tmp_path, complete_runs=10)
    assert "9.1 min in 1 invocation(s)" in line and "finished 2 of the 10 complete runs" in line
    (line,) = commands_lines(tmp_path, complete_runs=2)
    assert line.endswith("on 2026-11-30")  # all recorded: nothing to add
    assert commands_lines(tmp_path / "nowhere", complete_runs=2) == []


def test_commands_that_ended_before_the_first_run_began_are_not_counted(tmp_path):
    # The first command trained 3 seeds whose folders were deleted; the second trained all 5 anew.
    (tmp_path / "commands.csv").write_text(
        "finished_utc,command,engine,jobs,complete,diverged,failed,skipped,wall_s\n"
        "2026-12-01T11:33:02Z,bn-study experiment x.yaml --jobs 2,local,2,120,0,0,0,2813.9\n"
        "2026-12-01T21:05:26Z,bn-study experiment x.yaml --jobs 2,local,2,200,0,0,0,4197.5\n")
    (line,) = commands_lines(tmp_path, complete_runs=200, first_started="2026-12-01T19:55:03+00:00")
    assert "70.0 min in 1 invocation(s)" in line and "1 earlier invocation(s) not counted" in line
    (line,) = commands_lines(tmp_path, complete_runs=200, first_started="2026-12-01T09:00:00+00:00")
    assert "116.9 min in 2 invocation(s)" in line and "not counted" not in line
    assert commands_lines(tmp_path, complete_runs=200, first_started="2026-12-02T00:00:00+00:00") == []


def test_effect_cells_pair_the_grid_lines_and_keep_each_claims_direction():
    from bn_study.config.experiment_spec import load_spec
    from bn_study.report.effect_map import effect_cells

    results = ROOT / "results/when_bn_helps_fashion"
    summary, claims_table = pd.read_csv(results / "summary.csv"), pd.read_csv(results / "claims.csv")
    cells = effect_cells(claims_table, summary, load_spec(results / "experiment.yaml").grid_points)
    assert len(cells) == 24  # 8 cells x 3 difference claims (the spread claims are not differences)
    spikes = cells[(cells["metric"] == "loss_spikes") & (cells["row"] == 20)
                   & (cells["column"] == "relu_sgd_none → relu_sgd_bn")].iloc[0]
    means = summary.groupby("variant")["loss_spikes"].mean()
    assert spikes["difference"] == pytest.approx(means["relu_sgd_bn-depth=20"] - means["relu_sgd_none-depth=20"])
    assert cells.groupby("metric")["lower_better"].all().to_dict() == {
        "epochs_to_val_0.85": True, "final_val_accuracy": False, "loss_spikes": True}
