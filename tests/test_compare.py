"""`compare`: bit-identity per seed, a verdict per figure, and the errors a user can hit."""
import shutil

import pandas as pd

from bn_study.cli import main
from bn_study.report.compare import figure_row, render


def test_a_copy_is_bit_identical_and_a_changed_run_is_not(jobs2_results, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(jobs2_results, copy)
    history = copy / "bn/seed-0/history.csv"
    table = pd.read_csv(history)
    table.loc[1, "val_loss"] += 1e-12  # the last bits only
    table.to_csv(history, index=False)
    text = render(jobs2_results, copy)
    assert "## no_bn\n\nComplete runs: 1 in the reference, 1 here; seeds in both: 0; bit-identical: 1 of 1" in text
    assert "## bn\n\nComplete runs: 1 in the reference, 1 here; seeds in both: 0; bit-identical: 0 of 1" in text
    assert "too few seeds (< 2 a side)" in text  # one seed a side: no test, no verdict
    assert "TensorFlow threads intra-op 1, inter-op 1" in text  # the machines, from run.json


def test_verdicts_follow_welchs_test():
    reference = pd.Series([0.990, 0.991, 0.992, 0.991, 0.990])
    assert figure_row("test_accuracy", reference, reference + 0.0004)[-1] == "**consistent**"
    shifted = figure_row("test_accuracy", reference, reference - 0.01)
    assert shifted[-1] == "**differs**" and shifted[3].startswith("-0.01 [")
    assert figure_row("val_accuracy_epoch1", pd.Series([0.106] * 3), pd.Series([0.106] * 3))[-1] == "**consistent**"


def test_nothing_in_common_is_one_line(jobs2_results, tmp_path, capsys):
    (tmp_path / "other/seed-0").mkdir(parents=True)
    shutil.copy(jobs2_results / "bn/seed-0/run.json", tmp_path / "other/seed-0/run.json")
    shutil.copy(jobs2_results / "bn/seed-0/config.yaml", tmp_path / "other/seed-0/config.yaml")
    (tmp_path / "other/seed-0/run.json").write_text(
        (tmp_path / "other/seed-0/run.json").read_text().replace('"variant": "bn"', '"variant": "other"'))
    assert main(["compare", str(jobs2_results), str(tmp_path)]) == 2
    assert "no variant in common" in capsys.readouterr().err
    assert main(["compare", str(jobs2_results), str(tmp_path / "missing")]) == 2
    assert "no such results directory" in capsys.readouterr().err
