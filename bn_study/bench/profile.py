"""Where an epoch's time goes: one training epoch under TensorFlow's profiler, op by op.

`python -m bn_study profile CONFIG` trains a few warm-up steps (tracing, first-call allocation),
then one full epoch (training + validation, the config's data and batch size; unshuffled, in
profiler sessions of CHUNK_STEPS steps) with TensorFlow's profiler on, and reads the op events of
the traces it writes (an XSpace protobuf, parsed with the
schema TensorFlow ships). Each op is attributed to the model layer in its name scope (or to the
loss, the optimizer or other), forward or backward (under gradient_tape). Times are the ops' own
durations summed: with several threads, ops overlap, so shares are of summed op time, not of wall
time. On a GPU the host's op events time kernel launches, not kernels: use TensorBoard's profile
plugin there.
"""
from __future__ import annotations

import dataclasses
import re
import tempfile
import types
import time
from pathlib import Path

import pandas as pd

from bn_study.bench.ceiling import measure_ceiling
from bn_study.bench.roofline import layer_shapes, roofline, roofline_lines
from bn_study.data.batches import in_order
from bn_study.config.schema import ModelConfig, RunConfig
from bn_study.config.validate import ClassSpec

WARMUP_STEPS = 3
CHUNK_STEPS = 8  # training steps per profiler session (memory: see profile_epoch)
LAYER_SCOPE = re.compile(r"^L(\d{2})_")  # named_for_profile's names, with or without Keras' _N suffix
OP_EVENT = re.compile(r"^(?P<scope>[^:]+/[^:/]+):(?P<op>[A-Za-z_][\w]*)$")  # "scope/.../name:OpType"


def op_events(xspace_path: Path) -> pd.DataFrame:
    """One row per op event of the trace's host CPU planes: scope, op type, duration in ms."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(xspace_path.read_bytes())
    rows = []
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for event in line.events:
                match = OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
                if match:
                    rows.append((match["scope"], match["op"], event.duration_ps / 1e9))
    return pd.DataFrame(rows, columns=["scope", "op", "ms"])


def named_for_profile(model: ModelConfig) -> ModelConfig:
    """The same model with layers named L00_conv2d, L01_batchnormalization, ...

    Keras' default names are ambiguous in a trace: ops of a layer re-entering its name scope get a
    `_N` suffix, so `batch_normalization_1/...` can be layer batch_normalization or its second BN.
    """
    layers = tuple(ClassSpec(spec.class_name, types.MappingProxyType(
        {**spec.args, "name": f"L{i:02d}_{spec.class_name.lower()}"})) for i, spec in enumerate(model.layers))
    return dataclasses.replace(model, layers=layers)


def attribute(scope: str, layers: list[str]) -> tuple[str, str]:
    """(layer name, or loss/optimizer/other; forward/backward/update) of an op's name scope."""
    direction = "backward" if "gradient_tape" in scope.split("/") else "forward"
    for segment in scope.split("/"):
        index = LAYER_SCOPE.match(segment)
        if index:
            return layers[int(index[1])], direction
    lowered = scope.lower()
    if "adam" in lowered or "optimizer" in lowered:
        return "optimizer", "update"
    if "loss" in lowered:
        return "loss", direction
    return "other", direction


def _profiled(work, parts: list) -> float:
    """Run work() under the profiler; append its op events to parts; return its wall seconds."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        started = time.perf_counter()
        work()
        wall = time.perf_counter() - started
        tf.profiler.experimental.stop()
        parts.append(op_events(next(Path(logdir).rglob("*.xplane.pb"))))
    return wall


def profile_epoch(config: RunConfig, images, log=print) -> tuple[pd.DataFrame, dict]:
    """Profile one epoch of `config`; (ops table, facts: steps, wall seconds, layers)."""
    import keras
    import tensorflow as tf

    from bn_study.data.datasets import split
    from bn_study.model.build import build_model, build_optimizer
    from bn_study.train.machine import bn_kernel

    train = config.train
    splits = split(images, train.validation_split, config.data.train_limit, config.data.test_limit)
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    if train.deterministic:
        tf.config.experimental.enable_op_determinism()
    model = build_model(named_for_profile(config.model), bn_kernel=bn_kernel())  # as `run` trains it
    model.compile(optimizer=build_optimizer(config.optimizer), loss=train.loss, metrics=list(train.metrics))
    val_batch = train.validation_batch_size or train.batch_size  # as training validates
    warmup = WARMUP_STEPS * train.batch_size
    model.fit(splits.x_train[:warmup], splits.y_train[:warmup], batch_size=train.batch_size, epochs=1, verbose=0)
    model.evaluate(in_order(splits.x_val[:warmup], splits.y_val[:warmup], val_batch), verbose=0)
    # The profiler holds every event in memory until it stops: one whole epoch of the BN model took
    # 22 GB here (killed by the OOM killer), so the epoch is profiled CHUNK_STEPS steps at a time.
    chunk, parts, wall = CHUNK_STEPS * train.batch_size, [], 0.0
    for start in range(0, len(splits.x_train), chunk):
        x, y = splits.x_train[start:start + chunk], splits.y_train[start:start + chunk]
        wall += _profiled(lambda: model.fit(x, y, batch_size=train.batch_size, epochs=1, verbose=0, shuffle=False),
                          parts)
    wall += _profiled(lambda: model.evaluate(in_order(splits.x_val, splits.y_val, val_batch), verbose=0), parts)
    events = pd.concat(parts, ignore_index=True)
    layer_names = [layer.name for layer in model.layers]
    classes = {layer.name: type(layer).__name__ for layer in model.layers}
    where = [attribute(scope, layer_names) for scope in events["scope"]]
    events["layer"], events["direction"] = [w[0] for w in where], [w[1] for w in where]
    events["layer_class"] = events["layer"].map(classes).fillna("")
    steps = -(-len(splits.x_train) // train.batch_size)
    ops = (events.groupby(["layer", "layer_class", "direction", "op"], as_index=False)
           .agg(calls=("ms", "size"), total_ms=("ms", "sum"))
           .sort_values("total_ms", ascending=False, ignore_index=True))
    ops["ms_per_step"] = (ops["total_ms"] / steps).round(3)
    ops["share"] = (ops["total_ms"] / ops["total_ms"].sum()).round(4)
    ops["total_ms"] = ops["total_ms"].round(1)
    log(f"profiled {config.model.name}: {steps} steps + validation in {wall:.1f} s under the profiler, "
        f"{len(events)} op events")
    return ops, {"model": config.model.name, "steps": steps, "wall_s": round(wall, 1), "layers": layer_names,
                 "shapes": layer_shapes(model), "images": {"train": len(splits.x_train), "val": len(splits.x_val)}}


def by_layer(ops: pd.DataFrame) -> pd.DataFrame:
    """Summed op time per layer and direction, in ms per step, in the model's layer order first."""
    table = ops.pivot_table(index=["layer", "layer_class"], columns="direction", values="ms_per_step",
                            aggfunc="sum", fill_value=0.0).reset_index()
    table["total"] = table.drop(columns=["layer", "layer_class"]).sum(axis=1)
    table["share"] = (table["total"] / table["total"].sum()).round(3)
    return table.sort_values("total", ascending=False, ignore_index=True).round(2)


