"""bn_study: batch normalization's claims tested on the article's CNN, over seeds.

The command line: `bn-study COMMAND` (the console script `make install` puts in .venv/bin) or
`python -m bn_study COMMAND`; `--help` lists the commands.

User mistakes (UserError) print one line, `bn_study: error: ...`, and exit 2 without a traceback.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from bn_study.config.schema import DATASETS
from bn_study.errors import UserError
from bn_study.train.machine import BN_KERNEL_VARIABLE, COMMAND_VARIABLE, bn_kernel

DEFAULT_RESULTS = Path("results")


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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other bn_study error."""

    def error(self, message):
        self.exit(2, f"bn_study: error: {_one_line(message)}\n")


def _command(sub, function, **kwargs) -> argparse.ArgumentParser:
    """The subcommand named after `function` (cmd_article_figure: article-figure), which runs it."""
    parser = sub.add_parser(function.__name__.removeprefix("cmd_").replace("_", "-"), **kwargs)
    parser.set_defaults(function=function)
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_program(), description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    overrides = dict(action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value by dotted key, e.g. train.epochs=2")

    p = _command(sub, cmd_show, help="print the resolved config and the model summary")
    p.add_argument("config", type=Path)
    p.add_argument("--set", dest="overrides", **overrides)

    p = _command(sub, cmd_run, help="train one config with one seed")
    p.add_argument("config", type=Path)
    p.add_argument("--seed", type=_non_negative, help="default: the config's seed")
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--out", type=Path, help="run directory (default results/runs/<config>[+<overrides>]/seed-<k>)")
    p.add_argument("--threads-per-run", type=_positive, metavar="T",
                   help="TensorFlow intra- and inter-op threads (default: TensorFlow's, all cores)")

    p = _command(sub, cmd_rerun, help="train a finished run again from its own files (config, seed, threads, BN kernel, "
                                     "oneDNN setting); say whether it is bit-identical, and what differs")
    p.add_argument("run_dir", type=Path, help="a run directory, e.g. results/article/bn/seed-0")
    p.add_argument("--out", type=Path, help="default results/local/rerun/<run directory>")

    p = _command(sub, cmd_experiment, help="train every variant x seed, then plot and report")
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

    p = _command(sub, cmd_stats, help="compute an experiment's statistics files (summary, aggregate, claims, "
                                     "curves) from its run folders")
    p.add_argument("results_dir", type=Path)

    p = _command(sub, cmd_verify, help="check every run folder and every experiment's statistics against what they "
                                      "recorded; one line per problem, non-zero exit when anything is damaged")
    p.add_argument("roots", type=Path, nargs="*", default=[DEFAULT_RESULTS], metavar="RESULTS",
                   help="results folders, experiment folders or run folders (default results)")
    p.add_argument("--record", action="store_true", help="first record the files of finished runs made before "
                                                         "run.json kept them (marked as recorded afterwards)")

    p = _command(sub, cmd_plot, help="one experiment folder: redraw its plots from its run folders and statistics "
                                    "files; any other mix of run, variant (all its seeds) and experiment folders: "
                                    "overlay them on one figure with a table and where a single run falls")
    p.add_argument("folders", type=Path, nargs="+", metavar="FOLDER")
    p.add_argument("--out", type=Path, help="the overlay's folder (default results/local/overlays/<the folders' names>)")
    p.add_argument("--thresholds", type=_thresholds, default=(0.98, 0.99),
                   help="validation accuracies for the overlay's epochs-to rows (default 0.98,0.99)")

    p = _command(sub, cmd_article_figure, help="the article's figure for several experiments on one page "
                                              "(mean ± std over seeds), e.g. MNIST beside Fashion-MNIST")
    p.add_argument("results_dirs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")

    p = _command(sub, cmd_report, help="write REPORT.md and REPORT.html from an experiment's result files")
    p.add_argument("results_dir", type=Path)

    p = _command(sub, cmd_compare, help="does a reproduction agree with the reference? per figure and seed; "
                                       "COMPARE.md and COMPARE.html in LOCAL")
    p.add_argument("reference", type=Path, help="the reference results, e.g. results/article")
    p.add_argument("local", type=Path, help="the reproduction, e.g. results/local/article")

    p = _command(sub, cmd_site, help="write results/index.html: every experiment and measurement on one offline page")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="default results")

    p = _command(sub, cmd_docs, help="regenerate the result tables between <!-- results:... --> markers in "
                                    "README.md and docs/*.md from the statistics files")
    p.add_argument("--check", action="store_true", help="change nothing; fail when a table is out of date")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="default results")

    p = _command(sub, cmd_check_html, help="open pages in headless Chromium: fail on a missing image, a console "
                                          "error, a network request or a broken link; save screenshots")
    p.add_argument("pages", type=Path, nargs="*", help="default: results/index.html, every REPORT.html and COMPARE.html")
    p.add_argument("--screenshots", type=Path, default=DEFAULT_RESULTS / "local" / "screenshots",
                   help="default results/local/screenshots (git-ignored)")

    p = _command(sub, cmd_bench, help="time bn_study against the article's plain Keras script, side by side")
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

    p = _command(sub, cmd_profile, help="one epoch of each config under TensorFlow's profiler: time per op and layer")
    p.add_argument("configs", type=Path, nargs="+")
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--out", type=Path, default=DEFAULT_RESULTS / "profile", help="default results/profile")
    p.add_argument("--threads-per-run", type=_positive, metavar="T",
                   help="TensorFlow intra- and inter-op threads (default: TensorFlow's, all cores)")

    p = _command(sub, cmd_data, help="fetch a data set (if needed) and verify its checksums")
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="mnist (default) or fashion_mnist")
    p.add_argument("--path", help="a Keras-format .npz or a folder of IDX .gz files to verify instead of fetching")
    return parser


