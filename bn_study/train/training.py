"""Train one run (a config plus a seed) with Keras' compile/fit and callbacks; write its files.

Resuming is Keras' BackupAndRestore (made all-or-nothing in train/backup.py): an interrupted run
restarted with the same command goes on from its last completed epoch; ResumeHistory keeps
history.csv at one row per epoch.
"""
from __future__ import annotations

import os
import platform
import shutil
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bn_study import results
from bn_study.data.batches import in_order, shuffled
from bn_study.config.schema import RunConfig
from bn_study.data.datasets import ImageSet, split
from bn_study.errors import UserError
from bn_study.faults import fault_line, write_fault
from bn_study.model.build import build_model, build_optimizer
from bn_study.train.backup import AtomicBackupAndRestore
from bn_study.train.landscape import LandscapeCallback
from bn_study.train.precise_bn import PreciseBN, PreciseBNCallback
from bn_study.train.precision import precision_note
from bn_study.train.probe import ProbeCallback
from bn_study.train.step_loss import StepLossCallback
from bn_study.train.steps import StepTestCallback
from bn_study.train.machine import cpu_facts, device_description, numerics_facts, provenance
from bn_study.train.threads import cpu_seconds, host_name, peak_rss_mb, thread_counts
from bn_study.config.yamlio import dump_yaml

SKIPPED = "skipped"


CLOCK_COLUMNS = results.CLOCK_COLUMNS  # history.csv's columns that measure the machine, not the model


class EpochClock(keras.callbacks.Callback):
    """Adds each epoch's wall seconds to the logs: 'seconds' (training + validation) and
    'val_seconds' (the validation pass alone), so history.csv shows where an epoch's time goes;
    and 'cpu_seconds', the process's CPU time (user + system, all threads) over the epoch, steadier
    than wall time on a shared machine (docs/speed.md compares the two over identical runs).

    Placed before CSVLogger, which shares the same logs dict, so history.csv gets the columns.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._val_seconds = time.perf_counter(), 0.0
        self._cpu_start = time.process_time()

    def on_test_begin(self, logs=None):
        self._val_start = time.perf_counter()

    def on_test_end(self, logs=None):
        self._val_seconds += time.perf_counter() - self._val_start

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = round(time.perf_counter() - self._start, 3)
        logs["val_seconds"] = round(self._val_seconds, 3)
        logs["cpu_seconds"] = round(time.process_time() - self._cpu_start, 3)


class TerminateOnNonFiniteValidation(keras.callbacks.Callback):
    """Stops training when an epoch's validation loss is NaN or inf while its training loss is not.

    TerminateOnNaN watches the training loss only; a BN model whose moving variance overflows
    (seen with Adam at large rates) trains on finite batch statistics but predicts NaN.
    """

    def on_epoch_end(self, epoch, logs=None):
        if "val_loss" in (logs or {}) and not np.isfinite(logs["val_loss"]):
            self.model.stop_training = True


class ResumeHistory(keras.callbacks.Callback):
    """On the first epoch of an attempt, drop history rows from that epoch on.

    BackupAndRestore saves after CSVLogger writes, so a kill between the two leaves a row for an
    epoch that will be trained again; a kill during the write leaves a partial line.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path, self._done = Path(path), False

    def on_epoch_begin(self, epoch, logs=None):
        if self._done or not self.path.is_file():
            return
        self._done = True
        lines = self.path.read_text().splitlines(keepends=True)
        header, rows = lines[:1], lines[1:]
        columns = header[0].rstrip("\n").split(",") if header else []
        keep = [r for r in rows if r.endswith("\n") and int(r.split(",")[columns.index("epoch")]) < epoch]
        with open(self.path, "r+") as f:  # in place: CSVLogger holds the file open for appending
            f.write("".join(header + keep))
            f.truncate()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


SIGNALLED: list[int] = []  # signals raise_interrupt has seen in this process


def raise_interrupt(signum, frame):
    """A SIGTERM handler: stop the way Ctrl-C does (the run records 'interrupted'). The signal is
    remembered, because a KeyboardInterrupt raised while TensorFlow runs Python code for it (the
    input pipeline's generator) can come back wrapped in another exception."""
    SIGNALLED.append(signum)
    raise KeyboardInterrupt(f"signal {signum}")


