"""Test accuracy every N training steps, as Ioffe & Szegedy (2015) plot it in Figure 1(a).

Switched on by `train.test_every_steps`. Every N steps (and at step 0) the model predicts the
test set in inference mode (BN with its moving averages, Dropout off), outside Keras' metrics, so
neither the weights, the BN statistics nor the epoch's logged metrics change: the run trains
exactly as without it. The test set is only watched, never used to choose anything. Rows go to
steps.csv: step, epoch, test_loss, test_accuracy. The every-N-steps bookkeeping (EveryNSteps) is
shared with the probe (probe.py).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

PREDICT_BATCH = 2000  # test images per forward pass; any size gives the same predictions


class EveryNSteps(keras.callbacks.Callback):
    """Calls `record(step)` at step 0 and each time training passes a multiple of `every` steps;
    `append` adds rows (with step and epoch) to a CSV. On the first epoch of a resumed attempt the
    CSV keeps only the rows up to the end of the last completed epoch: the rest will be redone.
    """

    def __init__(self, every: int, path: Path):
        super().__init__()
        self.every, self.path = every, Path(path)
        self._resumed = False

    def record(self, step: int) -> None:
        raise NotImplementedError

    def append(self, rows: pd.DataFrame, step: int) -> None:
        rows.insert(0, "epoch", self._epoch)
        rows.insert(0, "step", step)
        rows.to_csv(self.path, mode="a", header=not self.path.is_file(), index=False)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start = epoch, epoch * (self.params.get("steps") or 0)
        self._last = self._epoch_start
        if not self._resumed:  # first epoch of this attempt: drop rows a resumed run will redo
            self._resumed = True
            if epoch == 0:
                self.path.unlink(missing_ok=True)
                self.record(0)
            elif self.path.is_file():  # keep the rows up to the end of the last completed epoch
                table = pd.read_csv(self.path)
                table[table["step"] <= self._epoch_start].to_csv(self.path, index=False)

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 Keras calls this once per execution, `batch` being its last step.
        step = self._epoch_start + batch + 1
        if step // self.every > self._last // self.every:
            self.record(step)
        self._last = step


class StepTestCallback(EveryNSteps):
    """Appends a steps.csv row (test loss and accuracy) every `every` training steps."""

    def __init__(self, every: int, x_test: np.ndarray, y_test: np.ndarray, loss: str, path: Path,
                 prepare: Callable[[], None] | None = None):
        """`prepare` runs before each record (precise BN recomputes the population statistics)."""
        super().__init__(every, path)
        self.x, self.y = x_test, y_test
        self.loss_fn = keras.losses.get(loss)
        self.prepare = prepare

    def on_train_begin(self, logs=None):
        self._predict = tf.function(lambda x: self.model(x, training=False))

    def record(self, step: int) -> None:
        if self.prepare:
            self.prepare()
        probabilities = np.concatenate([np.asarray(self._predict(tf.constant(self.x[i:i + PREDICT_BATCH])))
                                        for i in range(0, len(self.x), PREDICT_BATCH)])
        loss = float(np.mean(self.loss_fn(self.y, probabilities)))
        accuracy = float(np.mean(probabilities.argmax(axis=-1) == self.y))
        self.append(pd.DataFrame([{"test_loss": loss, "test_accuracy": accuracy}]), step)

