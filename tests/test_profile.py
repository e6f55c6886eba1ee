"""`profile`: op events land on the layers that ran them, and the files say so."""
import pandas as pd

from bn_study.cli import main
from bn_study.config.schema import load_config
from bn_study.bench.ceiling import Ceiling, flop_per_cycle
from bn_study.bench.profile import attribute, named_for_profile
from bn_study.bench.roofline import LayerShape, layer_shapes, op_work, roofline
from bn_study.train.machine import cpu_kind
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


def test_profile_writes_a_roofline_with_every_heavy_op_described(tmp_path):
    sets = [a for s in ON_FIXTURE for a in ("--set", s)]
    assert main(["profile", str(ROOT / "configs/article_no_bn.yaml"), *sets, "--out", str(tmp_path)]) == 0
    roof = pd.read_csv(tmp_path / "article_no_bn_roofline.csv")
    # Whatever the kernels' names on this machine, every convolution, pooling and dense op is described.
    heavy = roof[roof["op"].str.contains("Conv2D|MaxPool|MatMul")]
    assert len(heavy) >= 6 and heavy["gflops"].notna().all() and (heavy["of_roofline"] > 0).all()
    assert set(heavy["bound"]) <= {"compute", "memory"}
    assert "Roofline" in (tmp_path / "README.md").read_text()


def test_conv_and_dense_work_follow_the_layer_shapes():
    from bn_study.model.build import build_model

    shapes = layer_shapes(build_model(load_config(ROOT / "configs/article_no_bn.yaml").model))
    conv1, conv2, dense, _ = (shape for shape in shapes.values() if shape.macs)  # in layer order
    assert conv1.macs == 26 * 26 * 32 * 9 and conv2.macs == 11 * 11 * 64 * 9 * 32 and dense.macs == 1600 * 256
    assert not conv1.needs_input_grad and conv2.needs_input_grad
    assert op_work("_MklNativeFusedConv2D", "forward", conv2)[0] == 2 * conv2.macs
    assert op_work("Conv2DBackpropFilter", "backward", conv1) == op_work("Conv2D", "forward", conv1)
    # The dense layer's backward MatMuls: the kernel's gradient and, after the convolutions, the input's.
    assert op_work("_MklMatMul", "backward", dense)[0] == 4 * dense.macs
    assert op_work("Square", "update", dense) is None


def test_roofline_fraction_is_roof_time_over_time_taken():
    shape = LayerShape(inputs=1000, outputs=1000, macs=0, params=0, needs_input_grad=True)
    ceiling = Ceiling(cores=1, clock_ghz=1.0, flop_per_cycle=8, units="test", matmul_gflops=4.0, bandwidth_gbs=10.0)
    # ReluGrad moves 3 x 4 bytes per element: 100 images x 1000 elements = 1.2 MB, 0.12 ms at 10 GB/s.
    ops = pd.DataFrame([{"layer": "L00", "direction": "backward", "op": "ReluGrad", "calls": 1, "total_ms": 0.24,
                         "ms_per_step": 0.24, "share": 0.9},
                        {"layer": "optimizer", "direction": "update", "op": "Sqrt", "calls": 1, "total_ms": 0.01,
                         "ms_per_step": 0.01, "share": 0.1}])
    table = roofline(ops, {"L00": shape}, {"train": 100, "val": 50}, 1, ceiling)
    relu = table.iloc[0]
    assert ceiling.peak_gflops == 8.0  # the textbook peak, faster than the measured product here
    assert relu["bound"] == "memory" and relu["of_roofline"] == 0.5 and relu["gbs"] == 5.0
    assert pd.isna(table.iloc[1]["of_roofline"])


def test_flop_per_cycle_by_cpu_kind():
    assert flop_per_cycle("GenuineIntel", 6, {"avx512f", "avx2", "fma"})[0] == 64
    assert flop_per_cycle("AuthenticAMD", 25, {"avx512f", "avx2", "fma"})[0] == 32  # Zen 4: AVX-512 on 256-bit units
    assert flop_per_cycle("AuthenticAMD", 26, {"avx512f", "avx2", "fma"})[0] == 64  # Zen 5
    assert flop_per_cycle("AuthenticAMD", 25, {"avx2", "fma"})[0] == 32
    assert flop_per_cycle("", None, set())[0] is None


def test_cpu_kind_names_maker_line_and_widest_isa():
    assert cpu_kind({"model": "Intel(R) Xeon(R) Processor", "isa": ["avx2", "avx512f", "amx_tile"]}) == (
        "intel-xeon-avx512-amx")
    assert cpu_kind({"model": "AMD EPYC 7B13 64-Core Processor", "isa": ["avx2", "fma"]}) == "amd-epyc-avx2"
    assert cpu_kind({"model": "unknown", "isa": []}) == "unknown-cpu"
