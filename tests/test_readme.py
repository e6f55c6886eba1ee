"""The README and docs/: the worked example builds as written, the README stays short, every
relative link resolves, and no committed file carries a machine path or the build's ../shared."""
import re
import shutil
import subprocess

import pytest

from bn_study.config.schema import load_config
from bn_study.run.experiment import load_experiment
from bn_study.model.build import build_model
from tests.conftest import ROOT, write

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_worked_variant_example_is_valid(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs/usage.md").read_text(), flags=re.S)
    config_text, experiment_text = blocks[0], blocks[1]
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    write(configs / "article_bn_momentum09.yaml", config_text)
    write(tmp_path / "experiments" / "momentum.yaml", experiment_text)
    config = load_config(configs / "article_bn_momentum09.yaml")
    model = build_model(config.model)
    assert [l.momentum for l in model.layers if type(l).__name__ == "BatchNormalization"] == [0.9] * 5
    assert model.count_params() == 433_034
    experiment = load_experiment(tmp_path / "experiments" / "momentum.yaml")
    assert set(experiment.configs) == {"bn", "bn_momentum09"}


def test_readme_is_short():
    assert len((ROOT / "README.md").read_bytes()) <= 10_240  # the rest lives in docs/


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [l for l in links if not l.startswith(("http://", "https://", "mailto:")) and not (page.parent / l).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def _tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / n for n in names if n.endswith((".md", ".json", ".yaml", ".csv", ".log", ".html", ".py", ".txt"))
            and not n.startswith("tests/")]


def test_no_committed_file_names_a_machine_path_or_the_build_folder():
    pattern = re.compile(r"\.\./shared|(?<![\w.~])/(?:root|home|work|Users)/")
    offenders = [str(p.relative_to(ROOT)) for p in _tracked_text_files()
                 if p.is_file() and pattern.search(p.read_text(errors="replace"))]
    assert not offenders, f"machine paths or ../shared in: {offenders[:10]}"


def test_result_tables_are_generated_and_up_to_date():
    """Tables between <!-- results:... --> markers come from the statistics files (`bn-study docs`,
    run by `make plots`); a change to a run's files that moves a number makes this fail until then."""
    from bn_study.report.docs import BLOCK, update_docs

    assert any(BLOCK.search(page.read_text()) for page in DOCS)
    assert update_docs(DOCS, ROOT / "results", check=True) == []


def test_a_changed_statistic_makes_the_docs_stale(tmp_path):
    from bn_study.report.docs import update_docs

    results = tmp_path / "results"
    shutil.copytree(ROOT / "results/when_bn_helps_mlp", results / "when_bn_helps_mlp",
                    ignore=shutil.ignore_patterns("seed-*", "plots", "*.html"))
    page = write(tmp_path / "page.md", "x\n<!-- results:when_bn_helps_mlp:effect -->\n<!-- /results -->\n")
    assert update_docs([page], results) == [page]  # filled in
    assert update_docs([page], results, check=True) == []
    import pandas as pd

    claims = pd.read_csv(results / "when_bn_helps_mlp/claims.csv")
    claims.loc[0, "effect"] -= 0.5  # the statistics stage wrote another number
    claims.to_csv(results / "when_bn_helps_mlp/claims.csv", index=False)
    assert update_docs([page], results, check=True) == [page]


def test_mean_std_keeps_two_significant_digits_of_the_spread():
    from bn_study.report.tables import mean_std

    assert mean_std(0.99102, 0.00121) == "0.9910 ± 0.0012"
    assert mean_std(14.6, 3.58) == "14.6 ± 3.6"
    assert mean_std(0.10600, 0.0) == "0.106 ± 0"
    assert mean_std(0.5, float("nan")) == "0.5"  # one seed: no spread to show


def test_table_and_verdict_blocks_follow_the_statistics_and_refuse_a_bad_marker(tmp_path):
    import pandas as pd

    from bn_study.errors import UserError
    from bn_study.report.docs import update_docs

    results = tmp_path / "results"
    shutil.copytree(ROOT / "results/article", results / "article",
                    ignore=shutil.ignore_patterns("*_bn", "plots", "*.html"))
    page = write(tmp_path / "page.md", "<!-- results:article:table:test_accuracy,epochs_to_val_0.99 -->\n<!-- /results -->\n"
                                       "<!-- results:article:verdicts -->\n<!-- /results -->\n")
    assert update_docs([page], results) == [page]
    text = page.read_text()
    aggregate = pd.read_csv(results / "article/aggregate.csv").set_index(["variant", "figure"])
    claims = pd.read_csv(results / "article/claims.csv")
    assert "| mean ± std over 5 seeds | no_bn | bn |" in text
    assert f"| epochs to validation accuracy 0.99 | {aggregate.loc[('no_bn', 'epochs_to_val_0.99'), 'mean']:.1f} ± " in text
    assert text.count("\n- ") == len(claims) and f"**{claims['verdict'][2]}**" in text
    assert ", Welch p =" not in text  # verdicts rest on the Holm-adjusted p, the only one shown
    claims.loc[2, "verdict"] = "supported"  # a verdict moves
    claims.to_csv(results / "article/claims.csv", index=False)
    assert update_docs([page], results, check=True) == [page]
    for marker, message in (("table:no_such_figure", "no figure 'no_such_figure' in"),
                            ("table", "table takes figures, e.g. table:test_accuracy"),
                            ("verdicts:test_accuracy", "verdicts takes no arguments")):
        bad = write(tmp_path / "bad.md", f"<!-- results:article:{marker} -->\n<!-- /results -->\n")
        with pytest.raises(UserError, match=re.escape(message)) as info:
            update_docs([bad], results)
        assert "\n" not in str(info.value)


def test_table_block_says_never_for_a_threshold_no_run_reached(tmp_path):
    from bn_study.report.docs import update_docs

    results = tmp_path / "results"
    shutil.copytree(ROOT / "results/regularization", results / "regularization",
                    ignore=shutil.ignore_patterns("*seed-*", "plots", "*.html"))
    page = write(tmp_path / "page.md", "<!-- results:regularization:table:epochs_to_val_0.97 -->\n<!-- /results -->\n")
    update_docs([page], results)
    row = next(line for line in page.read_text().splitlines() if line.startswith("| epochs to validation accuracy 0.97"))
    cells = dict(zip(["no_bn", "bn", "dropout", "bn_dropout", "bn_momentum_0.9"], row.strip("| ").split(" | ")[1:]))
    assert cells["bn"] == "never (0 of 5 runs)" and cells["bn_momentum_0.9"].endswith("(4 of 5 runs)")


def test_sweep_block_puts_the_swept_values_in_rows_and_refuses_a_non_grid(tmp_path):
    import pandas as pd

    from bn_study.errors import UserError
    from bn_study.report.docs import update_docs
    from bn_study.report.tables import mean_std

    results = tmp_path / "results"
    for name in ("learning_rate", "article"):
        shutil.copytree(ROOT / "results" / name, results / name, ignore=shutil.ignore_patterns("*seed-*", "plots", "*.html"))
    page = write(tmp_path / "page.md", "<!-- results:learning_rate:sweep:test_accuracy -->\n<!-- /results -->\n")
    update_docs([page], results)
    rows = [line for line in page.read_text().splitlines() if line.startswith("| ")]
    assert rows[0] == "| optimizer.learning_rate → test accuracy | no_bn_adam | bn_adam | no_bn_sgd | bn_sgd |"
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| 0.0001", "| 0.001", "| 0.01", "| 0.1", "| 1"]
    summary = pd.read_csv(results / "learning_rate/summary.csv")
    one = summary[summary["variant"] == "bn_sgd-learning_rate=1.0"]["test_accuracy"]
    assert rows[5].split(" | ")[4].removesuffix(" |") == f"{mean_std(one.mean(), one.std())} (n=3)"
    bad = write(tmp_path / "bad.md", "<!-- results:article:sweep:test_accuracy -->\n<!-- /results -->\n")
    with pytest.raises(UserError, match="article is not a grid experiment; use table:FIGURES"):
        update_docs([bad], results)


# A measured number in a comment goes stale when the runs change: times, ratios, accuracies, spreads.
MEASURED = (r"\b\d+(\.\d+)?\s?(s|ms|min|h)\b", r"\b\d+(\.\d+)?\s?(seconds|minutes|hours|CPU-minutes|CPU-hours)\b",
            r"s/epoch", r"\b\d+\.\d+x\b", r"(\+-|±)\s?\d", r"\bp = \d|Holm (p = )?\d",
            r"accurac(y|ies)( of| near| about| at| stop near)? 0\.\d\d")


@pytest.mark.parametrize("path", sorted([*(ROOT / "experiments").glob("*.yaml"), *(ROOT / "configs").glob("*.yaml")]),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_headers_give_command_and_where_results_are_not_measured_numbers(path):
    """Results and measured costs live in results/<name>/REPORT.md and the generated docs; a config's
    or experiment's comments say what it is, how to run it and where its numbers are."""
    comments = [line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line]
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    if path.name != "base.yaml":  # shared settings, never run on their own
        assert "# Run:" in header, "a header names the command that runs it"
    if path.parent.name == "experiments":
        assert "# Cost:" in header and "REPORT.md" in header
    for comment in comments:
        for pattern in MEASURED:
            assert not re.search(pattern, comment), f"a measured number in a comment ({comment.strip()!r})"

# Also a ratio range ("0.88-0.92 of ..."), which MEASURED's units do not catch.
MEASURED_IN_CODE = (*MEASURED, r"\b0\.\d+\s?(-|–)\s?0\.\d+\b")


def _comments_and_docstrings(path) -> list[str]:
    """Every comment and docstring of a Python file, without its quoted format examples ('0.99 ± 0.01')."""
    import ast
    import io
    import tokenize

    source = path.read_text()
    found = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    found += [ast.get_docstring(node, clean=False) or "" for node in ast.walk(ast.parse(source))
              if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return [re.sub(r"(?<!\w)'[^'\n]*'(?!\w)", "''", text) for text in found]


@pytest.mark.parametrize("path", sorted([*(ROOT / "bn_study").rglob("*.py"), ROOT / "Makefile", ROOT / "pyproject.toml"]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_code_states_no_measured_number(path):
    """Measured times, ratios and accuracies go stale in code too: comments and docstrings point to the
    measurement (results/, docs/) instead. A band's width ('± 1 std') is a definition, not a measurement."""
    texts = (_comments_and_docstrings(path) if path.suffix == ".py"
             else [line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line])
    for text in texts:
        text = re.sub(r"(\+-|±)\s?1 std", "", text)
        for pattern in MEASURED_IN_CODE:
            match = re.search(pattern, text)
            assert not match, f"a measured number in a comment or docstring: {match.group(0)!r} in {text.strip()[:120]!r}"
