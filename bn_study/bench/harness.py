"""One way to benchmark: arms alternated round by round (so a slow spell of the machine hits every
arm alike), ratios to the first arm of the same round, and a measurement written as bench.csv plus a
README.md that names the command exactly as it was typed and the machine it ran on."""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from bn_study.results import write_text


def alternate(arms: list[str], rounds: int, measure: Callable[[str], dict], log=print,
              describe: Callable[[dict], str] = str, label: str = "") -> list[dict]:
    """measure(arm) for every arm, `rounds` times over, arm after arm; each row gets its round."""
    rows = []
    for round_ in range(1, rounds + 1):
        for arm in arms:
            row = {"round": round_, **measure(arm)}
            log(f"[{label}round {round_}] {arm}: {describe(row)}")
            rows.append(row)
    return rows


def add_ratios(table: pd.DataFrame, baseline: str, columns: dict[str, str], within: list[str]) -> pd.DataFrame:
    """For each `column: name`, the column divided by the `baseline` arm's row with the same `within` keys
    (e.g. the same model and round), as `name` + baseline."""
    base = table[table["arm"] == baseline].set_index(within)
    same = pd.MultiIndex.from_frame(table[within]) if len(within) > 1 else pd.Index(table[within[0]])
    for column, name in columns.items():
        table[name + baseline] = (table[column] / base[column].reindex(same).to_numpy()).round(3)
    return table


def machine_lines(extra: str = "") -> list[str]:
    """The device, TensorFlow's threads in this process, and the versions: the header of a measurement."""
    from bn_study.train.quiet_tensorflow import import_tensorflow

    tf = import_tensorflow()
    import keras

    from bn_study.train.machine import cpu_kind, device_description

    threads = (f"TensorFlow intra-op {tf.config.threading.get_intra_op_parallelism_threads() or 'default (all cores)'}, "
               f"inter-op {tf.config.threading.get_inter_op_parallelism_threads() or 'default'} in this process")
    return [f"- Device: {device_description()} (kind {cpu_kind()}); {threads}",
            f"- Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}{extra}"]


def write_measurement(out: Path, title: str, command: str, table: pd.DataFrame, summary: pd.DataFrame,
                      explanation: str, machine: list[str]) -> list[Path]:
    """bench.csv (every row) and README.md (the command as typed, what the rows are, the summary, the machine)."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bench.csv", table.to_csv(index=False))
    write_text(out / "README.md", "\n".join([
        f"# {title}", "", f"Written by `{command}` on {time.strftime('%Y-%m-%d')}.", "", explanation, "",
        "```\n" + summary.to_string(index=False) + "\n```", "", *machine, ""]))
    return [out / "bench.csv", out / "README.md"]
