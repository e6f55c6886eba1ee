"""Keras' BackupAndRestore with a backup that no interruption can leave half-written.

Keras 3.15 saves the weights over `latest.weights.h5` in place, then the epoch number beside it.
A run stopped inside that save (SIGTERM or Ctrl-C raise in the middle of the HDF5 write; SIGKILL
or a power cut stop it anywhere) keeps a truncated file, and every later attempt fails loading it
("Layer 'conv2d' expected 2 variables, but received 0"), so the same command never completes the
run; stopped between the two writes, the weights of epoch N+1 resume as if they were epoch N's and
one epoch is trained twice. Found by tests/test_parallel.py, which freezes a --jobs 2 experiment
right after an epoch's end and kills its parent.

Here each epoch's weights go to a file of their own, written under a staging name and renamed when
complete; the small JSON that names them and their epoch is then replaced atomically, and only
after that are older weights deleted. That JSON is the commit point: a backup is the epoch it
names with the weights it names, or no backup (training starts from scratch), never a mix.
"""
from __future__ import annotations

import errno
import json
import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from bn_study import results

OLD_WEIGHTS = "latest.weights.h5"  # what a backup written by Keras' own callback holds


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore(backup_dir, save_freq="epoch") whose backups are all-or-nothing."""

    def _save_model(self) -> None:
        backup_dir = Path(self.backup_dir)
        backup_dir.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{self._current_epoch}-batch-{self._last_batch_seen}.weights.h5"
        staging = backup_dir / f"staging.{weights}"  # Keras wants the .weights.h5 ending
        _check_room(staging, self._weights_bytes())
        try:
            self.model.save_weights(str(staging), overwrite=True)
        except OSError:
            staging.unlink(missing_ok=True)
            raise
        os.replace(staging, backup_dir / weights)
        results.write_json(Path(self._training_metadata_path),
                           {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": weights})
        for old in backup_dir.glob("*.weights.h5"):
            if old.name != weights:
                old.unlink()

    def _weights_bytes(self) -> int:
        """What save_weights writes: the model's variables and the optimizer's."""
        optimizer = self.model.optimizer.variables if self.model.optimizer is not None else []
        return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in [*self.model.variables, *optimizer])

    def _load_model(self) -> None:
        metadata_path = Path(self._training_metadata_path)
        if not metadata_path.is_file():  # nothing committed yet: start from scratch
            return
        metadata = json.loads(metadata_path.read_text())
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # so that its variables load too
        self.model.load_weights(str(Path(self.backup_dir) / metadata.get("weights", OLD_WEIGHTS)))
        self.model._initial_epoch = metadata["epoch"]


# HDF5's own structures beside the arrays, generously: a backup needs its arrays plus this much room.
HDF5_OVERHEAD_BYTES = 256 * 1024


def _check_room(path: Path, array_bytes: int) -> None:
    """ENOSPC before h5py writes, when the disk cannot hold the backup: h5py that meets a full disk in
    the middle of a file leaves objects that crash the interpreter when they are freed."""
    needed = array_bytes + HDF5_OVERHEAD_BYTES
    if shutil.disk_usage(path.parent).free < needed:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
