"""Precise BN (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"): population statistics as
true averages over K training batches, recomputed before every evaluation.

Keras keeps BN's inference statistics as an exponential moving average with momentum 0.99: after
the article's 192 steps of epoch 1 it still holds 0.99^192 = 14.5% of its initial values (mean 0,
variance 1), which is why the article's BN model scores 0.106 on validation after epoch 1. Here,
before each validation pass and before the test, the first K batches of the training arrays (in
order: no shuffling, no random numbers drawn) go through the network layer by layer as in
training: each BN layer normalizes with its batch statistics, every other layer runs in inference
mode (a Dropout is off), and each BN layer's input moments are averaged over the K batches. The
averages replace the moving mean and variance. The weights and the optimizer are not touched, and
training never reads the moving statistics, so a run's training curves are unchanged (tested); the
EMA carries on from the precise values in the next epoch, which only inference would see, and
inference is recomputed before it is used.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from bn_study.config.schema import PreciseBNConfig
from bn_study.errors import UserError


def bn_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that keep population statistics (Keras' BN and bn_study's own BN layers)."""
    return [layer for layer in model.layers if hasattr(layer, "moving_mean") and hasattr(layer, "moving_variance")]


class BatchMoments(keras.Model):
    """The network's layers run as in precise BN's pass (BN in training mode, the rest in inference
    mode) on one batch; outputs each BN layer's input mean and variance per channel. A model of its
    own so that Keras compiles the pass once (`predict_on_batch`): layer by layer in eager mode it
    took more than twice as long with the same statistics (measured once, on a 20-layer plain CNN)."""

    def __init__(self, model: keras.Sequential, unbiased: bool):
        super().__init__()
        self.network, self.unbiased = list(model.layers), unbiased
        bn = {id(layer) for layer in bn_layers(model)}
        self.is_bn = [id(layer) in bn for layer in model.layers]

    def call(self, inputs, training=None):  # each layer's own mode, whatever predict asks for
        h, moments = inputs, []
        for layer, is_bn in zip(self.network, self.is_bn):
            if is_bn:
                channel = layer.axis % len(h.shape)
                mean, variance = ops.moments(h, [a for a in range(len(h.shape)) if a != channel])
                if self.unbiased:
                    count = ops.cast(ops.size(h), variance.dtype) / h.shape[channel]  # values per channel
                    variance = variance * count / (count - 1)
                moments.append((mean, variance))
                h = layer(h, training=True)  # normalizes with the batch's statistics, as in training
            else:
                h = layer(h, training=False)
        return moments


class PreciseBN:
    """Replaces every BN layer's moving mean and variance by averages over the first
    `settings.batches` training batches of `settings.batch_size` (default `batch_size`) images."""

    def __init__(self, model: keras.Sequential, x_train: np.ndarray, batch_size: int, settings: PreciseBNConfig):
        self.batch_size = settings.batch_size or batch_size
        if settings.batches * self.batch_size > len(x_train):
            raise UserError(f"train.precise_bn.batches: {settings.batches} batches of {self.batch_size} need "
                            f"{settings.batches * self.batch_size} training images; there are {len(x_train)}")
        self.layers = bn_layers(model)
        self.batches = x_train[:settings.batches * self.batch_size]
        self.moments = BatchMoments(model, settings.unbiased) if self.layers else None

    def recompute(self) -> None:
        """Averages the BN layers' input moments over the batches into their moving statistics."""
        if self.moments is None:
            return
        per_batch = [self.moments.predict_on_batch(self.batches[start:start + self.batch_size])
                     for start in range(0, len(self.batches), self.batch_size)]
        # Overwrites what the training-mode calls did to the moving averages.
        for i, layer in enumerate(self.layers):
            layer.moving_mean.assign(np.mean([batch[i][0] for batch in per_batch], axis=0))
            layer.moving_variance.assign(np.mean([batch[i][1] for batch in per_batch], axis=0))


class PreciseBNCallback(keras.callbacks.Callback):
    """Recomputes the population statistics before every evaluation `fit` runs (on_test_begin:
    Keras calls it before each validation pass, after the epoch's last training step)."""

    def __init__(self, precise_bn: PreciseBN):
        super().__init__()
        self.precise_bn = precise_bn

    def on_test_begin(self, logs=None):
        self.precise_bn.recompute()
