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


def recompute_population_statistics(model: keras.Sequential, x_train: np.ndarray, batch_size: int,
                                    settings: PreciseBNConfig) -> None:
    """Replace every BN layer's moving mean and variance by averages over the first
    `settings.batches` training batches of `settings.batch_size` (default `batch_size`) images."""
    layers = bn_layers(model)
    if not layers:
        return
    batch_size = settings.batch_size or batch_size
    if settings.batches * batch_size > len(x_train):
        raise UserError(f"train.precise_bn.batches: {settings.batches} batches of {batch_size} need "
                        f"{settings.batches * batch_size} training images; there are {len(x_train)}")
    sums = {id(layer): [0.0, 0.0] for layer in layers}
    for k in range(settings.batches):
        h = ops.convert_to_tensor(x_train[k * batch_size:(k + 1) * batch_size])
        for layer in model.layers:
            if id(layer) in sums:
                channel = layer.axis % len(h.shape)
                axes = [a for a in range(len(h.shape)) if a != channel]
                mean, variance = ops.moments(h, axes)
                if settings.unbiased:
                    m = int(np.prod([h.shape[a] for a in axes]))  # values per channel in this batch
                    variance = variance * (m / (m - 1))
                sums[id(layer)][0] += mean
                sums[id(layer)][1] += variance
                h = layer(h, training=True)  # normalizes with the batch's statistics, as in training
            else:
                h = layer(h, training=False)
    for layer in layers:  # overwrites what the training-mode calls above did to the moving averages
        total_mean, total_variance = sums[id(layer)]
        layer.moving_mean.assign(total_mean / settings.batches)
        layer.moving_variance.assign(total_variance / settings.batches)


class PreciseBNCallback(keras.callbacks.Callback):
    """Recomputes the population statistics before every evaluation `fit` runs (on_test_begin:
    Keras calls it before each validation pass, after the epoch's last training step)."""

    def __init__(self, x_train: np.ndarray, batch_size: int, settings: PreciseBNConfig):
        super().__init__()
        self.x_train, self.batch_size, self.settings = x_train, batch_size, settings

    def on_test_begin(self, logs=None):
        recompute_population_statistics(self.model, self.x_train, self.batch_size, self.settings)
