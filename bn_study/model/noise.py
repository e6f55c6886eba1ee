"""CovariateShiftNoise: a layer that shifts its input's distribution every training step.

Santurkar et al. (2018, "How Does Batch Normalization Help Optimization?") put noise after each BN
layer whose distribution itself changes every step — non-zero mean, non-unit variance — so that
the next layer's input distribution moves at least as much as without BN, and found training
barely slower: evidence that BN does not help by keeping the inputs' distribution fixed.

Here, in training only, every step: four numbers are drawn uniformly from the configured ranges —
the mean and the std of a scale distribution, the mean and the std of a shift distribution — then
a scale s ~ N(scale mean, scale std) and a shift b ~ N(shift mean, shift std) per channel (or,
with per_activation, per sample and activation, as Santurkar et al. do), and the layer returns
x * s + b. At inference it is the identity. The draws come from Keras' seeded generator, so a run
stays a deterministic function of its seed.
"""
from __future__ import annotations

import keras
from keras import ops


def _range(name: str, value) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if not low <= high:
        raise ValueError(f"{name}: expected [low, high] with low <= high, got {list(value)}")
    return low, high


class CovariateShiftNoise(keras.layers.Layer):
    """Per-step random scale and shift of each channel in training; identity at inference."""

    def __init__(self, scale_mean=(0.5, 1.5), scale_std=(0.0, 0.5), shift_mean=(-1.0, 1.0), shift_std=(0.0, 1.0),
                 axis: int = -1, per_activation: bool = False, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.scale_mean, self.scale_std = _range("scale_mean", scale_mean), _range("scale_std", scale_std)
        self.shift_mean, self.shift_std = _range("shift_mean", shift_mean), _range("shift_std", shift_std)
        if self.scale_std[0] < 0 or self.shift_std[0] < 0:
            raise ValueError("scale_std, shift_std: a standard deviation cannot be negative")
        self.axis, self.per_activation, self.seed = int(axis), bool(per_activation), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, bounds: tuple[float, float]):
        return keras.random.uniform((), minval=bounds[0], maxval=bounds[1], seed=self.seed_generator)

    def _noise_shape(self, x) -> tuple:
        if self.per_activation:
            return tuple(ops.shape(x))
        shape = [1] * len(x.shape)
        channel = self.axis % len(x.shape)
        shape[channel] = x.shape[channel]
        return tuple(shape)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = self._noise_shape(inputs)
        scale = keras.random.normal(shape, mean=self._uniform(self.scale_mean), stddev=self._uniform(self.scale_std),
                                    seed=self.seed_generator)
        shift = keras.random.normal(shape, mean=self._uniform(self.shift_mean), stddev=self._uniform(self.shift_std),
                                    seed=self.seed_generator)
        return inputs * ops.cast(scale, inputs.dtype) + ops.cast(shift, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale_mean": list(self.scale_mean), "scale_std": list(self.scale_std),
                "shift_mean": list(self.shift_mean), "shift_std": list(self.shift_std), "axis": self.axis,
                "per_activation": self.per_activation, "seed": self.seed}
