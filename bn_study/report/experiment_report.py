"""REPORT.md and a self-contained REPORT.html for an experiment, from its result files alone.

The setup comes from the runs' resolved config.yaml and run.json, the numbers from the statistics
files (aggregate.csv, claims.csv, curves.csv, probe_movement.csv; stats/stage.py writes them), the
rules from stats/rules.py. Nothing is computed here beyond arithmetic on those numbers.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from bn_study.config.schema import BN_LAYER_CLASSES
from bn_study.report.html_page import to_html
from bn_study.report.probe_report import probe_section
from bn_study.report.setup_section import setup_section
from bn_study.report.tables import grid_representatives, markdown_table, steps_section, sweep_section
from bn_study.report.words import changed_marker, changed_note, claim_evidence, test_text
from bn_study.results import RunRecord, write_text
from bn_study.config.experiment_spec import SPEC_FILE
from bn_study.stats.files import STATISTICS_FILES, ExperimentRuns, Statistics, finite
from bn_study.stats.labels import REPORT_FIGURES, label
from bn_study.stats.rules import ALPHA, CLAIM_RULES, HOLM_RULES

REPORT_MD, REPORT_HTML = "REPORT.md", "REPORT.html"
PLOTS_DIR = "plots"
INDEX_HTML = "index.html"  # results/index.html (report/site.py), one folder up
# The claims' `source` labels.
SOURCES = ("Sources quoted: **AIM**, \"Hands-On Guide To Implement Batch Normalization in Deep Learning Models\", "
           "Analytics India Magazine (the experiment reproduced); **Pal**, \"From Theory to Practice: Implementing "
           "Batch Normalization in Deep Learning Models\", Subhabaha Pal, guest blog post; **Naik**, \"Harmony in "
           "Training: Unveiling the Power of Batch Normalization in Neural Networks\", Saurabh Naik, blog post; "
           "**'Batch Normalization' blog**, \"Batch Normalization\", blog post (2020); the paper: Ioffe & Szegedy "
           "(2015), \"Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift\".")

def _cell(aggregate: pd.DataFrame, variant: str, figure: str, digits: int = 4) -> str:
    """mean ± std [95% CI] (n) from aggregate.csv."""
    if (variant, figure) not in aggregate.index:
        return "—"
    n, mean, std, low, high = aggregate.loc[(variant, figure), ["n", "mean", "std", "ci95_low", "ci95_high"]]
    if n == 0:
        return "—"
    if n == 1:
        return f"{mean:.{digits}g} (n=1)"
    return f"{mean:.{digits}g} ± {std:.2g} [{low:.{digits}g}, {high:.{digits}g}] (n={int(n)})"


def results_section(summary: pd.DataFrame, aggregate: pd.DataFrame, variants: list[str], thresholds) -> str:
    diverged = [["diverged (runs)"] + [f"{int(summary.loc[summary['variant'] == v, 'diverged'].sum())} of "
                                        f"{int((summary['variant'] == v).sum())}" for v in variants]]
    figures = list(REPORT_FIGURES)
    for t in thresholds:
        figures += [f"epochs_to_val_{t:g}", f"test_steps_to_{t:g}"]
    thresholded = ("epochs_to_val_", "test_steps_to_")
    rows = [[label(f) + (" (runs that reached it)" if f.startswith(thresholded) else "")]
            + [_cell(aggregate, v, f) for v in variants] for f in figures if f in summary.columns]
    rows += diverged if any("0 of" not in c for c in diverged[0][1:]) else []
    return "\n".join(["## Results over seeds", "",
                      "Mean ± standard deviation [95% Student-t confidence interval of the mean] (n runs).", "",
                      markdown_table(["figure"] + variants, rows), ""])


def claims_section(claims: pd.DataFrame) -> str:
    """The claims table from claims.csv (stats/ judged them; nothing is re-judged here)."""
    if claims.empty:
        return ""
    rows = []
    for _, c in claims.iterrows():
        source = f"<br>*{c['source']}*" if c["source"] else ""
        holm_p = f"{c['holm_p']:.2g}" if finite(c["holm_p"]) else "–"
        rows.append([str(c["number"]), c["claim"] + source, test_text(c), claim_evidence(c), holm_p, f"**{c['verdict']}**"])
    return "\n".join(["## Claims", "", markdown_table(["#", "claim", "test", "evidence", "Holm p", "verdict"], rows), "",
                      f"Verdict rules (α = {ALPHA}, n = runs per variant as shown):", "",
                      CLAIM_RULES, "", HOLM_RULES, "", SOURCES, ""])


def observations_section(aggregate: pd.DataFrame, runs: list[RunRecord], variants: list[str]) -> str:
    """What the curves show beyond the article's figure, stated from aggregate.csv's numbers."""
    def of(variant: str, figure: str, column: str = "mean") -> float:
        return aggregate.loc[(variant, figure), column]

    present = [v for v in variants if (v, "val_accuracy_epoch1") in aggregate.index and of(v, "val_accuracy_epoch1", "n")]
    if not present:
        return ""
    lines = ["## What the curves show that the article does not mention", ""]
    for v in present:
        cfg = next(r.config for r in runs if r.variant == v)
        bn_layers = [l for l in cfg["model"]["layers"] if l["class"] in BN_LAYER_CLASSES]
        text = (f"- **{v}**: validation accuracy after epoch 1 was {of(v, 'val_accuracy_epoch1'):.4f} "
                f"(range {of(v, 'val_accuracy_epoch1', 'min'):.4f}–{of(v, 'val_accuracy_epoch1', 'max'):.4f} over "
                f"{int(of(v, 'val_accuracy_epoch1', 'n'))} seeds) against a training accuracy of "
                f"{of(v, 'accuracy_epoch1'):.4f} averaged over epoch 1's batches; "
                f"the best epoch was on average {of(v, 'best_val_epoch'):.1f} of {int(of(v, 'epochs', 'max'))}, and "
                f"validation loss ended {of(v, 'final_val_loss') / of(v, 'min_val_loss'):.2f}× its lowest "
                f"value while training accuracy ended at {of(v, 'final_accuracy'):.4f}.")
        if bn_layers:
            momentum = bn_layers[0].get("momentum", 0.99)
            n_train = next(r.run.get("n_train") for r in runs if r.variant == v)
            steps = int(np.ceil(n_train / cfg["train"]["batch_size"]))
            left = momentum ** steps
            text += (f" Its {len(bn_layers)} BatchNormalization layers normalise training batches with the batch's own "
                     f"statistics but validation data with moving averages (momentum {momentum:g}); after the "
                     f"{steps} steps of epoch 1 those averages still hold {left:.1%} of their initial values "
                     f"(mean 0, variance 1), and they trail weights that change fast early on, so the early "
                     f"validation accuracy of a BN model understates what its training-mode network already does.")
        lines.append(text)
    if len(variants) >= 2 and all(v in present for v in variants[:2]):
        a, b = variants[:2]
        ratio = of(b, "seconds_per_epoch", "median") / of(a, "seconds_per_epoch", "median")
        lines.append(f"- Time: an epoch of **{b}** took {ratio:.2f}× as long as one of **{a}** (median over runs).")
    return "\n".join(lines + [""])


def differences_section(experiment: ExperimentRuns, listed: list[str]) -> str:
    """What each listed variant changes in the first one's resolved config (its first complete run's config.yaml)."""
    from bn_study.config.differences import config_differences
    from bn_study.report.words import differences_text

    first_runs = {v: next((r for r in sorted(experiment.complete, key=lambda r: r.seed) if r.variant == v), None)
                  for v in listed}
    present = [v for v in listed if first_runs[v] is not None]
    if len(present) < 2:
        return ""
    base = first_runs[present[0]].config
    lines = [f"- **{v}**: " + differences_text(config_differences(base, first_runs[v].config), present[0], v)
             for v in present[1:]]
    return "\n".join(["## What differs", "", f"Each variant's resolved config against the first, **{present[0]}** "
                      "(dotted keys as `--set` names them; the seed aside):", "", *lines, ""])


def plots_section(results_dir: Path, variants: list[str]) -> str:
    lines = ["## Plots", ""]
    plots = results_dir / "plots"
    from bn_study.report.effect_map import EFFECT_MAP_PAGE
    from bn_study.report.plots import CAPTIONS, CURVES_PAGE

    pages = [f"[the curves]({PLOTS_DIR}/{CURVES_PAGE})"] if (plots / CURVES_PAGE).is_file() else []
    pages += [f"[the effect map]({PLOTS_DIR}/{EFFECT_MAP_PAGE})"] if (plots / EFFECT_MAP_PAGE).is_file() else []
    if pages:
        lines += [f"To explore (hover an epoch for every run's value, hide a variant, zoom, log scale; offline): "
                  f"{' and '.join(pages)}.", ""]
    names = [(f.format(variant=v), caption) for f, caption in CAPTIONS.items() for v in (variants if "{variant}" in f else [""])]
    for name, caption in names:
        if (plots / name).is_file():
            lines += [f"![{name}](plots/{name})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def files_line(experiment: ExperimentRuns) -> str:
    """Links back: the index of all results (when this folder is one of its rows), the experiment as
    run, the statistics files, and each described model's config and history (its first seed)."""
    results_dir, spec = experiment.directory, experiment.spec
    links = [f"[all results](../{INDEX_HTML})"] if (results_dir.parent / INDEX_HTML).is_file() else []
    links += [f"[{name}]({name})" for name in (SPEC_FILE, *STATISTICS_FILES) if (results_dir / name).is_file()]
    described = [v.name for v in spec.variants] or grid_representatives(spec)
    for variant in described:
        run = next((r for r in sorted(experiment.complete, key=lambda r: r.seed) if r.variant == variant), None)
        if run is not None:
            folder = f"{variant}/seed-{run.seed}"
            links.append(f"{variant}: [config]({folder}/config.yaml), [history]({folder}/history.csv)")
    return "Files: " + " · ".join(links)


