"""Run folders and statistics that cannot silently rot: a damaged file is named by `verify`, left out
of the statistics with a line saying so (or refused where the statistics still count it), and retrained."""
import json
import shutil

import pandas as pd
import pytest

from bn_study.cli import main
from bn_study.stats.verify import verify
from tests.conftest import PARALLEL_SETS, ROOT, SMALL_EXPERIMENT


def _truncate(path):
    path.write_bytes(path.read_bytes()[:60])


def _edit_value(path):
    table = pd.read_csv(path)
    table.loc[0, "val_accuracy"] += 0.01  # same rows, one number moved
    table.to_csv(path, index=False)


DAMAGE = {  # the file of bn/seed-0 and what is done to it
    "history.csv": _truncate, "history.csv ": _edit_value, "run.json": _truncate,
    "metrics.json": lambda p: p.unlink(), "config.yaml": lambda p: p.write_text(p.read_text() + "# edited\n"),
}


@pytest.fixture
def results(jobs2_results, tmp_path):
    copy = shutil.copytree(jobs2_results, tmp_path / "small")
    assert main(["stats", str(copy)]) == 0
    assert verify([copy]) == ([], 3)  # two runs and the experiment's statistics
    return copy


@pytest.mark.parametrize("name", DAMAGE, ids=lambda n: n.strip() + (" edited" if n.endswith(" ") else " damaged"))
def test_a_damaged_run_is_named_left_out_and_never_counted(results, name, capsys):
    DAMAGE[name](results / "bn/seed-0" / name.strip())
    lines, _ = verify([results])
    assert lines and all("bn/seed-0" in line for line in lines)
    capsys.readouterr()
    assert main(["verify", str(results)]) == 2
    assert "bn/seed-0" in capsys.readouterr().out
    # The statistics still count it: the views refuse in one line rather than show them.
    assert main(["report", str(results)]) == 2
    err = capsys.readouterr().err
    assert "the statistics count bn/seed-0, damaged since; `bn-study stats" in err and "Traceback" not in err
    # Recomputed: left out, said so, in the statistics record and in the report.
    assert main(["stats", str(results)]) == 0
    assert "bn/seed-0: damaged (" in capsys.readouterr().err
    summary = pd.read_csv(results / "summary.csv")
    assert list(summary["variant"]) == ["no_bn"]
    assert "bn/seed-0" in json.loads((results / "statistics.json").read_text())["left_out"]
    assert main(["report", str(results)]) == 0 and main(["plot", str(results)]) == 0
    assert "**Damaged runs, left out of every number below:** bn/seed-0 (" in (results / "REPORT.md").read_text()
    capsys.readouterr()


def test_changed_statistics_are_named(results):
    (results / "claims.csv").write_text((results / "claims.csv").read_text() + "\n")
    lines, _ = verify([results])
    assert lines == [f"{results / 'claims.csv'}: differs from what `bn-study stats` wrote (size or SHA-256)"]


def test_the_experiment_command_retrains_a_damaged_run_and_keeps_the_old_folder(results):
    from bn_study.run.experiment import load_experiment, run_experiment

    _truncate(results / "bn/seed-0/history.csv")
    messages = []
    counts = run_experiment(load_experiment(SMALL_EXPERIMENT, PARALLEL_SETS, (0,)), results, verbose=0,
                            log=messages.append)
    assert counts == {"complete": 1, "skipped": 1}
    assert any("bn seed 0: damaged (history.csv differs" in m and "training it again" in m for m in messages)
    (kept,) = (results / "bn").glob("damaged-seed-0-*")
    assert (kept / "run.json").is_file()
    assert main(["stats", str(results)]) == 0
    lines, _ = verify([results])  # the new run and the statistics are sound; the folder set aside is not
    assert lines and all("damaged-seed-0-" in line for line in lines)


def test_the_committed_article_results_pass():
    lines, checked = verify([ROOT / "results/article"])
    assert lines == [] and checked == 11  # 10 runs and the experiment


@pytest.mark.parametrize("view", ["report", "plot", "site", "docs", "compare", "article-figure"])
def test_every_view_refuses_statistics_that_count_a_damaged_run(results, view, tmp_path, capsys):
    """One read path (stats.files.open_results) with the guard inside: each view says so in one line."""
    reference = shutil.copytree(results, tmp_path / "reference")  # sound, with its statistics
    (results / "bn/seed-0/history.csv").write_text("epoch,loss\n0,1.0\n")
    command = {"report": ["report", str(results)], "plot": ["plot", str(results)],
               "site": ["site", "--results", str(results.parent)],
               "compare": ["compare", str(reference), str(results)],
               "article-figure": ["article-figure", str(results), "--out", str(tmp_path / "figure.png")]}.get(view)
    if view == "docs":
        from bn_study.errors import UserError
        from bn_study.report.docs import render

        with pytest.raises(UserError, match="the statistics count bn/seed-0, damaged since"):
            render(f"<!-- results:{results.name}:verdicts -->\n<!-- /results -->\n", results.parent)
        return
    capsys.readouterr()
    assert main(command) == 2
    err = capsys.readouterr().err
    line = next(l for l in err.splitlines() if l.startswith("bn_study: error:"))
    assert "the statistics count bn/seed-0, damaged since" in line and "Traceback" not in err


def test_verify_names_a_broken_experiment_yaml(results, capsys):
    """The views refuse a results folder whose experiment.yaml does not load; verify says so first."""
    (results / "experiment.yaml").write_text("name: [unclosed\n")
    lines, _ = verify([results])
    assert any("experiment.yaml" in line and "writes it again" in line for line in lines), lines
    assert main(["verify", str(results)]) == 2
