"""Every step's own training loss (train.step_loss) and the loss spikes counted from it."""
import json

import keras
import numpy as np
import pandas as pd
import pytest

from bn_study.config.schema import load_config
from bn_study.data.datasets import load_dataset, split
from bn_study.model.build import build_model
from bn_study.stats.summary import count_spikes, summarize_run
from bn_study.results import STEP_LOSS_FILE, read_run
from bn_study.train import training
from bn_study.train.step_loss import StepLossCallback
from tests.conftest import FIXTURE_NPZ, ON_FIXTURE, ROOT

PLAIN_MLP = ROOT / "configs/plain_mlp.yaml"
COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


def _mnist():
    return load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)


def test_step_losses_are_each_batchs_own_loss_and_training_is_unchanged(tmp_path):
    # 640 training images in batches of 250: 250, 250, 140 — the short last batch weighs less in
    # Keras' running mean. Learning rate 0 keeps the weights at their initial values, so each step's
    # loss can be computed directly from the batch (in order: shuffle off), BN in training mode.
    common = ON_FIXTURE + ["train.epochs=2", "train.shuffle=false", "model.family.depth=3",
                           "model.family.normalizer=batch", "optimizer.class=SGD", "optimizer.learning_rate=0.0"]
    plain = load_config(PLAIN_MLP, common)
    logged = load_config(PLAIN_MLP, common + ["train.step_loss=true"])
    for name, config in (("plain", plain), ("logged", logged)):
        training.train_run(config, tmp_path / name, _mnist(), verbose=0, log=lambda m: None)
    assert not (tmp_path / "plain" / STEP_LOSS_FILE).exists()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "plain/history.csv")[COLUMNS],
                                  pd.read_csv(tmp_path / "logged/history.csv")[COLUMNS])
    steps = pd.read_csv(tmp_path / "logged" / STEP_LOSS_FILE)
    assert list(steps["step"]) == [1, 2, 3, 4, 5, 6] and list(steps["epoch"]) == [0, 0, 0, 1, 1, 1]

    x_train = split(_mnist(), logged.train.validation_split).x_train
    y_train = split(_mnist(), logged.train.validation_split).y_train
    keras.backend.clear_session()
    keras.utils.set_random_seed(logged.seed)
    bn_kernel = json.loads((tmp_path / "logged/run.json").read_text())["numerics"]["bn_kernel"]
    model = build_model(logged.model, bn_kernel=bn_kernel)
    loss = keras.losses.SparseCategoricalCrossentropy()
    direct = [float(loss(y_train[i:i + 250], model(x_train[i:i + 250], training=True))) for i in (0, 250, 500)]
    np.testing.assert_allclose(steps["loss"], direct * 2, rtol=1e-5)
    # The epoch's logged loss is the images-weighted mean of its steps (not their plain mean).
    history = pd.read_csv(tmp_path / "logged/history.csv")
    assert history["loss"][0] == pytest.approx(np.average(direct, weights=[250, 250, 140]), rel=1e-5)
    # summary.csv counts the spikes only for runs that logged their steps.
    assert summarize_run(read_run(tmp_path / "logged"), ())["loss_spikes"] == 0  # fixed weights: no spike
    assert "loss_spikes" not in summarize_run(read_run(tmp_path / "plain"), ())


def test_a_resumed_run_drops_the_rows_of_the_epoch_it_redoes(tmp_path):
    path = tmp_path / STEP_LOSS_FILE
    pd.DataFrame({"step": [1, 2, 3, 4, 5], "epoch": [0, 0, 1, 1, 2], "loss": 1.0}).to_csv(path, index=False)
    callback = StepLossCallback(path, n_train=500, batch_size=250)
    callback.set_params({"steps": 2})
    callback.on_epoch_begin(2)  # resumed at epoch 2: its row (step 5) will be written again
    assert list(pd.read_csv(path)["step"]) == [1, 2, 3, 4]


def test_a_spike_is_a_doubling_over_the_recent_median_by_at_least_a_tenth():
    calm = np.full(40, 2.30)
    assert count_spikes(calm) == 0
    spiky = calm.copy()
    spiky[[25, 30]] = 5.0  # more than twice 2.30, 2.7 above it
    spiky[35] = 4.0  # less than twice: not a spike
    assert count_spikes(spiky) == 2
    fitted = np.full(40, 0.02)
    fitted[30] = 0.09  # 4.5x a nearly fitted net's loss, but only 0.07 above it: noise, not a spike
    assert count_spikes(fitted) == 0
    early = np.full(40, 0.5)
    early[10] = 3.0  # before 20 steps of history: not counted
    assert count_spikes(early) == 0
