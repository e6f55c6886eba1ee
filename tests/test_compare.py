"""`compare`: bit-identity per seed, a verdict per figure, and the errors a user can hit."""
import shutil

import pandas as pd
import pytest

from bn_study.cli import main
from bn_study.report.compare import render
from bn_study.stats.comparison import compare, figure_test, judge_tests


def test_a_copy_is_bit_identical_and_a_changed_run_is_not(jobs2_results, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(jobs2_results, copy)
    history = copy / "bn/seed-0/history.csv"
    table = pd.read_csv(history)
    table.loc[1, "val_loss"] += 1e-12  # the last bits only: a run that came out differently
    table.to_csv(history, index=False)
    import json

    from bn_study.results import FILES_KEY, record_files

    record = json.loads((copy / "bn/seed-0/run.json").read_text())  # as that run would have recorded it
    (copy / "bn/seed-0/run.json").write_text(json.dumps({**record, FILES_KEY: record_files(copy / "bn/seed-0")}))
    from bn_study.stats.stage import make_statistics

    for results in (jobs2_results, copy):
        make_statistics(results)  # the statistics stage; compare reads summary.csv
    text = render(compare(jobs2_results, copy))
    same = "Same resolved config in the reference and here (seeds aside).\n\n"
    assert f"## no_bn\n\n{same}Complete runs: 1 in the reference, 1 here; seeds in both: 0; bit-identical: 1 of 1" in text
    assert f"## bn\n\n{same}Complete runs: 1 in the reference, 1 here; seeds in both: 0; bit-identical: 0 of 1" in text
    assert "too few seeds (< 2 a side)" in text  # one seed a side: no test, no verdict
    assert "TensorFlow threads intra-op 1, inter-op 1" in text  # the machines, from run.json


def test_a_comparison_says_when_the_configs_differ(jobs2_results, tmp_path):
    """Another precision (or any other key) on one side is named above that variant's table, not mixed silently."""
    import json

    from bn_study.results import FILES_KEY, record_files
    from bn_study.stats.stage import make_statistics

    copy = shutil.copytree(jobs2_results, tmp_path / "copy")
    run = copy / "bn/seed-0"
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("precision: float32", "precision: mixed_bfloat16"))
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, FILES_KEY: record_files(run)}))
    for results in (jobs2_results, copy):
        make_statistics(results)
    text = render(compare(jobs2_results, copy))
    assert ("## bn\n\nThe resolved configs differ (the reference → here) in 1 key(s): `train.precision` `float32` → "
            "`mixed_bfloat16`.") in text


def test_verdicts_follow_welchs_test_with_holm_across_figures():
    reference = pd.Series([0.990, 0.991, 0.992, 0.991, 0.990])
    tests = [figure_test("v", "test_accuracy", reference, reference + 0.0004),
             figure_test("v", "test_loss", reference, reference - 0.01),
             figure_test("v", "val_accuracy_epoch1", pd.Series([0.106] * 3), pd.Series([0.106] * 3))]
    judged = judge_tests(tests)
    assert list(judged["verdict"]) == ["consistent", "differs", "consistent"]
    assert judged.loc[1, "difference"] == pytest.approx(-0.01)
    assert judged.loc[1, "difference_ci_low"] < -0.01 < judged.loc[1, "difference_ci_high"] < 0
    # Holm over all three figures: the one without spread on either side and equal is known to be
    # equal (p = 1, claims.exact_p) and counts in the family: the smallest p tripled, the next doubled.
    raw = judged["p"].to_numpy()
    assert raw[2] == 1.0 and judged.loc[2, "difference"] == 0 and judged.loc[2, "no_spread"]
    assert judged.loc[1, "holm_p"] == pytest.approx(min(1.0, 3 * raw[1]))
    assert judged.loc[0, "holm_p"] == pytest.approx(max(2 * raw[0], 3 * raw[1]))
    # A p below alpha alone is not enough once adjusted: 0.03 and 0.04 both become 0.06.
    near = judge_tests([{**tests[0], "p": 0.03, "note": ""}, {**tests[0], "p": 0.04, "note": ""}])
    assert list(near["verdict"]) == ["consistent", "consistent"]


def test_nothing_in_common_is_one_line(jobs2_results, tmp_path, capsys):
    (tmp_path / "other/seed-0").mkdir(parents=True)
    shutil.copy(jobs2_results / "bn/seed-0/run.json", tmp_path / "other/seed-0/run.json")
    shutil.copy(jobs2_results / "bn/seed-0/config.yaml", tmp_path / "other/seed-0/config.yaml")
    shutil.copy(jobs2_results / "experiment.yaml", tmp_path / "experiment.yaml")
    (tmp_path / "other/seed-0/run.json").write_text(
        (tmp_path / "other/seed-0/run.json").read_text().replace('"variant": "bn"', '"variant": "other"'))
    assert main(["compare", str(jobs2_results), str(tmp_path)]) == 2
    assert "no variant in common" in capsys.readouterr().err
    assert main(["compare", str(jobs2_results), str(tmp_path / "missing")]) == 2
    assert "not an experiment's results folder (no experiment.yaml)" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter: about 25 s
def test_views_need_neither_tensorflow_nor_scipy(jobs2_results, tmp_path):
    """plot, report, site and docs read result files only: a machine without TensorFlow and scipy can
    redraw and report (also runs made before run.json recorded the parameter count); compare, which
    computes its tests, needs scipy but not TensorFlow."""
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
    from bn_study.stats.stage import make_statistics

    make_statistics(results / "small")
    blocked = "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None\n"
    code = (blocked + "sys.modules['scipy'] = None\nfrom bn_study.cli import main\n"
            f"assert main(['plot', '{results / 'small'}']) == 0\n"
            f"assert main(['report', '{results / 'small'}']) == 0\n"
            f"assert main(['site', '--results', '{results}']) == 0\n"
            "assert 'scipy' not in {m.split('.')[0] for m, v in sys.modules.items() if v is not None}\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    code = (blocked + "from bn_study.cli import main\n"
            f"assert main(['compare', '{results / 'small'}', '{results / 'small'}']) == 0\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (results / "index.html").is_file() and (results / "small/COMPARE.csv").is_file()
    report = (results / "small/REPORT.md").read_text()
    assert f"{json.loads((results / 'small/no_bn/seed-0/run.json').read_text())['parameters']:,} parameters" in report
    assert "parameters not recorded (run made before 2026-12-01; `bn-study show" in report and parameters > 0


def test_views_without_statistics_name_the_stats_command(jobs2_results, tmp_path, capsys):
    from bn_study.stats.files import STATISTICS_FILES
    from bn_study.stats.stage import make_statistics

    make_statistics(jobs2_results)  # the reference has its statistics; the copy loses them
    bare = shutil.copytree(jobs2_results, tmp_path / "bare")
    for name in STATISTICS_FILES:
        (bare / name).unlink(missing_ok=True)
    page = tmp_path / "page.md"
    page.write_text("<!-- results:bare:verdicts -->\n<!-- /results -->\n")
    for command in (["plot", str(bare)], ["report", str(bare)], ["compare", str(jobs2_results), str(bare)]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert f"no summary.csv; `bn-study stats {bare}` writes the statistics" in err and err.count("\n") == 1
    from bn_study.errors import UserError
    from bn_study.report.docs import update_docs

    with pytest.raises(UserError, match="bn-study stats"):
        update_docs([page], tmp_path)
    assert main(["stats", str(bare)]) == 0 and main(["report", str(bare)]) == 0
    assert (bare / "REPORT.md").is_file()
