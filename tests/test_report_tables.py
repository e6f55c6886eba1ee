"""The report's tables and sections, formatted from the statistics files' numbers."""
import pandas as pd
import pytest

from bn_study.report.setup_section import commands_lines
from tests.conftest import ROOT


def test_steps_section_tabulates_test_accuracy_by_step(tmp_path):
    from bn_study.report.tables import steps_section
    from bn_study.results import RunRecord
    from bn_study.stats.aggregate import curves_table

    def run(variant, seed, accuracies):
        steps = pd.DataFrame({"step": [0, 500, 1000, 1500], "test_accuracy": accuracies})
        return RunRecord(tmp_path, variant, seed, {}, {}, pd.DataFrame(), {}, steps, pd.DataFrame())

    runs = [run("a", 0, [0.1, 0.5, 0.7, 0.8]), run("a", 1, [0.1, 0.7, 0.9, 1.0]), run("b", 0, [0.1, 0.9, 0.9, 0.9])]
    curves = curves_table(runs)
    text = steps_section(curves, ["a", "b"], rows=3)
    assert "| step | a | b |" in text
    assert "| 1,500 | 0.9000 ± 0.1414 (n=2) | 0.9000 (n=1) |" in text and "| 500 |" in text
    assert steps_section(curves_table([]), ["a"]) == ""


def test_commands_line_says_when_interrupted_commands_trained_runs(tmp_path):
    (tmp_path / "commands.csv").write_text(
        "finished_utc,command,engine,jobs,complete,diverged,failed,skipped,wall_s\n"
        "2026-11-30T17:34:43Z,bn-study experiment x.yaml --jobs 2,local,2,2,0,0,8,543.9\n")
    commands = pd.read_csv(tmp_path / "commands.csv")
    (line,) = commands_lines(commands, complete_runs=10)
    assert "9.1 min in 1 invocation(s)" in line and "finished 2 of the 10 complete runs" in line
    (line,) = commands_lines(commands, complete_runs=2)
    assert line.endswith("on 2026-11-30")  # all recorded: nothing to add
    assert commands_lines(pd.DataFrame(), complete_runs=2) == []


def test_commands_that_ended_before_the_first_run_began_are_not_counted(tmp_path):
    # The first command trained 3 seeds whose folders were deleted; the second trained all 5 anew.
    (tmp_path / "commands.csv").write_text(
        "finished_utc,command,engine,jobs,complete,diverged,failed,skipped,wall_s\n"
        "2026-12-01T11:33:02Z,bn-study experiment x.yaml --jobs 2,local,2,120,0,0,0,2813.9\n"
        "2026-12-01T21:05:26Z,bn-study experiment x.yaml --jobs 2,local,2,200,0,0,0,4197.5\n")
    commands = pd.read_csv(tmp_path / "commands.csv")
    (line,) = commands_lines(commands, complete_runs=200, first_started="2026-12-01T19:55:03+00:00")
    assert "70.0 min in 1 invocation(s)" in line and "1 earlier invocation(s) not counted" in line
    (line,) = commands_lines(commands, complete_runs=200, first_started="2026-12-01T09:00:00+00:00")
    assert "116.9 min in 2 invocation(s)" in line and "not counted" not in line
    assert commands_lines(commands, complete_runs=200, first_started="2026-12-02T00:00:00+00:00") == []


def test_effect_cells_pair_the_grid_lines_and_keep_each_claims_direction():
    from bn_study.config.experiment_spec import load_spec
    from bn_study.report.effect_map import effect_cells

    results = ROOT / "results/when_bn_helps_fashion"
    summary, claims_table = pd.read_csv(results / "summary.csv"), pd.read_csv(results / "claims.csv")
    spec = load_spec(results / "experiment.yaml")
    cells = effect_cells(claims_table, spec.grid_points)
    # One cell per difference claim between two grid variants at one swept value; the spread claims
    # are not differences and stay out.
    expected = sum(c.test == "difference" for c in spec.claims)
    assert len(cells) == expected > 0 and len(cells) < len(spec.claims)
    spikes = cells[(cells["metric"] == "loss_spikes") & (cells["row"] == 20)
                   & (cells["column"] == "relu_sgd_none → relu_sgd_bn")].iloc[0]
    means = summary.groupby("variant")["loss_spikes"].mean()
    assert spikes["difference"] == pytest.approx(means["relu_sgd_bn-depth=20"] - means["relu_sgd_none-depth=20"])
    assert cells.groupby("metric")["lower_better"].all().to_dict() == {
        "epochs_to_val_0.85": True, "final_val_accuracy": False, "loss_spikes": True}
