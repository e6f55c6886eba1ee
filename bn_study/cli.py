"""bn_study: batch normalization's claims tested on the article's CNN, over seeds.

The command line: `bn-study COMMAND` (the console script `make install` puts in .venv/bin) or
`python -m bn_study COMMAND`; `--help` lists the commands.

User mistakes (UserError) print one line, `bn_study: error: ...`, and exit 2 without a traceback.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from bn_study.cli_args import DEFAULT_RESULTS, build_parser, one_line
from bn_study.errors import UserError
from bn_study.faults import FAULT_EXIT_CODE, WriteFault, fault_line, write_fault
from bn_study.train.machine import BN_KERNEL_VARIABLE, COMMAND_VARIABLE, bn_kernel


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
    out, reuse_from = args.out or DEFAULT_RESULTS / experiment.spec.name, None if args.no_reuse else DEFAULT_RESULTS
    if args.dry_run:
        from bn_study.run.dry_run import dry_run

        return dry_run(experiment, out, engine, reuse_from, DEFAULT_RESULTS)
    run_and_report(experiment, out, engine, args.command_line, verbose=_verbose(), reuse_from=reuse_from,
                   results_root=DEFAULT_RESULTS)


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
    """A warning per damaged run and per run stopped while running: both are left out."""
    from bn_study.results import damaged_line, stopped_line

    for run in experiment.damaged:
        print(f"bn_study: warning: {damaged_line(run)}", file=sys.stderr)
    for run in experiment.stopped:
        print(f"bn_study: warning: {stopped_line(run)}; left out until then", file=sys.stderr)


def cmd_stats(args) -> None:
    from bn_study.stats.stage import make_statistics

    experiment, _, paths = make_statistics(args.results_dir)
    _say_damaged(experiment)
    _print_paths(paths)


def _experiment_and_statistics(results_dir: Path):
    """A view's input: the experiment read once and its statistics files (UserError naming `bn-study
    stats` when they were not written); each damaged run named in one line."""
    from bn_study.stats.files import open_results

    experiment, statistics = open_results(results_dir)
    _say_damaged(experiment)
    return experiment, statistics


def cmd_plot(args) -> None:
    from bn_study.config.experiment_spec import SPEC_FILE

    if len(args.folders) == 1 and (args.folders[0] / SPEC_FILE).is_file() and args.out is None:
        from bn_study.report.plots import draw_plots

        paths = draw_plots(*_experiment_and_statistics(args.folders[0]))
        _print_paths(paths)
        return print(f"open {next(p for p in paths if p.suffix == '.html')} in a browser to explore the curves (offline)")
    from bn_study.report.overlay import console_text, write_overlay
    from bn_study.report.words import placement_sentences
    from bn_study.stats import overlay

    groups = overlay.resolve(args.folders)  # every input checked before anything is written
    table = overlay.group_table(groups, args.thresholds)
    placed, differences = overlay.placements(groups), overlay.group_differences(groups)
    statements = placement_sentences(placed)
    out = args.out or DEFAULT_RESULTS / "local" / "overlays" / overlay.slug(args.folders)
    paths = [overlay.write_group_table(table, out), *filter(None, [overlay.write_placements(placed, out)]),
             *write_overlay(overlay.group_curves(groups), table, statements, out, args.command_line, differences,
                            {g.label: g.runs[0] for g in groups if len(g.runs) == 1})]
    print(console_text(table, statements, differences))
    _print_paths(paths)
    print(f"open {paths[-1]} in a browser to explore the curves (offline)")


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
    if args.kernels:
        from bn_study.bench.kernels import write_kernel_bench
        from bn_study.train.threads import configure_threads

        configure_threads(1)  # as each run trains under --jobs 2
        out = args.out or DEFAULT_RESULTS / "bench_kernels"
        print(write_kernel_bench(out, args.command_line, rounds=args.pairs).to_string(index=False))
        print(f"wrote {out / 'kernels.csv'} and {out / 'README.md'}")
        return
    if args.parallel:
        from bn_study.bench.parallel import run_parallel_bench
        from bn_study.run.ray_engine import import_ray

        import_ray()
        out = args.out or DEFAULT_RESULTS / "bench_parallel"
        table = run_parallel_bench(args.pairs, args.epochs, ",".join(map(str, args.seeds)), args.overrides, out,
                                   args.command_line)
    else:
        from bn_study.bench.side_by_side import check_arms, run_bench

        out = args.out or DEFAULT_RESULTS / "bench"
        check_arms(args.arms.split(","), args.variants)
        table = run_bench(args.variants, args.arms.split(","), args.epochs, args.pairs, args.overrides, out,
                          args.command_line)
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


def _program() -> str:
    """How the user called us: the `bn-study` console script or `python -m bn_study`."""
    return "bn-study" if Path(sys.argv[0]).name == "bn-study" else "python -m bn_study"


COMMANDS = {name.removeprefix("cmd_").replace("_", "-"): function
            for name, function in list(globals().items()) if name.startswith("cmd_")}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser(_program()).parse_args(argv)
        # The command as typed, for the files that record it (commands.csv, the profile's README).
        # Quoted where a shell needs it (an arm's ';'), so that a README's command runs as written.
        args.command_line = " ".join([_program(), shlex.join(sys.argv[1:] if argv is None else argv)])
    except SystemExit as e:  # a bad option (one line already printed), or --help
        return e.code
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up banner
    # run.json records it, in worker processes too (an environment value cannot hold a NUL, which only
    # an in-process caller can pass: a shell's arguments never do).
    os.environ[COMMAND_VARIABLE] = args.command_line.replace("\0", "\\0")
    try:
        bn_kernel()  # a misspelt BN_STUDY_BN_KERNEL stops here, before any run starts
        COMMANDS[args.command](args)
    except UserError as e:
        print(f"bn_study: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bn_study: interrupted; rerun the same command to resume from the last complete epoch",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`bn-study plot ... | head`): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own recipe: no flush error at exit
        return FAULT_EXIT_CODE
    except (OSError, WriteFault) as e:
        fault = write_fault(e) if isinstance(e, OSError) else None
        if fault is None and not isinstance(e, WriteFault):
            raise
        print(f"bn_study: error: {one_line(fault_line(fault) if fault else str(e))}", file=sys.stderr)
        return FAULT_EXIT_CODE
    return 0


def entry() -> None:
    """The console script and `python -m bn_study`: main(), then exit. After a fault the interpreter's
    teardown is skipped (files are all written or left whole by then): h5py objects that met a full disk
    crash the interpreter when they are freed."""
    code = main()
    if code == FAULT_EXIT_CODE:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
