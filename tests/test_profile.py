"""`profile`: op events land on the layers that ran them, and the files say so."""
import pandas as pd

from bn_study.cli import main
from bn_study.config.schema import load_config
from bn_study.bench.profile import attribute, named_for_profile
from tests.conftest import ON_FIXTURE, ROOT


def test_ops_are_attributed_by_layer_position_whatever_keras_suffix():
    layers = ["L00_conv2d", "L01_batchnormalization", "L02_maxpooling2d"]
    assert attribute("StatefulPartitionedCall/article_bn_1/L01_batchnormalization_2/moments/mean", layers) == (
        "L01_batchnormalization", "forward")
    assert attribute("StatefulPartitionedCall/gradient_tape/article_bn_1/L00_conv2d_1/convolution", layers) == (
        "L00_conv2d", "backward")
    assert attribute("StatefulPartitionedCall/adam/Add_10", layers) == ("optimizer", "update")
    assert attribute("StatefulPartitionedCall/compile_loss/sparse_categorical_crossentropy/x", layers)[0] == "loss"


def test_profile_names_every_layer_by_position():
    model = named_for_profile(load_config(ROOT / "configs/article_bn.yaml").model)
    assert [spec.args["name"] for spec in model.layers][:3] == ["L00_conv2d", "L01_batchnormalization",
                                                                 "L02_maxpooling2d"]


def test_profile_writes_op_and_layer_tables(tmp_path):
    sets = [a for s in ON_FIXTURE for a in ("--set", s)]
    assert main(["profile", str(ROOT / "configs/article_bn.yaml"), *sets, "--out", str(tmp_path)]) == 0
    ops = pd.read_csv(tmp_path / "article_bn_ops.csv")
    assert abs(ops["share"].sum() - 1) < 0.01 and (ops["total_ms"] >= 0).all()
    # The model's heavy ops are there, each on a layer of the right class. Kernel names differ by
    # machine: Eigen's Conv2DBackpropFilter, oneDNN's _MklNativeConv2DBackpropFilterWithBias (AMX Xeon).
    conv_backward = ops[ops["op"].str.contains("Conv2DBackpropFilter")]
    assert len(conv_backward), f"no Conv2DBackpropFilter kernel among {sorted(ops['op'])}"
    assert set(conv_backward["layer_class"]) == {"Conv2D"} and set(conv_backward["direction"]) == {"backward"}
    layers = pd.read_csv(tmp_path / "article_bn_layers.csv")
    assert {"L00_conv2d", "L01_batchnormalization", "L11_dense", "optimizer"} <= set(layers["layer"])
    readme = (tmp_path / "README.md").read_text()
    assert "Where an epoch's time goes" in readme and f"`python -m bn_study profile {ROOT}/configs/article_bn.yaml" in readme