def _start_record(config: RunConfig, run_dir: Path, variant: str | None, previous: dict | None,
                  extra: dict | None, log) -> dict:
    if previous is not None and previous.get("fingerprint") != config.fingerprint():
        raise UserError(
            f"{run_dir} holds a run of a different config (fingerprint {previous.get('fingerprint')} "
            f"vs {config.fingerprint()}); delete that directory or choose another output directory")
    record = dict(previous or {})
    threads = thread_counts()
    if previous and previous.get("status") not in results.FINAL and previous.get("threads", threads) != threads:
        # Epochs before and after the resume ran at different thread counts: the history is
        # still one valid run, but no longer bit-identical to an uninterrupted one.
        log(f"{run_dir}: WARNING resuming with threads {threads}, earlier attempts used {previous['threads']}")
        record["threads_changed_at_attempt"] = record.get("attempts", 0) + 1
    numerics = numerics_facts()
    # Attempts made before bn_kernel was recorded ran on Keras' BN.
    earlier = {"bn_kernel": "keras", **previous["numerics"]} if previous and "numerics" in previous else numerics
    if previous and previous.get("status") not in results.FINAL and earlier != numerics:
        log(f"{run_dir}: WARNING resuming with {numerics}, earlier attempts used {previous['numerics']}")
        record["numerics_changed_at_attempt"] = record.get("attempts", 0) + 1
    record.update(
        status=results.RUNNING, variant=variant, seed=config.seed, fingerprint=config.fingerprint(),
        python=platform.python_version(), tensorflow=tf.__version__, keras=keras.__version__,
        numpy=np.__version__, device=device_description(), cpu=cpu_facts(), host=host_name(), pid=os.getpid(), threads=threads,
        numerics=numerics, precision=config.train.precision, deterministic=config.train.deterministic, **provenance(), **(extra or {}),
        started=record.get("started", _now()), attempt_started=_now(),
        attempts=record.get("attempts", 0) + 1, total_seconds=record.get("total_seconds", 0.0),
        cpu_seconds=record.get("cpu_seconds", 0.0))
    record.pop("error", None)
    return record


