"""Numbers and facts into words, in one place, for the reports, the overlays, the comparison and the console."""
from __future__ import annotations

from typing import Any

import numpy as np

from bn_study.stats.rules import ALPHA, MARKS, MAX_SEEDS, NO_FIGURE, NO_SPREAD, TOO_FEW, UNDEFINED


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


# ---------------------------------------------------------------- claims (claims.csv's rows)

NOTE_WORDS = {TOO_FEW: "too few seeds for a test", NO_SPREAD: "no spread in either variant",
              UNDEFINED: "Brown-Forsythe undefined (each run as far from its variant's median)"}


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and bool(np.isfinite(x))


def _side(name, n, mean, std) -> str:
    return f"{name} {number(mean) if n else 'n/a'} ± {number(std, 2)} (n={int(n)})"


def test_text(c) -> str:
    """The claim's test in a few words, as the report's table shows it."""
    if c["expect"]:
        return f"{c['test']}: {c['metric']} ({c['expect']} for {c['treatment']})"
    if c["test"] == "range":
        return f"{c['test']}: {c['metric']} ≥ {c['value']:g}, wider for {c['treatment']}"
    if c["test"] in ("gain", "equivalence"):
        return f"{c['test']}: {c['metric']} of {c['treatment']} − {c['baseline']} in [{c['band_low']:g}, {c['band_high']:g}]"
    return f"{c['test']}: {c['metric']}"


def _values_text(field: str) -> str:
    """'0.01, 0.03, 0.1 (1 decade)' from a trains_well field; 'none' when empty."""
    values = str(field).split() if isinstance(field, str) else []
    if not values:
        return "none"
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        numbers = []
    decades = np.log10(max(numbers) / min(numbers)) if len(numbers) > 1 and min(numbers) > 0 else None
    text = ", ".join(values)
    return f"{text} ({decades:.3g} decade{'' if decades == 1 else 's'})" if decades else text


def _no_spread_words(c) -> str:
    return "the same difference at every seed" if c["paired"] else "no spread in either variant"


def _test_name(c) -> str:
    return "paired t" if c["paired"] else "Welch"


def claim_evidence(c) -> str:
    """A claims.csv row's evidence in words: each side's mean ± std (n), the effect with its CI and the raw
    p of its test (or why there is none), the runs that never reached a threshold, the seeds for power."""
    test, note = c["test"], c["note"]
    if note == NO_FIGURE:
        return f"no figure '{c['metric']}' in summary.csv"
    if test == "range":
        return (f"{c['metric']} ≥ {c['value']:g} in every seed at {c['range_key']} = {c['baseline']}: "
                f"{_values_text(c['trains_well_baseline'])}; {c['treatment']}: {_values_text(c['trains_well_treatment'])}")
    if test == "value":
        text = (f"{_side(c['variant'], c['n_treatment'], c['mean_treatment'], c['std_treatment'])}, 95% CI "
                f"[{number(c['ci_low'])}, {number(c['ci_high'])}] vs claimed "
                f"{(c['band_low'] + c['band_high']) / 2:g} ± {(c['band_high'] - c['band_low']) / 2:g}")
        return text + ("; too few seeds for a CI" if note == TOO_FEW else "")
    if test == "spread":
        text = (f"std over seeds: {c['baseline']} {number(c['std_baseline'], 2)} (n={c['n_baseline']}), "
                f"{c['treatment']} {number(c['std_treatment'], 2)} (n={c['n_treatment']})")
        if note:
            return f"{text}; {NOTE_WORDS[note]}"
        return f"{text}, ratio {number(c['effect'], 3)}, Brown-Forsythe p = {c['p']:.2g}"
    text = (f"{_side(c['baseline'], c['n_baseline'], c['mean_baseline'], c['std_baseline'])}; "
            f"{_side(c['treatment'], c['n_treatment'], c['mean_treatment'], c['std_treatment'])}")
    band = f"band [{c['band_low']:g}, {c['band_high']:g}]"
    if note == TOO_FEW:
        text += "; too few seeds for a test"
    elif test == "difference":
        text += (f"; Δ = {number(c['effect'])}, {_no_spread_words(c)} (p taken as {c['p']:g})" if note == NO_SPREAD else
                 f"; Δ = {number(c['effect'])} [95% CI {number(c['ci_low'])}, {number(c['ci_high'])}], "
                 f"{_test_name(c)} p = {c['p']:.2g}")
    elif note == NO_SPREAD:  # gain, equivalence
        text += f"; Δ = {number(c['effect'])}, {_no_spread_words(c)}, vs {band} (p taken as 0)"
    else:
        inside = c["band_low"] <= c["effect"] <= c["band_high"]
        text += (f"; Δ = {number(c['effect'])} [90% CI {number(c['ci_low'])}, {number(c['ci_high'])}"
                 f"{', paired by seed' if c['paired'] else ''}] vs {band}"
                 + (f", TOST p = {c['p']:.2g}" if inside else f", p (outside the band) = {c['p']:.2g}"))
    return text + _never_reached_words(c) + _power_words(c)


