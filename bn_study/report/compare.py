"""Does a reproduction agree with the reference? `bn-study compare REFERENCE LOCAL`.

For each variant both folders share: per seed found in both, whether the run is bit-identical
(every history column but the clock's, and metrics.json, equal to the last bit: expected on the
same machine, thread count and versions); per figure, both means with their 95% Student-t CIs, the
difference with the 95% CI of Welch's t, raw and Holm-adjusted p, and a verdict by the rule in RULE
(the rules module's alpha, Welch test and no-spread case: report/claims.py). Then both machines, as
their run.json files record them. Written as COMPARE.md, COMPARE.html and COMPARE.csv in LOCAL.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from bn_study.errors import UserError
from bn_study.report.html_page import to_html
from bn_study.report.claims import ALPHA, exact_p, no_spread, welch
from bn_study.report.verdicts import holm
from bn_study.report.setup import machine_line
from bn_study.report.tables import markdown_table
from bn_study.results import RunRecord, find_runs, write_text
from bn_study.report.statistics import read_summary
from bn_study.report.summary import mean_ci

COMPARE_MD, COMPARE_HTML, COMPARE_CSV = "COMPARE.md", "COMPARE.html", "COMPARE.csv"
FIGURES = {
    "test_accuracy": "test accuracy",
    "test_loss": "test loss",
    "final_val_accuracy": "validation accuracy, last epoch",
    "best_val_accuracy": "validation accuracy, best epoch",
    "val_accuracy_epoch1": "validation accuracy after epoch 1",
    "min_val_loss": "validation loss, lowest",
}
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]  # not the clock's
RULE = (f"A figure **differs** when Welch's two-sided t-test of the two sets of seeds gives a Holm-adjusted p "
        f"< {ALPHA} (Holm across every figure of every variant in this comparison; without spread on either "
        "side the difference is known exactly and its p is taken as 0, or 1 when it is zero, as in the reports' rules); "
        "otherwise it is **consistent**: no difference these seeds can detect, which is not proof of "
        "equality; the 95% CI of the difference bounds the difference that could hide. A seed is "
        "**bit-identical** when its history (all but the timing columns) and test metrics are equal to "
        "the last bit; across machines (another CPU's vector instructions, thread count or versions) "
        "expect it not to be, and the means to be consistent.")


def same_run(a: RunRecord, b: RunRecord) -> bool:
    """Bit-identical history (all but the clock's columns) and test metrics."""
    columns = [c for c in HISTORY_COLUMNS if c in a.history and c in b.history]
    return (len(a.history) == len(b.history) and a.history[columns].equals(b.history[columns])
            and a.metrics == b.metrics)


def figure_test(variant: str, figure: str, reference: pd.Series, local: pd.Series) -> dict:
    """One figure of one variant: both means [CI], the difference [Welch 95% CI] and the raw p."""
    def mean_text(values: pd.Series) -> str:
        n, mean, _, low, high = mean_ci(values)
        return f"{mean:.4g} [{low:.4g}, {high:.4g}] (n={n})" if n > 1 else f"{mean:.4g} (n={n})"

    row = {"variant": variant, "figure": figure, "reference": mean_text(reference), "reproduction": mean_text(local),
           "difference": "–", "p": np.nan, "note": ""}
    a, b = reference.dropna().to_numpy(float), local.dropna().to_numpy(float)
    if len(a) < 2 or len(b) < 2:
        return {**row, "note": "too few seeds (< 2 a side)"}
    difference = b.mean() - a.mean()
    if no_spread(a) and no_spread(b):  # Welch's t is undefined; the difference is known (claims.py's rule)
        return {**row, "difference": f"{difference:+.3g} (no spread)", "p": exact_p(difference)}
    test = welch(b, a)
    low, high = test.confidence_interval(0.95)
    return {**row, "difference": f"{difference:+.3g} [{low:+.3g}, {high:+.3g}]", "p": float(test.pvalue)}


def judge_tests(tests: list[dict]) -> pd.DataFrame:
    """Holm-adjusted p across every figure of every variant (one family, as the reports' claims)
    and the verdict: differs when the adjusted p < alpha."""
    table = pd.DataFrame(tests)
    table["holm_p"] = holm(list(table["p"]))
    table["verdict"] = [note if note else ("differs" if holm_p < ALPHA else "consistent")
                        for note, holm_p in zip(table["note"], table["holm_p"])]
    return table


def _complete(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["status"] == "complete"] if not summary.empty else summary


def _machines(runs: list[RunRecord]) -> list[str]:
    return sorted({machine_line(r.run) for r in runs})


def render(reference_dir: Path, local_dir: Path) -> str:
    """COMPARE.md's text."""
    return comparison(reference_dir, local_dir)[0]


def comparison(reference_dir: Path, local_dir: Path) -> tuple[str, pd.DataFrame]:
    """COMPARE.md's text and COMPARE.csv's table (one row per variant and figure)."""
    reference, local = find_runs(reference_dir), find_runs(local_dir)
    variants = [v for v in dict.fromkeys(r.variant for r in reference) if any(r.variant == v for r in local)]
    if not variants:
        raise UserError(f"{local_dir}: no variant in common with {reference_dir} (expected folders like "
                        f"{reference_dir}/<variant>/seed-<k>)")
    # The figures come from each side's summary.csv (statistics.py); the runs only for bit-identity.
    ref_table, local_table = (_complete(read_summary(d)) for d in (reference_dir, local_dir))
    if local_table.empty:
        raise UserError(f"{local_dir}: no complete run yet; finish it first (rerun the command that trained it)")
    lines = [f"# Comparison: {local_dir} against {reference_dir}", "",
             f"Written by `bn-study compare {reference_dir} {local_dir}` on "
             f"{datetime.now(timezone.utc):%Y-%m-%d} from the run folders alone.", ""]
    sections, tests = [], []
    for variant in variants:
        ref_runs = {r.seed: r for r in reference if r.variant == variant and r.complete}
        local_runs = {r.seed: r for r in local if r.variant == variant and r.complete}
        shared = sorted(set(ref_runs) & set(local_runs))
        identical = [s for s in shared if same_run(ref_runs[s], local_runs[s])]
        sections.append((variant, f"Complete runs: {len(ref_runs)} in the reference, {len(local_runs)} here; seeds in "
                         f"both: {', '.join(map(str, shared)) or 'none'}; bit-identical: {len(identical)} of {len(shared)}"
                         + (f" (seeds {', '.join(map(str, identical))})" if identical else "") + "."))
        a = ref_table[ref_table["variant"] == variant]
        b = local_table[local_table["variant"] == variant]
        tests += [figure_test(variant, f, a[f], b[f]) for f in FIGURES if f in a and f in b]
    judged = judge_tests(tests)
    for variant, counts in sections:
        rows = [[FIGURES[t.figure], t.reference, t.reproduction, t.difference,
                 f"{t.p:.3g}" if np.isfinite(t.p) else "–", f"{t.holm_p:.3g}" if np.isfinite(t.holm_p) else "–",
                 f"**{t.verdict}**"] for t in judged[judged["variant"] == variant].itertuples()]
        lines += [f"## {variant}", "", counts, "",
                  markdown_table(["figure", "reference mean [95% CI]", "reproduction", "difference [95% CI]", "p",
                                  "Holm p", "verdict"], rows), ""]
    lines += ["## Rule", "", RULE, "", "## Machines", "",
              "- Reference: " + " | ".join(_machines(reference)),
              "- This reproduction: " + " | ".join(_machines(local)), ""]
    return "\n".join(lines), judged


def write_comparison(reference_dir: Path, local_dir: Path) -> list[Path]:
    """COMPARE.md, COMPARE.html and COMPARE.csv in local_dir."""
    reference_dir, local_dir = Path(reference_dir), Path(local_dir)
    text, table = comparison(reference_dir, local_dir)
    md, page, csv = local_dir / COMPARE_MD, local_dir / COMPARE_HTML, local_dir / COMPARE_CSV
    write_text(md, text)
    write_text(page, to_html(text, local_dir, f"bn_study comparison: {local_dir}"))
    write_text(csv, table.to_csv(index=False))
    return [md, page, csv]
