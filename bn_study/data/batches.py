"""Evaluation batches as a plain tf.data pipeline, in order.

Given NumPy arrays, Keras 3.15 slices evaluation batches with a parallel `map`. Under op
determinism (`train.deterministic`, the default) TensorFlow 2.21 rewrites that map into a
sequential `MapDataset` but keeps the parallel op's `use_unbounded_threadpool` attribute, and
logs "E0000 ... NodeDef mentions attribute use_unbounded_threadpool which is not in the op
definition" once per validation and test pass. The rewrite itself is harmless: the sequential map
is what runs. Handing Keras these batches ourselves, sequential from the start, gives the same
batches in the same order (the losses are bit-identical; tests/test_training.py checks it)
without the message, and leaves genuine TensorFlow warnings visible.

Training batches are left to Keras: they are shuffled from the global seed, and building them
differently would change every committed run.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def in_order(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """(x, y) in batches of `batch_size`, in order, the last one partial: what Keras evaluates."""
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