def render_markdown(experiment: ExperimentRuns, statistics: Statistics) -> str:
    """REPORT.md's text from the experiment's runs and statistics files."""
    results_dir, spec, variants = experiment.directory, experiment.spec, experiment.variants
    runs, diverged = experiment.complete, experiment.diverged
    expected = len(variants) * len(spec.seeds)
    missing = [f"{v}/seed-{s}" for v in variants for s in spec.seeds
               if not any(r.variant == v and r.seed == s for r in runs + diverged)]
    listed = [v.name for v in spec.variants]  # a grid's variants are reported against the swept value
    note = changed_note(experiment.shrunk)
    head = [f"# Report: {spec.name}" + changed_marker(experiment.shrunk), "",
            *([note, ""] if note else []),
            *([f"**Question.** {spec.question}", ""] if spec.question else []),
            f"Written by `bn-study report {results_dir}` on "
            f"{datetime.now(timezone.utc):%Y-%m-%d} from the files in this directory.", "",
            files_line(experiment), "",
            f"Complete runs: {len(runs)} of {expected} ({len(variants)} variants × {len(spec.seeds)} seeds)"
            + (f", diverged: {len(diverged)}" if diverged else "")
            + (f"; missing or unfinished: {', '.join(missing)}." if missing else "."), "",
            *(["**Damaged runs, left out of every number below:** "
               + "; ".join(f"{r.directory.parent.name}/{r.directory.name} ({', '.join(r.problems)})"
                           for r in experiment.damaged)
               + ". The experiment's command retrains them.", ""] if experiment.damaged else [])]
    if not runs:
        return "\n".join(head + ["No complete runs yet."])
    summary, aggregate = statistics.summary, statistics.aggregate
    parts = [setup_section(spec, runs, experiment.commands), differences_section(experiment, listed),
             results_section(summary[summary["variant"].isin(listed)], aggregate, listed, spec.thresholds) if listed else "",
             sweep_section(summary, aggregate, spec.grid_points), steps_section(statistics.curves, listed),
             claims_section(statistics.claims) if spec.claims else "",
             observations_section(aggregate, runs, listed),
             probe_section(statistics.probe),
             plots_section(results_dir, variants)]
    return "\n".join(head + [part for part in parts if part])


def write_reports(experiment: ExperimentRuns, statistics: Statistics) -> list[Path]:
    """REPORT.md and REPORT.html in the experiment's results folder."""
    results_dir = experiment.directory
    text = render_markdown(experiment, statistics)
    md, html = results_dir / REPORT_MD, results_dir / REPORT_HTML
    write_text(md, text)
    write_text(html, to_html(text, results_dir, f"bn_study report: {results_dir.name}"))
    return [md, html]
