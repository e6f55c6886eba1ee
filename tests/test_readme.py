"""The README's worked example (a BN-momentum variant and its experiment) loads and builds as written."""
import re
import shutil

from bn_study.config import load_config
from bn_study.experiment import load_experiment
from bn_study.models import build_model
from tests.conftest import ROOT, write


def test_readme_variant_example_is_valid(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    config_text, experiment_text = blocks[0], blocks[1]
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    write(configs / "article_bn_momentum09.yaml", config_text)
    write(tmp_path / "experiments" / "momentum.yaml", experiment_text)
    config = load_config(configs / "article_bn_momentum09.yaml")
    model = build_model(config.model)
    assert [l.momentum for l in model.layers if type(l).__name__ == "BatchNormalization"] == [0.9] * 5
    assert model.count_params() == 433_034
    experiment = load_experiment(tmp_path / "experiments" / "momentum.yaml")
    assert set(experiment.configs) == {"bn", "bn_momentum09"}
