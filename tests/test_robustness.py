"""Real processes killed mid-training, Ctrl-C, two writers on one run, and atomic files."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from bn_study import results
from bn_study.cli import main
from bn_study.train import training
from tests.conftest import ON_FIXTURE, ROOT, SMALL_BN

# Batch 8 makes an epoch of the fixture 80 steps of the small CNN (0.5-1 s), long enough to kill inside one.
RUN = [sys.executable, "-m", "bn_study", "run", str(SMALL_BN),
       *[a for o in ON_FIXTURE + ["train.epochs=3", "train.batch_size=8"] for a in ("--set", o)]]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")


def _as_from_a_terminal():
    # A shell starting the test-suite in the background (`cmd &`, nohup) makes its children ignore
    # SIGINT, and Python then never raises KeyboardInterrupt; a terminal's Ctrl-C reaches a process
    # whose SIGINT is at its default, so the child gets that back before it starts.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(out, extra=()):
    return subprocess.Popen(RUN + [*extra, "--out", str(out)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_as_from_a_terminal)


def _wait_for_rows(out, rows, proc, timeout=120):
    """Block until history.csv has `rows` epochs, then return (the next epoch has begun)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        path = out / "history.csv"
        if path.is_file() and path.read_text().count("\n") > rows:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no epoch finished in time")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(RUN + ["--out", str(out)], env=ENV, check=True, capture_output=True, timeout=300)
    return out


def _same_as(out, reference):
    history = pd.read_csv(out / "history.csv").drop(columns=list(training.CLOCK_COLUMNS))
    assert list(history["epoch"]) == [0, 1, 2]
    pd.testing.assert_frame_equal(history, pd.read_csv(reference / "history.csv").drop(columns=list(training.CLOCK_COLUMNS)))
    assert json.loads((out / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text())
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


# SIGINT takes the same KeyboardInterrupt path as SIGTERM (train/training.py), so it is in `make test-slow`.
@pytest.mark.parametrize("sig", [signal.SIGKILL, pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM])
def test_killed_mid_epoch_then_rerun_equals_uninterrupted(tmp_path, uninterrupted, sig):
    proc = _start(tmp_path)
    _wait_for_rows(tmp_path, 1, proc)  # after epoch 1's row: in epoch 2, or before epoch 1's backup; both must resume
    sent = time.time()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    stopped_after = time.time() - sent
    status = json.loads((tmp_path / "run.json").read_text())["status"]
    if sig == signal.SIGKILL:
        assert status == "running"  # nothing could be written; the rerun takes the stale lock
    else:
        assert proc.returncode == 130 and stopped_after < 10, err[-3000:]
        assert status == "interrupted"
        assert err.strip().splitlines()[-1] == (
            "bn_study: interrupted; rerun the same command to resume from the last complete epoch")
    subprocess.run(RUN + ["--out", str(tmp_path)], env=ENV, check=True, capture_output=True, timeout=300)
    _same_as(tmp_path, uninterrupted)
    assert json.loads((tmp_path / "run.json").read_text())["attempts"] == 2


def test_second_writer_exits_naming_lock_and_pid(tmp_path, capsys):
    long_run = ["--set", "train.epochs=100"]  # still training while the second writer (this process) starts
    first = _start(tmp_path, long_run)
    try:
        _wait_for_rows(tmp_path, 0, first)
        assert main(RUN[3:] + long_run + ["--out", str(tmp_path)]) == 2
        assert f"{tmp_path / '.lock'}: held by running process {first.pid}" in capsys.readouterr().err
    finally:
        first.kill()
        first.wait()


def test_stale_lock_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(dead.stdout.strip())
    with results.lock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


def test_atomic_write_keeps_old_file_when_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    results.write_json(path, {"status": "complete"})

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        results.write_json(path, {"status": "running", "padding": "x" * 10_000})
    assert json.loads(path.read_text()) == {"status": "complete"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind
