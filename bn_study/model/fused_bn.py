"""BatchNormalization on TensorFlow's fused kernel (FusedBatchNormV3), equal to Keras' layer.

Keras 3's `keras.layers.BatchNormalization` computes the batch moments and the normalisation as
separate ops, several passes over the activation where the fused kernel makes two (the time of each:
results/bench_bn, docs/speed.md). `FusedBatchNorm` takes the same arguments and
weights and differs only in how it computes, which tests/test_layers.py checks against Keras'
layer (outputs, gradients, moving statistics within 1e-5). What makes it equal, not just close:
- the kernel normalises NHWC over N, H, W; any other input is laid out that way first (channels
  moved last, everything else flattened into N), which changes the memory order, not the result;
- with is_training the kernel returns the unbiased batch variance v * m / (m - 1) (m values per
  channel); Keras averages the biased one, so it is multiplied back by (m - 1) / m;
- the moving averages are updated with Keras' own rule and momentum convention,
  moving = moving * momentum + batch * (1 - momentum), not by the kernel's exponential_avg_factor;
- scale, offset and statistics in float32; the input and output in the layer's compute dtype. Under
  mixed precision (train.precision) a bfloat16 or float16 activation goes into the kernel as it is:
  the kernel accumulates the moments in float32 and normalises there, as Keras' layer does after
  casting up, so the model skips a cast each way and reads half the bytes.
"""
from __future__ import annotations

import keras
from keras import ops

# The fused kernel refuses smaller epsilons on GPUs (cuDNN's minimum; TensorFlow's wrapper silently
# raises them to this), which would make the layer differ from Keras' BN: refused instead.
MIN_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package="bn_study")
class FusedBatchNorm(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization computed by TensorFlow's fused kernel (TensorFlow backend only)."""

    backends = ("tensorflow",)  # models.build_layer refuses the layer on any other backend

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        unsupported = [name for name in ("renorm", "synchronized") if getattr(self, name)]
        if unsupported:
            raise ValueError(f"{unsupported[0]}=True is not available in FusedBatchNorm; "
                             f"use BatchNormalization for it")
        if self.epsilon < MIN_EPSILON:
            raise ValueError(f"epsilon={self.epsilon:g} is below the fused kernel's minimum {MIN_EPSILON:g}; "
                             f"use BatchNormalization for it")

    def call(self, inputs, training=None, mask=None):
        if mask is not None:  # the kernel cannot leave masked steps out of the moments
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # only here: importing this module must not need TensorFlow

        x = inputs if inputs.dtype in (tf.bfloat16, tf.float16) else tf.cast(inputs, "float32")
        rank = len(x.shape)
        channel_axis = self.axis % rank
        channels = x.shape[channel_axis]
        to_nhwc = [a for a in range(rank) if a != channel_axis] + [channel_axis]
        if to_nhwc != list(range(rank)):
            x = tf.transpose(x, to_nhwc)
        laid_out_shape = tf.shape(x)
        if rank != 4:
            x = tf.reshape(x, [-1, 1, 1, channels])
        gamma = tf.convert_to_tensor(self.gamma) if self.scale else tf.ones([channels])
        beta = tf.convert_to_tensor(self.beta) if self.center else tf.zeros([channels])

        if training and self.trainable:
            y, mean, unbiased_variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.constant([]), variance=tf.constant([]),
                epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
            m = tf.cast(tf.size(x) // channels, "float32")
            variance = unbiased_variance * ((m - 1.0) / m)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.convert_to_tensor(self.moving_mean),
                variance=tf.convert_to_tensor(self.moving_variance), epsilon=self.epsilon,
                exponential_avg_factor=1.0, data_format="NHWC", is_training=False)

        if rank != 4:
            y = tf.reshape(y, laid_out_shape)
        if to_nhwc != list(range(rank)):
            y = tf.transpose(y, [to_nhwc.index(a) for a in range(rank)])
        return ops.cast(y, self.compute_dtype)
