"""REPORT.md and a self-contained REPORT.html for an experiment, from its result files alone.

The setup comes from the runs' resolved config.yaml and run.json, the numbers from summary.csv's
figures, the verdicts from the claims declared in the experiment's YAML (claims.py states the rules).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from bn_study.report import claims as claims_mod
from bn_study.config.schema import BN_LAYER_CLASSES
from bn_study.config.experiment_spec import SPEC_FILE, ExperimentSpec, load_spec
from bn_study.report.html_page import to_html
from bn_study.report.probe_report import probe_section
from bn_study.report.setup import setup_section
from bn_study.report.tables import markdown_table, steps_section, sweep_section
from bn_study.results import SHRUNK_FILE, RunRecord, find_runs, read_json, write_text
from bn_study.report.summary import mean_ci
from bn_study.report.statistics import finite, read_claims, read_summary
from bn_study.report.verdicts import RULES

REPORT_MD, REPORT_HTML = "REPORT.md", "REPORT.html"
TABLE_FIGURES = {
    "test_accuracy": "test accuracy",
    "test_loss": "test loss",
    "final_val_accuracy": "validation accuracy, last epoch",
    "best_val_accuracy": "validation accuracy, best epoch",
    "best_minus_final_val_accuracy": "best − last validation accuracy",
    "gap_accuracy": "train − validation accuracy, last epoch",
    "final_val_loss": "validation loss, last epoch",
    "min_val_loss": "validation loss, lowest",
    "val_accuracy_epoch1": "validation accuracy after epoch 1",
    "val_accuracy_std_late": "std of validation accuracy over the 2nd half of epochs",
    "seconds_per_epoch": "seconds per epoch (median)",
    "test_accuracy_step_mean": "test accuracy, mean over the records every N steps",
    "probe_p50_range": "probed input's median: max − min over training",
    "probe_spread_range": "probed input's 15th–85th spread: max − min over training",
}
# The claims' `source` labels.
SOURCES = ("Sources quoted: **AIM**, \"Hands-On Guide To Implement Batch Normalization in Deep Learning Models\", "
           "Analytics India Magazine (the experiment reproduced); **Pal**, \"From Theory to Practice: Implementing "
           "Batch Normalization in Deep Learning Models\", Subhabaha Pal, guest blog post; **Naik**, \"Harmony in "
           "Training: Unveiling the Power of Batch Normalization in Neural Networks\", Saurabh Naik, blog post; "
           "**'Batch Normalization' blog**, \"Batch Normalization\", blog post (2020); the paper: Ioffe & Szegedy "
           "(2015), \"Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift\".")
PLOT_CAPTIONS = {
    "mean_curves.png": "Mean ± 1 std over seeds of the four curves.",
    "test_accuracy.png": "Test accuracy of every seed, with the mean and its 95% CI.",
    "epochs_to_threshold.png": "Epochs until validation accuracy first reached each threshold.",
    "compare_accuracy.png": "One seed, variants overlaid: validation (solid) and training (dashed) accuracy.",
    "loss.png": "One seed, variants overlaid: validation (solid) and training (dashed) loss.",
    "test_accuracy_by_step.png": "Test accuracy every `train.test_every_steps` steps: mean ± 1 std over seeds.",
    "sweep_test_accuracy.png": "Test accuracy against the swept value: mean over complete seeds (line), each seed (dots).",
    "sweep_final_accuracy.png": "Training accuracy of the last epoch against the swept value.",
}


def _cell(values: pd.Series, digits: int = 4) -> str:
    n, mean, std, low, high = mean_ci(values)
    if n == 0:
        return "—"
    if n == 1:
        return f"{mean:.{digits}g} (n=1)"
    return f"{mean:.{digits}g} ± {std:.2g} [{low:.{digits}g}, {high:.{digits}g}] (n={n})"


def results_section(summary: pd.DataFrame, variants: list[str], thresholds) -> str:
    diverged = [["diverged (runs)"] + [f"{int(summary.loc[summary['variant'] == v, 'diverged'].sum())} of "
                                        f"{int((summary['variant'] == v).sum())}" for v in variants]]
    summary = summary[summary["status"] == "complete"]
    figures = dict(TABLE_FIGURES)
    for t in thresholds:
        figures[f"epochs_to_val_{t:g}"] = f"epochs to validation accuracy {t:g} (runs that reached it)"
        figures[f"test_steps_to_{t:g}"] = f"steps to test accuracy {t:g} (runs that reached it)"
    rows = [[label] + [_cell(summary.loc[summary["variant"] == v, f]) for v in variants]
            for f, label in figures.items() if f in summary.columns]
    rows += diverged if any("0 of" not in c for c in diverged[0][1:]) else []
    return "\n".join(["## Results over seeds", "",
                      "Mean ± standard deviation [95% Student-t confidence interval of the mean] (n runs).", "",
                      markdown_table(["figure"] + variants, rows), ""])


def claims_section(spec: ExperimentSpec, results_dir: Path) -> str:
    """The claims table from claims.csv (statistics.py judged them; nothing is re-judged here)."""
    if not spec.claims:
        return ""
    rows = []
    for _, c in read_claims(results_dir).iterrows():
        source = f"<br>*{c['source']}*" if c["source"] else ""
        holm_p = f"{c['holm_p']:.2g}" if finite(c["holm_p"]) else "–"
        rows.append([str(c["number"]), c["claim"] + source, c["test_text"], c["evidence"], holm_p, f"**{c['verdict']}**"])
    return "\n".join(["## Claims", "", markdown_table(["#", "claim", "test", "evidence", "Holm p", "verdict"], rows), "",
                      f"Verdict rules (α = {claims_mod.ALPHA}, n = runs per variant as shown):", "",
                      claims_mod.RULES, "", RULES, "", SOURCES, ""])


def observations_section(summary: pd.DataFrame, runs: list[RunRecord], variants: list[str]) -> str:
    """What the curves show beyond the article's figure, stated from the numbers."""
    done = summary[summary["status"] == "complete"]
    if not done["variant"].isin(variants).any():
        return ""
    lines = ["## What the curves show that the article does not mention", ""]
    by = {v: done[done["variant"] == v] for v in variants}
    for v in variants:
        rows = by[v]
        if rows.empty:
            continue
        cfg = next(r.config for r in runs if r.variant == v)
        bn_layers = [l for l in cfg["model"]["layers"] if l["class"] in BN_LAYER_CLASSES]
        train_epoch1 = np.mean([r.history["accuracy"].iloc[0] for r in runs if r.variant == v])
        text = (f"- **{v}**: validation accuracy after epoch 1 was {rows['val_accuracy_epoch1'].mean():.4f} "
                f"(range {rows['val_accuracy_epoch1'].min():.4f}–{rows['val_accuracy_epoch1'].max():.4f} over "
                f"{len(rows)} seeds) against a training accuracy of {train_epoch1:.4f} averaged over epoch 1's batches; "
                f"the best epoch was on average {rows['best_val_epoch'].mean():.1f} of {rows['epochs'].max()}, and "
                f"validation loss ended {rows['final_val_loss'].mean() / rows['min_val_loss'].mean():.2f}× its lowest "
                f"value while training accuracy ended at {rows['final_accuracy'].mean():.4f}.")
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
    if len(variants) >= 2 and all(not by[v].empty for v in variants[:2]):
        a, b = variants[:2]
        ratio = by[b]["seconds_per_epoch"].median() / by[a]["seconds_per_epoch"].median()
        lines.append(f"- Time: an epoch of **{b}** took {ratio:.2f}× as long as one of **{a}** (median over runs).")
    return "\n".join(lines + [""])


