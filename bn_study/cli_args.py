"""The command line's grammar: every command, its options, and their checks (argparse types and
choices), each mistake one line. cli.py runs the commands."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from bn_study.config.schema import DATASETS

DEFAULT_RESULTS = Path("results")
DESCRIPTION = "bn_study: batch normalization's claims tested on the article's CNN, over seeds."


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got '{text}'")
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be non-negative, got '{text}'")
    return seeds


def _integer_from(minimum: int, kind: str):
    """An argparse type: an integer >= minimum, else one line saying what was expected."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {kind} integer, got '{text}'")
        return value
    return parse


_non_negative, _positive = _integer_from(0, "non-negative"), _integer_from(1, "positive")


def _thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated accuracies between 0 and 1, got '{text}'")
    return values


def _names_from(choices):
    """An argparse type: comma-separated names, each one of `choices`."""
    def parse(text: str) -> list[str]:
        names = text.split(",")
        unknown = [n for n in names if n not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown '{unknown[0]}'; known: {', '.join(choices)}")
        return names
    return parse


def one_line(text: str) -> str:
    """A message on one line whatever it quotes: control characters (a newline in a --set value, a
    byte of a binary file) shown escaped, as Python writes them."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other bn_study error."""

    def error(self, message):
        self.exit(2, f"bn_study: error: {one_line(message)}\n")


def _command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """The subcommand `name` (cli.py runs cmd_<name with _ for ->)."""
    return sub.add_parser(name, **kwargs)


def build_parser(program: str) -> argparse.ArgumentParser:
    """Every command and its options; each option checked by its argparse type or choices."""
    parser = _Parser(prog=program, description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    overrides = dict(action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value by dotted key, e.g. train.epochs=2")

    p = _command(sub, "show", help="print the resolved config and the model summary")
    p.add_argument("config", type=Path)
    p.add_argument("--set", dest="overrides", **overrides)

    p = _command(sub, "run", help="train one config with one seed")
    p.add_argument("config", type=Path)
    p.add_argument("--seed", type=_non_negative, help="default: the config's seed")
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--out", type=Path, help="run directory (default results/runs/<config>[+<overrides>]/seed-<k>)")
    p.add_argument("--threads-per-run", type=_positive, metavar="T",
                   help="TensorFlow intra- and inter-op threads (default: TensorFlow's, all cores)")

    p = _command(sub, "rerun", help="train a finished run again from its own files (config, seed, threads, BN kernel, "
                                     "oneDNN setting); say whether it is bit-identical, and what differs")
    p.add_argument("run_dir", type=Path, help="a run directory, e.g. results/article/bn/seed-0")
    p.add_argument("--out", type=Path, help="default results/local/rerun/<run directory>")

    p = _command(sub, "experiment", help="train every variant x seed, then plot and report")
    p.add_argument("experiment", type=Path)
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--seeds", type=_seeds, help="comma-separated seeds, replacing the experiment's")
    p.add_argument("--out", type=Path, help="results directory (default results/<experiment name>)")
    p.add_argument("--jobs", type=_positive, metavar="N",
                   help="runs at once, each in its own process (default 1: one after another, in this one); "
                        "with --engine ray, at most N runs in flight (default: as many as the cluster takes)")
    p.add_argument("--threads-per-run", type=_positive, metavar="T",
                   help="TensorFlow threads of each run (default: cores // N locally, 1 on Ray)")
    p.add_argument("--engine", default="local", choices=("local", "ray"), help="local (this machine) or ray (a Ray cluster)")
    p.add_argument("--address", help="with --engine ray: auto or HOST:PORT of a running cluster "
                                     "(default: start Ray on this machine)")
    p.add_argument("--no-reuse", action="store_true",
                   help="train every run here, even one whose config and seed a complete run under results/ "
                        "already has (by default that run is copied, and its run.json names where from)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs it would train, resume, copy and skip, and estimate the wall time from the "
                        "runs this kind of CPU made of the same configs; train nothing, write nothing")

    p = _command(sub, "stats", help="compute an experiment's statistics files (summary, aggregate, claims, "
                                     "curves) from its run folders")
    p.add_argument("results_dir", type=Path)

    p = _command(sub, "verify", help="check every run folder and every experiment's statistics against what they "
                                      "recorded; one line per problem, non-zero exit when anything is damaged")
    p.add_argument("roots", type=Path, nargs="*", default=[DEFAULT_RESULTS], metavar="RESULTS",
                   help="results folders, experiment folders or run folders (default results)")
    p.add_argument("--record", action="store_true", help="first record the files of finished runs made before "
                                                         "run.json kept them (marked as recorded afterwards)")

    p = _command(sub, "plot", help="one experiment folder: redraw its plots from its run folders and statistics "
                                    "files; any other mix of run, variant (all its seeds) and experiment folders: "
                                    "overlay them on one figure with a table and where a single run falls")
    p.add_argument("folders", type=Path, nargs="+", metavar="FOLDER")
    p.add_argument("--out", type=Path, help="the overlay's folder (default results/local/overlays/<the folders' names>)")
    p.add_argument("--thresholds", type=_thresholds, default=(0.98, 0.99),
                   help="validation accuracies for the overlay's epochs-to rows (default 0.98,0.99)")

    p = _command(sub, "article-figure", help="the article's figure for several experiments on one page "
                                              "(mean ± std over seeds), e.g. MNIST beside Fashion-MNIST")
    p.add_argument("results_dirs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")

    p = _command(sub, "report", help="write REPORT.md and REPORT.html from an experiment's result files")
    p.add_argument("results_dir", type=Path)

    p = _command(sub, "compare", help="does a reproduction agree with the reference? per figure and seed; "
                                       "COMPARE.md and COMPARE.html in LOCAL")
    p.add_argument("reference", type=Path, help="the reference results, e.g. results/article")
    p.add_argument("local", type=Path, help="the reproduction, e.g. results/local/article")

    p = _command(sub, "site", help="write results/index.html: every experiment and measurement on one offline page")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="default results")

    p = _command(sub, "docs", help="regenerate the result tables between <!-- results:... --> markers in "
                                    "README.md and docs/*.md from the statistics files")
    p.add_argument("--check", action="store_true", help="change nothing; fail when a table is out of date")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="default results")

    p = _command(sub, "check-html", help="open pages in headless Chromium: fail on a missing image, a console "
                                          "error, a network request or a broken link; save screenshots")
    p.add_argument("pages", type=Path, nargs="*", help="default: results/index.html, every REPORT.html and COMPARE.html")
    p.add_argument("--screenshots", type=Path, default=DEFAULT_RESULTS / "local" / "screenshots",
                   help="default results/local/screenshots (git-ignored)")

    p = _command(sub, "bench", help="time bn_study against the article's plain Keras script, side by side")
    p.add_argument("--epochs", type=_positive, default=4, help="epochs per process; the first is warm-up")
    p.add_argument("--pairs", type=_positive, default=3, help="rounds of alternating arms (at least 3 for the record)")
    p.add_argument("--variants", type=_names_from(("no_bn", "bn")), default="no_bn,bn",
                   help="models: no_bn, bn (the article's two)")
    p.add_argument("--arms", default="reference,bn_study",
                   help="comma-separated; the first is the baseline; 'ARM:KEY=VALUE;...' sets an environment "
                        "variable (KEY in capitals) or a --set override (bn_study arms)")
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--out", type=Path, help="default results/bench (results/bench_parallel with --parallel)")
    p.add_argument("--parallel", action="store_true",
                   help="instead: time one small experiment sequentially, with --jobs 2 and on a local Ray "
                        "(--pairs rounds, --epochs each, --seeds, --set to shrink it)")
    p.add_argument("--seeds", type=_seeds, default=(0, 1), help="with --parallel: the experiment's seeds")
    p.add_argument("--kernels", action="store_true",
                   help="instead: time other kernels for the ops furthest below their roofline, on one thread "
                        "(--pairs rounds; default out results/bench_kernels)")

    p = _command(sub, "profile", help="one epoch of each config under TensorFlow's profiler: time per op and layer")
    p.add_argument("configs", type=Path, nargs="+")
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--out", type=Path, help="default results/profile/<CPU kind>, e.g. intel-xeon-avx512-amx")
    p.add_argument("--threads-per-run", type=_positive, metavar="T",
                   help="TensorFlow intra- and inter-op threads (default: TensorFlow's, all cores)")

    p = _command(sub, "data", help="fetch a data set (if needed) and verify its checksums")
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="mnist (default) or fashion_mnist")
    p.add_argument("--path", help="a Keras-format .npz or a folder of IDX .gz files to verify instead of fetching")
    return parser
