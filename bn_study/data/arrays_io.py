"""The two on-disk forms of an MNIST-like data set, read and written whole or not at all.

- a Keras-format .npz (x_train, y_train, x_test, y_test), as keras.datasets.mnist caches MNIST;
- a folder of the four IDX files, gzipped, as MNIST and Fashion-MNIST are published and as
  keras.datasets.fashion_mnist caches Fashion-MNIST (train-images-idx3-ubyte.gz, ...).
IDX (LeCun's format): two zero bytes, a type code (0x08 = uint8), the number of dimensions, then
each dimension as a big-endian uint32, then the values. A truncated or corrupted file raises
ValueError naming the file, never yields a shorter array.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from bn_study.results import atomic_path

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
IDX_FILES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
             "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}
UINT8 = 0x08


def read_npz(path: Path) -> dict:
    """The arrays of a Keras-format .npz; ValueError if it cannot be read."""
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


def parse_idx(data: bytes) -> np.ndarray:
    """An IDX byte string -> uint8 array; ValueError if the header or the length is wrong."""
    if len(data) < 4 or data[:2] != b"\0\0":
        raise ValueError("not an IDX file (no 0x0000 magic)")
    if data[2] != UINT8:
        raise ValueError(f"IDX type 0x{data[2]:02x}, expected 0x08 (uint8)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError("IDX header cut short")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"IDX shape {shape} needs {expected:,} bytes, file has {len(data):,}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def to_idx(array: np.ndarray) -> bytes:
    if array.dtype != np.uint8:
        raise ValueError(f"IDX here holds uint8 only, got {array.dtype}")
    return b"\0\0" + bytes([UINT8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def read_idx_dir(folder: Path) -> dict:
    """The four arrays from a folder of IDX .gz files; ValueError naming the first bad file."""
    arrays = {}
    for name, file in IDX_FILES.items():
        path = Path(folder) / file
        if not path.is_file():
            raise ValueError(f"{path}: missing")
        try:
            arrays[name] = parse_idx(gzip.decompress(path.read_bytes()))
        except (OSError, EOFError, zlib.error, ValueError) as e:  # gzip raises all three for damage
            raise ValueError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    return arrays


def write_idx_dir(folder: Path, arrays: dict) -> None:
    """Write the four IDX .gz files, each atomically (a reader sees each file whole or absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, file in IDX_FILES.items():
        with atomic_path(folder / file) as tmp:
            Path(tmp).write_bytes(gzip.compress(to_idx(np.ascontiguousarray(arrays[name])), compresslevel=6, mtime=0))


def read_arrays(path: Path) -> dict:
    """A data.path: a folder of IDX .gz files or a Keras-format .npz."""
    return read_idx_dir(path) if Path(path).is_dir() else read_npz(path)
