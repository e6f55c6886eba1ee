"""train.precision: the models build and train in mixed precision (output layer, BN statistics and loss in
float32), the fused BN agrees with Keras' BN there, earlier float32 runs keep their fingerprints, paired
claims, config differences, and the one line that says when a precision does not suit the CPU."""
import json

import keras
import numpy as np
import pandas as pd
import pytest

from bn_study.config.differences import config_differences
from bn_study.config.experiment_spec import ClaimSpec, load_spec
from bn_study.config.schema import load_config
from bn_study.errors import UserError
from bn_study.model.build import build_model
from bn_study.model.fused_bn import FusedBatchNorm
from bn_study.stats.claims import judge
from bn_study.stats.rules import INCONCLUSIVE, SUPPORTED
from bn_study.train.precision import precision_note
from tests.conftest import ON_FIXTURE, ROOT, evidence, write

BF16 = ["train.precision=mixed_bfloat16"]


def test_precision_is_checked_and_float32_keeps_earlier_fingerprints():
    with pytest.raises(UserError, match=r"train\.precision: .*one of float32, mixed_bfloat16, mixed_float16"):
        load_config(ROOT / "configs/article_bn.yaml", ["train.precision=bfloat16"])
    float32 = load_config(ROOT / "configs/article_bn.yaml", seed=0)
    recorded = json.loads((ROOT / "results/article/bn/seed-0/run.json").read_text())["fingerprint"]
    assert float32.fingerprint() == recorded  # made before the key existed: the same run
    assert load_config(ROOT / "configs/article_bn.yaml", ["train.precision=float32"], seed=0).fingerprint() == recorded
    assert load_config(ROOT / "configs/article_bn.yaml", BF16, seed=0).fingerprint() != recorded


def test_mixed_model_computes_in_bfloat16_but_its_output_layer():
    config = load_config(ROOT / "configs/article_bn.yaml", BF16)
    model = build_model(config.model, bn_kernel="fused", precision=config.train.precision)
    layers = model.layers
    assert all(layer.compute_dtype == "bfloat16" for layer in layers[:-1])
    assert layers[-1].compute_dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)  # variables stay float32
    assert isinstance(layers[1], FusedBatchNorm)
    assert model(np.zeros((2, 28, 28, 1), "float32")).dtype == "float32"


def test_fused_bn_in_bfloat16_follows_keras_bn_in_bfloat16():
    """Both normalise a bfloat16 activation with float32 statistics: equal to bfloat16 rounding."""
    keras.utils.set_random_seed(3)
    x = np.random.default_rng(0).normal(2.0, 3.0, (16, 6, 6, 4)).astype("float32")
    ours, theirs = FusedBatchNorm(dtype="mixed_bfloat16"), keras.layers.BatchNormalization(dtype="mixed_bfloat16")
    for layer in (ours, theirs):
        layer.build(x.shape)
    y_ours, y_theirs = (np.asarray(layer(x, training=True), "float32") for layer in (ours, theirs))
    assert keras.backend.standardize_dtype(ours(x).dtype) == "bfloat16"
    np.testing.assert_allclose(y_ours, y_theirs, atol=0.02)  # bfloat16 keeps 8 bits of mantissa
    np.testing.assert_allclose(np.asarray(ours.moving_mean), np.asarray(theirs.moving_mean), rtol=1e-2)
    assert ours.moving_variance.dtype == "float32"


def test_a_few_steps_in_bfloat16_lower_the_loss_and_record_the_precision(tmp_path):
    from bn_study.data.datasets import load_dataset
    from bn_study.train.training import train_run

    config = load_config(ROOT / "tests/fixtures/small_bn.yaml", ON_FIXTURE + BF16 + ["train.epochs=3"])
    images = load_dataset(config.data.path, config.data.dataset, log=lambda m: None)
    assert train_run(config, tmp_path / "run", images, verbose=0, log=lambda m: None) == "complete"
    history = pd.read_csv(tmp_path / "run/history.csv")
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    record = json.loads((tmp_path / "run/run.json").read_text())
    assert record["precision"] == "mixed_bfloat16" and record["fingerprint"] == config.fingerprint()


