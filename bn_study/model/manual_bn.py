"""BatchNormalization written from its four equations with keras.ops only (any Keras backend).

Training, over the batch (and the spatial axes of a conv feature map), per channel:
    mu = (1/N) sum x,   sigma^2 = (1/N) sum (x - mu)^2,   x_hat = (x - mu) / sqrt(sigma^2 + eps),
    out = gamma * x_hat + beta
and the moving averages for inference, as Keras keeps them (biased batch variance):
    moving = momentum * moving + (1 - momentum) * batch_statistic.
Inference uses the moving averages in place of mu and sigma^2. tests/test_layers.py proves it equal
to keras.layers.BatchNormalization.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bn_study")
class ManualBatchNorm(keras.layers.Layer):
    """bn_study's own BatchNormalization (not Keras'): the textbook steps, nothing fused."""

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        self._channel_axis = self.axis % rank
        self._reduce_axes = [a for a in range(rank) if a != self._channel_axis]
        shape = (input_shape[self._channel_axis],)
        self._broadcast = [1] * rank
        self._broadcast[self._channel_axis] = shape[0]
        self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer, name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer, name="beta") if self.center else None
        self.moving_mean = self.add_weight(shape=shape, initializer=self.moving_mean_initializer,
                                           name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(shape=shape, initializer=self.moving_variance_initializer,
                                               name="moving_variance", trainable=False)

    def _per_channel(self, v):
        return ops.reshape(v, self._broadcast)

    def call(self, inputs, training=None):
        x = ops.cast(inputs, "float32")
        if training and self.trainable:
            n = 1
            for a in self._reduce_axes:
                n = n * ops.shape(x)[a]
            mean = ops.sum(x, axis=self._reduce_axes) / ops.cast(n, x.dtype)                      # step 1
            variance = ops.sum(ops.square(x - self._per_channel(mean)), axis=self._reduce_axes) / ops.cast(n, x.dtype)  # step 2
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        x_hat = (x - self._per_channel(mean)) / ops.sqrt(self._per_channel(variance) + self.epsilon)  # step 3
        out = x_hat
        if self.scale:
            out = out * self._per_channel(self.gamma)                                                  # step 4
        if self.center:
            out = out + self._per_channel(self.beta)
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": keras.initializers.serialize(self.beta_initializer),
            "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": keras.initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": keras.initializers.serialize(self.moving_variance_initializer),
        }
