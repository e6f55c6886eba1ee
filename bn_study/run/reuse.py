"""No run trained twice: before an experiment trains a run, a complete run with the same fingerprint
(the same resolved config and seed) anywhere under the results folder is copied in instead, and its
run.json says where it came from, from which commit and on which machine."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from bn_study import results

REUSED_KEY = "reused_from"
LEFT_BEHIND = (results.BACKUP_DIR, results.TENSORBOARD_DIR)  # not part of a finished run's record


def complete_runs(root: Path, exclude: Path | None = None) -> dict[str, list[Path]]:
    """Every complete run folder under `root` (but under `exclude`) by fingerprint, originals before
    copies, then by path."""
    found: dict[str, list[tuple[bool, str, Path]]] = {}
    exclude = Path(exclude).resolve() if exclude else None
    for run_json in Path(root).rglob(results.RUN_FILE):
        folder = run_json.parent
        if exclude and folder.resolve().is_relative_to(exclude):
            continue
        try:
            record = results.read_json(run_json)
        except (OSError, ValueError):
            continue  # damaged: never a source
        if record.get("status") == results.COMPLETE and record.get("fingerprint") and not run_json.parent.name.startswith("damaged-"):
            found.setdefault(record["fingerprint"], []).append((REUSED_KEY in record, str(folder), folder))
    return {key: [folder for *_, folder in sorted(folders)] for key, folders in found.items()}


def sound(folders: list[Path]) -> Path | None:
    """The first folder whose files match what its run recorded (run_problems finds nothing)."""
    for folder in folders:
        if not results.run_problems(folder, results.read_json(folder / results.RUN_FILE)):
            return folder
    return None


def reuse_run(source: Path, target: Path, variant: str) -> dict:
    """Copy a complete run into `target` as a run of `variant` (run.json last, naming its source and the
    variant it had there); the new run.json."""
    files = {name: data for name, data in results.pack_run(source).items()
             if name.split("/")[0] not in LEFT_BEHIND}
    record = json.loads(files[results.RUN_FILE])
    record[REUSED_KEY] = {"path": str(source), "variant": record.get("variant"), "commit": record.get("commit"),
                          "host": record.get("host"),
                          "device": record.get("device"), "cpu": (record.get("cpu") or {}).get("model"),
                          "reused_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    record["variant"] = variant  # the same run, named as this experiment names it
    files[results.RUN_FILE] = (json.dumps(record, indent=2) + "\n").encode()
    results.unpack_run(files, target)
    return record
