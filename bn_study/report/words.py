"""Numbers and facts into words, in one place, for the reports, the overlays, the comparison and the console."""
from __future__ import annotations

from typing import Any

import numpy as np

from bn_study.stats.rules import ALPHA, MARKS


def _value(value: Any) -> str:
    return f"`{value}`" if not isinstance(value, str) or not value.startswith("(") else value


def differences_text(differences: list[tuple[str, Any, Any]], left: str, right: str) -> str:
    """'Same config (seeds aside).' or 'Configs differ in 2 keys: `train.precision` float32 (left) →
    mixed_bfloat16 (right); ...'."""
    if not differences:
        return f"Same resolved config in {left} and {right} (seeds aside)."
    items = "; ".join(f"`{key}` {_value(a)} → {_value(b)}" for key, a, b in differences)
    return f"The resolved configs differ ({left} → {right}) in {len(differences)} key(s): {items}."


def number(x: float, digits: int = 4) -> str:
    """A measured number to `digits` significant digits; 'n/a' when there is none."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def cell_words(claim) -> dict[str, str]:
    """An effect-map cell's words from its claims.csv row: n per side, both means, the CI of the
    difference, the verdict's mark and the Holm-adjusted p."""
    level = f"{claim['ci_level']:.0%}" if np.isfinite(claim["ci_level"]) else "95%"
    ci = (f"{level} CI [{number(claim['ci_low'])}, {number(claim['ci_high'])}]"
          if np.isfinite(claim["ci_low"]) else "no CI")
    return {"n": f"{claim['n_baseline']} / {claim['n_treatment']}",
            "means": f"{claim['baseline']} {number(claim['mean_baseline'])}, {claim['treatment']} {number(claim['mean_treatment'])}",
            "ci": ci, "mark": MARKS.get(claim["verdict"], "?"), "difference_text": f"{claim['effect']:+.3g}",
            "holm_p": number(claim["holm_p"], 2) + (f" vs α = {ALPHA}" if np.isfinite(claim["holm_p"]) else "")}


def _rank(row) -> str:
    n, above, below = row["n_reference"], row["reference_below"], row["reference_above"]  # seeds the run is above, below
    if above == n:
        return f"above all {n} reference seeds"
    if below == n:
        return f"below all {n} reference seeds"
    equal = row["reference_equal"]
    return f"above {above}, below {below}" + (f", equal to {equal}" if equal else "") + f" of the {n} reference seeds"


def placement_sentences(placements) -> list[str]:
    """One sentence per (single run, reference) from stats.overlay.placements' rows: where the run falls,
    figure by figure, and the reference's 95% prediction interval."""
    if placements.empty:
        return []
    lines = []
    for (run, reference), rows in placements.groupby(["run", "reference"], sort=False):
        parts = [f"{r['label']} {r['value']:.4f}: {_rank(r)}; 95% prediction interval of the reference "
                 f"[{r['pi95_low']:.4f}, {r['pi95_high']:.4f}]" for _, r in rows.iterrows()]
        lines.append(f"{run} against {reference}: " + "; ".join(parts))
    return lines
