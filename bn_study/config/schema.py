"""Run configs: YAML files validated once, at load, into frozen dataclasses.

A config file may start with ``extends: other.yaml`` (yamlio.read_raw merges it). ``--set a.b=c`` overrides are
checked against the same schema as the file, then the whole config is validated.
Layers and optimizers are written ``{class: Name, arg: value, ...}``; their arguments are
Keras' own and are checked by Keras when the model is built (model/build.py: check_buildable).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bn_study.config.families import FamilyConfig, expand
from bn_study.config.validate import (ClassSpec, apply_override, check, drop_unset, from_raw, parse_override,
                                      to_raw)
from bn_study.config.yamlio import read_raw
from bn_study.errors import UserError


# Layer classes that are BatchNormalization, Keras' and bn_study's own (reports recognise them by name).
BN_LAYER_CLASSES = ("BatchNormalization", "ManualBatchNorm", "FusedBatchNorm")

# Keras' dtype policies a run may train in (train.precision): float32 throughout, or mixed precision
# (layers compute in bfloat16 or float16, variables stay float32; model/build.py keeps the output layer,
# BN's statistics and the loss in float32, as Keras' mixed-precision guide does). mixed_float16 is for
# GPUs; mixed_bfloat16 is fast only where the CPU computes bfloat16 itself (train/machine.py).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
DEFAULT_PRECISION = "float32"

# Names of the checksum tables in data/datasets.py: the full set, and the small fixture cut from it.
DATASETS = ("mnist", "fashion_mnist", "mnist_fixture", "fashion_mnist_fixture")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = field(default="mnist", metadata=check(lambda v: v in DATASETS, f"one of {', '.join(DATASETS)}"))
    path: str | None = None  # a Keras-format .npz or a folder of the 4 IDX .gz files, tried before every other source
    train_limit: int | None = field(default=None, metadata=check(lambda v: v is None or v > 1, "an integer > 1 or null"))
    test_limit: int | None = field(default=None, metadata=check(lambda v: v is None or v > 0, "a positive integer or null"))


@dataclass(frozen=True)
class ModelConfig:
    name: str
    input_shape: tuple[int, ...]
    layers: tuple[ClassSpec, ...] = field(default=(), metadata=check(lambda v: len(v) > 0, "a non-empty list of layers"))
    # A network family by its parameters (config/families.py): load_config expands it into `layers`
    # and leaves this null, so a run's config.yaml and fingerprint hold the layers it trained.
    family: FamilyConfig | None = None
    # {LayerClass: [layers...]}: every layer of that class in `layers` becomes these layers, e.g.
    # {BatchNormalization: [{class: GroupNormalization, groups: 8}]} turns the article's BN model into
    # its GroupNorm twin in one key. Applied at load, then left null, as `family` is.
    replace_layers: dict[str, Any] | None = None


@dataclass(frozen=True)
class PreciseBNConfig:
    """Precise BN (Wu & Johnson 2021; bn_study/train/precise_bn.py): before each validation and the test,
    each BN layer's population statistics are recomputed as plain averages over `batches` training
    batches (the first ones, in order, of train.batch_size images) instead of Keras' moving averages."""

    batches: int = field(metadata=check(lambda v: v > 0, "a positive number of training batches"))
    # Images per batch for these statistics; null = train.batch_size. A fixed size (e.g. 250) keeps
    # the population statistics equally precise when training batches are tiny.
    batch_size: int | None = field(default=None, metadata=check(lambda v: v is None or v > 0, "a positive integer or null"))
    # Ioffe & Szegedy's population variance, m/(m-1) times the average batch variance (their
    # Algorithm 2); false: the biased batch variance, as Keras' moving average uses.
    unbiased: bool = False


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = field(metadata=check(lambda v: v > 0, "a positive integer"))
    epochs: int = field(metadata=check(lambda v: v > 0, "a positive integer"))
    validation_split: float = field(metadata=check(lambda v: 0.0 < v < 1.0, "a fraction strictly between 0 and 1"))
    loss: str = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    shuffle: bool = True
    # enable_op_determinism: identical histories for a seed on the CPU (cost: docs/speed.md).
    deterministic: bool = True
    # Speed settings that leave the mathematics unchanged (docs/speed.md); null = Keras' default.
    steps_per_execution: int | None = field(default=None, metadata=check(lambda v: v is None or v > 0, "a positive integer or null"))
    validation_batch_size: int | None = field(default=None, metadata=check(lambda v: v is None or v > 0, "a positive integer or null"))
    # Test accuracy every N steps into steps.csv (bn_study/train/steps.py); null = only at the end.
    test_every_steps: int | None = field(default=None, metadata=check(lambda v: v is None or v > 0, "a positive integer or null"))
    # Every step's own training loss into step_loss.csv (train/step_loss.py), for loss spikes; null or
    # false = off. Logging only: the run's numbers do not change.
    step_loss: bool | None = None
    # Population statistics for inference recomputed before every evaluation; null = moving averages.
    precise_bn: PreciseBNConfig | None = None
    # Keras' TensorBoard callback writing to <run dir>/tensorboard (`tensorboard --logdir results/X`);
    # null or false = off. Logging only: the run's numbers do not change.
    tensorboard: bool | None = None
    # The Keras dtype policy the model computes in (PRECISIONS): another number format, so another run
    # (part of the fingerprint); whether mixed_bfloat16 gives the article's answers: experiments/precision.yaml.
    precision: str = field(default=DEFAULT_PRECISION, metadata=check(lambda v: v in PRECISIONS,
                                                                     f"one of {', '.join(PRECISIONS)}"))


