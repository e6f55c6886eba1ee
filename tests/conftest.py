"""Shared fixtures: the real-MNIST fixture files, and a Keras home that is never the user's."""
import os
import tempfile
from pathlib import Path

# Before TensorFlow is imported anywhere: quiet C++ logs, and no test may touch ~/.keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="bn_study_keras_home_")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE_NPZ = FIXTURES / "mnist_fixture.npz"
FIXTURE_PKL = FIXTURES / "mnist_fixture.pkl.gz"
# --set overrides that point a config at the 800 + 200 image fixture.
ON_FIXTURE = [f"data.path={FIXTURE_NPZ}", "data.dataset=mnist_fixture"]


@pytest.fixture
def keras_home(tmp_path, monkeypatch) -> Path:
    """An empty Keras home for this test; data.keras_cache_file() points into it."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