def plots_section(results_dir: Path, variants: list[str]) -> str:
    lines = ["## Plots", ""]
    plots = results_dir / "plots"
    names = [f"article_figure_{v}.png" for v in variants] + list(PLOT_CAPTIONS)
    for name in names:
        if (plots / name).is_file():
            caption = PLOT_CAPTIONS.get(name, "The article's figure, redrawn from its first seed's history.csv.")
            lines += [f"![{name}](plots/{name})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def shrunk_note(results_dir: Path) -> str:
    """A warning for an experiment run with --set or --seeds (results.SHRUNK_FILE); '' otherwise."""
    path = Path(results_dir) / SHRUNK_FILE
    if not path.is_file():
        return ""
    shrunk = read_json(path)
    changes = [f"`--set {s}`" for s in shrunk.get("set", [])]
    if shrunk.get("seeds") is not None:
        changes.append(f"seeds {', '.join(map(str, shrunk['seeds']))} only")
    return (f"> **Shrunk smoke run, not the experiment's result.** Trained with {', '.join(changes)} in place of "
            f"the experiment file's settings: a check that the pipeline runs, whose numbers say nothing about BN.")


def render_markdown(results_dir: Path) -> str:
    results_dir = Path(results_dir)
    spec = load_spec(results_dir / SPEC_FILE)
    variants = [v.name for v in spec.all_variants]
    all_runs = [r for r in find_runs(results_dir) if r.variant in variants]
    runs = [r for r in all_runs if r.complete]
    diverged = [r for r in all_runs if r.run.get("status") == "diverged"]
    expected = len(variants) * len(spec.seeds)
    missing = [f"{v}/seed-{s}" for v in variants for s in spec.seeds
               if not any(r.variant == v and r.seed == s for r in runs + diverged)]
    listed = [v.name for v in spec.variants]  # a grid's variants are reported against the swept value
    head = [f"# Report: {spec.name}" + (" (shrunk smoke run)" if shrunk_note(results_dir) else ""), "",
            *([shrunk_note(results_dir), ""] if shrunk_note(results_dir) else []),
            *([f"**Question.** {spec.question}", ""] if spec.question else []),
            f"Written by `bn-study report {results_dir}` on "
            f"{datetime.now(timezone.utc):%Y-%m-%d} from the files in this directory.", "",
            f"Complete runs: {len(runs)} of {expected} ({len(variants)} variants × {len(spec.seeds)} seeds)"
            + (f", diverged: {len(diverged)}" if diverged else "")
            + (f"; missing or unfinished: {', '.join(missing)}." if missing else "."), ""]
    if not runs:
        return "\n".join(head + ["No complete runs yet."])
    summary = read_summary(results_dir)
    parts = [setup_section(spec, runs, results_dir),
             results_section(summary[summary["variant"].isin(listed)], listed, spec.thresholds) if listed else "",
             sweep_section(summary, spec.grid_points), steps_section(runs, listed),
             claims_section(spec, results_dir), observations_section(summary, runs, listed),
             probe_section(runs, variants),
             plots_section(results_dir, variants)]
    return "\n".join(head + [part for part in parts if part])


def write_reports(results_dir: Path) -> list[Path]:
    """REPORT.md and REPORT.html in results_dir."""
    results_dir = Path(results_dir)
    text = render_markdown(results_dir)
    md, html = results_dir / REPORT_MD, results_dir / REPORT_HTML
    write_text(md, text)
    write_text(html, to_html(text, results_dir, f"bn_study report: {results_dir.name}"))
    return [md, html]
