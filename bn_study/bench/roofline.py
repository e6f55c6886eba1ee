"""Each profiled op against the CPU's roofline: how long it would take at the compute roof or at the
memory roof, whichever is longer, as a fraction of the time it took.

Work is counted from the layers' shapes, per image, as a roofline counts it: an op's floating-point
operations (a multiply-add is 2) and its compulsory memory traffic in float32 (each input read once,
each output written once), weights once per call. Forward ops count the training and the validation
images (the profile's forward includes the validation pass), backward ops the training images. A
kernel that must read its input twice (BatchNormalization needs the batch mean before it can
normalize) reaches at most half its memory roof: the fraction shows it and docs/speed.md says why.
Ops this model does not describe (Adam's elementwise updates, the loss) are left blank.
"""
from __future__ import annotations

import dataclasses
import math
import re

import pandas as pd

from bn_study.bench.ceiling import Ceiling

FLOAT_BYTES = 4
KERNEL_PREFIX = re.compile(r"^_(MklNative|Mkl)?")  # oneDNN's kernels and fused ops compute what the bare name says


@dataclasses.dataclass(frozen=True)
class LayerShape:
    """Per image: elements in and out, multiply-adds; and the layer's weights."""

    inputs: int
    outputs: int
    macs: int  # Conv2D, Dense: one per kernel weight per output position; else 0
    params: int
    needs_input_grad: bool  # a layer before it has weights, so backward computes its input gradient


def layer_shapes(model) -> dict[str, LayerShape]:
    """LayerShape of every layer of a built keras.Model, by layer name."""
    shapes, weights_before = {}, False
    for layer in model.layers:
        inputs, outputs = math.prod(layer.input.shape[1:]), math.prod(layer.output.shape[1:])
        kernel = getattr(layer, "kernel", None)
        # Conv2D's kernel is (kh, kw, in channels, filters), Dense's (inputs, units): each output
        # element is a dot product over every kernel axis but the last.
        macs = outputs * math.prod(kernel.shape[:-1]) if kernel is not None else 0
        params = sum(math.prod(w.shape) for w in layer.trainable_weights)
        shapes[layer.name] = LayerShape(inputs, outputs, macs, params, weights_before)
        weights_before = weights_before or params > 0
    return shapes


def op_work(op: str, direction: str, s: LayerShape) -> tuple[float, float, float] | None:
    """(FLOP per image, bytes per image, bytes per call) of `op` on a layer of shape `s`; None if
    not described here."""
    name, x, y, w = KERNEL_PREFIX.sub("", op), s.inputs, s.outputs, s.params * FLOAT_BYTES
    if direction == "forward" and name in ("Conv2D", "FusedConv2D", "MatMul", "FusedMatMul"):
        return 2 * s.macs, FLOAT_BYTES * (x + y), w  # read input and weights, write output (bias, ReLU fused)
    if name in ("Conv2DBackpropFilter", "Conv2DBackpropFilterWithBias", "Conv2DBackpropInput"):
        return 2 * s.macs, FLOAT_BYTES * (x + y), w  # filter: read input + output gradient, write kernel's
    if name == "MatMul" and direction == "backward":  # the kernel's gradient, and the input's unless first
        products = 2 if s.needs_input_grad else 1
        return 2 * s.macs * products, FLOAT_BYTES * (x + y) * products, w * products
    if name == "BiasAddGrad":
        return y, FLOAT_BYTES * y, 0
    if name in ("Relu", "BiasAdd"):
        return y, FLOAT_BYTES * 2 * y, 0
    if name == "ReluGrad":
        return y, FLOAT_BYTES * 3 * y, 0  # read gradient and output, write gradient
    if name == "MaxPool":
        return x, FLOAT_BYTES * (x + y), 0  # one comparison per input element
    if name == "MaxPoolGrad":
        return x, FLOAT_BYTES * 2 * (x + y), 0  # read input, output and its gradient; write input's gradient
    if name == "FusedBatchNormV3":
        return 5 * x, FLOAT_BYTES * 2 * x, 2 * w  # sums of x and x², then one multiply-add per element
    if name == "FusedBatchNormGradV3":
        return 8 * x, FLOAT_BYTES * 3 * x, 2 * w  # read gradient and input, write input's gradient
    return None


def roofline(ops: pd.DataFrame, shapes: dict[str, LayerShape], images: dict[str, int], steps: int,
             ceiling: Ceiling) -> pd.DataFrame:
    """The profile's op table (profile.profile_epoch) with each op's work, speed and roofline fraction.

    `images` holds the epoch's "train" and "val" image counts; `steps` its training steps.
    """
    rows = []
    for op in ops.itertuples(index=False):
        shape = shapes.get(op.layer)
        work = op_work(op.op, op.direction, shape) if shape and op.total_ms > 0 else None
        row = {"layer": op.layer, "direction": op.direction, "op": op.op, "ms_per_step": op.ms_per_step,
               "share": op.share}
        if work is not None:
            count = images["train"] + (images["val"] if op.direction == "forward" else 0)
            flop, moved, seconds = work[0] * count, work[1] * count + work[2] * op.calls, op.total_ms / 1000
            compute_s, memory_s = flop / (ceiling.peak_gflops * 1e9), moved / (ceiling.bandwidth_gbs * 1e9)
            row.update(gflop_per_step=flop / steps / 1e9, mb_per_step=moved / steps / 1e6,
                       flop_per_byte=flop / moved, gflops=flop / seconds / 1e9, gbs=moved / seconds / 1e9,
                       bound="compute" if compute_s >= memory_s else "memory",
                       of_roofline=max(compute_s, memory_s) / seconds)
        rows.append(row)
    table = pd.DataFrame(rows)
    digits = {"gflop_per_step": 4, "mb_per_step": 2, "flop_per_byte": 2, "gflops": 1, "gbs": 2, "of_roofline": 3}
    return table.round({k: v for k, v in digits.items() if k in table})


def roofline_lines(table: pd.DataFrame, min_share: float = 0.01) -> list[str]:
    """The roofline table's ops above `min_share` of summed op time, as Markdown."""
    from bn_study.report.tables import markdown_table

    columns = ["layer", "direction", "op", "ms_per_step", "share", "gflops", "gbs", "bound", "of_roofline"]
    shown = table[table["share"] >= min_share].reindex(columns=columns)  # no work columns if no op is described
    shown = shown.astype(object).where(shown.notna(), "—")
    return [markdown_table(columns, shown.values.tolist())]