def _verbose() -> int:
    return 1 if sys.stdout.isatty() else 2  # progress bar on a terminal, one line per epoch in logs


def cmd_show(args) -> None:
    from bn_study.config.schema import load_config
    from bn_study.config.yamlio import dump_yaml

    config = load_config(args.config, args.overrides)  # config errors before TensorFlow starts
    from bn_study.train.quiet_tensorflow import import_tensorflow

    import_tensorflow()
    from bn_study.model.build import build_model, check_buildable

    check_buildable(config)
    print(f"# {args.config} resolved (fingerprint {config.fingerprint()})")
    print(dump_yaml(config.to_raw()))
    kernel = bn_kernel()
    print(f"# BatchNormalization layers train on the {kernel} kernel ({BN_KERNEL_VARIABLE}={kernel}; "
          f"{'fused' if kernel == 'keras' else 'keras'} is the other choice)")
    build_model(config.model, bn_kernel=kernel).summary()


def cmd_run(args) -> None:
    from bn_study.run.single import run_one

    print(run_one(args.config, args.overrides, args.seed, args.out, args.threads_per_run, _verbose()))


def cmd_rerun(args) -> None:
    from bn_study.run.rerun import default_out, describe, read_original, rerun, rerun_environment

    original = read_original(args.run_dir)
    os.environ.update(rerun_environment(original))  # before TensorFlow starts: threads and oneDNN
    report = rerun(args.run_dir, args.out or default_out(args.run_dir, DEFAULT_RESULTS), verbose=_verbose())
    print(describe(report))


def cmd_experiment(args) -> None:
    from bn_study.run.experiment import load_experiment, run_and_report
    from bn_study.run.jobs import make_engine

    engine = make_engine(args.engine, args.jobs, args.threads_per_run, args.address)
    if engine.name == "ray":
        from bn_study.run.ray_engine import check_address, import_ray

        import_ray()
        check_address(engine.address)
    # This process trains only with the local sequential engine: then its threads are the runs'.
    threads = engine.threads_per_run() if engine.name == "local" and not engine.parallel else None
    experiment = load_experiment(args.experiment, args.overrides, args.seeds, threads)  # config errors first
    run_and_report(experiment, args.out or DEFAULT_RESULTS / experiment.spec.name, engine, args.command_line,
                   verbose=_verbose(), reuse_from=None if args.no_reuse else DEFAULT_RESULTS)


def _print_paths(paths) -> None:
    for path in paths:
        print(f"wrote {path}")


def cmd_verify(args) -> None:
    from bn_study.stats.verify import record_missing_files, verify

    if args.record:
        print(f"verify: recorded the files of {record_missing_files(args.roots)} finished run(s) that had none")
    lines, checked = verify(args.roots)
    for line in lines:
        print(line)
    if lines:
        raise UserError(f"verify: {len(lines)} problem(s) in {checked} run folders and experiments checked")
    print(f"verify: {checked} run folders and experiments checked, no problem found")


def _say_damaged(experiment) -> None:
    from bn_study.results import damaged_line

    for run in experiment.damaged:
        print(f"bn_study: warning: {damaged_line(run)}", file=sys.stderr)


def cmd_stats(args) -> None:
    from bn_study.stats.stage import make_statistics

    experiment, _, paths = make_statistics(args.results_dir)
    _say_damaged(experiment)
    _print_paths(paths)


def _experiment_and_statistics(results_dir: Path):
    """A view's input: the experiment read once and its statistics files (UserError naming `bn-study
    stats` when they were not written); each damaged run named in one line."""
    from bn_study.stats.files import read_experiment, read_statistics

    experiment = read_experiment(results_dir)
    _say_damaged(experiment)
    return experiment, read_statistics(experiment)


