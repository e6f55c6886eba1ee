"""Precise BN: the recomputed statistics are the averages they claim to be, training is untouched
(even with Dropout, whose random numbers must not be drawn), and only evaluation changes."""
import keras
import numpy as np
import pandas as pd
import pytest

from bn_study.train import training
from bn_study.config.schema import PreciseBNConfig, load_config
from bn_study.data.datasets import load_dataset
from bn_study.errors import UserError
from bn_study.model.manual_bn import ManualBatchNorm
from bn_study.train.precise_bn import PreciseBN
from tests.conftest import FIXTURE_NPZ, ON_FIXTURE, ROOT

TRAINING_COLUMNS = ["epoch", "loss", "accuracy"]
EVALUATION_COLUMNS = ["val_loss", "val_accuracy"]


def _two_bn_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(),
                             keras.layers.Dense(2), ManualBatchNorm()])


@pytest.mark.parametrize("unbiased", [False, True])
def test_statistics_are_averages_over_the_first_batches_with_earlier_bn_in_training_mode(unbiased):
    model = _two_bn_model()
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(30, 4)).astype("float32")
    dense1, bn1, dense2, bn2 = model.layers
    PreciseBN(model, x, 10, PreciseBNConfig(batches=2, unbiased=unbiased)).recompute()
    ddof = 1 if unbiased else 0
    h1 = [x[i:i + 10] @ dense1.kernel.numpy() + dense1.bias.numpy() for i in (0, 10)]  # batch 3 unused
    np.testing.assert_allclose(bn1.moving_mean.numpy(), np.mean([h.mean(0) for h in h1], 0), rtol=1e-5)
    np.testing.assert_allclose(bn1.moving_variance.numpy(), np.mean([h.var(0, ddof=ddof) for h in h1], 0), rtol=1e-5)
    normalized = [(h - h.mean(0)) / np.sqrt(h.var(0) + bn1.epsilon) for h in h1]  # batch statistics (gamma 1, beta 0)
    h2 = [n @ dense2.kernel.numpy() + dense2.bias.numpy() for n in normalized]
    np.testing.assert_allclose(bn2.moving_mean.numpy(), np.mean([h.mean(0) for h in h2], 0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), np.mean([h.var(0, ddof=ddof) for h in h2], 0), rtol=1e-4)


def test_a_fixed_statistics_batch_size_overrides_the_training_one():
    model = _two_bn_model()
    x = np.random.default_rng(2).normal(size=(30, 4)).astype("float32")
    PreciseBN(model, x, 2, PreciseBNConfig(batches=2, batch_size=15)).recompute()
    h = x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    np.testing.assert_allclose(model.layers[1].moving_mean.numpy(), (h[:15].mean(0) + h[15:].mean(0)) / 2, rtol=1e-5)


def test_too_few_training_images_is_a_one_line_error():
    with pytest.raises(UserError, match=r"train.precise_bn.batches: 4 batches of 10 need 40 training images; there are 30"):
        PreciseBN(_two_bn_model(), np.zeros((30, 4), "float32"), 10, PreciseBNConfig(batches=4))


@pytest.fixture(scope="module")
def mnist():
    return load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)


def _history(config_name, tmp_path, mnist, extra=()):
    config = load_config(ROOT / "configs" / config_name, ON_FIXTURE + ["train.epochs=2", "train.batch_size=64", *extra])
    training.train_run(config, tmp_path, mnist, verbose=0, log=lambda m: None)
    return pd.read_csv(tmp_path / "history.csv")


@pytest.mark.parametrize("config_name", ["article_bn.yaml", "regularization_bn_dropout.yaml"])
def test_training_is_unchanged_and_evaluation_uses_the_precise_statistics(tmp_path, mnist, config_name):
    ema = _history(config_name, tmp_path / "ema", mnist)
    precise = _history(config_name, tmp_path / "precise", mnist, ["train.precise_bn.batches=5"])
    pd.testing.assert_frame_equal(ema[TRAINING_COLUMNS], precise[TRAINING_COLUMNS], check_exact=True)
    assert not ema[EVALUATION_COLUMNS].equals(precise[EVALUATION_COLUMNS])
    # 10 steps into training the moving averages still hold 0.99^10 = 90% of their initial values:
    # inference with them is near chance; with statistics of the current weights it is not.
    assert precise["val_accuracy"].iloc[0] > ema["val_accuracy"].iloc[0] + 0.2
