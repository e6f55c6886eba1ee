"""MNIST and Fashion-MNIST without the Keras download host: find the arrays, verify them, split them.

Sources, tried in order: the config's `data.path` (a Keras-format .npz or a folder of the four
IDX .gz files); then, for the full data sets, the Keras cache and the fetchers in sources.py.
Whatever the source, the SHA-256 of each decoded uint8 array must match CHECKSUMS: a corrupted or
truncated file is named and never trained on.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bn_study.data import sources
from bn_study.data.arrays_io import ARRAY_NAMES, read_arrays
from bn_study.errors import UserError

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
    # Zalando's Fashion-MNIST, as the Debian package dataset-fashion-mnist and Keras carry it
    "fashion_mnist": {
        "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
    # tests/fixtures/fashion_mnist/: its first 800 training and 200 test images as IDX .gz files
    "fashion_mnist_fixture": {
        "x_train": "8c5b7d91bcba0ffc96ec392d9b9bd7bbf3113470fccc3e4ea7d2a04d87558058",
        "y_train": "e5a81bd40b28613c300f490da9b1369ee0424682da916408eba76299dd17dc23",
        "x_test": "1ea26a8badf5cf72eae232eee0644a812949e1c7b446e2068cc48b15796a4802",
        "y_test": "8aafea10b1e2b780ca1ff151bdc742b097eef82d32916ea2338de9af6319562d",
    },
}
# Training images (before the validation split) in each checksum table's arrays.
TRAINING_IMAGES = {"mnist": 60_000, "fashion_mnist": 60_000, "mnist_fixture": 800, "fashion_mnist_fixture": 800}
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}  # the full sets, with their fetchers


@dataclass(frozen=True)
class ImageSet:
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


def display_path(path: Path | str) -> str:
    """A path as results record it: under the home folder as ~/..., so no machine path is committed."""
    path, home = Path(path), Path.home()
    return f"~/{path.relative_to(home)}" if path.is_absolute() and path.is_relative_to(home) else str(path)


def load_dataset(path: str | None = None, dataset: str = "mnist", log=print) -> ImageSet:
    """Verified arrays of `dataset` from the first source that has them (module docstring)."""
    if path is not None:
        return _from_path(Path(path), dataset, log)
    if dataset not in TITLES:
        raise UserError(f"data.dataset: '{dataset}' has no download source; set data.path to its file or folder")
    title, cache = TITLES[dataset], sources.cache_for(dataset)
    if cache.path.exists():
        try:
            arrays = cache.read(cache.path)
            problems = checksum_problems(arrays, dataset)
        except ValueError as e:
            problems = [str(e)]
        if not problems:
            log(f"data: {dataset} from the Keras cache {display_path(cache.path)}, checksums ok")
            return ImageSet(**arrays, source=f"Keras cache {display_path(cache.path)}")
        log(f"data: WARNING the Keras cache {display_path(cache.path)} fails verification "
            f"({'; '.join(problems)}); fetching again")
    for name, fetch in sources.fetchers(dataset):
        try:
            arrays = fetch()
        except sources.Refused as e:  # bytes that failed a check: never used, never cached
            raise UserError(f"data: {name}: {e}") from None
        except Exception as e:  # network, pip, apt or archive failure: try the next source
            log(f"data: {name} unavailable ({type(e).__name__}: {str(e)[:160]})")
            continue
        problems = checksum_problems(arrays, dataset)
        if problems:
            raise UserError(f"data: {title} from {name} fails verification ({'; '.join(problems)}); "
                            f"pass a verified copy with --set data.path=FILE")
        cache.write(cache.path, arrays)
        log(f"data: {dataset} from {name}, checksums ok, cached as {display_path(cache.path)}")
        return ImageSet(**arrays, source=name)
    raise UserError(f"data: {title} is not available from any source; fetch it by hand and "
                    f"pass --set data.path=FILE_OR_FOLDER")


def _from_path(source: Path, dataset: str, log) -> ImageSet:
    if not source.exists():
        raise UserError(f"data.path: {source}: no such file or folder")
    try:
        arrays = read_arrays(source)
    except ValueError as e:
        raise UserError(f"data.path: {source}: {e}; pass a Keras-format .npz or a folder of the four "
                        f"IDX .gz files") from None
    problems = checksum_problems(arrays, dataset)
    if problems:
        raise UserError(f"data.path: {source} is not the '{dataset}' data set ({'; '.join(problems)}); "
                        f"delete or replace it, or drop data.path to fetch {TITLES.get(dataset, 'it')}")
    log(f"data: {dataset} from {display_path(source)} (config data.path), checksums ok")
    return ImageSet(**arrays, source=display_path(source))


def split(images: ImageSet, validation_split: float, train_limit: int | None = None,
          test_limit: int | None = None) -> Splits:
    """Scale to float32 [0, 1], add the channel axis, and cut the validation tail as Keras does.

    Keras' `validation_split` takes the last floor(n * split) samples before any shuffling;
    doing it here makes the sizes explicit and the batches identical to the article's.
    """
    x = images.x_train[:train_limit].reshape(-1, 28, 28, 1).astype("float32") / 255
    y = images.y_train[:train_limit]
    split_at = int(math.floor(len(x) * (1.0 - validation_split)))
    if split_at == 0 or split_at == len(x):
        raise UserError(f"train.validation_split: {validation_split} of {len(x)} images leaves an empty set")
    x_test = images.x_test[:test_limit].reshape(-1, 28, 28, 1).astype("float32") / 255
    return Splits(x[:split_at], y[:split_at], x[split_at:], y[split_at:], x_test, images.y_test[:test_limit])
