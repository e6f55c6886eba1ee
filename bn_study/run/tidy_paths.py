"""`bn-study tidy-paths DIR...`: rewrite the machine paths that runs before 2026-11-30 recorded.

Older runs recorded `data_source` in run.json as an absolute path (the home folder spelled out)
and `--jobs` wrote the run folder's absolute path atop train.log. New runs record the first as
~-relative and the second as given on the command line. This rewrites only those two places, the
same way (data.display_path; the folder relative to the working directory), and touches nothing a
run measured; it is safe to run twice.
"""
from __future__ import annotations

import os
from pathlib import Path

from bn_study.data.datasets import display_path
from bn_study.results import RUN_FILE, read_json, write_json, write_text

LOG_FILE = "train.log"


def _relative(text: str, root: Path) -> str:
    """Absolute paths inside `root` (the working directory) written relative to it."""
    return text.replace(f"{root}{os.sep}", "")


def tidy_run(run_dir: Path, root: Path) -> list[Path]:
    """Rewrite one run folder's recorded paths; returns the files changed."""
    changed = []
    run_file = run_dir / RUN_FILE
    record = read_json(run_file)
    source = record.get("data_source")
    if isinstance(source, str) and display_path(source) != source:
        write_json(run_file, {**record, "data_source": display_path(source)})
        changed.append(run_file)
    log = run_dir / LOG_FILE
    if log.is_file():
        lines = log.read_text().splitlines(keepends=True)
        if lines and _relative(lines[0], root) != lines[0]:
            write_text(log, "".join([_relative(lines[0], root), *lines[1:]]))
            changed.append(log)
    return changed


def tidy_paths(results_dirs: list[Path], root: Path | None = None) -> list[Path]:
    """Every run folder (…/seed-<k>/ with a run.json) under results_dirs; returns the files changed."""
    root = (root or Path.cwd()).resolve()
    changed = []
    for results_dir in results_dirs:
        for run_file in sorted(Path(results_dir).glob(f"**/seed-*/{RUN_FILE}")):
            changed += tidy_run(run_file.parent, root)
    return changed
