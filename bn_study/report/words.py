"""Numbers and facts into words, in one place, for the reports, the overlays, the comparison and the console."""
from __future__ import annotations

from typing import Any


def _value(value: Any) -> str:
    return f"`{value}`" if not isinstance(value, str) or not value.startswith("(") else value


def differences_text(differences: list[tuple[str, Any, Any]], left: str, right: str) -> str:
    """'Same config (seeds aside).' or 'Configs differ in 2 keys: `train.precision` float32 (left) →
    mixed_bfloat16 (right); ...'."""
    if not differences:
        return f"Same resolved config in {left} and {right} (seeds aside)."
    items = "; ".join(f"`{key}` {_value(a)} → {_value(b)}" for key, a, b in differences)
    return f"The resolved configs differ ({left} → {right}) in {len(differences)} key(s): {items}."
