"""Training and evaluation batches as tf.data pipelines whose every map is sequential.

Given NumPy arrays, Keras 3.15 slices batches with a parallel `map`. Under op determinism
(`train.deterministic`, the default) TensorFlow 2.21 rewrites that map into a sequential
`MapDataset` but keeps the parallel op's `use_unbounded_threadpool` attribute, and logs
"E0000 ... NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition"
for the training set (once per run) and each validation and test pass. The rewrite itself is
harmless: the sequential map is what runs. Handing Keras the same batches built sequentially
from the start gives the same numbers to the bit (tests/test_training.py checks both) without the
message, and leaves genuine TensorFlow errors visible.

Both pipelines run with tf.data's autotuning off. Keras makes a new iterator every epoch and for
every validation pass, and destroying one waits, in ~RootDataset::Iterator, for the autotuning
thread to notice: a one-thread run stood idle there whenever the other core was busy, so two runs
at once lost about a fifth of their wall time (measured in docs/speed.md, "The idle fifth"). Nothing
is left to tune: the maps are sequential and a batch of two is prefetched. The batches are the same
either way (tests/test_training.py).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

PREFETCH_BATCHES = 2  # made while the model trains on the one before: gathering a batch takes well under a step


def _untuned() -> tf.data.Options:
    """Options that switch tf.data's autotuning thread off (see the module's docstring)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def in_order(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """(x, y) in batches of `batch_size`, in order, the last one partial: what Keras evaluates."""
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).with_options(_untuned())


def shuffled(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = True,
             parallel: bool = False) -> tf.data.Dataset:
    """The training batches Keras 3.15's ArrayDataAdapter makes for fit(x, y, shuffle=...): a new
    permutation per epoch from the global seed, full batches then the partial one.

    Built the way Keras builds it, op for op, so that the shuffle's op seed (its position in the
    permutation function) and so every batch are the same; only the slicing map is sequential
    unless `parallel` (op determinism makes it sequential anyway, with the message above).
    Call it after keras.utils.set_random_seed, as fit would.
    """
    num_samples = len(x)
    num_full_batches, partial = divmod(num_samples, batch_size)

    def permutation(_):
        indices = tf.range(num_samples, dtype=tf.int64)
        return tf.random.shuffle(indices) if shuffle else indices

    def batch_indices(indices):
        full = tf.reshape(tf.slice(indices, [0], [num_full_batches * batch_size]), [num_full_batches, batch_size])
        batches = tf.data.Dataset.from_tensor_slices(full)
        if partial:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(
                tf.slice(indices, [num_full_batches * batch_size], [partial])))
        return batches

    indices = tf.data.Dataset.range(1).map(permutation).prefetch(1).flat_map(batch_indices)
    data = tf.data.Dataset.zip((indices, tf.data.Dataset.from_tensors((tf.constant(x), tf.constant(y))).repeat()))
    data = data.map(lambda i, xy: (tf.gather(xy[0], i, axis=0), tf.gather(xy[1], i, axis=0)),
                    num_parallel_calls=tf.data.AUTOTUNE if parallel else None)
    options = _untuned()
    options.experimental_optimization.apply_default_optimizations = False  # as Keras: no graph rewrites
    if shuffle:
        options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(options)
    return data.apply(tf.data.experimental.assert_cardinality(num_full_batches + bool(partial))).prefetch(PREFETCH_BATCHES)