def cmd_plot(args) -> None:
    from bn_study.config.experiment_spec import SPEC_FILE

    if len(args.folders) == 1 and (args.folders[0] / SPEC_FILE).is_file() and args.out is None:
        from bn_study.report.plots import draw_plots

        return _print_paths(draw_plots(*_experiment_and_statistics(args.folders[0])))
    from bn_study.report.overlay import write_overlay
    from bn_study.report.tables import markdown_table
    from bn_study.stats import overlay

    groups = overlay.resolve(args.folders)  # every input checked before anything is written
    table = overlay.group_table(groups, args.thresholds)
    statements = overlay.spread_statements(groups)
    out = args.out or DEFAULT_RESULTS / "local" / "overlays" / overlay.slug(args.folders)
    paths = write_overlay(overlay.group_curves(groups), table, statements, out, args.command_line)
    wide = table.pivot(index="label", columns="group", values="mean").reindex(
        index=list(dict.fromkeys(table["label"])), columns=[g.label for g in groups])
    print(markdown_table(["figure (mean)", *wide.columns],
                         [[name, *(f"{v:.4f}" for v in row)] for name, row in wide.iterrows()]))
    for line in statements:
        print(line)
    _print_paths(paths)


def cmd_report(args) -> None:
    from bn_study.report.experiment_report import write_reports

    _print_paths(write_reports(*_experiment_and_statistics(args.results_dir)))


def cmd_article_figure(args) -> None:
    from bn_study.report.article_figure import article_figures

    print(f"wrote {article_figures(args.results_dirs, args.out)}")


def cmd_compare(args) -> None:
    from bn_study.report.compare import write_comparison_pages
    from bn_study.stats.comparison import compare, write_comparison_table

    comparison = compare(args.reference, args.local)
    _print_paths([*write_comparison_pages(comparison), write_comparison_table(comparison)])


def cmd_site(args) -> None:
    from bn_study.report.site import write_site

    _print_paths(write_site(args.results))


def cmd_docs(args) -> None:
    from bn_study.report.docs import update_docs

    pages = [Path("README.md"), *sorted(Path("docs").glob("*.md"))]
    stale = update_docs(pages, args.results, check=args.check)
    if args.check and stale:
        raise UserError(f"docs: out of date: {', '.join(map(str, stale))}; `bn-study docs` (or make plots) rewrites them")
    print(("out of date: " if args.check else "rewrote: ") + (", ".join(map(str, stale)) or "none"))


def cmd_check_html(args) -> None:
    from bn_study.report.check_html import check_pages, default_pages

    pages = args.pages or default_pages(DEFAULT_RESULTS)
    failed = check_pages(pages, args.screenshots)
    if failed:
        raise UserError(f"check-html: {failed} of {len(pages)} pages have problems (listed above)")
    print(f"check-html: {len(pages)} pages ok; screenshots in {args.screenshots}")


def cmd_bench(args) -> None:
    if args.parallel:
        from bn_study.bench.parallel import run_parallel_bench
        from bn_study.run.ray_engine import import_ray

        import_ray()
        out = args.out or DEFAULT_RESULTS / "bench_parallel"
        table = run_parallel_bench(args.pairs, args.epochs, ",".join(map(str, args.seeds)), args.overrides, out)
    else:
        from bn_study.bench.side_by_side import check_arms, run_bench

        out = args.out or DEFAULT_RESULTS / "bench"
        check_arms(args.arms.split(","), args.variants)
        table = run_bench(args.variants, args.arms.split(","), args.epochs, args.pairs, args.overrides, out)
    print(table.to_string(index=False))
    print(f"wrote {out / 'bench.csv'} and {out / 'README.md'}")


def cmd_profile(args) -> None:
    from bn_study.bench.profile import profile_configs

    print(f"wrote {profile_configs(args.configs, args.overrides, args.threads_per_run, args.out, args.command_line)}")


def cmd_data(args) -> None:
    from bn_study.data.datasets import TITLES, load_dataset

    images = load_dataset(args.path, args.dataset)
    print(f"{TITLES.get(args.dataset, args.dataset)} ok: {len(images.x_train)} train, {len(images.x_test)} test "
          f"images from {images.source}")


def _one_line(text: str) -> str:
    """A message on one line whatever it quotes: control characters (a newline in a --set value, a
    byte of a binary file) shown escaped, as Python writes them."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


def _program() -> str:
    """How the user called us: the `bn-study` console script or `python -m bn_study`."""
    return "bn-study" if Path(sys.argv[0]).name == "bn-study" else "python -m bn_study"


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        # The command as typed, for the files that record it (commands.csv, the profile's README).
        args.command_line = " ".join([_program(), *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as e:  # a bad option (one line already printed), or --help
        return e.code
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up banner
    # run.json records it, in worker processes too (an environment value cannot hold a NUL, which only
    # an in-process caller can pass: a shell's arguments never do).
    os.environ[COMMAND_VARIABLE] = args.command_line.replace("\0", "\\0")
    try:
        bn_kernel()  # a misspelt BN_STUDY_BN_KERNEL stops here, before any run starts
        args.function(args)
    except UserError as e:
        print(f"bn_study: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bn_study: interrupted; rerun the same command to resume from the last complete epoch",
              file=sys.stderr)
        return 130
    return 0
