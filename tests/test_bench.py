"""`bench` works end to end in its shrunk form (files and columns only; never a speed)."""
import pandas as pd

from bn_study.cli import main
from tests.conftest import ON_FIXTURE


def test_bench_writes_csv_and_readme(tmp_path, capsys):
    sets = [a for s in ON_FIXTURE for a in ("--set", s)]
    assert main(["bench", "--epochs", "2", "--pairs", "1", "--variants", "no_bn",
                 "--arms", "reference,bn_study", *sets, "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "bench.csv")
    assert list(table["arm"]) == ["reference", "bn_study"]
    assert {"pair", "model", "median_epoch_s", "samples_per_s", "peak_rss_mb", "ratio_to_reference"} <= set(table.columns)
    assert table.loc[0, "ratio_to_reference"] == 1.0 and (table["peak_rss_mb"] > 0).all()
    readme = (tmp_path / "README.md").read_text()
    assert "alternate" in readme and "Device:" in readme


def test_bench_rejects_unknown_arm(capsys):
    assert main(["bench", "--arms", "reference,fast"]) == 2
    assert "--arms: unknown 'fast'" in capsys.readouterr().err
