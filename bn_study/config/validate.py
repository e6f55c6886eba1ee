"""Plain data checked against frozen dataclasses: types, ranges and unknown keys at once, with the
close match for a misspelt key; dotted `--set a.b=c` overrides checked against the same schema.
Generic: config/schema.py holds bn_study's dataclasses, this module how any of them is validated.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from bn_study.config.yamlio import YamlLoader
from bn_study.errors import UserError


def check(predicate, expected: str) -> dict:
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


# ---------------------------------------------------------------- schema checking


def closest_name(name: str, preferred: list[str], others: list[str] = ()) -> str | None:
    """The known name `name` most likely misspells: one it begins (any case) first, then the
    closest; Keras' own names before bn_study's ('BatchNorm' -> BatchNormalization, not FusedBatchNorm)."""
    for candidates in (preferred, list(others)):
        starts = sorted((c for c in candidates if c.lower().startswith(name.lower())), key=len)
        if starts:
            return starts[0]
    for candidates in (preferred, list(others)):
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
        if close:
            return close[0]
    close = difflib.get_close_matches(name, [*preferred, *others], n=1)
    return close[0] if close else None


def suggest(name: str, options) -> str:
    """' (did you mean ...?)' for a misspelt key, else the known keys."""
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
        raise UserError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {raw!r}")
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


def drop_unset(obj):
    if isinstance(obj, dict):
        return {k: drop_unset(v) for k, v in obj.items() if v is not None and v != [] and v != {}}
    if isinstance(obj, list):
        return [drop_unset(v) for v in obj]
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


def apply_override(raw: dict, key: str, value: Any, root: type) -> None:
    """Set raw[key] after checking every part of the dotted key against dataclass `root`."""
    parts = key.split(".")
    node, tp, seen = raw, root, []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(seen + [part])
        wants = "list" if typing.get_origin(tp) is tuple else "mapping" if tp is ClassSpec or dataclasses.is_dataclass(tp) else None
        if wants and not isinstance(node, list if wants == "list" else dict):  # the file's value is wrong there
            raise UserError(f"{'.'.join(seen) or 'config'}: expected a {wants}, got {repr(node)[:60]}")
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
