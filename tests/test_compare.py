"""`compare`: bit-identity per seed, a verdict per figure, and the errors a user can hit."""
import shutil

import pandas as pd
import pytest

from bn_study.cli import main
from bn_study.report.compare import figure_test, judge_tests, render


def test_a_copy_is_bit_identical_and_a_changed_run_is_not(jobs2_results, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(jobs2_results, copy)
    history = copy / "bn/seed-0/history.csv"
    table = pd.read_csv(history)
    table.loc[1, "val_loss"] += 1e-12  # the last bits only
    table.to_csv(history, index=False)
    from bn_study.report.statistics import write_statistics

    for results in (jobs2_results, copy):
        write_statistics(results)  # what `bn-study plot` does first; compare only reads them
    text = render(jobs2_results, copy)
    assert "## no_bn\n\nComplete runs: 1 in the reference, 1 here; seeds in both: 0; bit-identical: 1 of 1" in text
    assert "## bn\n\nComplete runs: 1 in the reference, 1 here; seeds in both: 0; bit-identical: 0 of 1" in text
    assert "too few seeds (< 2 a side)" in text  # one seed a side: no test, no verdict
    assert "TensorFlow threads intra-op 1, inter-op 1" in text  # the machines, from run.json


def test_verdicts_follow_welchs_test_with_holm_across_figures():
    reference = pd.Series([0.990, 0.991, 0.992, 0.991, 0.990])
    tests = [figure_test("v", "test_accuracy", reference, reference + 0.0004),
             figure_test("v", "test_loss", reference, reference - 0.01),
             figure_test("v", "val_accuracy_epoch1", pd.Series([0.106] * 3), pd.Series([0.106] * 3))]
    judged = judge_tests(tests)
    assert list(judged["verdict"]) == ["consistent", "differs", "consistent"]
    assert judged.loc[1, "difference"].startswith("-0.01 [")
    # Holm over all three figures: the one without spread on either side and equal is known to be
    # equal (p = 1, claims.exact_p) and counts in the family: the smallest p tripled, the next doubled.
    raw = judged["p"].to_numpy()
    assert raw[2] == 1.0 and judged.loc[2, "difference"] == "+0 (no spread)"
    assert judged.loc[1, "holm_p"] == pytest.approx(min(1.0, 3 * raw[1]))
    assert judged.loc[0, "holm_p"] == pytest.approx(max(2 * raw[0], 3 * raw[1]))
    # A p below alpha alone is not enough once adjusted: 0.03 and 0.04 both become 0.06.
    near = judge_tests([{**tests[0], "p": 0.03, "note": ""}, {**tests[0], "p": 0.04, "note": ""}])
    assert list(near["verdict"]) == ["consistent", "consistent"]


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


@pytest.mark.slow  # a fresh interpreter: about 25 s
def test_plot_report_site_and_compare_need_no_tensorflow(jobs2_results, tmp_path):
    """They read result files only; a machine without TensorFlow can redraw, report and compare,
    also runs made before run.json recorded the parameter count."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    results = tmp_path / "results"
    shutil.copytree(jobs2_results, results / "small")
    old_run = results / "small/bn/seed-0/run.json"
    record = json.loads(old_run.read_text())
    parameters = record.pop("parameters")
    old_run.write_text(json.dumps(record))
    code = ("import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None\n"
            "from bn_study.cli import main\n"
            f"assert main(['plot', '{results / 'small'}']) == 0\n"
            f"assert main(['report', '{results / 'small'}']) == 0\n"
            f"assert main(['site', '--results', '{results}']) == 0\n"
            f"assert main(['compare', '{results / 'small'}', '{results / 'small'}']) == 0\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (results / "index.html").is_file() and (results / "small/COMPARE.csv").is_file()
    report = (results / "small/REPORT.md").read_text()
    assert f"{json.loads((results / 'small/no_bn/seed-0/run.json').read_text())['parameters']:,} parameters" in report
    assert "parameters not recorded (run made before 2026-12-01; `bn-study show" in report and parameters > 0
