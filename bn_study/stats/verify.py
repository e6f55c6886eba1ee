"""`bn-study verify [RESULTS ...]`: every run folder and every experiment's statistics checked
against what they recorded; one line per problem, and a count.

A run: run.json readable; each data file of a finished run present with the size and SHA-256
run.json recorded when it finished (`files`), a complete run's history one row per epoch of its
config. An experiment's statistics: statistics.json readable, each statistics file with the size and
SHA-256 it recorded, and the runs it counted still there, still finished, with the same files; a
finished run it did not count is named too (the statistics are older than the run).
`--record` first records `files` for finished runs made before run.json kept them (marked as
recorded afterwards), so that later changes to their files show.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from bn_study import results
from bn_study.config.experiment_spec import SPEC_FILE
from bn_study.stats.files import STATISTICS_RECORD, counted_runs

RECORDED_LATER = "files_recorded"  # run.json: when `files` was added after the run finished, and by what


def run_folders(root: Path) -> list[Path]:
    """Every run folder under root (a folder with run.json), damaged copies set aside included."""
    root = Path(root)
    return sorted(p.parent for p in root.rglob(results.RUN_FILE)) if root.is_dir() else []


def run_lines(folder: Path) -> list[str]:
    run = results.checked_run(folder)
    stopped = [results.stopped_line(run)] if results.stopped_while_running(folder, run.run) else []
    return [f"{folder}: {problem}" for problem in run.problems] + stopped


def statistics_lines(experiment_dir: Path) -> list[str]:
    """What is wrong with an experiment folder's spec and statistics files (empty: nothing found)."""
    from bn_study.config.experiment_spec import load_spec
    from bn_study.errors import UserError

    try:  # every view refuses a folder whose spec does not load; verify says so first
        load_spec(experiment_dir / SPEC_FILE)
    except UserError as e:
        return [f"{e}; the experiment's command (`bn-study experiment <its file> --out {experiment_dir}`) writes it again"]
    record_path = experiment_dir / STATISTICS_RECORD
    if not record_path.is_file():
        return [f"{experiment_dir}: no {STATISTICS_RECORD}; `bn-study stats {experiment_dir}` writes the statistics"]
    try:
        record = results.read_json(record_path)
        counted = counted_runs(experiment_dir)
    except ValueError:
        return [f"{record_path}: unreadable JSON; `bn-study stats {experiment_dir}` writes it again"]
    lines = []
    for name, facts in record.get("files", {}).items():
        path = experiment_dir / name
        if not path.is_file():
            lines.append(f"{path}: missing")
        elif results.file_facts(path) != facts:
            lines.append(f"{path}: differs from what `bn-study stats` wrote (size or SHA-256)")
    for key, then in counted.items():
        folder = experiment_dir / key
        try:
            now = results.read_json(folder / results.RUN_FILE) if (folder / results.RUN_FILE).is_file() else None
        except ValueError:
            continue  # an unreadable run.json: its own line says so
        if now is None:
            lines.append(f"{folder}: counted in {STATISTICS_RECORD} but gone")
        elif then.get("files") and now.get(results.FILES_KEY) != then["files"]:
            lines.append(f"{folder}: its files changed since the statistics counted it; `bn-study stats "
                         f"{experiment_dir}` recomputes them")
    for folder in sorted(p for p in experiment_dir.glob(f"*/{results.RUN_DIR_PREFIX}*")
                         if p.is_dir() and not (p / results.RUN_FILE).exists()):
        if any(folder.iterdir()):
            lines.append(f"{folder}: files without a {results.RUN_FILE} (the run's record is gone); the experiment's "
                         "command trains it again")
    for folder in (p.parent for p in results.run_files(experiment_dir)):
        try:  # the run's own files were checked by run_lines; here only whether the statistics know it
            finished = results.read_json(folder / results.RUN_FILE).get("status") in results.FINAL
        except ValueError:
            continue
        key = f"{folder.parent.name}/{folder.name}"
        if finished and key not in counted and key not in record.get("left_out", {}):
            lines.append(f"{folder}: finished but not in the statistics; `bn-study stats {experiment_dir}` counts it")
    return lines


def verify(roots: list[Path]) -> tuple[list[str], int]:
    """(one line per problem, number of run folders and experiments checked)."""
    lines, checked = [], 0
    for root in map(Path, roots):
        if not root.exists():
            lines.append(f"{root}: no such file or folder")
            continue
        for folder in run_folders(root):
            lines += run_lines(folder)
            checked += 1
        experiments = [root] if (root / SPEC_FILE).is_file() else sorted(p.parent for p in root.rglob(SPEC_FILE))
        for experiment_dir in experiments:
            lines += statistics_lines(experiment_dir)
            checked += 1
    return lines, checked


def record_missing_files(roots: list[Path]) -> int:
    """Add `files` to finished runs that have none and are sound now; returns how many."""
    added = 0
    for folder in (f for root in roots for f in run_folders(Path(root))):
        try:
            record = results.read_json(folder / results.RUN_FILE)
        except ValueError:
            continue  # unreadable: verify names it
        if record.get("status") in results.FINAL and results.FILES_KEY not in record and not results.run_problems(folder, record):
            record[results.FILES_KEY] = results.record_files(folder)
            record[RECORDED_LATER] = f"{datetime.now(timezone.utc):%Y-%m-%d} by bn-study verify --record, after the run"
            results.write_json(folder / results.RUN_FILE, record)
            added += 1
    return added
