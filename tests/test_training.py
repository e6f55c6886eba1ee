"""One run on the fixture: repeatability, resume after an interruption, and history bookkeeping."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bn_study.train import training
from bn_study.data.batches import in_order, shuffled
from bn_study.config.schema import load_config
from bn_study.data.datasets import load_dataset, split
from bn_study.model.build import build_model
from tests.conftest import FIXTURE_NPZ, ON_FIXTURE, SMALL_BN, SMALL_NO_BN

COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


@pytest.fixture(scope="module")
def mnist():
    return load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)


def _config(epochs=2, extra=()):
    return load_config(SMALL_BN, ON_FIXTURE + [f"train.epochs={epochs}", *extra])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist):
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    training.train_run(_config(epochs=3), run_dir, mnist, verbose=0, log=lambda m: None)
    return run_dir


def _history(run_dir):
    return pd.read_csv(run_dir / "history.csv")[COLUMNS]


def test_same_seed_same_history_other_seed_differs(tmp_path, mnist):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        training.train_run(_config().with_seed(seed), tmp_path / name, mnist, verbose=0, log=lambda m: None)
    pd.testing.assert_frame_equal(_history(tmp_path / "a"), _history(tmp_path / "b"))
    assert not _history(tmp_path / "a").equals(_history(tmp_path / "c"))


def _stopping_in_epoch_2(on_epoch_end):
    """A callback's on_epoch_end that runs, then raises KeyboardInterrupt at the end of epoch 2."""
    def stop_in_epoch_2(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt("test")
    return stop_in_epoch_2


@pytest.mark.parametrize("hook, rows_left", [
    # Interrupted before CSVLogger wrote epoch 2's row: history has epoch 0 only.
    ((training.EpochClock, "on_epoch_end"), [0]),
    # Interrupted after the row was written but before BackupAndRestore saved epoch 2: the row
    # stays until the rerun retrains epoch 2 and ResumeHistory drops it first.
    ((training.keras.callbacks.CSVLogger, "on_epoch_end"), [0, 1]),
])
def test_interrupted_run_resumes_from_its_last_epoch(tmp_path, mnist, monkeypatch, hook, rows_left, uninterrupted):
    config = _config(epochs=3)
    cls, method = hook
    original = getattr(cls, method)
    monkeypatch.setattr(cls, method, _stopping_in_epoch_2(original))
    with pytest.raises(KeyboardInterrupt):
        training.train_run(config, tmp_path, mnist, verbose=0, log=lambda m: None)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "interrupted" and not (tmp_path / "metrics.json").exists()
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == rows_left

    monkeypatch.setattr(cls, method, original)
    assert training.train_run(config, tmp_path, mnist, verbose=0, log=lambda m: None) == "complete"
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "complete" and run["attempts"] == 2
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0, 1, 2]
    # On the CPU with op determinism, the resumed run is the uninterrupted run, number for number.
    pd.testing.assert_frame_equal(_history(tmp_path), _history(uninterrupted))
    assert (tmp_path / "metrics.json").read_text() == (uninterrupted / "metrics.json").read_text()
    assert training.train_run(config, tmp_path, mnist, verbose=0, log=lambda m: None) == training.SKIPPED


def test_interrupted_inside_the_backup_save_resumes_from_the_epoch_before(tmp_path, mnist, monkeypatch, uninterrupted):
    """Ctrl-C or SIGTERM in the middle of epoch 2's backup: the weights file half-written (here a few
    bytes), then KeyboardInterrupt. Keras' own BackupAndRestore writes in place, and every rerun
    failed loading that file; ours leaves it under a staging name and keeps epoch 1's backup."""
    original, saves = training.keras.Model.save_weights, []

    def cut_short(self, filepath, *args, **kwargs):
        saves.append(filepath)
        if len(saves) == 2:
            Path(filepath).write_bytes(b"\x89HDF\r\n")
            raise KeyboardInterrupt("test")
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(training.keras.Model, "save_weights", cut_short)
    with pytest.raises(KeyboardInterrupt):
        training.train_run(_config(epochs=3), tmp_path, mnist, verbose=0, log=lambda m: None)
    monkeypatch.setattr(training.keras.Model, "save_weights", original)
    assert json.loads((tmp_path / "backup/training_metadata.json").read_text())["epoch"] == 1
    assert training.train_run(_config(epochs=3), tmp_path, mnist, verbose=0, log=lambda m: None) == "complete"
    pd.testing.assert_frame_equal(_history(tmp_path), _history(uninterrupted))
    assert (tmp_path / "metrics.json").read_text() == (uninterrupted / "metrics.json").read_text()


