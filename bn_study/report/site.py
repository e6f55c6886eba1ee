"""results/index.html (`bn-study site`): one offline page listing every experiment and measurement.

Each experiment folder (one with an experiment.yaml) gets a row: its question, complete runs, the
mean test accuracy of each listed variant, its claims' verdict counts and a thumbnail of its main
figure, linking to its REPORT.html; each benchmark or profile folder (one with a README.md) gets a
line linking to its README. Read from the result files only, as the reports are.
"""
from __future__ import annotations

import base64
import io
import re
from collections import Counter
import subprocess
from pathlib import Path

import pandas as pd
from PIL import Image

from bn_study.config.experiment_spec import SPEC_FILE
from bn_study.report.html_page import to_html
from bn_study.report.experiment_report import INDEX_HTML, REPORT_HTML
from bn_study.report.tables import markdown_table
from bn_study.report.words import changed_marker
from bn_study.results import write_text
from bn_study.stats.files import open_results
from bn_study.stats.rules import VERDICTS

MEASUREMENT_HTML = "README.html"  # beside each speed measurement's README.md
# The figure that best shows each kind of experiment, first match wins.
THUMBNAILS = ("plots/effect_map.png", "plots/landscape.png", "plots/mean_curves.png", "plots/test_accuracy_by_step.png", "plots/sweep_test_accuracy.png",
              "plots/article_figure_bn.png", "plots/compare_accuracy.png")
THUMB_SIZE = (420, 320)  # pixels; about 40 KB each as PNG


def thumbnail_uri(png: Path) -> str:
    """A small copy of `png` as a data URI, so that the index stays light and offline."""
    image = Image.open(png)
    image.thumbnail(THUMB_SIZE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def experiment_row(results_dir: Path) -> list[str]:
    """A row from the experiment's result files, opened by the read path (stats/files.open_results)."""
    experiment, statistics = open_results(results_dir, statistics_required=False)
    spec = experiment.spec
    variants = [v.name for v in spec.all_variants]
    summary = statistics.summary if statistics is not None else pd.DataFrame()
    complete = int((summary["status"] == "complete").sum()) if not summary.empty else 0
    listed = [v.name for v in spec.variants]
    done = summary[summary["status"] == "complete"] if not summary.empty else summary
    if done.empty:
        headline = "no complete run yet" if statistics is not None else f"no statistics yet (`bn-study stats {results_dir}`)"
    else:
        means = statistics.aggregate.xs("test_accuracy", level="figure")["mean"].dropna()
        present = [v for v in variants if v in means.index]  # the experiment's order, as before
        means = means[present]
        headline = ("<br>".join(f"{v} {means[v]:.4f}" for v in listed if v in means) if listed
                    else f"best: {means.idxmax()} {means.max():.4f}")
    counts = Counter(statistics.claims["verdict"]) if statistics is not None and spec.claims else {}
    verdicts = "<br>".join(f'<span class="verdict {v.replace(" ", "-")}">{counts[v]} {v}</span>'
                           for v in VERDICTS if counts.get(v)) or "–"
    thumb = next((results_dir / t for t in THUMBNAILS if (results_dir / t).is_file()), None)
    report = results_dir / REPORT_HTML
    link = f"{results_dir.name}/{REPORT_HTML}"
    # A click on the thumbnail opens the figure itself at full resolution; the name opens the report.
    figure = (f'<a href="{results_dir.name}/{thumb.relative_to(results_dir)}" title="open the figure at full size">'
              f'<img src="{thumbnail_uri(thumb)}" alt="{results_dir.name}" width="320"></a>') if thumb else ""
    name = f"[{spec.name}]({link})" if report.is_file() else f"{spec.name} (no report yet)"
    name += changed_marker(experiment.shrunk)
    return [name, spec.question,
            f"{complete} of {len(variants) * len(spec.seeds)}", headline, verdicts, figure]


def _title(readme: Path) -> str:
    """A README's heading and the command that wrote it (its first `code` span)."""
    text = readme.read_text()
    title = text.splitlines()[0].lstrip("# ").strip() if text else readme.parent.name
    command = re.search(r"`([^`]+)`", text)
    return f"{title}: `{command.group(1)}`" if command else title


def git_ignored(folders: list[Path]) -> set[Path]:
    """The folders git ignores (scratch such as results/local/, results/*-quick/); none outside git."""
    if not folders:
        return set()
    try:
        done = subprocess.run(["git", "-C", str(folders[0].parent), "check-ignore", "--stdin"], capture_output=True,
                              input="\n".join(p.name for p in folders).encode(), timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {folders[0].parent / name for name in done.stdout.decode().split()} if done.returncode in (0, 1) else set()


def render(results_root: Path) -> str:
    """index.html's Markdown (with inline thumbnails): the folders git would commit, not scratch."""
    folders = sorted(p for p in results_root.iterdir() if p.is_dir())
    ignored = git_ignored(folders)
    folders = [p for p in folders if p not in ignored]
    experiments = [p for p in folders if (p / SPEC_FILE).is_file()]
    measurements = [p.relative_to(results_root).as_posix() for p in measurement_folders(results_root)]
    rows = [experiment_row(p) for p in experiments]
    lines = ["# bn_study results", "",
             "Written by `bn-study site` from the result folders below (scratch folders that git ignores, "
             "such as `make quick`'s, are left out). "
             "Each experiment's report states its setup, numbers over seeds, claims with verdicts and plots; "
             "verdict rules are in each report.", "", "## Experiments", "",
             markdown_table(["experiment", "question", "complete runs", "mean test accuracy", "claims", "figure"], rows),
             "", "## Measurements of speed", "",
             *[f"- [{name}]({name}/{MEASUREMENT_HTML}): {_title(results_root / name / 'README.md')}"
               for name in measurements], ""]
    return "\n".join(lines)


def measurement_folders(results_root: Path) -> list[Path]:
    """The committed folders of speed measurements: a README.md and no experiment.yaml, or one level
    down in a folder of them (results/profile/<CPU kind>)."""
    folders = sorted(p for p in results_root.iterdir() if p.is_dir())
    ignored = git_ignored(folders)
    found = []
    for folder in (p for p in folders if p not in ignored and not (p / SPEC_FILE).is_file()):
        found += [folder] if (folder / "README.md").is_file() else sorted(
            p for p in folder.iterdir() if p.is_dir() and (p / "README.md").is_file())
    return found


def write_measurement_pages(results_root: Path) -> list[Path]:
    """Each speed measurement's README.md as a page like the reports (README.html), linking back."""
    pages = []
    for folder in measurement_folders(results_root):
        text = (folder / "README.md").read_text()
        first, _, rest = text.partition("\n")
        up = "../" * len(folder.relative_to(results_root).parts)
        back = f"[All results]({up}{INDEX_HTML}) · the same page as [Markdown](README.md)"
        write_text(folder / MEASUREMENT_HTML, to_html(f"{first}\n\n{back}\n{rest}", folder, f"bn_study: {folder.name}"))
        pages.append(folder / MEASUREMENT_HTML)
    return pages


def write_site(results_root: Path = Path("results")) -> list[Path]:
    """results/index.html and each speed measurement's README.html."""
    results_root = Path(results_root)
    path = results_root / INDEX_HTML
    pages = write_measurement_pages(results_root)
    write_text(path, to_html(render(results_root), results_root, "bn_study results", toc=False))
    return [path, *pages]
