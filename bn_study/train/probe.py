"""Looking inside during training: distributions of chosen layers and the gradient flow.

Switched on by a config's `probe:` section (layers by position, every K steps, probe batch size);
without it the callback is not even created. Every K training steps, on a fixed probe batch (the
first `batch` validation images), it records in probe.csv (tidy: step, epoch, layer, statistic,
value):
- pre_p15 / pre_p50 / pre_p85: percentiles over the probe batch of unit 0's pre-activation (for a
  Conv2D, channel 0 at every position) — Ioffe & Szegedy (2015), Figure 1(b, c);
- pre_mean / pre_std: mean and std of all of the layer's pre-activations over the probe batch;
- grad_norm: the L2 norm of the loss gradient for every layer's kernel (gradient flow).
A layer's pre-activation is its output before its activation function (layers without one: the
output). The forward and backward pass run in training mode through `stateless_call`, so BN uses
batch statistics as in training but no moving average or weight is touched: the run trains
exactly as without the probe.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import ops

from bn_study.config.schema import ProbeConfig
from bn_study.train.steps import EveryNSteps

PERCENTILES = (15, 50, 85)


def layer_label(position: int, layer: keras.layers.Layer) -> str:
    return f"{position}:{type(layer).__name__}"


def pre_activation(layer: keras.layers.Layer, inputs, outputs):
    """The layer's output before its activation function, recomputed from its input."""
    if isinstance(layer, keras.layers.Dense):
        z = ops.matmul(inputs, layer.kernel)
    elif isinstance(layer, keras.layers.Conv2D):
        z = layer.convolution_op(inputs, layer.kernel)
    else:
        return outputs
    return z + layer.bias if layer.use_bias else z


class ProbeCallback(EveryNSteps):
    """Records the statistics above every `config.every` steps into run_dir/probe.csv."""

    def __init__(self, config: ProbeConfig, x_probe: np.ndarray, y_probe: np.ndarray, loss: str, path: Path):
        super().__init__(config.every, path)
        self.config = config
        self.x, self.y = x_probe[: config.batch], y_probe[: config.batch]
        self.loss_fn = keras.losses.get(loss)

    def on_train_begin(self, logs=None):
        layers = self.model.layers
        bad = [p for p in self.config.layers if p >= len(layers)]
        if bad:
            raise ValueError(f"probe.layers: position {bad[0]} is past the model's {len(layers)} layers")
        self.chosen = [(p, layers[p]) for p in self.config.layers]
        self.kernels = [(p, l) for p, l in enumerate(layers) if hasattr(l, "kernel")]
        outputs = [l.input for _, l in self.chosen] + [l.output for _, l in self.chosen] + list(self.model.outputs)
        self.probe_model = keras.Model(self.model.inputs, outputs)
        self._kernel_index = [next(i for i, v in enumerate(self.probe_model.trainable_variables) if v is l.kernel)
                              for _, l in self.kernels]
        self._forward_backward = tf.function(self._pass)

    def _pass(self, x, y, trainable, non_trainable):
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            outs, _ = self.probe_model.stateless_call(trainable, non_trainable, x, training=True)
            loss = tf.reduce_mean(self.loss_fn(y, outs[-1]))
        return outs[:-1], tape.gradient(loss, trainable)

    def record(self, step: int) -> None:
        trainable = [v.value for v in self.probe_model.trainable_variables]
        non_trainable = [v.value for v in self.probe_model.non_trainable_variables]
        outs, grads = self._forward_backward(tf.constant(self.x), tf.constant(self.y), trainable, non_trainable)
        n = len(self.chosen)
        rows = []
        for (position, layer), x_in, x_out in zip(self.chosen, outs[:n], outs[n:]):
            z = np.asarray(pre_activation(layer, x_in, x_out))
            unit0 = z[..., 0].ravel()
            stats = dict(zip((f"pre_p{q}" for q in PERCENTILES), np.percentile(unit0, PERCENTILES)))
            stats.update(pre_mean=z.mean(), pre_std=z.std())
            rows += [(layer_label(position, layer), k, float(v)) for k, v in stats.items()]
        for (position, layer), index in zip(self.kernels, self._kernel_index):
            rows.append((layer_label(position, layer), "grad_norm", float(tf.norm(grads[index]))))
        table = pd.DataFrame(rows, columns=["layer", "statistic", "value"])
        self.append(table, step)
