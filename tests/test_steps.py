"""Test accuracy every N steps (Ioffe & Szegedy's Figure 1a): right rows, training unchanged."""
import json

import pandas as pd
import pytest

from bn_study.train import training
from bn_study.config.schema import load_config
from bn_study.data.datasets import load_dataset
from bn_study.results import STEPS_FILE
from bn_study.train.steps import StepTestCallback
from tests.conftest import FIXTURE_NPZ, ON_FIXTURE, ROOT

IOFFE_BN = ROOT / "configs/ioffe2015_fig1_bn.yaml"
COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


def test_steps_recorded_without_changing_training(tmp_path):
    mnist = load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
    # 640 training images / batch 60 = 11 steps per epoch (the last of 40), 22 in 2 epochs.
    common = ON_FIXTURE + ["train.epochs=2", "probe=null"]
    plain = load_config(IOFFE_BN, common + ["train.test_every_steps=null"])
    stepped = load_config(IOFFE_BN, common + ["train.test_every_steps=11"])
    for name, config in (("plain", plain), ("stepped", stepped)):
        training.train_run(config, tmp_path / name, mnist, verbose=0, log=lambda m: None)
    assert not (tmp_path / "plain" / STEPS_FILE).exists()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "plain/history.csv")[COLUMNS],
                                  pd.read_csv(tmp_path / "stepped/history.csv")[COLUMNS])
    steps = pd.read_csv(tmp_path / "stepped" / STEPS_FILE)
    assert list(steps.columns) == ["step", "epoch", "test_loss", "test_accuracy"]
    assert list(steps["step"]) == [0, 11, 22] and list(steps["epoch"]) == [0, 0, 1]
    # The record at the last step sees the final weights: it equals the run's own test evaluation.
    metrics = json.loads((tmp_path / "stepped/metrics.json").read_text())
    assert steps["test_accuracy"].iloc[-1] == pytest.approx(metrics["test_accuracy"], abs=1e-6)  # float32 counts
    assert steps["test_loss"].iloc[-1] == pytest.approx(metrics["test_loss"], rel=1e-4)


def test_resumed_run_keeps_only_rows_of_completed_epochs(tmp_path):
    path = tmp_path / STEPS_FILE
    pd.DataFrame({"step": [0, 5, 10, 15], "epoch": [0, 0, 1, 2], "test_loss": 1.0, "test_accuracy": 0.5}).to_csv(
        path, index=False)
    callback = StepTestCallback(5, None, None, "sparse_categorical_crossentropy", path)
    callback.set_params({"steps": 6})
    callback.on_epoch_begin(2)  # resumed at epoch 2 = after step 12: the row of step 15 will be redone
    assert list(pd.read_csv(path)["step"]) == [0, 5, 10]
