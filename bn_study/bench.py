"""Side-by-side benchmark: bn_study's `run` path against the article's plain Keras script.

Each measurement is a separate process (fresh TensorFlow, own peak RSS), arms alternate
A B A B ... for `pairs` rounds, and the first epoch of every process is warm-up, excluded. Seconds
per epoch are wall time from epoch begin to epoch end (training steps + validation), as
history.csv's `seconds`; for bn_study arms `median_val_s` is the validation pass alone. Arms:
- reference: the article's script (Sequential, fit on NumPy arrays with validation_split),
- reference_tf_data: the same script fed a tf.data pipeline of the same arrays (cache, shuffle
  each epoch, batch 250, prefetch; the last 20% for validation, as validation_split takes it),
- reference_tf_data_uint8: the same pipeline over uint8 images, scaled to [0, 1] batch by batch
  (the same float32 values: x / 255 is one correctly rounded division either way),
- bn_study: `python -m bn_study run` with its callbacks and files,
- bn_study_probe: the same with the probe on (cost of looking inside),
- bn_study_nondeterministic: the same with train.deterministic=false (cost of op determinism),
Any arm may take `:KEY=VALUE;KEY=VALUE`: a KEY in capitals is an environment variable of that
process (e.g. TF_NUM_INTRAOP_THREADS=1), any other a --set override of a bn_study arm.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bn_study.errors import UserError
from bn_study.results import write_text

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"no_bn": ROOT / "configs/article_no_bn.yaml", "bn": ROOT / "configs/article_bn.yaml"}
PROBES = {"no_bn": "probe.layers=[0,2,5]", "bn": "probe.layers=[0,4,9]"}
ARMS = ("reference", "reference_tf_data", "reference_tf_data_uint8", "bn_study", "bn_study_probe",
        "bn_study_nondeterministic")


def parse_arm(arm: str) -> tuple[str, dict[str, str], list[str]]:
    """'bn_study:TF_NUM_INTRAOP_THREADS=1;train.shuffle=true' -> (base arm, environment, --set overrides)."""
    base, _, extra = arm.partition(":")
    if base not in ARMS:
        raise UserError(f"--arms: unknown '{base}'; known: {', '.join(ARMS)}")
    env, sets = {}, []
    for part in filter(None, extra.split(";")):
        key, sep, _ = part.partition("=")
        if not sep or not key:
            raise UserError(f"--arms {arm}: '{part}' is not KEY=VALUE")
        if key.isupper():
            env[key] = part.split("=", 1)[1]
        elif base.startswith("reference"):
            raise UserError(f"--arms {arm}: reference arms take only environment variables (NAME=VALUE in capitals)")
        else:
            sets.append(part)
    return base, env, sets


def _tf_data(x, y, batch_size: int, shuffle: bool):
    """A tf.data pipeline over in-memory arrays; uint8 images are scaled to float32 [0, 1] per batch."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        data = data.shuffle(len(x), seed=0, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    if x.dtype == "uint8":
        data = data.map(lambda images, labels: (tf.cast(images, tf.float32) / 255, labels),
                        num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def reference_main(model_name: str, epochs: int, train_limit: int | None, data_path: str | None, dataset: str,
                   feed: str = "reference") -> None:
    """The article's script, plain Keras; prints its epoch times as JSON on the last line."""
    import keras

    from bn_study.data import load_mnist

    mnist = load_mnist(data_path, dataset, log=lambda m: None)  # the same verified arrays
    x = mnist.x_train[:train_limit].reshape(-1, 28, 28, 1)
    x = x if feed == "reference_tf_data_uint8" else x.astype("float32") / 255
    y = mnist.y_train[:train_limit]
    keras.utils.set_random_seed(0)
    L = keras.layers
    layers = [L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
              L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
              L.Flatten(), L.Dense(256, activation="relu"), L.Dense(10, activation="softmax")]
    if model_name == "bn":
        for position in (6, 4, 3, 2, 1):  # after Dense(256), pool, conv, pool, conv
            layers.insert(position, L.BatchNormalization())
    model = keras.Sequential([keras.Input((28, 28, 1)), *layers])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])
    times, start = [], [0.0]
    clock = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: start.__setitem__(0, time.perf_counter()),
        on_epoch_end=lambda e, logs: times.append(time.perf_counter() - start[0]))
    if feed == "reference":
        model.fit(x, y, batch_size=250, epochs=epochs, validation_split=0.2, verbose=0, callbacks=[clock])
    else:
        split_at = int(len(x) * 0.8)
        model.fit(_tf_data(x[:split_at], y[:split_at], 250, shuffle=True), epochs=epochs, verbose=0, callbacks=[clock],
                  validation_data=_tf_data(x[split_at:], y[split_at:], 250, shuffle=False))
    print(json.dumps({"seconds": times, "n_train": int(len(x) * 0.8)}))