def train_run(config: RunConfig, run_dir: Path, images: ImageSet, *, variant: str | None = None,
              verbose: int | str = "auto", log=print, extra_record: dict | None = None) -> str:
    """Train `config` into run_dir unless it is already complete; returns the final status.

    `extra_record` adds keys to run.json (the engine, the Ray node that trained it).
    """
    run_dir = Path(run_dir)
    with results.lock(run_dir):
        run_file = run_dir / results.RUN_FILE
        previous = results.read_json(run_file) if run_file.is_file() else None
        record = _start_record(config, run_dir, variant, previous, extra_record, log)
        if previous and previous.get("status") in results.FINAL:
            log(f"{run_dir}: {previous['status']}, skipped")
            return SKIPPED
        if previous:
            log(f"{run_dir}: resuming ({previous.get('status')}, attempt {record['attempts']})")
        results.write_text(run_dir / results.CONFIG_FILE, dump_yaml(config.to_raw()))
        results.write_json(run_file, record)
        log(f"device: {record['device']}")
        note = precision_note(config.train.precision, record["cpu"]["isa"], record["device"].startswith("GPU"))
        if note:
            log(note)
        started, cpu_started = time.perf_counter(), cpu_seconds()
        old_sigterm = signal.signal(signal.SIGTERM, raise_interrupt)
        signalled_before = len(SIGNALLED)
        try:
            status = _fit_and_evaluate(config, run_dir, images, record, verbose)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the CLI prints how to continue
            status = "interrupted"
            raise
        except BaseException as e:
            if len(SIGNALLED) > signalled_before:  # the interrupt, wrapped by TensorFlow on its way here
                status = "interrupted"
                raise KeyboardInterrupt(f"signal {SIGNALLED[-1]}") from e
            status = "failed"
            fault = write_fault(e)
            record["error"] = (fault_line(fault) if fault else
                               f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
            raise
        finally:
            signal.signal(signal.SIGTERM, old_sigterm)
            # Peak RSS is the process's: a process that trained several runs reports its highest.
            record.update(status=status, ended=_now(),
                          total_seconds=round(record["total_seconds"] + time.perf_counter() - started, 1),
                          cpu_seconds=round(record["cpu_seconds"] + cpu_seconds() - cpu_started, 1),
                          peak_rss_mb=max(record.get("peak_rss_mb", 0.0), peak_rss_mb()))
            if status in results.FINAL:  # what every reader checks the run's files against
                record[results.FILES_KEY] = results.record_files(run_dir)
            try:
                results.write_json(run_file, record)
            except OSError as e:
                if not (status == "failed" and write_fault(e)):
                    raise
                # The disk refuses even the record: run.json keeps 'running', and as no process holds the
                # run's lock any more, verify and stats name it as stopped (results.stopped_while_running).
        return status


def _fit_and_evaluate(config: RunConfig, run_dir: Path, images: ImageSet, record: dict, verbose) -> str:
    train = config.train
    splits = split(images, train.validation_split, config.data.train_limit, config.data.test_limit)
    record.update(data_source=images.source, n_train=len(splits.x_train), n_val=len(splits.x_val),
                  n_test=len(splits.x_test))
    keras.backend.clear_session()  # free the previous run's graphs; layer names restart
    keras.utils.set_random_seed(config.seed)
    if train.deterministic:
        tf.config.experimental.enable_op_determinism()
    model = build_model(config.model, bn_kernel=record["numerics"]["bn_kernel"], precision=train.precision)
    record["parameters"] = model.count_params()  # for reports, which then need no TensorFlow
    model.compile(optimizer=build_optimizer(config.optimizer), loss=train.loss, metrics=list(train.metrics),
                  steps_per_execution=train.steps_per_execution or 1)
    history_path = run_dir / results.HISTORY_FILE
    precise = PreciseBN(model, splits.x_train, train.batch_size, train.precise_bn) if train.precise_bn else None
    callbacks = [
        # First, so that the validation pass (and StepTestCallback) see the recomputed statistics.
        *([PreciseBNCallback(precise)] if precise else []),
        ResumeHistory(history_path),
        EpochClock(),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        keras.callbacks.TerminateOnNaN(),
        TerminateOnNonFiniteValidation(),
        *([ProbeCallback(config.probe, splits.x_val, splits.y_val, train.loss, run_dir / results.PROBE_FILE)]
          if config.probe else []),
        *([StepTestCallback(train.test_every_steps, splits.x_test, splits.y_test, train.loss, run_dir / results.STEPS_FILE,
                            prepare=precise.recompute if precise else None)]
          if train.test_every_steps else []),
        *([StepLossCallback(run_dir / results.STEP_LOSS_FILE, len(splits.x_train), train.batch_size)]
          if train.step_loss else []),
        *([LandscapeCallback(config.landscape.every, config.landscape.step_multipliers, train.loss,
                             run_dir / results.LANDSCAPE_FILE)] if config.landscape else []),
        *([keras.callbacks.TensorBoard(log_dir=str(run_dir / results.TENSORBOARD_DIR))] if train.tensorboard else []),
        # Last, so that it saves only after CSVLogger has written the epoch's row.
        AtomicBackupAndRestore(str(run_dir / results.BACKUP_DIR), delete_checkpoint=False),
    ]
    history = model.fit(
        shuffled(splits.x_train, splits.y_train, train.batch_size, train.shuffle, parallel=not train.deterministic),
        epochs=train.epochs, shuffle=False,  # the batches above are shuffled already (fit's default warns)
        validation_data=in_order(splits.x_val, splits.y_val, train.validation_batch_size or train.batch_size),
        callbacks=callbacks, verbose=verbose)
    last = {name: values[-1] for name, values in history.history.items() if name in ("loss", "val_loss") and values}
    non_finite = [name for name, value in last.items() if not np.isfinite(value)]
    if non_finite:
        record["diverged_epoch"] = history.epoch[-1] + 1 if history.epoch else 1  # 1-based: "during epoch N"
        record["diverged_in"] = "training loss" if "loss" in non_finite else "validation loss"
        return "diverged"
    if precise:
        precise.recompute()
    # Batches of 32, Keras' default, as the article's script evaluates.
    test_loss, test_accuracy = model.evaluate(in_order(splits.x_test, splits.y_test, 32), verbose=0)
    results.write_json(run_dir / results.METRICS_FILE, {"test_loss": test_loss, "test_accuracy": test_accuracy})
    shutil.rmtree(run_dir / results.BACKUP_DIR, ignore_errors=True)
    return results.COMPLETE