def write_profile(configs: dict[str, RunConfig], images, out: Path, command: str, log=print) -> Path:
    """Profile each config (name -> config); write <name>_ops.csv, <name>_layers.csv and README.md."""
    import keras
    import tensorflow as tf

    from bn_study.report.tables import markdown_table
    from bn_study.results import write_text
    from bn_study.report.machines import numerics_line
    from bn_study.train.machine import numerics_facts
    from bn_study.train.threads import thread_counts
    from bn_study.train.machine import device_description

    out.mkdir(parents=True, exist_ok=True)
    threads = thread_counts()  # the roofline's cores: one per intra-op thread
    ceiling = measure_ceiling(threads["intra_op"])
    log(f"ceiling: {ceiling.describe()}")
    sections = []
    for name, config in configs.items():
        ops, facts = profile_epoch(config, images, log=log)
        layers = by_layer(ops)
        roof = roofline(ops, facts["shapes"], facts["images"], facts["steps"], ceiling)
        write_text(out / f"{name}_ops.csv", ops.to_csv(index=False))
        write_text(out / f"{name}_layers.csv", layers.to_csv(index=False))
        write_text(out / f"{name}_roofline.csv", roof.to_csv(index=False))
        top = ops.head(10)[["layer", "layer_class", "direction", "op", "ms_per_step", "share"]]
        sections += [f"## {name}", "",
                     f"{facts['steps']} training steps + validation: {facts['wall_s']} s wall under the profiler; "
                     f"summed op time {ops['total_ms'].sum() / 1000:.1f} s. Top ops (ms per training step, "
                     f"share of summed op time; all ops in `{name}_ops.csv`):", "",
                     markdown_table(list(top.columns), top.values.tolist()), "", "By layer (ms per step):", "", markdown_table(list(layers.columns), layers.values.tolist()), "",
                     "Roofline of the ops above 1% (GFLOP/s and GB/s achieved; `of_roofline`: the time at the "
                     "roof of its bound over the time taken, above 1 where the data came from a cache faster than "
                     f"the memory roof; work per op in `{name}_roofline.csv`):", "",
                     *roofline_lines(roof), ""]
    header = ["# Where an epoch's time goes", "",
              f"Written by `{command}` on {time.strftime('%Y-%m-%d')}: one epoch per model under TensorFlow's "
              f"profiler after {WARMUP_STEPS} warm-up steps (bn_study/bench/profile.py says how ops are attributed). "
              f"Forward includes the validation pass; ms per step divides by the training steps.", "",
              f"- Device: {device_description()}; TensorFlow threads intra-op {threads['intra_op']}, "
              f"inter-op {threads['inter_op']}",
              f"- {numerics_line(numerics_facts())}",
              f"- Roofline (bn_study/bench/ceiling.py, roofline.py): {ceiling.describe()}",
              f"- TensorFlow {tf.__version__}, Keras {keras.__version__}", ""]
    path = out / "README.md"
    write_text(path, "\n".join(header + sections))
    return path


def profile_configs(paths: list[Path], overrides: list[str], threads_per_run: int | None, out: Path | None,
                    command: str) -> Path:
    """`bn-study profile`: load every config (before TensorFlow starts), set the threads, check that
    they read the same data, and profile one epoch of each (into `out`, default
    results/profile/<CPU kind>)."""
    from bn_study.config.schema import load_config
    from bn_study.data.datasets import load_dataset
    from bn_study.errors import UserError
    from bn_study.model.build import check_buildable
    from bn_study.train.machine import cpu_kind
    from bn_study.train.threads import configure_threads

    configs = {path.stem: load_config(path, overrides) for path in paths}
    configure_threads(threads_per_run)  # starts TensorFlow: before its first op
    for config in configs.values():
        check_buildable(config)
    datasets = {(c.data.path, c.data.dataset) for c in configs.values()}
    if len(datasets) > 1:
        raise UserError("profile: the configs read different data; profile them one command each")
    out = out or Path("results") / "profile" / cpu_kind()
    return write_profile(configs, load_dataset(*datasets.pop()), out, command)
