"""The training loss of every step, for loss spikes (`train.step_loss: true`; step_loss.csv).

Keras reports at each step the *running mean* of the epoch's training loss (its loss tracker is a
Mean weighted by the batch's number of images), not the step's own loss. With S_k = m_k x W_k the
tracker's total after step k (m_k the mean, W_k the images so far), the step's own loss is
(S_k - S_{k-1}) / w_k — exact up to float32 rounding, about 1e-7 x k of the loss (k <= 192 steps
per epoch here: a few 1e-5). Spikes are counted from the file by stats/summary.py. Nothing is computed beyond what training computes, so the run trains
exactly as without it (tested). With steps_per_execution > 1 Keras calls back once per execution:
a row is then the mean over that execution's steps, at its last step.

Rows are kept in memory and appended at each epoch's end (step, epoch, loss); a resumed run first
drops the rows of the epoch it redoes.
"""
from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

class StepLossCallback(keras.callbacks.Callback):
    """Appends every training step's own loss to step_loss.csv (see the module docstring)."""

    def __init__(self, path: Path, n_train: int, batch_size: int):
        super().__init__()
        self.path, self.n_train, self.batch_size = Path(path), n_train, batch_size
        self._resumed = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start = epoch, epoch * (self.params.get("steps") or 0)
        self._rows, self._previous_total, self._previous_images = [], 0.0, 0
        if not self._resumed:  # first epoch of this attempt: drop what it will redo
            self._resumed = True
            if epoch == 0 or not self.path.is_file():
                self.path.unlink(missing_ok=True)
            else:
                table = pd.read_csv(self.path)
                table[table["epoch"] < epoch].to_csv(self.path, index=False)

    def on_train_batch_end(self, batch, logs=None):
        images = min((batch + 1) * self.batch_size, self.n_train)  # the epoch's last batch may be short
        total = float(logs["loss"]) * images
        loss = (total - self._previous_total) / (images - self._previous_images)
        self._rows.append((self._epoch_start + batch + 1, self._epoch, loss))
        self._previous_total, self._previous_images = total, images

    def on_epoch_end(self, epoch, logs=None):
        rows = pd.DataFrame(self._rows, columns=["step", "epoch", "loss"])
        rows.to_csv(self.path, mode="a", header=not self.path.is_file(), index=False)

