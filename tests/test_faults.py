"""Faults while writing: a full disk at each write the project makes (injected as OSError(ENOSPC) where
the project writes, and for real on a small tmpfs where this test may mount one), a file where a folder
should be. Each ends in one line naming the file and the fault, exit 1, no traceback; the run records
'failed' (or, when even run.json cannot be written, verify names it as stopped); and once the space is
back the same command finishes with the values of a clean run."""
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pandas as pd
import pytest

from bn_study import results
from bn_study.cli import main
from tests.conftest import HISTORY_COLUMNS, ON_FIXTURE, ROOT, SMALL_BN, SMALL_EXPERIMENT

SHRINK = ON_FIXTURE + ["data.train_limit=200", "data.test_limit=50", "train.epochs=2", "train.batch_size=20"]
SETS = [a for s in SHRINK for a in ("--set", s)]
FULL = os.strerror(errno.ENOSPC)


def _full_disk_at(monkeypatch, name: str, after: int = 0):
    """Make the project's atomic writes of files called `name` fail with ENOSPC, after `after` good ones."""
    real, calls = results.write_bytes, []

    def write_bytes(path, data):
        if Path(path).name == name:
            calls.append(path)
            if len(calls) > after:
                raise OSError(errno.ENOSPC, FULL, str(path))
        return real(path, data)

    monkeypatch.setattr(results, "write_bytes", write_bytes)


def _history_write_fails(monkeypatch):
    """CSVLogger's row for the second epoch meets a full disk."""
    real = keras.callbacks.CSVLogger.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise OSError(errno.ENOSPC, FULL, self.filename)
        return real(self, epoch, logs)

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", on_epoch_end)


def _backup_write_fails(monkeypatch):
    """The backup of the first epoch finds no room (backup.py checks before h5py writes)."""
    from bn_study.train import backup

    monkeypatch.setattr(backup.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000))


@pytest.fixture(scope="module")
def clean_history(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("clean") / "run"
    assert main(["run", str(SMALL_BN), *SETS, "--out", str(out)]) == 0
    return pd.read_csv(out / "history.csv")[HISTORY_COLUMNS]


def _one_line(capsys, *expected: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("bn_study: error:")]
    assert len(lines) == 1 and all(text in lines[0] for text in expected), err
    return lines[0]


@pytest.mark.parametrize("where", ["backup", "history.csv", "metrics.json", "run.json at the start",
                                   "run.json at the end"])
def test_a_full_disk_while_a_run_writes_ends_in_one_line_and_the_run_resumes(where, tmp_path, capsys, monkeypatch,
                                                                              clean_history):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        if where == "backup":
            _backup_write_fails(patch)
        elif where == "history.csv":
            _history_write_fails(patch)
        elif where == "run.json at the start":
            _full_disk_at(patch, results.RUN_FILE)
        elif where == "run.json at the end":
            _full_disk_at(patch, results.RUN_FILE, after=1)
        else:
            _full_disk_at(patch, where)
        assert main(["run", str(SMALL_BN), *SETS, "--out", str(out)]) == 1
        line = _one_line(capsys, FULL, "free some space, then run the same command again")
        assert str(out) in line  # the file that could not be written
    if where == "run.json at the start":
        assert not (out / results.RUN_FILE).exists()
    elif where == "run.json at the end":  # the record could not say failed: verify names the run as stopped
        assert json.loads((out / results.RUN_FILE).read_text())["status"] == "running"
        assert main(["verify", str(out)]) == 2
        assert "stopped while running" in capsys.readouterr().out
    else:
        record = json.loads((out / results.RUN_FILE).read_text())
        assert record["status"] == "failed" and FULL in record["error"]
    assert main(["run", str(SMALL_BN), *SETS, "--out", str(out)]) == 0  # space is back: the same command
    assert pd.read_csv(out / "history.csv")[HISTORY_COLUMNS].equals(clean_history)
    assert main(["verify", str(out)]) == 0


def test_out_under_a_regular_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["run", str(SMALL_BN), *SETS, "--out", str(blocker / "run")]) == 1
    _one_line(capsys, f"{blocker}", "Not a directory", "a file stands where a folder should be")
    assert main(["plot", str(ROOT / "results/article/bn"), "--out", str(blocker / "overlay")]) == 1
    _one_line(capsys, "Not a directory")


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("experiment") / "small"
    assert main(["experiment", str(SMALL_EXPERIMENT), *SETS, "--seeds", "0", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("command, name", [("stats", "summary.csv"), ("report", "REPORT.md"),
                                           ("plot", "mean_curves.png")])
def test_views_and_statistics_on_a_full_disk(command, name, experiment_dir, tmp_path, capsys, monkeypatch):
    folder = shutil.copytree(experiment_dir, tmp_path / "copy")
    before = (folder / "summary.csv").read_bytes()
    with monkeypatch.context() as patch:
        if name.endswith(".png"):  # matplotlib writes figures itself, into the atomic path
            import matplotlib.figure

            def savefig(self, path, *args, **kwargs):
                raise OSError(errno.ENOSPC, FULL, str(path))
            patch.setattr(matplotlib.figure.Figure, "savefig", savefig)
        else:
            _full_disk_at(patch, name)
        assert main([command, str(folder)]) == 1
        _one_line(capsys, FULL)
    assert main([command, str(folder)]) == 0  # space back: the same command
    assert (folder / "summary.csv").read_bytes() == before and main(["verify", str(folder)]) == 0


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.mark.slow  # three experiment processes; the injected faults above are the fast tier's
def test_a_real_full_disk_under_an_experiment_with_two_jobs(tmp_path, capsys):
    """A 60 KB tmpfs: `experiment --jobs 2` ends in one line (exit 1, not a crash of the interpreter); the
    same command on a disk with room finishes every run."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "60k"):
        pytest.skip("cannot mount a tmpfs here (not root); the injected faults above cover each write")
    try:
        command = [sys.executable, "-m", "bn_study", "experiment", str(SMALL_EXPERIMENT), *SETS, "--seeds", "0",
                   "--out", str(disk / "small"), "--jobs", "2"]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 1, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and done.stderr.count("bn_study: error:") == 1
        assert FULL in done.stderr
        subprocess.run(["mount", "-o", "remount,size=50m", str(disk)], check=True)
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
        assert {results.run_status(p.parent) for p in (disk / "small").glob("*/seed-*/run.json")} == {"complete"}
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_closed_stdout_ends_quietly(tmp_path):
    """`bn-study plot ... | head`: the reader goes away before the table is printed."""
    process = subprocess.Popen([sys.executable, "-m", "bn_study", "plot", str(ROOT / "results/article/bn"),
                                str(ROOT / "results/article/no_bn"), "--out", str(tmp_path / "overlay")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait() in (0, 1) and "Traceback" not in err and "BrokenPipe" not in err, err
