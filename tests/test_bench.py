"""`bench` works end to end in its shrunk form (files and columns only; never a speed)."""
import pandas as pd

from bn_study.cli import main
from tests.conftest import ON_FIXTURE


def test_bench_writes_csv_and_readme(tmp_path, capsys):
    sets = [a for s in ON_FIXTURE for a in ("--set", s)]
    assert main(["bench", "--epochs", "2", "--pairs", "1", "--variants", "no_bn",
                 "--arms", "reference,reference_tf_data_uint8,bn_study:TF_NUM_INTEROP_THREADS=1",
                 *sets, "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "bench.csv")
    assert list(table["arm"]) == ["reference", "reference_tf_data_uint8", "bn_study:TF_NUM_INTEROP_THREADS=1"]
    assert {"pair", "model", "median_epoch_s", "samples_per_s", "peak_rss_mb", "ratio_to_reference"} <= set(table.columns)
    assert table.loc[0, "ratio_to_reference"] == 1.0 and (table["peak_rss_mb"] > 0).all()
    readme = (tmp_path / "README.md").read_text()
    assert "alternate" in readme and "Device:" in readme


def test_bench_rejects_unknown_arm(capsys):
    assert main(["bench", "--arms", "reference,fast"]) == 2
    assert "--arms: unknown 'fast'" in capsys.readouterr().err
    assert main(["bench", "--arms", "reference:train.epochs=2"]) == 2
    assert "reference arms take only environment variables" in capsys.readouterr().err


def test_arm_settings_split_into_environment_and_overrides():
    from bn_study.bench import parse_arm

    assert parse_arm("bn_study:TF_NUM_INTRAOP_THREADS=1;train.shuffle=true") == (
        "bn_study", {"TF_NUM_INTRAOP_THREADS": "1"}, ["train.shuffle=true"])
    assert parse_arm("reference_tf_data") == ("reference_tf_data", {}, [])


def test_uint8_pipeline_yields_the_same_float32_images():
    import numpy as np

    from bn_study.bench import _tf_data

    x = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)  # every byte value
    y = np.arange(4)
    (as_uint8, labels), = _tf_data(x, y, batch_size=4, shuffle=False)
    (as_float, _), = _tf_data(x.astype("float32") / 255, y, batch_size=4, shuffle=False)
    assert as_uint8.dtype == as_float.dtype == "float32"
    assert np.array_equal(as_uint8.numpy(), as_float.numpy()) and np.array_equal(labels.numpy(), y)
