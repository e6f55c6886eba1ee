"""The files of a run directory: atomic writes, run.json status, the one-writer lock, reading back,
and checking them.

results/<experiment>/<variant>/seed-<k>/ holds config.yaml, run.json, history.csv, metrics.json
(and, while a run is unfinished, backup/ for Keras' BackupAndRestore). Plots and reports read
only these files. When a run finishes, run.json records the size and SHA-256 of each data file it
wrote (`files`); every reader checks them (run_problems), and a run whose files do not match, or
cannot be read, counts as damaged: never complete, left out of every statistic, and retrained by
the command that made it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
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
DAMAGED = "damaged"  # a finished run whose files no longer match what it recorded, or cannot be read
FILES_KEY = "files"  # run.json: {name: {bytes, sha256}} of each data file, recorded when the run finished
# The files a run's numbers come from (figures are redrawn from them, so not recorded).
DATA_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, STEPS_FILE, PROBE_FILE, LANDSCAPE_FILE, STEP_LOSS_FILE)


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
    """A JSON object from a file; ValueError when the file holds no JSON object."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{Path(path).name}: expected a JSON object, got {type(data).__name__}")
    return data


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


RUNNING = "running"


def stopped_while_running(directory: Path, record: dict) -> bool:
    """run.json says running, but no live process holds the run's lock: the process that trained it
    died (killed, out of memory, a full disk that refused even its last record). Runs recorded on
    another machine are never judged from here."""
    import socket

    if record.get("status") != RUNNING or record.get("host") not in (None, socket.gethostname()):
        return False
    try:
        pid = int((Path(directory) / LOCK_FILE).read_text().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    return not (pid and _alive(pid))


def stopped_line(run: "RunRecord") -> str:
    """One line naming a run stopped while running, and the command that resumes it."""
    command = run.run.get("command") or "the command that made it"
    return (f"{run.directory}: stopped while running (attempt {run.run.get('attempts', '?')}, its process "
            f"{run.run.get('pid', '?')} is gone); `{command}` resumes it")


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


def file_facts(path: Path) -> dict:
    """{bytes, sha256} of one file."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"bytes": Path(path).stat().st_size, "sha256": digest}


def record_files(directory: Path) -> dict:
    """run.json's `files`: size and SHA-256 of each data file the run wrote."""
    return {name: file_facts(Path(directory) / name) for name in DATA_FILES if (Path(directory) / name).is_file()}


# What reading a damaged run folder raises: missing or unreadable files, bad JSON, YAML or CSV.
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, yaml.YAMLError, pd.errors.ParserError)


def unreadable(error: Exception) -> str:
    """'unreadable (ParserError: ...)': a read error as one short phrase."""
    return f"unreadable ({type(error).__name__}: {str(error).splitlines()[0][:100] if str(error) else ''})"


def run_problems(directory: Path, record: dict, history: pd.DataFrame | None = None) -> list[str]:
    """What is wrong with a finished run's files, one phrase each (empty: nothing found).

    Recorded files must be there with their size and hash; a complete run needs its history (one
    row per epoch of its config) and metrics.json; every CSV and JSON must parse. `history`: the
    history.csv a caller has read already."""
    directory, problems = Path(directory), []
    for name, facts in (record.get(FILES_KEY) or {}).items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != facts.get("bytes") or file_facts(path)["sha256"] != facts.get("sha256"):
            problems.append(f"{name} differs from what the run wrote (size or SHA-256)")
    if problems or record.get("status") != COMPLETE:
        return problems
    try:
        rows = len(history if history is not None else pd.read_csv(directory / HISTORY_FILE))
        epochs = (yaml.safe_load((directory / CONFIG_FILE).read_text()) or {})["train"]["epochs"]
        json.loads((directory / METRICS_FILE).read_text())
    except READ_ERRORS as e:
        return [unreadable(e)]
    if rows != epochs:
        problems.append(f"history.csv has {rows} epochs, its config {epochs}")
    return problems


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
    problems: tuple[str, ...] = ()  # why a finished run counts as damaged (its run.json status says damaged)

    @property
    def complete(self) -> bool:
        return self.run.get("status") == COMPLETE


def run_status(directory: Path) -> str | None:
    """The status in run.json, or None when the run has not started; DAMAGED when run.json cannot be
    read or a finished run's files do not match what it recorded."""
    path = Path(directory) / RUN_FILE
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return DAMAGED
    status = record.get("status")
    return DAMAGED if status in FINAL and run_problems(directory, record) else status


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


def checked_run(directory: Path) -> RunRecord:
    """A run read back and checked: a damaged one (unreadable, or files unlike what it recorded) has
    status DAMAGED (its recorded status kept as `recorded_status`) and says why in `problems`."""
    directory = Path(directory)
    try:
        run = read_run(directory)
    except READ_ERRORS as e:
        seed = directory.name.removeprefix(RUN_DIR_PREFIX)
        return RunRecord(directory, directory.parent.name, int(seed) if seed.isdigit() else -1, {},
                         {"status": DAMAGED}, pd.DataFrame(), {}, pd.DataFrame(), pd.DataFrame(),
                         problems=(unreadable(e),))
    problems = run_problems(directory, run.run, run.history) if run.run.get("status") in FINAL else []
    if not problems:
        return run
    return dataclasses.replace(run, run={**run.run, "status": DAMAGED, "recorded_status": run.run.get("status")},
                               problems=tuple(problems))


RUN_DIR_PREFIX = "seed-"
# history.csv's columns that measure the machine, not the model: they differ between identical runs.
CLOCK_COLUMNS = ("seconds", "val_seconds", "cpu_seconds")


def numbers_columns(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """The history columns two runs share, but the clock's: what bit-identity compares."""
    return [c for c in a.columns if c not in CLOCK_COLUMNS and c in b.columns]


def bit_identical(history_a: pd.DataFrame, metrics_a: dict, history_b: pd.DataFrame, metrics_b: dict) -> bool:
    """The one definition: the same epochs, every history value but the clock's and every test metric
    equal to the last bit."""
    columns = numbers_columns(history_a, history_b)
    return (len(history_a) == len(history_b) and history_a[columns].equals(history_b[columns])
            and metrics_a == metrics_b)


def run_dir(out: Path, variant: str, seed: int) -> Path:
    """Where an experiment keeps a variant's run at one seed: <out>/<variant>/seed-<k>."""
    return Path(out) / variant / f"{RUN_DIR_PREFIX}{seed}"


def run_files(folder: Path, variant_folder: bool = False) -> list[Path]:
    """The run.json of every run in an experiment's folder (<variant>/seed-*), or with `variant_folder`
    in a variant's (seed-*), sorted."""
    return sorted(Path(folder).glob(("" if variant_folder else "*/") + f"{RUN_DIR_PREFIX}*/{RUN_FILE}"))


def find_runs(results_dir: Path) -> list[RunRecord]:
    """Every run under results_dir/<variant>/seed-<k>/ (complete or not, damaged ones marked), in a stable order."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"{results_dir}: no such results directory")
    runs = [checked_run(p.parent) for p in run_files(results_dir)]
    return sorted(runs, key=lambda r: (r.variant, r.seed))


def damaged_line(run: RunRecord) -> str:
    """One line naming a damaged run, what is wrong and what to do."""
    return (f"{run.directory}: damaged ({'; '.join(run.problems)}); left out; the command that made it retrains "
            "it (the damaged folder is kept beside it)")
