"""The probe callback: off costs nothing, on records the right rows and leaves training unchanged."""
import pandas as pd
import pytest

from bn_study.train import training
from bn_study.config.schema import load_config
from bn_study.data.datasets import load_dataset
from bn_study.errors import UserError
from bn_study.model.build import check_buildable
from bn_study.results import PROBE_FILE
from tests.conftest import FIXTURE_NPZ, ON_FIXTURE, ROOT

BN = ROOT / "configs/article_bn.yaml"


def test_probe_records_without_changing_training(tmp_path):
    mnist = load_dataset(str(FIXTURE_NPZ), "mnist_fixture", log=lambda m: None)
    plain = load_config(BN, ON_FIXTURE + ["train.epochs=2"])
    probed = load_config(BN, ON_FIXTURE + ["train.epochs=2", "probe.layers=[0,4,9]", "probe.every=2", "probe.batch=100"])
    for name, config in (("plain", plain), ("probed", probed)):
        training.train_run(config, tmp_path / name, mnist, verbose=0, log=lambda m: None)
    assert not (tmp_path / "plain" / PROBE_FILE).exists()
    columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "plain/history.csv")[columns],
                                  pd.read_csv(tmp_path / "probed/history.csv")[columns])

    table = pd.read_csv(tmp_path / "probed" / PROBE_FILE)
    assert list(table.columns) == ["step", "epoch", "layer", "statistic", "value"]
    # 640 images / batch 250 = 3 steps per epoch, 6 in all: records at steps 0, 2, 4, 6.
    assert sorted(table["step"].unique()) == [0, 2, 4, 6]
    one = table[table["step"] == 2]
    assert set(one.loc[one["statistic"] == "pre_p50", "layer"]) == {"0:Conv2D", "4:Conv2D", "9:Dense"}
    assert set(one.loc[one["statistic"] == "grad_norm", "layer"]) == {"0:Conv2D", "4:Conv2D", "9:Dense", "11:Dense"}
    wide = one.pivot_table(index="layer", columns="statistic", values="value")
    probed = wide.dropna(subset=["pre_p50"])
    assert len(probed) == 3 and (probed["pre_p15"] <= probed["pre_p50"]).all()
    assert (probed["pre_p50"] <= probed["pre_p85"]).all() and (probed["pre_std"] > 0).all()
    assert (wide["grad_norm"] > 0).all()


def test_probe_position_past_the_model_is_a_user_error():
    config = load_config(BN, ["probe.layers=[0,12]"])
    with pytest.raises(UserError, match=r"probe.layers: position 12 is past the model's 12 layers \(0..11\)"):
        check_buildable(config)


def test_probe_experiment_plots_and_reports(tmp_path):
    from bn_study.run.experiment import load_experiment, run_experiment
    from tests.conftest import stats_plots_report

    experiment = load_experiment(ROOT / "experiments/article_probe.yaml", ON_FIXTURE + ["train.epochs=2", "probe.every=1"])
    run_experiment(experiment, tmp_path, verbose=0, log=lambda m: None)
    names = {p.name for p in stats_plots_report(tmp_path)}
    assert {"probe_percentiles.png", "gradient_norms.png", "probe_movement.csv"} <= names
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Inside the network" in report and "*Internal covariate shift.*" in report
    for row in ("| no_bn | 5:Dense |", "| bn | 9:Dense |", "| bn | gradient norm 0:Conv2D / 11:Dense |"):
        assert row in report
    assert "![gradient_norms.png](plots/gradient_norms.png)" in report
