"""The results index and the browser check of pages: what a reader would see."""
import shutil


from bn_study.report.check_html import check_page, find_browser
from bn_study.report.html_page import to_html
from bn_study.report.site import render
from tests.conftest import ROOT

def test_index_lists_each_experiment_with_its_question_and_verdicts(jobs2_results):
    from bn_study.stats.stage import make_statistics

    make_statistics(jobs2_results)  # the statistics stage; the site only reads its files
    text = render(jobs2_results.parent)
    row = next(line for line in text.splitlines() if line.startswith("| small (no report yet)"))
    assert "Does the small CNN train with and without BN?" in row  # from the results' copy of the experiment file
    import json

    means = {v: json.loads((jobs2_results / v / "seed-0/metrics.json").read_text())["test_accuracy"] for v in ("no_bn", "bn")}
    assert "| 2 of 2 |" in row and f"no_bn {means['no_bn']:.4f}<br>bn {means['bn']:.4f}" in row
    assert 'class="verdict' in row  # the fixture runs' claims
    assert "(shrunk smoke run)" in row  # trained with --set and --seeds


def test_a_good_page_passes_and_each_fault_is_named(tmp_path):
    shutil.copy(ROOT / "results/article/plots/test_accuracy.png", tmp_path / "figure.png")
    good = tmp_path / "good.html"
    good.write_text(to_html("# Good\n\n![figure](figure.png)\n\n[itself](good.html)\n", tmp_path, "good"))
    assert check_page(good, tmp_path / "shots/good.png", find_browser()) == []
    assert (tmp_path / "shots/good.png").stat().st_size > 10_000  # a real screenshot
    bad = tmp_path / "bad.html"
    bad.write_text('<html><head></head><body><img src="missing.png" alt="lost"><a href="gone.html">x</a>'
                   '<script>console.error("boom")</script></body></html>')
    problems = check_page(bad, tmp_path / "shots/bad.png", find_browser())
    assert any(p.startswith("failed to load <img>") and "missing.png" in p for p in problems)
    assert "image not shown: lost" in problems and "console.error: boom" in problems
    assert "link to a missing file: gone.html" in problems


def _explored(page, tmp_path):
    seen = []
    assert check_page(page, tmp_path / f"shots/{page.stem}.png", find_browser(), seen) == []
    return seen


def test_interactive_pages_show_the_files_values_and_hide_a_legend_entry(jobs2_results, tmp_path):
    """The experiment's curves page and a run's page in headless Chromium, offline: hovering a point shows
    the value curves.csv or history.csv holds, a legend click hides traces, no console error, no network."""
    import pandas as pd

    from bn_study.report.interactive import ASSETS_DIR, SCRIPT
    from bn_study.report.plots import CURVES_PAGE, draw_plots
    from bn_study.report.run_figure import draw_run_figure
    from bn_study.stats.files import read_experiment, read_statistics
    from bn_study.stats.stage import make_statistics

    results = tmp_path / "results"
    folder = shutil.copytree(jobs2_results, results / "small")
    make_statistics(folder)
    experiment = read_experiment(folder)
    draw_plots(experiment, read_statistics(experiment))
    (seen,) = _explored(folder / "plots" / CURVES_PAGE, tmp_path)
    curves = pd.read_csv(folder / "curves.csv")
    point = curves[(curves["source"] == "history") & (curves["variant"] == seen["trace"]) & (curves["column"] == "accuracy")]
    assert seen["expected"] == f"{point.sort_values('x')['mean'].iloc[seen['point']]:.4f}" in seen["tooltip"]
    assert seen["legend"] and seen["hidden"] > 0
    _, page = draw_run_figure(experiment.complete[0])
    (seen,) = _explored(page, tmp_path)
    history = experiment.complete[0].history
    assert seen["expected"] == f"{history['accuracy'].iloc[seen['point']]:.4f}" in seen["tooltip"]
    # one copy of Plotly's script for every page under results/, referred to relatively
    assert [p.name for p in (results / ASSETS_DIR).iterdir()] == [SCRIPT]
    assert f'src="../../{ASSETS_DIR}/{SCRIPT}"' in (folder / "plots" / CURVES_PAGE).read_text()


def test_a_tooltip_that_does_not_show_the_value_is_named(tmp_path):
    import plotly.graph_objects as go

    from bn_study.report.interactive import write_page

    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.25, 0.5, 0.75], name="curve", hovertemplate="nothing here"))
    page = write_page(fig, tmp_path / "results" / "bad.html", "bad")
    problems = check_page(page, tmp_path / "shots/bad.png", find_browser())
    assert any(p.startswith("hover: the tooltip") and "lacks 0.5000" in p for p in problems)
