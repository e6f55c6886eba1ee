"""The loss landscape along the gradient during training (Santurkar et al. 2018, "How Does Batch
Normalization Help Optimization?", section 3.2 and Figure 4), measured without changing training.

Every `every`-th step, before the optimizer's update and on that step's own batch, in training mode:
the gradient g of the loss over all trainable weights w; then for each step size eta on the grid
(`step_multipliers` x the optimizer's learning rate) the loss L(w - eta g) and its gradient. Recorded
per measured step (landscape.csv): the loss at w, |g|, the loss at each eta, and
- loss_variation: max - min of L(w - eta g) over the grid (with L(w)),
- grad_change_max: max over eta of |grad L(w - eta g) - g| ("gradient predictiveness": small is
  predictive),
- beta_smoothness: max over eta of |grad L(w - eta g) - g| / |eta g| ("effective beta-smoothness").
Then every variable of the model is restored exactly (weights, BN's moving statistics, random
generators' states); the optimizer is never called, so its state is untouched. Each evaluation
starts from the saved non-trainable state, so a noise layer draws the same noise at every eta.
The measurement runs inside the compiled training step (the callback wraps Model.train_step), since
only there is the step's batch at hand; tests/test_landscape.py checks that training is
bit-identical with and without it and that the quantities equal a direct computation.
Cost: one gradient at w and one per step size, so 6 forward-backward passes with the default 5 sizes;
measured on the article's BN model in results/bench_landscape (3 alternated pairs), where the final
accuracies were equal to the last digit.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from bn_study.results import write_text


class LandscapeCallback(keras.callbacks.Callback):
    """Measures the landscape every `every` steps into `path` (see the module docstring)."""

    def __init__(self, every: int, step_multipliers: tuple[float, ...], loss: str, path: Path):
        super().__init__()
        self.every, self.multipliers, self.path = every, tuple(float(m) for m in step_multipliers), Path(path)
        self.loss_fn = keras.losses.get(loss)
        self.columns = ["loss", "grad_norm", *[f"loss_eta{i}" for i in range(len(self.multipliers))],
                        "loss_variation", "grad_change_max", "beta_smoothness", "learning_rate"]
        self.rows: list[dict] = []

    def on_train_begin(self, logs=None):
        self.result = tf.Variable(tf.zeros(len(self.columns)), trainable=False, name="landscape_result")
        if self.path.is_file() and self.path.stat().st_size:  # a resumed run keeps its earlier rows
            self.rows = pd.read_csv(self.path).to_dict("records")
        model, original = self.model, self.model.train_step

        def train_step(data):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            due = tf.equal(model.optimizer.iterations % self.every, 0)
            tf.cond(due, lambda: self._measure(x, y), lambda: tf.constant(True))
            return original(data)

        model.train_step = train_step
        model.make_train_function(force=True)  # fit built its step before callbacks began

    def _loss_and_gradient(self, x, y, weights, frozen, saved_frozen):
        for variable, value in zip(frozen, saved_frozen):
            variable.assign(value)
        with tf.GradientTape() as tape:
            prediction = self.model(x, training=True)
            loss = tf.reduce_mean(self.loss_fn(y, prediction))
            if self.model.losses:
                loss += tf.add_n(self.model.losses)
        return loss, tape.gradient(loss, weights)

    def _measure(self, x, y):
        weights = self.model.trainable_variables
        frozen = [v for v in self.model.variables if not v.trainable]
        saved_weights = [tf.identity(v) for v in weights]
        saved_frozen = [tf.identity(v) for v in frozen]
        loss, gradient = self._loss_and_gradient(x, y, weights, frozen, saved_frozen)
        grad_norm = tf.linalg.global_norm(gradient)
        rate = tf.cast(self.model.optimizer.learning_rate, tf.float32)
        losses, changes, betas = [loss], [], []
        for multiplier in self.multipliers:
            eta = multiplier * rate
            for variable, value, g in zip(weights, saved_weights, gradient):
                variable.assign(value - eta * g)
            moved_loss, moved_gradient = self._loss_and_gradient(x, y, weights, frozen, saved_frozen)
            change = tf.linalg.global_norm([a - b for a, b in zip(moved_gradient, gradient)])
            losses.append(moved_loss)
            changes.append(change)
            betas.append(change / (eta * grad_norm))
        for variable, value in zip([*weights, *frozen], [*saved_weights, *saved_frozen]):
            variable.assign(value)
        self.result.assign(tf.stack([loss, grad_norm, *losses[1:], tf.reduce_max(losses) - tf.reduce_min(losses),
                                     tf.reduce_max(changes), tf.reduce_max(betas), rate]))
        return tf.constant(True)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy()) - 1  # the step just taken
        if step % self.every == 0:
            self.rows.append({"step": step, "epoch": self.epoch,
                              **dict(zip(self.columns, self.result.numpy().astype(np.float64).tolist()))})

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.rows = [row for row in self.rows if row["epoch"] < epoch]  # a resumed epoch is measured anew

    def on_epoch_end(self, epoch, logs=None):
        frame = pd.DataFrame(self.rows, columns=["step", "epoch", *self.columns])
        write_text(self.path, frame.to_csv(index=False))
