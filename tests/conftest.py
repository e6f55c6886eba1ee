"""Shared fixtures: the real-MNIST fixture files, and a Keras home that is never the user's."""
import os
import tempfile
from pathlib import Path

# Before TensorFlow is imported anywhere: quiet C++ logs, and no test may touch ~/.keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="bn_study_keras_home_")

import pytest  # noqa: E402

from bn_study.train.quiet_tensorflow import import_tensorflow  # noqa: E402

import_tensorflow()  # without its start-up notices, as the CLI does

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE_NPZ = FIXTURES / "mnist_fixture.npz"
FIXTURE_PKL = FIXTURES / "mnist_fixture.pkl.gz"
FASHION_FIXTURE = FIXTURES / "fashion_mnist"  # the four IDX .gz files of 800 + 200 Fashion-MNIST images
# --set overrides that point a config at the 800 + 200 image fixture.
ON_FIXTURE = [f"data.path={FIXTURE_NPZ}", "data.dataset=mnist_fixture"]
ON_FASHION_FIXTURE = [f"data.path={FASHION_FIXTURE}", "data.dataset=fashion_mnist_fixture"]


@pytest.fixture
def keras_home(tmp_path, monkeypatch) -> Path:
    """An empty Keras home for this test; sources.cache_for() points into it."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# A 5-layer CNN with and without BN, and the two as an experiment, for tests of plumbing (engines,
# resume, locks, files) rather than of BN: a fixture run costs about 40% of the article CNN's.
SMALL_NO_BN, SMALL_BN, SMALL_EXPERIMENT = (FIXTURES / f"small{s}.yaml" for s in ("_no_bn", "_bn", ""))
# The parallel engines' shared case: the small experiment at seed 0, 300 fixture images,
# 2 epochs of 30 steps (batch 8), one TensorFlow thread per run.
PARALLEL_SETS = ON_FIXTURE + ["data.train_limit=300", "data.test_limit=100", "train.epochs=2", "train.batch_size=8"]
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]  # not the clock's


@pytest.fixture(scope="session")
def jobs2_results(tmp_path_factory) -> Path:
    """The shared case trained with --jobs 2 (spawned processes, 1 thread each)."""
    from bn_study.run.experiment import load_experiment, run_experiment
    from bn_study.run.jobs import make_engine

    out = tmp_path_factory.mktemp("jobs2") / "small"
    experiment = load_experiment(SMALL_EXPERIMENT, PARALLEL_SETS, (0,))
    counts = run_experiment(experiment, out, log=lambda m: None, engine=make_engine("local", jobs=2))
    assert counts == {"complete": 2}
    return out


def assert_same_runs(out: Path, reference: Path, runs=("no_bn/seed-0", "bn/seed-0")) -> None:
    """Bit-identical histories (every column but the clock's) and test metrics."""
    import json

    import pandas as pd

    for run in runs:
        history = pd.read_csv(out / run / "history.csv")
        assert list(history["epoch"]) == list(range(len(history)))  # each epoch exactly once
        pd.testing.assert_frame_equal(history[HISTORY_COLUMNS],
                                      pd.read_csv(reference / run / "history.csv")[HISTORY_COLUMNS], check_exact=True)
        assert json.loads((out / run / "metrics.json").read_text()) == json.loads((reference / run / "metrics.json").read_text())
        assert json.loads((out / run / "run.json").read_text())["status"] == "complete"


def stats_plots_report(results_dir: Path) -> list[Path]:
    """What `bn-study experiment` does after training: the statistics stage, then plots and report."""
    from bn_study.report.experiment_report import write_reports
    from bn_study.report.plots import draw_plots
    from bn_study.stats.stage import make_statistics

    experiment, statistics, paths = make_statistics(results_dir)
    return [*paths, *draw_plots(experiment, statistics), *write_reports(experiment, statistics)]


def evidence(verdict) -> str:
    """A verdict's evidence as every page words it (claims.csv's row through report/words.py)."""
    from bn_study.report.words import claim_evidence
    from bn_study.stats.stage import verdict_row

    return claim_evidence(verdict_row(1, verdict))