@dataclass(frozen=True)
class ProbeConfig:
    """Look inside during training (bn_study/train/probe.py): off unless a config sets it."""

    layers: tuple[int, ...] = field(metadata=check(lambda v: len(v) > 0 and min(v) >= 0, "a non-empty list of layer positions"))
    every: int = field(default=24, metadata=check(lambda v: v > 0, "a positive number of steps"))
    batch: int = field(default=256, metadata=check(lambda v: v > 0, "a positive number of validation images"))


@dataclass(frozen=True)
class LandscapeConfig:
    """The loss landscape along the gradient (bn_study/train/landscape.py): off unless a config sets it."""

    every: int = field(default=48, metadata=check(lambda v: v > 0, "a positive number of steps"))
    # Step sizes eta as multiples of the optimizer's learning rate, around the step it takes.
    step_multipliers: tuple[float, ...] = field(default=(0.25, 0.5, 1.0, 2.0, 4.0), metadata=check(
        lambda v: len(v) > 0 and min(v) > 0, "a non-empty list of positive multiples of the learning rate"))


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    optimizer: ClassSpec
    train: TrainConfig
    data: DataConfig = DataConfig()
    probe: ProbeConfig | None = None
    landscape: LandscapeConfig | None = None
    seed: int = field(default=0, metadata=check(lambda v: v >= 0, "a non-negative integer"))

    def to_raw(self) -> dict:
        """The fully resolved config as plain YAML-ready data."""
        return to_raw(self)

    def fingerprint(self) -> str:
        """A short hash of the resolved config: two runs are the same run iff it matches."""
        raw = self.to_raw()
        raw["data"].pop("path")  # where the verified arrays were read from does not change a run
        if raw["train"].get("precision") == DEFAULT_PRECISION:
            # Runs made before the key existed trained in float32: they stay the same runs.
            raw["train"].pop("precision")
        # Unset options (None, empty) are left out so that adding an optional key to the schema
        # later does not turn every finished run into a "different" one.
        text = json.dumps(drop_unset(raw), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_seed(self, seed: int) -> "RunConfig":
        return dataclasses.replace(self, seed=seed)


def _resolve_model(raw: dict) -> None:
    """model.family (validated) -> model.layers, then model.replace_layers applied, in place; both
    left null."""
    model = raw.get("model")
    if not isinstance(model, dict):
        return
    if model.get("family") is not None:
        if model.get("layers"):
            raise UserError("model.family: this model lists its layers; a family describes a model without them "
                            "(e.g. configs/plain_cnn.yaml), and a config that extends a family model and lists "
                            "layers sets family: null")
        model["layers"] = expand(from_raw(FamilyConfig, model["family"], "model.family."))
        model["family"] = None
    if model.get("replace_layers") is not None:
        model["layers"] = _replaced(model.get("layers") or [], model["replace_layers"])
        model["replace_layers"] = None


def _replaced(layers: list, replacements) -> list:
    """`layers` with every layer whose class is a key of `replacements` replaced by that key's layers."""
    if not isinstance(replacements, dict) or not all(isinstance(v, list) and v for v in replacements.values()):
        raise UserError("model.replace_layers: expected a mapping from a layer class to a non-empty list of "
                        "layers, e.g. {BatchNormalization: [{class: GroupNormalization, groups: 8}]}")
    present = {layer.get("class") for layer in layers if isinstance(layer, dict)}
    missing = [name for name in replacements if name not in present]
    if missing:
        raise UserError(f"model.replace_layers: no {missing[0]} layer to replace; the model's classes: "
                        f"{', '.join(sorted(c for c in present if c))}")
    out = []
    for layer in layers:
        name = layer.get("class") if isinstance(layer, dict) else None
        out += [dict(new) for new in replacements[name]] if name in replacements else [layer]
    return out


def _resolve_model_reporting(raw: dict, path: Path) -> None:
    try:
        _resolve_model(raw)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def load_config(path: str | Path, overrides: list[str] = (), seed: int | None = None) -> RunConfig:
    """Read, extend, override and validate a run config. Raises UserError on any mistake."""
    path = Path(path)
    raw = read_raw(path)
    parsed = [parse_override(text) for text in overrides]
    # The family's keys first, then its expansion, then the rest: `--set model.family.depth=5` and
    # `--set model.layers.1.momentum=0.9` both work on a family config, in any order.
    model_first = ("model.family", "model.replace_layers")
    family_first = sorted(parsed, key=lambda kv: not kv[0].startswith(model_first))
    for i, (key, value) in enumerate(family_first):
        if not key.startswith(model_first) and (i == 0 or family_first[i - 1][0].startswith(model_first)):
            _resolve_model_reporting(raw, path)
        try:
            apply_override(raw, key, value, RunConfig)
        except UserError as e:  # an error in the file's own structure is the file's; the key's is --set's
            raise UserError(str(e) if str(e).startswith("--set") else f"{path} with --set {key}: {e}") from None
    if seed is not None:
        raw["seed"] = seed
    set_keys = [key for key, _ in parsed]
    try:
        _resolve_model(raw)
        return from_raw(RunConfig, raw)
    except UserError as e:
        bad_key = str(e).split(":")[0]
        below = [k for k in set_keys if bad_key.startswith(k + ".")]  # inside a section --set replaced
        within = [k for k in set_keys if k.startswith(bad_key + ".")]  # the file's section, changed by --set
        source = ("--set" if bad_key in set_keys else f"--set {below[-1]}:" if below
                  else f"{path} with --set {within[0]}:" if within else f"{path}:")
        raise UserError(f"{source} {e}") from None
