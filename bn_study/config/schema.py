"""Run configs: YAML files validated once, at load, into frozen dataclasses.

A config file may start with ``extends: other.yaml`` (yamlio.read_raw merges it). ``--set a.b=c`` overrides are
checked against the same schema as the file, then the whole config is validated.
Layers and optimizers are written ``{class: Name, arg: value, ...}``; their arguments are
Keras' own and are checked by Keras when the model is built (model/build.py: check_buildable).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from bn_study.errors import UserError
from bn_study.config.families import FamilyConfig, expand
from bn_study.config.yamlio import YamlLoader, read_raw


def _check(predicate, expected: str) -> dict:
    return {"check": (predicate, expected)}


@dataclass(frozen=True)
class ClassSpec:
    """A Keras object by class name plus its constructor arguments (a layer, an optimizer)."""

    class_name: str
    args: Mapping[str, Any]

    def to_raw(self) -> dict:
        return {"class": self.class_name, **self.args}

    def __reduce__(self):  # a mappingproxy does not pickle; jobs travel to spawned processes and Ray
        return _class_spec, (self.class_name, dict(self.args))


def _class_spec(class_name: str, args: dict) -> ClassSpec:
    return ClassSpec(class_name, types.MappingProxyType(args))


# Layer classes that are BatchNormalization, Keras' and bn_study's own (reports recognise them by name).
BN_LAYER_CLASSES = ("BatchNormalization", "ManualBatchNorm", "FusedBatchNorm")

# Names of the checksum tables in data/datasets.py: the full set, and the small fixture cut from it.
DATASETS = ("mnist", "fashion_mnist", "mnist_fixture", "fashion_mnist_fixture")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = field(default="mnist", metadata=_check(lambda v: v in DATASETS, f"one of {', '.join(DATASETS)}"))
    path: str | None = None  # a Keras-format .npz or a folder of the 4 IDX .gz files, tried before every other source
    train_limit: int | None = field(default=None, metadata=_check(lambda v: v is None or v > 1, "an integer > 1 or null"))
    test_limit: int | None = field(default=None, metadata=_check(lambda v: v is None or v > 0, "a positive integer or null"))


@dataclass(frozen=True)
class ModelConfig:
    name: str
    input_shape: tuple[int, ...]
    layers: tuple[ClassSpec, ...] = field(default=(), metadata=_check(lambda v: len(v) > 0, "a non-empty list of layers"))
    # A network family by its parameters (config/families.py): load_config expands it into `layers`
    # and leaves this null, so a run's config.yaml and fingerprint hold the layers it trained.
    family: FamilyConfig | None = None


@dataclass(frozen=True)
class PreciseBNConfig:
    """Precise BN (Wu & Johnson 2021; bn_study/train/precise_bn.py): before each validation and the test,
    each BN layer's population statistics are recomputed as plain averages over `batches` training
    batches (the first ones, in order, of train.batch_size images) instead of Keras' moving averages."""

    batches: int = field(metadata=_check(lambda v: v > 0, "a positive number of training batches"))
    # Images per batch for these statistics; null = train.batch_size. A fixed size (e.g. 250) keeps
    # the population statistics equally precise when training batches are tiny.
    batch_size: int | None = field(default=None, metadata=_check(lambda v: v is None or v > 0, "a positive integer or null"))
    # Ioffe & Szegedy's population variance, m/(m-1) times the average batch variance (their
    # Algorithm 2); false: the biased batch variance, as Keras' moving average uses.
    unbiased: bool = False


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = field(metadata=_check(lambda v: v > 0, "a positive integer"))
    epochs: int = field(metadata=_check(lambda v: v > 0, "a positive integer"))
    validation_split: float = field(metadata=_check(lambda v: 0.0 < v < 1.0, "a fraction strictly between 0 and 1"))
    loss: str = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    shuffle: bool = True
    # enable_op_determinism: identical histories for a seed on the CPU (cost: docs/speed.md).
    deterministic: bool = True
    # Speed settings that leave the mathematics unchanged (docs/speed.md); null = Keras' default.
    steps_per_execution: int | None = field(default=None, metadata=_check(lambda v: v is None or v > 0, "a positive integer or null"))
    validation_batch_size: int | None = field(default=None, metadata=_check(lambda v: v is None or v > 0, "a positive integer or null"))
    # Test accuracy every N steps into steps.csv (bn_study/train/steps.py); null = only at the end.
    test_every_steps: int | None = field(default=None, metadata=_check(lambda v: v is None or v > 0, "a positive integer or null"))
    # Population statistics for inference recomputed before every evaluation; null = moving averages.
    precise_bn: PreciseBNConfig | None = None
    # Keras' TensorBoard callback writing to <run dir>/tensorboard (`tensorboard --logdir results/X`);
    # null or false = off. Logging only: the run's numbers do not change.
    tensorboard: bool | None = None


