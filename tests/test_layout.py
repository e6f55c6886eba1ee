"""The package's layering: statistics are computed in stats/, views in report/ only format them."""
import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "bn_study"


def _imports(path: Path) -> set[str]:
    """Modules a file imports at run time (TYPE_CHECKING blocks aside)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_stats_never_imports_a_view_and_report_computes_no_statistic():
    for path in (PACKAGE / "stats").glob("*.py"):
        assert not any(m.startswith(("bn_study.report", "bn_study.run", "bn_study.cli")) for m in _imports(path)), path
    for path in (PACKAGE / "report").glob("*.py"):
        imported = _imports(path)
        assert not any(m.split(".")[0] == "scipy" for m in imported), f"{path.name} imports scipy"
        computing = {m for m in imported if m.startswith("bn_study.stats.") and m not in (
            "bn_study.stats.files", "bn_study.stats.labels", "bn_study.stats.rules")}
        # the one exception: probe_report picks the probed run with stats.probe's selection (no arithmetic)
        assert computing <= {"bn_study.stats.probe"}, f"{path.name} imports {computing}"
        assert ".to_csv(" not in path.read_text(), f"{path.name} writes a table: the statistics stage's job"


def test_views_import_without_scipy_or_tensorflow():
    code = ("import sys, pkgutil, importlib\n"
            "sys.modules['scipy'] = sys.modules['tensorflow'] = sys.modules['keras'] = None\n"
            "import bn_study.report as report, bn_study.cli\n"
            "for m in pkgutil.iter_modules(report.__path__): importlib.import_module('bn_study.report.' + m.name)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# What opening a results file looks like; the views get their numbers from stats.files.open_results.
READERS = ("read_csv", "json.load", "json.loads", "safe_load", "yaml.load", "load_spec", "read_json", "read_experiment",
           "read_statistics", "read_summary", "read_aggregate", "read_claims", "read_curves", "read_probe_movement",
           "find_runs", "checked_run", "read_run")


def test_views_read_no_results_file_themselves():
    """One read path: no module under report/ opens a CSV, JSON or YAML file or loads a spec; they are handed
    open_results' typed runs and statistics (check_html reads its own probe's output, not a results file)."""
    for path in (PACKAGE / "report").glob("*.py"):
        if path.name == "check_html.py":
            continue
        calls = {ast.unparse(node.func).rsplit(".", 2)[-1] if not ast.unparse(node.func).startswith(("json.", "yaml."))
                 else ast.unparse(node.func) for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)}
        assert not calls & set(READERS), f"{path.name} calls {sorted(calls & set(READERS))}"


def test_one_registry_of_plots():
    """Every plot an experiment may list is drawn and captioned by report/plots.py's REGISTRY, and no other."""
    from bn_study.config.experiment_spec import PLOTS
    from bn_study.report.plots import REGISTRY

    assert [p.name for p in REGISTRY] == list(dict.fromkeys(p.name for p in REGISTRY))
    assert {p.name for p in REGISTRY} == set(PLOTS)
