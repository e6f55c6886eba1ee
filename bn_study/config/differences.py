"""What differs between resolved configs: dotted keys with the value on each side, as `--set` names them.

Applied to config.yaml's data (RunConfig.to_raw()); the seed is left out (runs of one variant differ
in it by design), and keys absent on one side count as their schema default where one is known
(older runs' config.yaml lacks keys added since, e.g. train.precision)."""
from __future__ import annotations

from typing import Any

from bn_study.config.schema import DEFAULT_PRECISION
from bn_study.config.validate import drop_unset

IGNORED = ("seed", "data.path")  # data.path: where the verified arrays were read from, not what they are
DEFAULTS = {"train.precision": DEFAULT_PRECISION}
DEFAULT, NONE = "(default)", "(none)"  # an argument or key not written (Keras' or the schema's default); no layer


def flatten(raw: Any, prefix: str = "") -> dict[str, Any]:
    """{'model.layers.1.momentum': 0.9, 'train.epochs': 25, ...}: every leaf of nested mappings by its
    dotted key; a list is one value (kernel_size: [3, 3]), but for model.layers (see layer_differences)."""
    if not isinstance(raw, dict):
        return {prefix: raw}
    flat = {}
    for key, value in raw.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _layer_text(layer: Any) -> str:
    if not isinstance(layer, dict):
        return str(layer)
    args = ", ".join(f"{k}: {v}" for k, v in layer.items() if k != "class")
    return f"{layer.get('class')}({args})"


def layer_differences(a: list, b: list) -> list[tuple[str, Any, Any]]:
    """The layers' differences: argument by argument where the lists line up (the same classes in the same
    places), otherwise the layers inserted, removed or replaced, each by its position."""
    import difflib

    classes_a, classes_b = ([_layer_text(layer).split("(")[0] for layer in side] for side in (a, b))
    if classes_a == classes_b:
        return [(f"model.layers.{i}.{key}", x, y) for i, (la, lb) in enumerate(zip(a, b))
                for key, x, y in _leaf_differences(la, lb)]
    out = []
    texts_a, texts_b = [_layer_text(layer) for layer in a], [_layer_text(layer) for layer in b]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=texts_a, b=texts_b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            out.append((f"model.layers.{j if j < j2 else i}", texts_a[i] if i < i2 else NONE,
                        texts_b[j] if j < j2 else NONE))
    return out


def _leaf_differences(a: Any, b: Any) -> list[tuple[str, Any, Any]]:
    flat_a, flat_b = flatten(a) if isinstance(a, dict) else {"": a}, flatten(b) if isinstance(b, dict) else {"": b}
    keys = dict.fromkeys([*flat_a, *flat_b])
    return [(k, flat_a.get(k, DEFAULT), flat_b.get(k, DEFAULT)) for k in keys if flat_a.get(k, DEFAULT) != flat_b.get(k, DEFAULT)]


def config_differences(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) for every key whose values differ, in a's key order then b's."""
    a, b = drop_unset(a), drop_unset(b)  # null is the default, as in the fingerprint
    layers_a, layers_b = ((side.get("model") or {}).get("layers") or [] for side in (a, b))
    flat_a, flat_b = ({**DEFAULTS, **flatten(side)} for side in (a, b))
    keys = [k for k in dict.fromkeys([*flat_a, *flat_b]) if not k.startswith(IGNORED) and k != "model.layers"]
    differences = [(k, flat_a.get(k, DEFAULT), flat_b.get(k, DEFAULT)) for k in keys
                   if flat_a.get(k, DEFAULT) != flat_b.get(k, DEFAULT)]
    return differences + layer_differences(layers_a, layers_b)
