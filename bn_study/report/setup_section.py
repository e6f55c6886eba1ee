"""An experiment report's Setup section, from the runs' files: the data, each model and its
training settings, the seeds, what decides bit-identity (machine, threads, versions, numerics) and
the time it took (summed training, and the wall time of the commands in commands.csv)."""
from __future__ import annotations

import pandas as pd

from bn_study.config.experiment_spec import ExperimentSpec
from bn_study.data.datasets import TITLES, display_path
from bn_study.report.machines import machine_line
from bn_study.report.tables import grid_representatives, grid_setup_line
from bn_study.results import COMMANDS_FILE, RunRecord


def _layer_text(layer: dict) -> str:
    args = ", ".join(f"{k}={v}" for k, v in layer.items() if k != "class")
    return f"{layer['class']}({args})"


def _parameters_text(run: dict) -> str:
    """'433,034 parameters' from run.json (recorded at training since 2026-12-01); older runs did
    not record it, and a report is written from files alone (no TensorFlow): it says so instead."""
    if run.get("parameters"):
        return f"{run['parameters']:,} parameters"
    return "parameters not recorded (run made before 2026-12-01; `bn-study show CONFIG` counts them)"


def setup_section(spec: ExperimentSpec, runs: list[RunRecord], commands: pd.DataFrame) -> str:
    lines = ["## Setup", ""]
    first = runs[0]
    dataset = first.config["data"]["dataset"]
    lines.append(f"- Data: {TITLES.get(dataset, dataset)} from {display_path(first.run.get('data_source', '?'))}: {first.run.get('n_train'):,} training, "
                 f"{first.run.get('n_val'):,} validation (the last {first.config['train']['validation_split']:g} of the "
                 f"training arrays, as Keras' validation_split), {first.run.get('n_test'):,} test images.")
    described = [v for v in spec.all_variants if v in spec.variants or v.name in grid_representatives(spec)]
    for v in described:
        run = next((r for r in runs if r.variant == v.name), None)
        if run is None:
            continue
        c = run.config
        opt = {k: val for k, val in c["optimizer"].items() if k != "class"}
        lines.append(f"- **{v.name}** ({v.config}{', ' + ' '.join(v.set) if v.set else ''}): "
                     f"{len(c['model']['layers'])} layers, {_parameters_text(run.run)}: "
                     + " → ".join(_layer_text(l) for l in c["model"]["layers"]))
        lines.append(f"  - {c['optimizer']['class']}({', '.join(f'{k}={x}' for k, x in opt.items()) or 'Keras defaults'}), "
                     f"loss {c['train']['loss']}, batch {c['train']['batch_size']}, {c['train']['epochs']} epochs, "
                     f"shuffle {c['train']['shuffle']}, op determinism {c['train']['deterministic']}"
                     + (f", precision {c['train']['precision']}" if c["train"].get("precision", "float32") != "float32" else ""))
    if spec.grid:
        lines.append(grid_setup_line(spec))
    seeds = sorted({r.seed for r in runs})
    wall = sum(r.run.get("total_seconds", 0) for r in runs)
    elsewhere = sum(r.run.get("total_seconds", 0) for r in runs if "reused_from" in r.run)
    lines += [f"- Seeds: {', '.join(map(str, seeds))} (experiment lists {', '.join(map(str, spec.seeds))})",
              *device_lines(runs),
              *reused_lines(runs),
              f"- Training time of all runs, summed: {wall / 60:.1f} min"
              + (f" ({elsewhere / 60:.1f} of it the reused runs' own, where they were trained)" if elsewhere else ""),
              *commands_lines(commands, sum(r.run.get("status") == "complete" for r in runs),
                              min((r.run["started"] for r in runs if "started" in r.run), default=None)), ""]
    return "\n".join(lines)


def reused_lines(runs: list[RunRecord]) -> list[str]:
    """Runs copied from another folder instead of trained again (run/reuse.py), and from where."""
    reused = [r for r in runs if "reused_from" in r.run]
    if not reused:
        return []
    sources = ", ".join(f"{r.variant}/seed-{r.seed} ← {r.run['reused_from']['path']}" for r in reused)
    return [f"- Reused: {len(reused)} of these runs were not trained here but copied from a complete run with the "
            f"same config and seed (their run.json names source, commit and machine): {sources}"]


def device_lines(runs: list[RunRecord]) -> list[str]:
    """The machine, threads and versions of the runs: one line, or one per group when runs differ.

    Runs added later (e.g. seeds 3-9 under --jobs 2 at one thread each, after seeds 0-2 ran one at a
    time with TensorFlow's default threads) differ in what decides bit-identity; say so, and which."""
    groups: dict[str, list[RunRecord]] = {}
    for record in runs:
        groups.setdefault(machine_line(record.run), []).append(record)
    if len(groups) == 1:
        return [f"- Device: {next(iter(groups))}"]
    lines = ["- Device: the runs differ in what decides bit-identity (threads, CPU or versions):"]
    for line, group in sorted(groups.items(), key=lambda item: -len(item[1])):
        seeds = ", ".join(map(str, sorted({r.seed for r in group})))
        lines.append(f"  - {len(group)} runs (seeds {seeds}): {line}")
    return lines


def commands_lines(recorded: pd.DataFrame, complete_runs: int, first_started: str | None = None) -> list[str]:
    """The wall time of the experiment commands that trained here (commands.csv), if recorded.

    A command is recorded when it ends; one that was interrupted is not, so the line says how many of
    the complete runs the recorded commands finished. A command that ended before the first run here
    began (`first_started`) trained only runs that have since been deleted and retrained: not counted."""
    if recorded.empty:
        return []
    replaced = (pd.to_datetime(recorded["finished_utc"], utc=True) < pd.Timestamp(first_started)
                if first_started else pd.Series(False, index=recorded.index))
    commands = recorded[~replaced]
    if commands.empty:
        return []
    last = commands.iloc[-1]
    finished = int(commands["complete"].sum())
    unrecorded = (f"; they finished {finished} of the {complete_runs} complete runs, the others were trained "
                  f"(or begun) by commands that were interrupted or ran before {COMMANDS_FILE} was kept"
                  if finished < complete_runs else "")
    earlier = (f" ({int(replaced.sum())} earlier invocation(s) not counted: they ended before the first of "
               f"these runs began, so the runs they trained were replaced)" if replaced.any() else "")
    estimated = commands["estimated_s"] if "estimated_s" in commands else pd.Series(dtype=float)
    estimate = (f" (estimated before they trained, from earlier runs on the same kind of CPU: "
                f"{estimated.sum() / 60:.1f} min)" if len(estimated) and estimated.notna().all() else "")
    return [f"- Wall time of the experiment commands that trained these runs (data check and training; "
            f"{COMMANDS_FILE}): {commands['wall_s'].sum() / 60:.1f} min in {len(commands)} invocation(s){estimate}, "
            f"the last `{last['command']}` on {last['finished_utc'][:10]}{unrecorded}{earlier}"]
