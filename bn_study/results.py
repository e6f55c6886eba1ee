"""The files of a run directory: atomic writes, run.json status, the one-writer lock, reading back.

results/<experiment>/<variant>/seed-<k>/ holds config.yaml, run.json, history.csv, metrics.json
(and, while a run is unfinished, backup/ for Keras' BackupAndRestore). Plots and reports read
only these files.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd
import yaml

from bn_study.errors import UserError

CONFIG_FILE, RUN_FILE, HISTORY_FILE, METRICS_FILE = "config.yaml", "run.json", "history.csv", "metrics.json"
BACKUP_DIR, LOCK_FILE = "backup", ".lock"
SHRUNK_FILE = "shrunk.json"  # the --set overrides and --seeds that made an experiment differ from its file
COMMANDS_FILE = "commands.csv"  # one row per experiment command that trained here: its wall time
PROBE_FILE, STEPS_FILE = "probe.csv", "steps.csv"  # written only when the config asks (train/probe.py, train/steps.py)
LANDSCAPE_FILE = "landscape.csv"  # written only when the config asks (train/landscape.py)
STEP_LOSS_FILE = "step_loss.csv"  # train.step_loss: each step's training loss (train/step_loss.py)
TENSORBOARD_DIR = "tensorboard"  # train.tensorboard: Keras' TensorBoard event files
COMPLETE, DIVERGED = "complete", "diverged"
FINAL = (COMPLETE, DIVERGED)  # a rerun would give the same: never retrained


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    """Write a whole file or nothing."""
    write_bytes(path, text.encode())


def write_bytes(path: Path, data: bytes) -> None:
    """Write a whole file or nothing."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def append_row(path: Path, row: dict) -> None:
    """Add one row to a CSV table (created with a header if absent), atomically."""
    path = Path(path)
    old = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    write_text(path, pd.concat([old, pd.DataFrame([row])], ignore_index=True).to_csv(index=False))


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


@contextlib.contextmanager
def lock(directory: Path) -> Iterator[None]:
    """Hold directory/.lock for this process; a live holder is an error, a dead one is replaced."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise UserError(f"{path}: held by running process {pid}; wait for it or stop it") from None
            path.unlink(missing_ok=True)  # stale: its process is gone
    else:
        raise UserError(f"{path}: could not take the lock; delete it if no run is active")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pack_run(directory: Path) -> dict[str, bytes]:
    """Every file of a run directory (backup/ included) by its relative path: a run that travels."""
    directory = Path(directory)
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE and not p.name.endswith(".tmp")}


def unpack_run(files: dict[str, bytes], directory: Path) -> None:
    """Write a packed run into `directory`: each file atomically, run.json last, since its status
    is what says the rest is complete; a final run's backup/ is removed."""
    directory = Path(directory)
    for name, data in sorted(files.items(), key=lambda item: item[0] == RUN_FILE):
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(directory / name, data)
    if run_status(directory) in FINAL:
        shutil.rmtree(directory / BACKUP_DIR, ignore_errors=True)


@dataclass(frozen=True)
class RunRecord:
    """One run read back from its directory."""

    directory: Path
    variant: str
    seed: int
    config: dict
    run: dict
    history: pd.DataFrame
    metrics: dict
    steps: pd.DataFrame  # steps.csv: test accuracy every N steps (empty when not recorded)
    probe: pd.DataFrame  # probe.csv (empty when the probe was off)
    landscape: pd.DataFrame = field(default_factory=pd.DataFrame)  # landscape.csv (empty when not measured)
    step_loss: pd.DataFrame = field(default_factory=pd.DataFrame)  # step_loss.csv (empty when not recorded)

    @property
    def complete(self) -> bool:
        return self.run.get("status") == COMPLETE


def run_status(directory: Path) -> str | None:
    """The status in run.json, or None when the run has not started."""
    path = Path(directory) / RUN_FILE
    return read_json(path).get("status") if path.is_file() else None


def read_run(directory: Path, variant: str | None = None) -> RunRecord:
    directory = Path(directory)
    run = read_json(directory / RUN_FILE)
    # A run that has just started has an empty history.csv (CSVLogger opens it before epoch 1).
    history, steps, probe, landscape, step_loss = (
        pd.read_csv(directory / name) if (directory / name).is_file() and (directory / name).stat().st_size
        else pd.DataFrame() for name in (HISTORY_FILE, STEPS_FILE, PROBE_FILE, LANDSCAPE_FILE, STEP_LOSS_FILE))
    metrics_path = directory / METRICS_FILE
    return RunRecord(
        directory=directory,
        variant=variant or run.get("variant") or directory.parent.name,
        seed=int(run["seed"]),
        config=yaml.safe_load((directory / CONFIG_FILE).read_text()),
        run=run,
        history=history,
        metrics=read_json(metrics_path) if metrics_path.is_file() else {},
        steps=steps,
        probe=probe,
        landscape=landscape,
        step_loss=step_loss,
    )


def find_runs(results_dir: Path) -> list[RunRecord]:
    """Every run under results_dir/<variant>/seed-<k>/ (complete or not), in a stable order."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"{results_dir}: no such results directory")
    runs = [read_run(p.parent) for p in results_dir.glob(f"*/seed-*/{RUN_FILE}")]
    return sorted(runs, key=lambda r: (r.variant, r.seed))
