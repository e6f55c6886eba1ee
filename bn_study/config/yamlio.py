"""YAML in and out: one-line errors with the line, no duplicate keys, configs that extend a base.

A file may start with ``extends: other.yaml`` (relative to the file): mappings are merged key by
key, lists and scalars replace the base's.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bn_study.errors import UserError


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise UserError(f"{self.name}:{line}: key '{key}' is given twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads 1e-3 as a string (it wants 1.0e-3); accept the exponent form users write.
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; syntax errors become one-line UserErrors with the line."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); a config is a YAML text file") from None
    try:
        loader = YamlLoader(text)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: YAML syntax error: {' '.join(str(e.problem or e.context).split())}") from None
    except yaml.YAMLError as e:  # e.g. a control character the YAML reader refuses before parsing
        raise UserError(f"{path}: not YAML text: {' '.join(str(e).split())[:160]}") from None


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_raw(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The merged raw mapping of a config file and the files it extends."""
    path = Path(path)
    if path.resolve() in _chain:
        raise UserError(f"{path}: 'extends' forms a cycle")
    raw = read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a config must be a mapping of keys, got {type(raw).__name__}")
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw
    base = read_raw(path.parent / str(base_name), _chain + (path.resolve(),))
    return _merge(base, raw)


class _PlainDumper(yaml.SafeDumper):
    """Writes a value used twice twice, never as an anchor and alias (&id001 / *id001): a run's
    config.yaml reads as the config a user would write."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any) -> str:
    """YAML as a config file writes it: keys in order, short lists inline, no aliases."""
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, default_flow_style=None, width=100)
