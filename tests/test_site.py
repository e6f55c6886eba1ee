"""The results index and the browser check of pages: what a reader would see."""
import shutil

import pytest

from bn_study.report.check_html import check_page, find_browser
from bn_study.report.html_page import to_html
from bn_study.report.site import render
from tests.conftest import ROOT

needs_chromium = pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")),
                                    reason="no Chromium here (apt-get install -y chromium)")


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


@needs_chromium
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
