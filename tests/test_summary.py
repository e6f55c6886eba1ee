"""The statistics stage's tables: per-run figures (stats/summary.py) and statistics over seeds
(stats/aggregate.py), on constructed tables with known answers."""
import math

import numpy as np
import pandas as pd
import pytest

from bn_study.stats.aggregate import aggregate_table, curves_table, mean_ci
from bn_study.stats.summary import epochs_to, probe_movement, steps_to


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


def test_steps_to_and_probe_movement_known_answers():
    steps = pd.DataFrame({"step": [0, 500, 1000, 1500], "test_accuracy": [0.1, 0.93, 0.96, 0.955]})
    assert steps_to(steps, 0.95) == 1000 and math.isnan(steps_to(steps, 0.97))
    rows = []
    for step, (p15, p50, p85) in zip((0, 500, 1000), ((-1, 0, 1), (-2, 1, 2), (-1, -0.5, 3))):
        for layer, shift in (("3:Dense", 0.0), ("1:Dense", 100.0)):  # the last probed layer counts, by position
            rows += [(step, layer, f"pre_p{q}", v + shift) for q, v in ((15, p15), (50, p50), (85, p85))]
    probe = pd.DataFrame(rows, columns=["step", "layer", "statistic", "value"])
    # medians 0, 1, -0.5 -> range 1.5; spreads 2, 4, 4 -> range 2
    assert probe_movement(probe) == {"probe_p50_range": 1.5, "probe_spread_range": 2.0}




def test_curves_are_the_band_over_seeds_at_each_epoch_and_step(tmp_path):
    from bn_study.results import RunRecord

    def run(variant, seed, accuracy, steps=None):
        history = pd.DataFrame({"epoch": [0, 1], "accuracy": accuracy, "val_accuracy": accuracy,
                                "loss": [1.0, 0.5], "val_loss": [1.0, 0.5]})
        steps = pd.DataFrame({"step": [0, 500], "test_accuracy": steps}) if steps else pd.DataFrame()
        return RunRecord(tmp_path, variant, seed, {}, {}, history, {}, steps, pd.DataFrame())

    curves = curves_table([run("a", 0, [0.5, 0.7], [0.1, 0.8]), run("a", 1, [0.7, 0.9], [0.1, 0.6]),
                           run("b", 0, [0.2, 0.4])])
    band = curves[(curves["source"] == "history") & (curves["column"] == "accuracy") & (curves["variant"] == "a")]
    assert list(band["x"]) == [1, 2]  # epochs 1-based
    assert list(band["mean"]) == pytest.approx([0.6, 0.8]) and list(band["n"]) == [2, 2]
    assert band["std"].iloc[1] == pytest.approx(math.sqrt(0.02)) and list(band["max"]) == pytest.approx([0.7, 0.9])
    steps = curves[curves["source"] == "steps"]
    assert set(steps["variant"]) == {"a"} and steps.set_index("x").loc[500, "mean"] == pytest.approx(0.7)
    lone = curves[(curves["variant"] == "b") & (curves["column"] == "loss")]
    assert list(lone["n"]) == [1, 1] and lone["std"].isna().all()  # one seed: no spread to show


def test_every_summary_column_is_a_registered_figure():
    """One registry of figures (config/figures.py): every column the statistics stage writes has its label,
    unit and better direction there, and a claim may name exactly those."""
    import pandas as pd

    from bn_study.config.experiment_spec import figure_names
    from bn_study.config.figures import BY_NAME, THRESHOLDED
    from tests.conftest import ROOT

    prefixes = tuple(entry.name.split("{}")[0] for entry in THRESHOLDED)
    for experiment in ("article", "article_probe", "landscape", "when_bn_helps_rate"):
        columns = set(pd.read_csv(ROOT / "results" / experiment / "summary.csv", nrows=1).columns) - {"variant", "seed", "status"}
        assert all(c in BY_NAME or c.startswith(prefixes) for c in columns), sorted(c for c in columns if c not in BY_NAME)
    assert set(figure_names((0.99,))) == set(BY_NAME) | {"epochs_to_val_0.99", "test_steps_to_0.99"}