def test_a_backup_in_keras_own_layout_still_resumes(tmp_path, mnist, monkeypatch, uninterrupted):
    """Runs stopped before train/backup.py existed hold Keras' latest.weights.h5 and a JSON without
    'weights' (results/placement had two): the same command must still finish them."""
    monkeypatch.setattr(training, "AtomicBackupAndRestore", training.keras.callbacks.BackupAndRestore)
    monkeypatch.setattr(training.EpochClock, "on_epoch_end", _stopping_in_epoch_2(training.EpochClock.on_epoch_end))
    with pytest.raises(KeyboardInterrupt):
        training.train_run(_config(epochs=3), tmp_path, mnist, verbose=0, log=lambda m: None)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    assert training.train_run(_config(epochs=3), tmp_path, mnist, verbose=0, log=lambda m: None) == "complete"
    pd.testing.assert_frame_equal(_history(tmp_path), _history(uninterrupted))


def test_resume_history_drops_rows_that_will_be_retrained(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,accuracy,loss\n0,0.5,1.0\n1,0.6,0.9\n2,0.7,0.8\n3,0.8,0.7\n4,0.9")
    callback = training.ResumeHistory(path)
    callback.on_epoch_begin(2)
    assert path.read_text() == "epoch,accuracy,loss\n0,0.5,1.0\n1,0.6,0.9\n"
    path.write_text(path.read_text() + "2,0.1,0.1\n")
    callback.on_epoch_begin(3)  # only the first epoch of an attempt trims
    assert path.read_text().count("\n") == 4


def test_divergence_is_recorded_not_retried(tmp_path, mnist):
    # 1e12 is enough for the article CNN; the small CNN's ReLUs die at that rate and its loss stays finite.
    config = load_config(SMALL_NO_BN, ON_FIXTURE + ["train.epochs=3", "optimizer.learning_rate=1e30"])
    status = training.train_run(config, tmp_path, mnist, verbose=0, log=lambda m: None)
    run = json.loads((tmp_path / "run.json").read_text())
    assert status == run["status"] == "diverged" and run["diverged_epoch"] is not None
    assert training.train_run(config, tmp_path, mnist, verbose=0, log=lambda m: None) == training.SKIPPED


def test_nan_validation_loss_with_finite_training_loss_is_divergence(tmp_path, mnist):
    # The BN with a moving variance of -1, never updated (momentum 1): training uses batch statistics
    # and stays finite, inference takes the square root of -1 + epsilon and is NaN.
    config = load_config(SMALL_BN, ON_FIXTURE + [
        "train.epochs=3", "model.layers.1.momentum=1.0",
        "model.layers.1.moving_variance_initializer={class_name: Constant, config: {value: -1.0}}"])
    status = training.train_run(config, tmp_path, mnist, verbose=0, log=lambda m: None)
    run = json.loads((tmp_path / "run.json").read_text())
    history = pd.read_csv(tmp_path / "history.csv")
    assert status == "diverged" and run["diverged_in"] == "validation loss" and run["diverged_epoch"] == 1
    assert len(history) == 1 and history["loss"].notna().all()  # stopped after the first epoch
    assert not (tmp_path / "metrics.json").exists()


def test_our_evaluation_batches_give_keras_losses_exactly(mnist):
    """Validation and test batches come from batches.in_order, not Keras' array pipeline: the
    numbers must not move by a bit, or every committed run would stop reproducing."""
    config = _config()
    splits = split(mnist, 0.2)
    model = build_model(config.model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(splits.x_train, splits.y_train, batch_size=64, epochs=1, verbose=0)  # BN statistics move
    for batch_size in (32, 250):  # 160 images: partial last batches, and one partial batch only
        assert (model.evaluate(in_order(splits.x_val, splits.y_val, batch_size), verbose=0)
                == model.evaluate(splits.x_val, splits.y_val, batch_size=batch_size, verbose=0))


# shuffle=False is the easier case (no permutation to match): in `make test-slow`.
@pytest.mark.parametrize("shuffle", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_our_training_batches_give_keras_histories_exactly(mnist, shuffle):
    """Training batches come from batches.shuffled, not Keras' array pipeline: the same permutation
    each epoch (BN makes every loss depend on which images share a batch), to the bit."""
    import keras
    import tensorflow as tf

    splits = split(mnist, 0.2)
    x, y = splits.x_train[:610], splits.y_train[:610]  # 610 = 9 batches of 64 and a partial one of 34
    histories = []
    for ours in (False, True):
        keras.backend.clear_session()
        keras.utils.set_random_seed(7)
        tf.config.experimental.enable_op_determinism()
        model = build_model(_config().model)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        feed = dict(x=shuffled(x, y, 64, shuffle), shuffle=False) if ours else dict(x=x, y=y, batch_size=64, shuffle=shuffle)
        histories.append(model.fit(**feed, epochs=3, verbose=0).history)
    assert histories[0] == histories[1]
    assert len(set(histories[0]["loss"])) == 3  # it trained


def test_tensorboard_logs_without_changing_the_run(tmp_path, mnist):
    for name, extra in (("plain", []), ("logged", ["train.tensorboard=true"])):
        config = _config(epochs=1, extra=["data.train_limit=300", *extra])
        training.train_run(config, tmp_path / name, mnist, verbose=0, log=lambda m: None)
    pd.testing.assert_frame_equal(_history(tmp_path / "plain"), _history(tmp_path / "logged"), check_exact=True)
    assert list((tmp_path / "logged/tensorboard/train").glob("events.out.tfevents.*"))
    assert not (tmp_path / "plain/tensorboard").exists()


def test_rerun_of_a_run_is_bit_identical_and_says_what_differs(tmp_path, mnist, monkeypatch):
    from bn_study.run import rerun

    original = tmp_path / "original"
    training.train_run(_config(epochs=1, extra=["data.train_limit=300"]), original, mnist, verbose=0, log=lambda m: None)
    record = json.loads((original / "run.json").read_text())
    env = rerun.rerun_environment(record)
    assert env["TF_ENABLE_ONEDNN_OPTS"] == ("1" if record["numerics"]["onednn"] else "0")
    assert env["TF_NUM_INTRAOP_THREADS"] == str(record["threads"]["intra_op"])
    assert env["BN_STUDY_BN_KERNEL"] == record["numerics"]["bn_kernel"]
    report = rerun.rerun(original, tmp_path / "again", verbose=0, log=lambda m: None)
    assert report["bit_identical"] and set(report["max_abs_difference"].values()) == {0.0}
    assert "bit-identical" in rerun.describe(report).splitlines()[0]
    # A run that differs is reported with its largest difference and the facts that differ.
    history = pd.read_csv(tmp_path / "again/history.csv")
    history.loc[0, "val_loss"] += 0.5
    history.to_csv(tmp_path / "again/history.csv", index=False)
    changed = rerun.compare_runs(original, tmp_path / "again")
    assert not changed["bit_identical"] and changed["max_abs_difference"]["val_loss"] == pytest.approx(0.5)
    other = dict(record, cpu={"model": "Other CPU", "isa": ["avx2"], "caches": {}})
    assert list(rerun.differing_facts(record, other)) == ["cpu"]


def test_rerun_of_an_old_run_takes_tensorflows_default_for_its_cpu():
    """Runs before 2026-12-01 recorded the CPU's ISA but not oneDNN: TensorFlow's default applied;
    nor the BN kernel: Keras' own BN made them."""
    from bn_study.run.rerun import rerun_environment

    epyc = {"cpu": {"isa": ["sse4_2", "avx", "avx2", "fma"]}, "threads": {"intra_op": 1, "inter_op": 1}}
    xeon = {"cpu": {"isa": ["avx2", "avx512f", "avx512_vnni", "amx_tile"]}}
    keras_bn = {"BN_STUDY_BN_KERNEL": "keras"}
    assert rerun_environment(epyc) == {"TF_ENABLE_ONEDNN_OPTS": "0", **keras_bn, "TF_NUM_INTRAOP_THREADS": "1",
                                       "TF_NUM_INTEROP_THREADS": "1"}
    assert rerun_environment(xeon) == {"TF_ENABLE_ONEDNN_OPTS": "1", **keras_bn}
    assert rerun_environment({}) == keras_bn  # no CPU recorded: this machine's oneDNN default
    made_with_keras_bn = {"numerics": {"onednn": True, "environment": {}}}
    assert rerun_environment(made_with_keras_bn) == {"TF_ENABLE_ONEDNN_OPTS": "1", **keras_bn}


def test_input_pipelines_run_without_tf_data_autotuning():
    """Autotuning's thread left each one-thread run idle at every new iterator when the other core was
    busy (docs/speed.md, "The idle fifth"): both pipelines switch it off, whatever else they set."""
    x, y = np.zeros((10, 2, 2, 1), np.float32), np.zeros(10, np.int64)
    for data in (shuffled(x, y, 4), shuffled(x, y, 4, shuffle=False, parallel=True), in_order(x, y, 4)):
        assert data.options().autotune.enabled is False
