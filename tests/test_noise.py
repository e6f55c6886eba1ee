"""CovariateShiftNoise: per-step random scale and shift in training, identity at inference,
seeded, and invisible to the probe (whose training-mode pass must not draw from its generator)."""
import numpy as np
import pandas as pd
import pytest

from bn_study.train import training
from bn_study.config.schema import load_config
from bn_study.config.validate import ClassSpec
from bn_study.data.datasets import load_dataset
from bn_study.errors import UserError
from bn_study.model.build import build_layer
from bn_study.model.noise import CovariateShiftNoise
from tests.conftest import FIXTURE_NPZ, ON_FIXTURE, ROOT

ONES = np.ones((4, 3, 3, 2), "float32")


def test_inference_is_the_identity_and_training_scales_and_shifts_each_channel():
    layer = CovariateShiftNoise(seed=1)
    np.testing.assert_array_equal(layer(ONES, training=False), ONES)
    first, second = np.asarray(layer(ONES, training=True)), np.asarray(layer(ONES, training=True))
    for out in (first, second):  # one value per channel, the same for every sample and position
        assert np.ptp(out[..., 0]) == 0 and np.ptp(out[..., 1]) == 0 and out[0, 0, 0, 0] != out[0, 0, 0, 1]
    assert not np.array_equal(first, second)  # redrawn every step
    again = CovariateShiftNoise(seed=1)
    np.testing.assert_array_equal(again(ONES, training=True), first)  # seeded
    per_activation = np.asarray(CovariateShiftNoise(per_activation=True, seed=1)(ONES, training=True))
    assert np.unique(per_activation).size == per_activation.size


def test_each_steps_distribution_moves_its_mean_and_spread():
    """Over many steps the per-step channel means spread over the shift-mean range (±1 here)."""
    layer = CovariateShiftNoise(seed=0, scale_mean=(1, 1), scale_std=(0, 0), shift_std=(0, 0))
    zeros = np.zeros((1, 64), "float32")
    means = [float(np.mean(layer(zeros, training=True))) for _ in range(200)]
    assert -1 <= min(means) < -0.8 and 0.8 < max(means) <= 1  # uniform mean in [-1, 1], drawn per step


def test_bad_range_is_a_one_line_error():
    with pytest.raises(UserError, match=r"model.layers.2 \(CovariateShiftNoise\): Keras rejects the arguments: "
                                        r"scale_std: expected \[low, high\] with low <= high, got \[1, 0\]"):
        build_layer(ClassSpec("CovariateShiftNoise", {"scale_std": [1, 0]}), "model.layers.2 (CovariateShiftNoise)")


def test_the_probe_does_not_change_a_noisy_run(tmp_path):
    mnist = load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
    sets = ON_FIXTURE + ["train.epochs=2", "train.batch_size=60", "data.train_limit=300"]
    for name, extra in (("plain", []), ("probed", ["probe.layers=[6,13]", "probe.every=2"])):
        config = load_config(ROOT / "configs/covariate_shift_bn_noise.yaml", sets + extra)
        training.train_run(config, tmp_path / name, mnist, verbose=0, log=lambda m: None)
    columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    plain, probed = (pd.read_csv(tmp_path / n / "history.csv")[columns] for n in ("plain", "probed"))
    pd.testing.assert_frame_equal(plain, probed, check_exact=True)
    assert (tmp_path / "probed/probe.csv").is_file()
