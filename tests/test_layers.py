"""ManualBatchNorm equals keras.layers.BatchNormalization: outputs, gradients, moving statistics, training."""
import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from bn_study import training
from bn_study.config import load_config
from bn_study.data import load_mnist
from bn_study.layers import ManualBatchNorm
from tests.conftest import FIXTURE_NPZ, ON_FIXTURE, ROOT

RTOL, ATOL = 1e-5, 1e-6  # float32; ATOL only for values that are ~0
CASES = [  # (input shape, layer arguments)
    ((32, 16), {}),
    ((8, 6, 6, 4), {}),
    ((8, 5, 6, 3), {"axis": 1}),  # channels on a non-default axis
    ((16, 10), {"momentum": 0.9, "epsilon": 1e-5, "center": False}),
    ((16, 10), {"scale": False, "gamma_initializer": "random_normal", "beta_initializer": "random_uniform",
                "moving_variance_initializer": "ones"}),
]


def _pair(shape, args):
    keras.utils.set_random_seed(1)
    ours, theirs = ManualBatchNorm(**args), keras.layers.BatchNormalization(**args)
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.default_rng(0)  # gamma and beta away from 1 and 0 so that errors would show
    for a, b in zip(ours.weights, theirs.weights):
        assert a.shape == b.shape and a.trainable == b.trainable
        value = rng.normal(1.0, 0.5, a.shape).astype("float32")
        a.assign(np.abs(value) if "variance" in a.path else value)
        b.assign(np.abs(value) if "variance" in b.path else value)
    return ours, theirs


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(2.0, 3.0, shape).astype("float32")


@pytest.mark.parametrize("shape, args", CASES)
def test_outputs_equal_in_training_and_inference(shape, args):
    ours, theirs = _pair(shape, args)
    x = _x(shape)
    for training_mode in (True, False):
        np.testing.assert_allclose(ours(x, training=training_mode), theirs(x, training=training_mode),
                                   rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape, args", CASES)
def test_gradients_equal(shape, args):
    ours, theirs = _pair(shape, args)
    x = tf.constant(_x(shape))
    upstream = tf.constant(_x(shape, seed=1))  # a non-trivial loss: sum(out * upstream)
    grads = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * upstream)
        grads.append(tape.gradient(loss, [x] + [w.value for w in layer.trainable_weights]))
    assert len(grads[0]) == len(grads[1]) == 1 + args.get("scale", True) + args.get("center", True)
    for g_ours, g_theirs in zip(*grads):
        np.testing.assert_allclose(g_ours, g_theirs, rtol=RTOL, atol=1e-5)


@pytest.mark.parametrize("shape, args", CASES)
def test_moving_statistics_equal_after_several_steps(shape, args):
    ours, theirs = _pair(shape, args)
    for step in range(5):
        x = _x(shape, seed=step)
        ours(x, training=True)
        theirs(x, training=True)
    np.testing.assert_allclose(ours.moving_mean, theirs.moving_mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.moving_variance, theirs.moving_variance, rtol=RTOL, atol=ATOL)


def test_serialises_and_loads_by_class_name():
    layer = ManualBatchNorm(axis=1, momentum=0.9, epsilon=0.01, center=False)
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(again, ManualBatchNorm)
    assert (again.axis, again.momentum, again.epsilon, again.center) == (1, 0.9, 0.01, False)


def test_article_bn_model_trains_identically_with_either_layer(tmp_path):
    mnist = load_mnist(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
    histories = {}
    for name in ("article_bn", "article_bn_manual"):
        config = load_config(ROOT / f"configs/{name}.yaml", ON_FIXTURE + ["train.epochs=2"])
        training.train_run(config, tmp_path / name, mnist, verbose=0, log=lambda m: None)
        histories[name] = pd.read_csv(tmp_path / name / "history.csv").drop(columns=["seconds", "val_seconds"])
    assert len(histories["article_bn"]) == 2
    pd.testing.assert_frame_equal(histories["article_bn"], histories["article_bn_manual"], rtol=1e-4, atol=1e-4)
