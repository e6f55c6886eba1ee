"""The loss-landscape callback (Santurkar et al. 2018): training is bit-identical with and without
it, its quantities equal a direct computation, and it restores everything it moves."""
import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from bn_study.config.schema import load_config
from bn_study.data.datasets import load_dataset
from bn_study.train import training
from bn_study.train.landscape import LandscapeCallback
from tests.conftest import FIXTURE_NPZ, HISTORY_COLUMNS, ON_FIXTURE, SMALL_BN

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def mnist():
    return load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)


@pytest.mark.parametrize("config_path, extra", [
    (SMALL_BN, []),
    # The noise layer draws from a seeded generator: every evaluation must leave its state as found
    # (in `make test-slow`: the plain case already checks every other variable's restore).
    pytest.param(SMALL_BN, ["model.layers.2={class: CovariateShiftNoise}"], marks=pytest.mark.slow),
])
def test_training_is_bit_identical_with_the_landscape_measured(tmp_path, mnist, config_path, extra):
    base = ON_FIXTURE + ["train.epochs=2", "data.train_limit=400", "train.batch_size=32", *extra]
    for name, sets in (("plain", base), ("measured", base + ["landscape.every=3"])):
        training.train_run(load_config(config_path, sets), tmp_path / name, mnist, verbose=0, log=lambda m: None)
    plain, measured = (pd.read_csv(tmp_path / n / "history.csv")[HISTORY_COLUMNS] for n in ("plain", "measured"))
    pd.testing.assert_frame_equal(plain, measured, check_exact=True)
    assert json.loads((tmp_path / "plain/metrics.json").read_text()) == json.loads((tmp_path / "measured/metrics.json").read_text())
    landscape = pd.read_csv(tmp_path / "measured/landscape.csv")
    assert list(landscape["step"]) == list(range(0, 20, 3))  # 10 steps per epoch x 2
    assert list(landscape["epoch"]) == [0, 0, 0, 0, 1, 1, 1]
    assert (landscape[["loss_variation", "grad_change_max", "beta_smoothness"]] > 0).all().all()
    assert not (tmp_path / "plain/landscape.csv").exists()


def test_quantities_equal_a_direct_computation():
    """On a tiny BN model, the first measured step against the same formulas in plain TensorFlow."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5)).astype("float32"), rng.integers(0, 3, 16)

    def tiny():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, use_bias=False),
                                  keras.layers.BatchNormalization(), keras.layers.Activation("tanh"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
        return model

    model, multipliers = tiny(), (0.5, 1.0, 3.0)
    callback = LandscapeCallback(1, multipliers, "sparse_categorical_crossentropy", "/dev/null")
    callback.on_epoch_end = lambda *a, **k: None  # nothing to write here
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    row = callback.rows[0]

    reference = tiny()
    weights = reference.trainable_variables
    start = [w.numpy() for w in weights]

    def loss_and_grad():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, reference(x, training=True)))
        return float(loss), [g.numpy() for g in tape.gradient(loss, weights)]

    loss, g = loss_and_grad()
    norm = np.sqrt(sum((gi ** 2).sum() for gi in g))
    losses, changes, betas = [loss], [], []
    for m in multipliers:
        for w, w0, gi in zip(weights, start, g):
            w.assign(w0 - 0.5 * m * gi)
        moved, moved_g = loss_and_grad()
        change = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(moved_g, g)))
        losses.append(moved), changes.append(change), betas.append(change / (0.5 * m * norm))
    expected = {"loss": loss, "grad_norm": norm, "loss_variation": max(losses) - min(losses),
                "grad_change_max": max(changes), "beta_smoothness": max(betas), "learning_rate": 0.5,
                **{f"loss_eta{i}": v for i, v in enumerate(losses[1:])}}
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