def _command(arm: str, model: str, epochs: int, shrink: list[str], out: Path) -> list[str]:
    base, _, arm_sets = parse_arm(arm)
    if base.startswith("reference"):
        limit = next((s.split("=")[1] for s in shrink if s.startswith("data.train_limit=")), "none")
        path = next((s.split("=", 1)[1] for s in shrink if s.startswith("data.path=")), "none")
        dataset = next((s.split("=")[1] for s in shrink if s.startswith("data.dataset=")), "mnist")
        return [sys.executable, "-m", "bn_study.bench", model, str(epochs), limit, path, dataset, base]
    sets = [f"train.epochs={epochs}", *shrink]
    if base == "bn_study_probe":
        sets.append(PROBES[model])
    if base == "bn_study_nondeterministic":
        sets.append("train.deterministic=false")
    sets += arm_sets
    return [sys.executable, "-m", "bn_study", "run", str(CONFIGS[model]), "--out", str(out),
            *[a for s in sets for a in ("--set", s)]]


def measure(arm: str, model: str, epochs: int, shrink: list[str]) -> dict:
    """Run one process; its per-epoch seconds (first excluded) and its own peak RSS (wait4)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, stdout, stderr = Path(tmp) / "run", Path(tmp) / "stdout", Path(tmp) / "stderr"
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", **parse_arm(arm)[1])
        with open(stdout, "w") as so, open(stderr, "w") as se:
            proc = subprocess.Popen(_command(arm, model, epochs, shrink, out), env=env, stdout=so, stderr=se)
            _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{arm} {model} failed: {stderr.read_text().strip().splitlines()[-1:]}")
        if arm.startswith("reference"):
            report = json.loads(stdout.read_text().strip().splitlines()[-1])
            seconds, n_train = report["seconds"], report["n_train"]
            validation = None
        else:
            history = pd.read_csv(out / "history.csv")
            seconds = history["seconds"].tolist()
            validation = statistics.median(history["val_seconds"].iloc[1:] if len(history) > 1 else history["val_seconds"])
            n_train = json.loads((out / "run.json").read_text())["n_train"]
    steady = seconds[1:] or seconds
    per_epoch = statistics.median(steady)
    return {"arm": arm, "model": model, "epochs_timed": len(steady), "median_epoch_s": round(per_epoch, 3),
            "median_val_s": None if validation is None else round(validation, 3),
            "samples_per_s": round(n_train / per_epoch, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def run_bench(models: list[str], arms: list[str], epochs: int, pairs: int, shrink: list[str], out: Path,
              log=print) -> pd.DataFrame:
    """Alternate the arms for each model `pairs` times; write bench.csv and README.md in `out`."""
    rows = []
    for model in models:
        for pair in range(1, pairs + 1):
            for arm in arms:
                row = {"pair": pair, **measure(arm, model, epochs, shrink)}
                log(f"[{model} pair {pair}] {arm}: {row['median_epoch_s']} s/epoch, "
                    f"{row['samples_per_s']} samples/s, peak RSS {row['peak_rss_mb']} MB")
                rows.append(row)
    table = pd.DataFrame(rows)
    base = table[table["arm"] == arms[0]].set_index(["model", "pair"])["median_epoch_s"]
    table["ratio_to_" + arms[0]] = [round(r.median_epoch_s / base[(r.model, r.pair)], 3) for r in table.itertuples()]
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "bench.csv", table.to_csv(index=False))
    write_text(out / "README.md", _readme(table, arms, epochs, pairs, shrink))
    return table


def _readme(table: pd.DataFrame, arms: list[str], epochs: int, pairs: int, shrink: list[str]) -> str:
    import keras
    import tensorflow as tf

    from bn_study.training import device_description

    ratio = "ratio_to_" + arms[0]
    summary = table.groupby(["model", "arm"], sort=False).agg(
        median_epoch_s=("median_epoch_s", "median"), median_val_s=("median_val_s", "median"), samples_per_s=("samples_per_s", "median"),
        median_ratio=(ratio, "median"), min_ratio=(ratio, "min"), max_ratio=(ratio, "max"),
        peak_rss_mb=("peak_rss_mb", "max")).reset_index()
    threads = (f"TensorFlow intra-op {tf.config.threading.get_intra_op_parallelism_threads() or 'default (all cores)'}, "
               f"inter-op {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    return "\n".join([
        "# Benchmark", "",
        f"Written by `python -m bn_study bench --epochs {epochs} --pairs {pairs} --arms {','.join(arms)}"
        f"{''.join(' --set ' + s for s in shrink)}` on {time.strftime('%Y-%m-%d')}.", "",
        f"Each row of bench.csv is one process; arms alternate ({' '.join(arms)}) in each of {pairs} pairs; "
        f"the first epoch of each process is excluded as warm-up. Ratios divide by the {arms[0]} process "
        f"of the same pair.", "",
        "```\n" + summary.to_string(index=False) + "\n```", "",
        f"- Device: {device_description()}; {threads}",
        f"- Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}", ""])


if __name__ == "__main__":  # a reference arm's own process: MODEL EPOCHS TRAIN_LIMIT DATA_PATH DATASET ARM
    name, n_epochs, limit, path, data_set, feed = sys.argv[1:7]
    reference_main(name, int(n_epochs), None if limit == "none" else int(limit), None if path == "none" else path,
                   data_set, feed)