@dataclass(frozen=True)
class ProbeConfig:
    """Look inside during training (bn_study/train/probe.py): off unless a config sets it."""

    layers: tuple[int, ...] = field(metadata=_check(lambda v: len(v) > 0 and min(v) >= 0, "a non-empty list of layer positions"))
    every: int = field(default=24, metadata=_check(lambda v: v > 0, "a positive number of steps"))
    batch: int = field(default=256, metadata=_check(lambda v: v > 0, "a positive number of validation images"))


@dataclass(frozen=True)
class LandscapeConfig:
    """The loss landscape along the gradient (bn_study/train/landscape.py): off unless a config sets it."""

    every: int = field(default=48, metadata=_check(lambda v: v > 0, "a positive number of steps"))
    # Step sizes eta as multiples of the optimizer's learning rate, around the step it takes.
    step_multipliers: tuple[float, ...] = field(default=(0.25, 0.5, 1.0, 2.0, 4.0), metadata=_check(
        lambda v: len(v) > 0 and min(v) > 0, "a non-empty list of positive multiples of the learning rate"))


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    optimizer: ClassSpec
    train: TrainConfig
    data: DataConfig = DataConfig()
    probe: ProbeConfig | None = None
    landscape: LandscapeConfig | None = None
    seed: int = field(default=0, metadata=_check(lambda v: v >= 0, "a non-negative integer"))

    def to_raw(self) -> dict:
        """The fully resolved config as plain YAML-ready data."""
        return _to_raw(self)

    def fingerprint(self) -> str:
        """A short hash of the resolved config: two runs are the same run iff it matches."""
        raw = self.to_raw()
        raw["data"].pop("path")  # where the verified arrays were read from does not change a run
        # Unset options (None, empty) are left out so that adding an optional key to the schema
        # later does not turn every finished run into a "different" one.
        text = json.dumps(_drop_unset(raw), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_seed(self, seed: int) -> "RunConfig":
        return dataclasses.replace(self, seed=seed)


# ---------------------------------------------------------------- schema checking


def suggest(name: str, options) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f"; known keys: {', '.join(options)}"


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(tp, value, key: str):
    """Check `value` against annotation `tp`; return it as the dataclass field wants it."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [t for t in options if t is not type(None)]
        return _convert(inner, value, key)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list | tuple):
            raise UserError(f"{key}: expected a list, got {value!r}")
        return tuple(_convert(inner, v, f"{key}.{i}") for i, v in enumerate(value))
    if origin is dict:
        _, inner = typing.get_args(tp)
        if not isinstance(value, dict):
            raise UserError(f"{key}: expected a mapping, got {value!r}")
        return types.MappingProxyType({str(k): _convert(inner, v, f"{key}.{k}") for k, v in value.items()})
    if tp is Any:
        return value
    if tp is ClassSpec:
        if not isinstance(value, dict) or not isinstance(value.get("class"), str):
            raise UserError(f"{key}: expected a mapping with a 'class' name, e.g. {{class: Dense, units: 10}}; got {value!r}")
        args = {k: v for k, v in value.items() if k != "class"}
        return ClassSpec(value["class"], types.MappingProxyType(args))
    if dataclasses.is_dataclass(tp):
        return from_raw(tp, value, f"{key}.")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise UserError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    return value


def from_raw(cls, raw, prefix: str = ""):
    """Validate a raw mapping against dataclass `cls` (types, ranges, unknown keys) and build it."""
    if not isinstance(raw, dict):
        raise UserError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise UserError(f"{prefix}{key}: unknown key{suggest(key, fields)}")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}{name}"
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"{key}: missing (required)")
            continue
        value = _convert(hints[name], raw[name], key)
        if "check" in f.metadata:
            predicate, expected = f.metadata["check"]
            if not predicate(value):
                raise UserError(f"{key}: expected {expected}, got {raw[name]!r}")
        values[name] = value
    return cls(**values)


def _drop_unset(obj):
    if isinstance(obj, dict):
        return {k: _drop_unset(v) for k, v in obj.items() if v is not None and v != [] and v != {}}
    if isinstance(obj, list):
        return [_drop_unset(v) for v in obj]
    return obj


def to_raw(obj):
    """Any config dataclass as plain YAML-ready data (lists, dicts, scalars)."""
    return _to_raw(obj)


def _to_raw(obj):
    if isinstance(obj, ClassSpec):
        return obj.to_raw()
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_raw(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_raw(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: _to_raw(v) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[str, Any]:
    """'train.epochs=2' -> ('train.epochs', 2); the value is read as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UserError(f"--set {text}: expected KEY=VALUE, e.g. --set train.epochs=2")
    try:
        return key.strip(), yaml.load(value, Loader=YamlLoader)
    except yaml.YAMLError:
        raise UserError(f"--set {text}: the value is not valid YAML") from None


def _apply_override(raw: dict, key: str, value: Any) -> None:
    """Set raw[key] after checking every part of the dotted key against the schema."""
    parts = key.split(".")
    node, tp, seen = raw, RunConfig, []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(seen + [part])
        if typing.get_origin(tp) is tuple:  # a list of layers: index by position
            if not part.isdigit() or int(part) >= len(node):
                raise UserError(f"--set {key}: '{where}' needs a position 0..{len(node) - 1}")
            part, tp = int(part), typing.get_args(tp)[0]
        elif tp is ClassSpec:  # any argument name: Keras checks it at build time
            tp = Any
        elif dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            if part not in hints:
                raise UserError(f"--set {key}: unknown key '{where}'{suggest(part, hints)}")
            tp = hints[part]
            tp = next((t for t in typing.get_args(tp) if t is not type(None)), tp) if typing.get_origin(tp) in (types.UnionType, typing.Union) else tp
        else:
            raise UserError(f"--set {key}: '{'.'.join(seen)}' is a value, not a section")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict):
                if node.get(part) is None:  # an optional section switched on by --set
                    node[part] = {}
                node = node[part]
            else:
                node = node[part]
        seen.append(str(part))


