"""COMPARE.md and COMPARE.html: a reproduction against its reference, formatted from the comparison
stats/comparison.py computed (COMPARE.csv); the rule is stats/rules.py's COMPARE_RULE."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bn_study.report.html_page import to_html
from bn_study.report.machines import machine_line
from bn_study.report.tables import markdown_table
from bn_study.report.words import differences_text
from bn_study.results import RunRecord, write_text
from bn_study.stats.labels import label
from bn_study.stats.rules import COMPARE_RULE

if TYPE_CHECKING:  # computing a comparison needs scipy; formatting one does not
    from bn_study.stats.comparison import Comparison

COMPARE_MD, COMPARE_HTML = "COMPARE.md", "COMPARE.html"


def _mean_text(row, side: str) -> str:
    n, mean, low, high = (getattr(row, f"{side}_{k}") for k in ("n", "mean", "ci_low", "ci_high"))
    return f"{mean:.4g} [{low:.4g}, {high:.4g}] (n={n})" if n > 1 else f"{mean:.4g} (n={n})"


def _difference_text(row) -> str:
    if not np.isfinite(row.difference):
        return "–"
    if row.no_spread:
        return f"{row.difference:+.3g} (no spread)"
    return f"{row.difference:+.3g} [{row.difference_ci_low:+.3g}, {row.difference_ci_high:+.3g}]"


def _machines(runs: list[RunRecord]) -> list[str]:
    return sorted({machine_line(r.run) for r in runs})


def render(comparison: Comparison) -> str:
    """COMPARE.md's text."""
    reference_dir, local_dir = comparison.reference.directory, comparison.local.directory
    lines = [f"# Comparison: {local_dir} against {reference_dir}", "",
             f"Written by `bn-study compare {reference_dir} {local_dir}` on "
             f"{datetime.now(timezone.utc):%Y-%m-%d} from the run folders alone.", ""]
    table = comparison.table
    for match in comparison.matches:
        shared, identical = match.shared, match.identical
        counts = (f"Complete runs: {len(match.reference_seeds)} in the reference, {len(match.local_seeds)} here; seeds "
                  f"in both: {', '.join(map(str, shared)) or 'none'}; bit-identical: {len(identical)} of {len(shared)}"
                  + (f" (seeds {', '.join(map(str, identical))})" if identical else "") + ".")
        rows = [[label(t.figure), _mean_text(t, "reference"), _mean_text(t, "local"), _difference_text(t),
                 f"{t.p:.3g}" if np.isfinite(t.p) else "–", f"{t.holm_p:.3g}" if np.isfinite(t.holm_p) else "–",
                 f"**{t.verdict}**"] for t in table[table["variant"] == match.variant].itertuples()]
        lines += [f"## {match.variant}", "", differences_text(list(match.differences), "the reference", "here"), "",
                  counts, "",
                  markdown_table(["figure", "reference mean [95% CI]", "reproduction", "difference [95% CI]", "p",
                                  "Holm p", "verdict"], rows), ""]
    lines += ["## Rule", "", COMPARE_RULE, "", "## Machines", "",
              "- Reference: " + " | ".join(_machines(list(comparison.reference.runs))),
              "- This reproduction: " + " | ".join(_machines(list(comparison.local.runs))), ""]
    return "\n".join(lines)


def write_comparison_pages(comparison: Comparison) -> list[Path]:
    """COMPARE.md and COMPARE.html in the reproduction's folder."""
    local_dir = comparison.local.directory
    text = render(comparison)
    md, page = local_dir / COMPARE_MD, local_dir / COMPARE_HTML
    write_text(md, text)
    write_text(page, to_html(text, local_dir, f"bn_study comparison: {local_dir}"))
    return [md, page]