@pytest.mark.parametrize("precision, isa, gpu, expected", [
    ("mixed_bfloat16", ["avx2"], False, "no bfloat16 instructions"),
    ("mixed_bfloat16", ["avx512f", "avx512_bf16"], False, None),
    ("float32", ["avx512f", "amx_bf16"], False, "computes bfloat16 itself (amx_bf16)"),
    ("float32", ["avx2"], False, None),
    ("mixed_float16", ["avx2"], False, "is for GPUs"),
    ("mixed_float16", [], True, None),
])
def test_precision_note_says_when_a_precision_does_not_suit_the_cpu(precision, isa, gpu, expected):
    note = precision_note(precision, isa, gpu)
    assert (note is None) if expected is None else (expected in note and "\n" not in note)


def _two_variants(a, b, metric="test_accuracy"):
    rows = [{"variant": v, "seed": s, "status": "complete", metric: x}
            for v, values in (("f32", a), ("bf16", b)) for s, x in enumerate(values)]
    return pd.DataFrame(rows)


def test_paired_equivalence_sees_through_the_seeds_spread():
    """Seeds spread by 0.004 but each bfloat16 run within 0.0003 of its float32 twin: Welch cannot tell,
    the paired test can."""
    a = np.array([0.984, 0.990, 0.986, 0.993, 0.988])
    b = a + np.array([0.0002, -0.0001, 0.0003, 0.0, -0.0002])
    summary = _two_variants(a, b)
    claim = dict(claim="same", test="equivalence", metric="test_accuracy", baseline="f32", treatment="bf16",
                 tolerance=0.002)
    assert judge(ClaimSpec(**claim), summary).verdict == INCONCLUSIVE
    paired = judge(ClaimSpec(**claim, paired=True), summary)
    assert paired.verdict == SUPPORTED and "paired by seed" in evidence(paired)
    assert paired.ci_high - paired.ci_low < 0.001


def test_paired_claims_use_only_seeds_both_variants_completed():
    summary = _two_variants([0.98, 0.99, 0.985], [0.98, 0.99])
    verdict = judge(ClaimSpec(claim="same", test="equivalence", metric="test_accuracy", baseline="f32",
                              treatment="bf16", tolerance=0.002, paired=True), summary)
    assert verdict.n_baseline == verdict.n_treatment == 2


def test_paired_is_refused_where_there_is_nothing_to_pair(tmp_path):
    spec = write(tmp_path / "e.yaml", f"""name: e
variants: [{{name: a, config: {ROOT}/configs/article_bn.yaml}}]
claims: [{{claim: c, test: value, metric: test_accuracy, variant: a, value: 0.99, tolerance: 0.01, paired: true}}]
""")
    with pytest.raises(UserError, match=r"claims\.0\.paired: only a difference, gain, equivalence claim"):
        load_spec(spec)


def test_precision_experiment_file_loads_with_its_margins():
    spec = load_spec(ROOT / "experiments/precision.yaml")
    assert len(spec.seeds) >= 5 and all(c.paired and c.test == "equivalence" for c in spec.claims)
    assert {c.metric for c in spec.claims} == {"test_accuracy", "val_accuracy_epoch1", "epochs_to_val_0.99",
                                               "final_val_loss"}


def test_config_differences_name_each_changed_key_and_each_inserted_layer():
    bn = load_config(ROOT / "configs/article_bn.yaml").to_raw()
    changed = load_config(ROOT / "configs/article_bn.yaml", ["model.layers.1.momentum=0.9", "train.epochs=1"]
                          + BF16).to_raw()
    assert config_differences(bn, changed) == [("train.precision", "float32", "mixed_bfloat16"),
                                               ("train.epochs", 25, 1),
                                               ("model.layers.1.momentum", "(default)", 0.9)]
    assert config_differences(bn, load_config(ROOT / "configs/article_bn.yaml", seed=3).to_raw()) == []
    no_bn = load_config(ROOT / "configs/article_no_bn.yaml").to_raw()
    inserted = [d for d in config_differences(no_bn, bn) if d[0].startswith("model.layers")]
    assert inserted == [(f"model.layers.{i}", "(none)", "BatchNormalization()") for i in (1, 3, 5, 7, 10)]