def _expand_family(raw: dict) -> None:
    """model.family (validated) -> model.layers, in place; family left null."""
    model = raw.get("model")
    if not isinstance(model, dict) or model.get("family") is None:
        return
    if model.get("layers"):
        raise UserError("model.family: a model takes either layers or a family, not both "
                        "(a config that extends a family model and lists layers sets family: null)")
    model["layers"] = expand(from_raw(FamilyConfig, model["family"], "model.family."))
    model["family"] = None


def _expand_family_reporting(raw: dict, path: Path) -> None:
    try:
        _expand_family(raw)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def load_config(path: str | Path, overrides: list[str] = (), seed: int | None = None) -> RunConfig:
    """Read, extend, override and validate a run config. Raises UserError on any mistake."""
    path = Path(path)
    raw = read_raw(path)
    parsed = [parse_override(text) for text in overrides]
    # The family's keys first, then its expansion, then the rest: `--set model.family.depth=5` and
    # `--set model.layers.1.momentum=0.9` both work on a family config, in any order.
    family_first = sorted(parsed, key=lambda kv: not kv[0].startswith("model.family"))
    for i, (key, value) in enumerate(family_first):
        if not key.startswith("model.family") and (i == 0 or family_first[i - 1][0].startswith("model.family")):
            _expand_family_reporting(raw, path)
        _apply_override(raw, key, value)
    if seed is not None:
        raw["seed"] = seed
    set_keys = [key for key, _ in parsed]
    try:
        _expand_family(raw)
        return from_raw(RunConfig, raw)
    except UserError as e:
        bad_key = str(e).split(":")[0]
        source = "--set" if bad_key in set_keys else f"{path}:"
        raise UserError(f"{source} {e}") from None
