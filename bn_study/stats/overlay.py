"""Any runs side by side (`bn-study plot RUN VARIANT EXPERIMENT ...`): the folders named resolved
into groups of complete runs, each group's figures over its seeds, and where a single run falls in
the spread of a group of several seeds (its rank and the group's 95% prediction interval)."""
from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bn_study.config.experiment_spec import SPEC_FILE, load_spec
from bn_study.errors import UserError
from bn_study.results import COMPLETE, RUN_FILE, RunRecord, checked_run, run_files, write_text
from bn_study.stats.aggregate import curves_table
from bn_study.stats.labels import label
from bn_study.stats.summary import summarize_run

SPREAD_FIGURES = ("test_accuracy", "best_val_accuracy", "final_val_accuracy")


@dataclass(frozen=True)
class Group:
    """Runs drawn as one line (one run) or one band (several seeds)."""

    label: str
    runs: tuple[RunRecord, ...]

    @property
    def dataset(self) -> str:
        return self.runs[0].config["data"]["dataset"]


def _read(directory: Path) -> RunRecord:
    """A run folder read back; UserError in one line when a file is damaged."""
    run = checked_run(directory)
    if run.problems:
        raise UserError(f"{directory}: damaged run folder ({'; '.join(run.problems)}); rerun the command that made it")
    missing = {"epoch", "accuracy", "val_accuracy", "loss", "val_loss"} - set(run.history.columns)
    if run.complete and missing:
        raise UserError(f"{directory}: history.csv has no {', '.join(sorted(missing))} column; rerun the command "
                        "that made it")
    return run


def _complete(directory: Path, runs: list[RunRecord]) -> list[RunRecord]:
    done = [r for r in runs if r.complete]
    if not done:
        raise UserError(f"{directory}: no complete run (statuses: {', '.join(sorted({str(r.run.get('status')) for r in runs}))})")
    return done


def resolve(paths: list[Path]) -> list[Group]:
    """Each folder as groups: a run folder (run.json) is one run, a variant folder (seed-*/run.json)
    its complete seeds, an experiment folder (experiment.yaml) one group per variant."""
    groups = []
    for path in map(Path, paths):
        if (path / RUN_FILE).is_file():
            run = _read(path)
            if run.run.get("status") != COMPLETE:
                raise UserError(f"{path}: the run is {run.run.get('status')}, not complete; finish it with the "
                                "command that started it")
            groups.append(Group(str(path), (run,)))
        elif (path / SPEC_FILE).is_file():
            for variant in load_spec(path / SPEC_FILE).all_variants:
                seeds = run_files(path / variant.name, variant_folder=True)
                if seeds:
                    groups.append(Group(f"{path}/{variant.name}",
                                        tuple(_complete(path / variant.name, [_read(s.parent) for s in seeds]))))
        elif seeds := run_files(path, variant_folder=True):
            groups.append(Group(str(path), tuple(_complete(path, [_read(s.parent) for s in seeds]))))
        else:
            raise UserError(f"{path}: not a run folder ({RUN_FILE}), a variant folder (seed-*/{RUN_FILE}) or an "
                            f"experiment folder ({SPEC_FILE})" + ("" if path.exists() else ": no such folder"))
    unique: dict[str, Group] = {}
    for group in groups:  # a folder named twice (itself, and inside an experiment) counts once
        unique.setdefault(group.label, group)
    groups = list(unique.values())
    datasets = {g.dataset for g in groups}
    if len(datasets) > 1:
        by = "; ".join(f"{g.label}: {g.dataset}" for g in groups)
        raise UserError(f"runs of different data sets cannot share a figure ({by}); overlay one data set at a time")
    return groups


def group_differences(groups: list[Group]) -> list[tuple[str, list]]:
    """Each group after the first with its resolved config's differences from the first group's (each
    group's first run; seeds aside): what the overlay compares."""
    from bn_study.config.differences import config_differences

    first = groups[0].runs[0].config
    return [(g.label, config_differences(first, g.runs[0].config)) for g in groups[1:]]


def group_curves(groups: list[Group]) -> pd.DataFrame:
    """curves.csv's bands with one 'variant' per group (its label)."""
    return curves_table([dataclasses.replace(r, variant=g.label) for g in groups for r in g.runs])


def group_table(groups: list[Group], thresholds: tuple[float, ...]) -> pd.DataFrame:
    """One row per group and figure: n, mean, std, and each run's value."""
    rows = []
    figures = [*SPREAD_FIGURES, *(f"epochs_to_val_{t:g}" for t in thresholds)]
    for g in groups:
        summary = pd.DataFrame([summarize_run(r, thresholds) for r in g.runs])
        for figure in figures:
            values = summary[figure].astype(float)
            reached = values.dropna()
            rows.append({"group": g.label, "figure": figure, "label": label(figure), "runs": len(values),
                         "n": len(reached), "mean": reached.mean() if len(reached) else np.nan,
                         "std": reached.std(ddof=1) if len(reached) > 1 else np.nan,
                         "values": " ".join(f"{v:.6g}" for v in values)})
    return pd.DataFrame(rows)


def prediction_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Where one more run of the same kind falls with probability `level` (Student t, n - 1 df)."""
    n, mean, std = len(values), values.mean(), values.std(ddof=1)
    half = stats.t.ppf(0.5 + level / 2, df=n - 1) * std * np.sqrt(1 + 1 / n)
    return mean - half, mean + half


def placements(groups: list[Group]) -> pd.DataFrame:
    """For every single run against every group of several seeds, figure by figure: its value, how many
    reference seeds lie below, above and equal, and the reference's 95% prediction interval."""
    rows = []
    for single in (g for g in groups if len(g.runs) == 1):
        mine = summarize_run(single.runs[0], ())
        for reference in (g for g in groups if len(g.runs) > 1):
            theirs = pd.DataFrame([summarize_run(r, ()) for r in reference.runs])
            for figure in SPREAD_FIGURES:
                values = theirs[figure].astype(float).dropna().to_numpy()
                low, high = prediction_interval(values)
                value = float(mine[figure])
                rows.append({"run": single.label, "reference": reference.label, "figure": figure, "label": label(figure),
                             "value": value, "n_reference": len(values), "reference_below": int((values < value).sum()),
                             "reference_above": int((values > value).sum()), "reference_equal": int((values == value).sum()),
                             "pi95_low": low, "pi95_high": high})
    return pd.DataFrame(rows)


OVERLAY_CSV, PLACEMENTS_CSV = "overlay.csv", "placements.csv"


def write_placements(table: pd.DataFrame, out: Path) -> Path | None:
    """placements.csv (placements' rows, full precision) when the overlay places a single run."""
    if table.empty:
        return None
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / PLACEMENTS_CSV, table.to_csv(index=False))
    return out / PLACEMENTS_CSV


def write_group_table(table: pd.DataFrame, out: Path) -> Path:
    """overlay.csv: group_table's rows, at full precision."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / OVERLAY_CSV, table.to_csv(index=False))
    return out / OVERLAY_CSV


def slug(paths: list[Path]) -> str:
    """A folder name for an overlay of these inputs."""
    text = "+".join(re.sub(r"[^\w.=-]+", "_", str(Path(p)).removeprefix("results/")) for p in paths)
    return text if len(text) <= 100 else text[:87] + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]
