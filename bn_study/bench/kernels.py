"""Other ways to compute the ops farthest below their roofline (`make profile`), side by side.

For each op, on the article's shapes (batch 250) and one thread as under `--jobs 2`: the library's
kernel and the alternatives, each timed forward + backward (the gradients training needs) in one
tf.function, variants alternated in every round, median over rounds; each alternative's output
and gradients compared with the library kernel's, so a faster one that computes something else
shows it. The ops: the first convolution (one input channel, the furthest below its roof), the
first BatchNormalization in training mode (two passes over its input) and the first max pooling
after a ReLU (many ties at zero: a gradient must go where TensorFlow's MaxPoolGrad sends it, to one
input per window, not be shared between the tied ones).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import pandas as pd

ROUNDS = 7


def _cases(batch: int) -> dict:
    """op -> (input shapes, inputs to differentiate, {variant: fn(x, *weights) -> y}); the first
    variant is the library's."""
    import tensorflow as tf

    def conv(x, w, b):
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "VALID"), b))

    def patches_matmul(x, w, b):  # im2col: each output pixel's 3x3 window as a row, one matrix product
        patches = tf.image.extract_patches(x, [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
        rows = tf.reshape(patches, (-1, 9)) @ tf.reshape(w, (9, -1))
        return tf.nn.relu(tf.reshape(rows, tf.concat([tf.shape(patches)[:3], [-1]], 0)) + b)

    def shifted_fma(x, w, b):  # nine shifted copies of the image, each times one kernel row of weights
        height, width = x.shape[1] - 2, x.shape[2] - 2
        out = b
        for i in range(3):
            for j in range(3):
                out = out + x[:, i:i + height, j:j + width, :] * w[i, j, 0, :]
        return tf.nn.relu(out)

    def fused_bn(x, gamma, beta):
        return tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=1e-3, is_training=True)[0]

    def moments_bn(x, gamma, beta):  # what Keras' BatchNormalization does in training, op by op
        mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, 1e-3)

    def max_pool(x):
        return tf.nn.max_pool2d(tf.nn.relu(x), 2, 2, "VALID")

    def reshape_max(x):  # 2x2 windows as axes, then a max over them; its gradient splits ties
        y = tf.nn.relu(x)
        n, h, w, c = y.shape
        return tf.reduce_max(tf.reshape(y, (n, h // 2, 2, w // 2, 2, c)), axis=(2, 4))

    image, activations = (batch, 28, 28, 1), (batch, 26, 26, 32)
    # The first layer needs no gradient of its input (the image): only of its weights.
    return {"first Conv2D (3x3, 1 -> 32 channels, ReLU)": ([image, (3, 3, 1, 32), (32,)], (1, 2),
                                                          {"tf.nn.conv2d": conv, "patches + matmul": patches_matmul,
                                                           "9 shifted multiply-adds": shifted_fma}),
            "BatchNormalization, training (26x26x32)": ([activations, (32,), (32,)], (0, 1, 2),
                                                        {"FusedBatchNormV3": fused_bn, "moments + normalize": moments_bn}),
            "MaxPooling2D 2x2 after ReLU (26x26x32)": ([activations], (0,),
                                                      {"tf.nn.max_pool2d": max_pool, "reshape + reduce_max": reshape_max})}


def _step(fn, inputs, upstream, differentiate):
    """A tf.function: fn's output and the gradients training needs (of the inputs at `differentiate`)
    for the fixed gradient `upstream` of the output."""
    import tensorflow as tf

    @tf.function
    def step():
        wrt = [inputs[k] for k in differentiate]
        with tf.GradientTape() as tape:
            tape.watch(wrt)
            y = fn(*inputs)
        return y, tape.gradient(y, wrt, output_gradients=upstream)
    return step


def _difference(result, reference) -> tuple[float, float]:
    """Largest output difference and largest gradient difference relative to the gradient's scale."""
    import numpy as np

    (y, grads), (y_ref, grads_ref) = result, reference
    out = float(np.max(np.abs(y.numpy() - y_ref.numpy())))
    grad = max(float(np.max(np.abs(g.numpy() - r.numpy())) / max(np.max(np.abs(r.numpy())), 1e-30))
               for g, r in zip(grads, grads_ref))
    return out, grad


def bench_kernels(batch: int = 250, rounds: int = ROUNDS, log=print) -> pd.DataFrame:
    """One row per op and variant: median ms forward + backward, ratio to the library's, differences."""
    import tensorflow as tf

    rows = []
    for op, (shapes, differentiate, variants) in _cases(batch).items():
        inputs = [tf.random.stateless_normal(shape, seed=(1, k)) for k, shape in enumerate(shapes)]
        output_shape = next(iter(variants.values()))(*inputs).shape
        upstream = tf.random.stateless_normal(output_shape, seed=(0, 9))
        steps = {name: _step(fn, inputs, upstream, differentiate) for name, fn in variants.items()}
        results = {name: step() for name, step in steps.items()}  # traces, warms up, and is compared below
        times = {name: [] for name in steps}
        for _ in range(rounds):
            for name, step in steps.items():
                started = time.perf_counter()
                tf.nest.map_structure(lambda t: t.numpy(), step())
                times[name].append((time.perf_counter() - started) * 1000)
        library = next(iter(steps))
        for name in steps:
            out, grad = _difference(results[name], results[library])
            rows.append({"op": op, "variant": name, "median_ms": round(statistics.median(times[name]), 3),
                         "ratio": round(statistics.median(times[name]) / statistics.median(times[library]), 3),
                         "max_abs_output_diff": out, "max_rel_gradient_diff": grad})
        log(f"{op}: " + ", ".join(f"{r['variant']} {r['median_ms']} ms" for r in rows[-len(steps):]))
    return pd.DataFrame(rows)


def write_kernel_bench(out: Path, command: str, batch: int = 250, rounds: int = ROUNDS) -> pd.DataFrame:
    """bench_kernels on this process's threads; writes out/kernels.csv and out/README.md."""
    from bn_study.report.tables import markdown_table
    from bn_study.results import write_text
    from bn_study.train.machine import device_description, numerics_facts
    from bn_study.report.machines import numerics_line
    from bn_study.train.threads import thread_counts

    table = bench_kernels(batch, rounds)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "kernels.csv", table.to_csv(index=False))
    shown = table.assign(max_abs_output_diff=table["max_abs_output_diff"].map("{:.2g}".format),
                         max_rel_gradient_diff=table["max_rel_gradient_diff"].map("{:.2g}".format))
    threads = thread_counts()
    write_text(out / "README.md", "\n".join([
        "# Other kernels for the ops below their roofline", "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}: bn_study/bench/kernels.py says what each variant "
        f"computes. Forward + backward of one batch of {batch}, median of {rounds} rounds with the variants "
        "alternated; ratio to the first (the library's) kernel; differences against it (gradients relative to "
        "their largest magnitude).", "",
        f"- Device: {device_description()}; TensorFlow threads intra-op {threads['intra_op']}, "
        f"inter-op {threads['inter_op']}", f"- {numerics_line(numerics_facts())}", "",
        markdown_table(list(shown.columns), shown.values.tolist()), ""]))
    return table