def _never_reached_words(c) -> str:
    if not c["metric"].startswith(("epochs_to", "test_steps_to")):
        return ""
    counts = [(c[side], c[f"never_reached_{key}"]) for side, key in (("baseline", "baseline"), ("treatment", "treatment"))]
    never = ", ".join(f"{v} {int(n)}" for v, n in counts if _finite(n) and n)
    unit = "epochs" if c["metric"].startswith("epochs_to") else "last step"
    return f"; runs that never reached it (counted as {unit} + 1): {never}" if never else ""


def _power_words(c) -> str:
    if not _finite(c["seeds_for_power"]):
        return ""
    what = f"a difference of {c['min_effect']:g}" if _finite(c["min_effect"]) else "the observed difference"
    n = int(c["seeds_for_power"])
    count = f"more than {MAX_SEEDS}" if n > MAX_SEEDS else str(n)
    return f"; seeds for 80% power to detect {what} at α = {ALPHA} (before Holm): {count} per variant"


def claim_effect(c) -> str:
    """A claims.csv row's effect in words without each side's numbers and the raw p (the docs' tables): the
    difference with its CI, the mean's CI against the claimed band, or both spreads."""
    if c["test"] == "spread" and _finite(c["std_baseline"]) and _finite(c["std_treatment"]):
        return (f"std over seeds: {c['baseline']} {number(c['std_baseline'], 2)} (n={c['n_baseline']}), "
                f"{c['treatment']} {number(c['std_treatment'], 2)} (n={c['n_treatment']}), ratio {number(c['effect'], 3)}")
    if not _finite(c["ci_low"]):
        return claim_evidence(c)  # a range claim's count, or too few seeds: no numbers to show but its words
    level = f"{c['ci_level'] * 100:.0f}% CI"
    if c["test"] == "value":
        center, half = (c["band_low"] + c["band_high"]) / 2, (c["band_high"] - c["band_low"]) / 2
        return f"{level} [{number(c['ci_low'])}, {number(c['ci_high'])}] vs claimed {center:g} ± {half:g}"
    band = f" vs band [{c['band_low']:g}, {c['band_high']:g}]" if c["test"] in ("gain", "equivalence") else ""
    if c["ci_low"] == c["ci_high"]:  # no spread on either side: the difference is known exactly
        taken = f" (p taken as {c['p']:g})" if not band else " (p taken as 0)"
        return f"Δ = {number(c['effect'])}, {_no_spread_words(c)}{band}{taken}"
    return f"Δ = {number(c['effect'])} [{level} {number(c['ci_low'])}, {number(c['ci_high'])}]{band}"


# --set keys that make an experiment smaller than its file: its numbers are a smoke test's, not a result.
SHRINKING_KEYS = ("train.epochs", "data.train_limit", "data.test_limit")


def is_smoke_run(shrunk: dict | None) -> bool:
    """Whether --seeds or a shrinking --set made the experiment smaller than its file says."""
    return bool(shrunk) and (shrunk.get("seeds") is not None
                             or any(s.split("=", 1)[0] in SHRINKING_KEYS for s in shrunk.get("set", [])))


def changed_marker(shrunk: dict | None) -> str:
    """' (shrunk smoke run)', ' (changed by --set)' or '': how a title marks an experiment run unlike its file."""
    return " (shrunk smoke run)" if is_smoke_run(shrunk) else " (changed by --set)" if shrunk else ""


def changed_note(shrunk: dict | None) -> str:
    """The warning atop a report of an experiment run with --set or --seeds (its shrunk.json); '' otherwise."""
    if not shrunk:
        return ""
    changes = [f"`--set {s}`" for s in shrunk.get("set", [])]
    if shrunk.get("seeds") is not None:
        changes.append(f"seeds {', '.join(map(str, shrunk['seeds']))} only")
    if is_smoke_run(shrunk):
        return (f"> **Shrunk smoke run, not the experiment's result.** Trained with {', '.join(changes)} in place of "
                f"the experiment file's settings: a check that the pipeline runs, whose numbers say nothing about BN.")
    return (f"> **Changed from the experiment file:** trained with {', '.join(changes)}, every other setting, the "
            f"seeds and the claims as the file says; its numbers are those of that change.")
