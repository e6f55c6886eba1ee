"""Models built from configs: the article's layer lists and parameter counts, and Keras errors."""
import pytest

from bn_study.config.schema import load_config
from bn_study.errors import UserError
from bn_study.model.build import build_model, check_buildable
from tests.conftest import ROOT

CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.name != "base.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_builds(path):
    config = load_config(path)
    check_buildable(config)
    model = build_model(config.model)
    assert model.output_shape == (None, 10)
    assert not model.compiled  # the builder returns an uncompiled model


def test_article_models_match_the_article():
    no_bn = build_model(load_config(ROOT / "configs/article_no_bn.yaml").model)
    bn = build_model(load_config(ROOT / "configs/article_bn.yaml").model)
    assert [type(l).__name__ for l in no_bn.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert no_bn.count_params() == 431_242
    assert bn.count_params() == 433_034
    trainable = sum(int(w.numpy().size) for w in bn.trainable_weights)
    assert trainable == 432_138
    # BN after the first Conv2D, the first pooling, the second Conv2D, the second pooling, Dense(256).
    names = [type(l).__name__ for l in bn.layers]
    assert [i for i, n in enumerate(names) if n == "BatchNormalization"] == [1, 3, 5, 7, 10]
    assert [names[i - 1] for i in (1, 3, 5, 7, 10)] == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Dense"]


def test_bn_arguments_reach_the_layer():
    config = load_config(ROOT / "configs/article_bn.yaml",
                         ["model.layers.1.momentum=0.9", "model.layers.1.epsilon=0.01",
                          "model.layers.1.center=false", "model.layers.1.renorm=true"])
    layer = build_model(config.model).layers[1]
    assert (layer.momentum, layer.epsilon, layer.center, layer.renorm) == (0.9, 0.01, False, True)


@pytest.mark.parametrize("override, message", [
    ("model.layers.1.class=BatchNormalisation",
     r"model.layers.1 \(BatchNormalisation\): unknown layer class 'BatchNormalisation' \(did you mean 'BatchNormalization'\?\)"),
    ("model.layers.0.filtres=3", r"model.layers.0 \(Conv2D\): Keras rejects the arguments"),
    ("model.layers.5.units=-4", r"model.layers.5 \(Dense\): Keras rejects the arguments"),
    ("model.layers.1.class=FusedBatchNorm", r"model.layers.1 \(FusedBatchNorm\): Keras rejects the arguments"),
    ("optimizer.learning_rat=0.1", r"optimizer \(Adam\): Keras rejects it"),
    ("train.loss=hinge_loss_x", r"train.loss: unknown loss 'hinge_loss_x'"),
])
def test_keras_level_mistakes_name_the_layer(override, message):
    config = load_config(ROOT / "configs/article_no_bn.yaml", [override])
    with pytest.raises(UserError, match=message) as info:
        check_buildable(config)
    assert "\n" not in str(info.value)


def test_fused_bn_sits_where_the_config_says_and_is_refused_off_tensorflow(monkeypatch):
    config = load_config(ROOT / "configs/article_bn_fused.yaml")
    names = [type(l).__name__ for l in build_model(config.model).layers]
    assert [i for i, n in enumerate(names) if n == "FusedBatchNorm"] == [1, 3, 5, 7, 10]
    monkeypatch.setattr("keras.backend.backend", lambda: "jax")
    with pytest.raises(UserError, match=r"^model.layers.1 \(FusedBatchNorm\): FusedBatchNorm needs the tensorflow "
                                        r"backend of Keras, this is 'jax'"):
        build_model(config.model)


@pytest.mark.parametrize("bn_kernel, expected", [("keras", "BatchNormalization"), ("fused", "FusedBatchNorm")])
def test_the_bn_kernel_setting_swaps_the_kernel_not_the_model(bn_kernel, expected):
    config = load_config(ROOT / "configs/article_bn.yaml")
    model = build_model(config.model, bn_kernel=bn_kernel)
    names = [type(l).__name__ for l in model.layers]
    assert [i for i, n in enumerate(names) if n == expected] == [1, 3, 5, 7, 10]
    assert model.count_params() == 433_034
    assert model.layers[1].get_config()["momentum"] == 0.99  # the config's arguments, unchanged
    # Layers the fused kernel cannot compute exactly stay Keras' own.
    kept = load_config(ROOT / "configs/article_bn.yaml", ["model.layers.1.renorm=true", "model.layers.3.epsilon=1e-6"])
    names = [type(l).__name__ for l in build_model(kept.model, bn_kernel=bn_kernel).layers]
    assert names[1] == names[3] == "BatchNormalization" and names[5] == expected


def test_a_misspelt_bn_kernel_setting_is_one_line(monkeypatch, capsys):
    from bn_study.cli import main

    monkeypatch.setenv("BN_STUDY_BN_KERNEL", "fast")
    assert main(["show", str(ROOT / "configs/article_bn.yaml")]) == 2
    assert capsys.readouterr().err == "bn_study: error: BN_STUDY_BN_KERNEL='fast': expected one of fused, keras (unset: fused)\n"


def test_every_committed_run_resolves_to_its_recorded_fingerprint():
    """Configs rewritten (as families, as listed layers, with replace_layers) must resolve to exactly
    the layers the committed runs trained: every run of every committed experiment, with its
    variant's --set overrides."""
    import json

    from bn_study.config.experiment_spec import load_spec

    checked = 0
    for spec_file in sorted((ROOT / "results").glob("*/experiment.yaml")):
        if (spec_file.parent / "shrunk.json").is_file():  # e.g. make quick's: trained with --set overrides
            continue
        spec = load_spec(spec_file)
        for variant in spec.all_variants:
            for run_json in sorted((spec_file.parent / variant.name).glob("seed-*/run.json")):
                run = json.loads(run_json.read_text())
                config = load_config(ROOT / "experiments" / variant.config, list(variant.set), seed=run["seed"])
                assert config.fingerprint() == run["fingerprint"], f"{run_json.relative_to(ROOT)}"
                checked += 1
    assert checked >= 200  # 236 runs on 2026-12-01


def _family(overrides):
    return load_config(ROOT / "configs/plain_mlp.yaml", overrides).model


@pytest.mark.parametrize("normalizer, position, classes", [
    ("none", "after_activation", ["Flatten", "Dense", "Dense", "Dense", "Dense"]),
    ("batch", "after_activation", ["Flatten", "Dense", "BatchNormalization", "Dense", "BatchNormalization",
                                   "Dense", "BatchNormalization", "Dense"]),
    ("batch", "before_activation", ["Flatten", "Dense", "BatchNormalization", "Activation", "Dense",
                                    "BatchNormalization", "Activation", "Dense", "BatchNormalization",
                                    "Activation", "Dense"]),
    ("noisy_batch", "after_activation", ["Flatten", "Dense", "BatchNormalization", "CovariateShiftNoise",
                                         "Dense", "BatchNormalization", "CovariateShiftNoise", "Dense",
                                         "BatchNormalization", "CovariateShiftNoise", "Dense"]),
])
def test_mlp_family_puts_the_normalizer_where_it_says(normalizer, position, classes):
    model = build_model(_family(["model.family.kind=mlp", "model.family.depth=3", "model.family.width=20",
                                 "model.family.activation=sigmoid", f"model.family.normalizer={normalizer}",
                                 f"model.family.position={position}"]))
    assert [type(l).__name__ for l in model.layers] == classes
    dense = [l for l in model.layers if type(l).__name__ == "Dense"]
    assert [l.units for l in dense] == [20, 20, 20, 10]
    # Before the activation the Dense layer is linear and has no bias (BN's beta replaces it).
    hidden_activation = "linear" if position == "before_activation" and normalizer != "none" else "sigmoid"
    assert {l.activation.__name__ for l in dense[:3]} == {hidden_activation}
    assert dense[0].use_bias == (position == "after_activation" or normalizer == "none")


def test_cnn_family_depth_and_width_and_normalizer_arguments():
    model = build_model(_family(["model.family.kind=cnn", "model.family.depth=4", "model.family.width=8",
                                 "model.family.normalizer=group", "model.family.normalizer_args={groups: 2}"]))
    convs = [l for l in model.layers if type(l).__name__ == "Conv2D"]
    assert len(convs) == 4 and {c.filters for c in convs} == {8}
    assert {l.groups for l in model.layers if type(l).__name__ == "GroupNormalization"} == {2}
    assert model.output_shape == (None, 10)


@pytest.mark.parametrize("overrides, message", [
    (["model.family.kind=resnet"], "model.family.kind: expected one of mlp, cnn, got 'resnet'"),
    (["model.family.normaliser=batch"], "unknown key 'model.family.normaliser' (did you mean 'normalizer'?)"),
    (["model.family.normalizer=batchnorm"], "model.family.normalizer: expected one of none, batch"),
])
def test_family_mistakes_are_one_line(overrides, message):
    with pytest.raises(UserError) as info:
        _family(overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_family_config_takes_layer_overrides_too():
    model = load_config(ROOT / "configs/plain_mlp.yaml", ["model.layers.2.momentum=0.9", "model.family.activation=tanh",
                                                          "model.family.normalizer=batch"]).model
    assert model.layers[2].args["momentum"] == 0.9 and model.layers[1].args["use_bias"] is False
    assert model.layers[3].args["activation"] == "tanh"


def test_the_article_configs_differ_by_the_five_bn_layers():
    """`diff configs/article_no_bn.yaml configs/article_bn.yaml`: besides the header and the name,
    five added lines, each a BatchNormalization layer, and no layer changed or removed."""
    import difflib

    def layer_lines(name):
        return [line for line in (ROOT / "configs" / name).read_text().splitlines() if line.startswith("    - ")]

    diff = [line for line in difflib.ndiff(layer_lines("article_no_bn.yaml"), layer_lines("article_bn.yaml"))
            if line[:1] in "+-"]
    assert diff == ["+     - {class: BatchNormalization}"] * 5
    assert len(layer_lines("article_no_bn.yaml")) == 7 and len(layer_lines("article_bn.yaml")) == 12


@pytest.mark.parametrize("config", ["article_bn.yaml", "article_no_bn.yaml", "article_gn.yaml"])
def test_a_family_key_on_a_listed_model_is_refused(config):
    with pytest.raises(UserError) as info:
        load_config(ROOT / "configs" / config, ["model.family.depth=5"])
    assert "model.family" in str(info.value) and "\n" not in str(info.value)


def test_replace_layers_swaps_every_layer_of_a_class():
    gn = load_config(ROOT / "configs/article_gn.yaml").model
    assert [l.class_name for l in gn.layers].count("GroupNormalization") == 5
    assert "BatchNormalization" not in [l.class_name for l in gn.layers] and gn.replace_layers is None
    noisy = [l.class_name for l in load_config(ROOT / "configs/covariate_shift_bn_noise.yaml").model.layers]
    assert noisy[1:3] == ["BatchNormalization", "CovariateShiftNoise"] and len(noisy) == 17
    # --set reaches a replaced layer, whatever the order on the command line
    config = load_config(ROOT / "configs/article_bn.yaml",
                         ["model.layers.1.groups=4", "model.replace_layers={BatchNormalization: [{class: GroupNormalization}]}"])
    assert config.model.layers[1].args["groups"] == 4
    for bad, message in ((["model.replace_layers={Dropout: [{class: Flatten}]}"], "no Dropout layer to replace"),
                         (["model.replace_layers={BatchNormalization: []}"], "a non-empty list of layers")):
        with pytest.raises(UserError, match=message):
            load_config(ROOT / "configs/article_bn.yaml", bad)


def test_a_dumped_config_has_no_yaml_aliases(tmp_path):
    from bn_study.config.yamlio import dump_yaml

    text = dump_yaml(load_config(ROOT / "configs/article_bn.yaml").to_raw())
    assert "&id" not in text and "*id" not in text and text.count("pool_size: [2, 2]") == 2
