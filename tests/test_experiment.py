"""End to end on the fixture: the article's experiment shrunk by --set, its files, plots and report."""
import json
import os
import re
import shutil

import pandas as pd
import pytest
import yaml

from bn_study.cli import main
from bn_study.run.experiment import load_experiment, run_experiment
from bn_study.stats.files import read_experiment
from tests.conftest import ON_FIXTURE, ROOT, stats_plots_report

SHRINK = ON_FIXTURE + ["train.epochs=2"]
SEEDS = (0, 1)
PLOTS = ["article_figure_no_bn.png", "article_figure_bn.png", "compare_accuracy.png", "loss.png",
         "mean_curves.png", "test_accuracy.png", "epochs_to_threshold.png"]


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "article"
    experiment = load_experiment(ROOT / "experiments/article.yaml", SHRINK, SEEDS)
    counts = run_experiment(experiment, out, verbose=0, log=lambda m: None)
    assert counts == {"complete": 4}
    stats_plots_report(out)
    return out


def test_every_run_writes_its_files(results_dir):
    for variant in ("no_bn", "bn"):
        for seed in SEEDS:
            run_dir = results_dir / variant / f"seed-{seed}"
            history = pd.read_csv(run_dir / "history.csv")
            assert list(history["epoch"]) == [0, 1]
            assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "val_seconds",
                    "cpu_seconds"} <= set(history.columns)
            assert (history["val_seconds"] > 0).all() and (history["val_seconds"] < history["seconds"]).all()
            assert (history["cpu_seconds"] > 0).all()
            run = json.loads((run_dir / "run.json").read_text())
            assert run["status"] == "complete" and run["seed"] == seed
            assert {"python", "tensorflow", "keras", "numpy", "device", "threads", "started", "ended",
                    "total_seconds"} <= set(run)
            # What decides bit-identity (CPU, ISA, caches, oneDNN) and which code and command made it.
            assert run["cpu"]["model"] and run["cpu"]["isa"] and set(run["cpu"]["caches"]) >= {"L1d", "L2"}
            onednn_setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")  # CI runs some tests with it flipped
            if onednn_setting in ("0", "1"):
                assert run["numerics"] == {"onednn": onednn_setting == "1", "bn_kernel": os.environ.get("BN_STUDY_BN_KERNEL", "fused"),
                                           "environment": {"TF_ENABLE_ONEDNN_OPTS": onednn_setting}}
            assert isinstance(run["numerics"]["onednn"], bool)
            assert re.fullmatch(r"[0-9a-f]{40}", run["commit"]) and isinstance(run["dirty"], bool)
            assert (run["n_train"], run["n_val"], run["n_test"]) == (640, 160, 200)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            # Keras' accuracy over the 200 fixture test images: a whole number of them, all evaluated.
            assert metrics["test_accuracy"] * 200 == pytest.approx(round(metrics["test_accuracy"] * 200), abs=1e-4)
            assert metrics["test_loss"] > 0
            config = yaml.safe_load((run_dir / "config.yaml").read_text())
            assert config["seed"] == seed and config["train"]["epochs"] == 2
            assert not (run_dir / "backup").exists()  # checkpoints go once a run is complete


def test_training_lowers_the_loss(results_dir):
    for variant in ("no_bn", "bn"):
        history = pd.read_csv(results_dir / variant / "seed-0" / "history.csv")
        assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_seeds_differ_and_tables_have_one_row_per_run(results_dir):
    summary = pd.read_csv(results_dir / "summary.csv")
    assert list(zip(summary["variant"], summary["seed"])) == [("no_bn", 0), ("no_bn", 1), ("bn", 0), ("bn", 1)]
    assert summary.loc[0, "final_loss"] != summary.loc[1, "final_loss"]
    aggregate = pd.read_csv(results_dir / "aggregate.csv")
    row = aggregate[(aggregate["variant"] == "bn") & (aggregate["figure"] == "test_accuracy")].iloc[0]
    assert row["n"] == 2 and row["ci95_low"] <= row["mean"] <= row["ci95_high"]


def test_all_plots_drawn(results_dir):
    for name in PLOTS:
        path = results_dir / "plots" / name
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_redraws_from_files_alone(results_dir, capsys):
    shutil.rmtree(results_dir / "plots")
    assert main(["plot", str(results_dir)]) == 0
    assert all((results_dir / "plots" / name).is_file() for name in PLOTS)


def test_article_figure_page_has_a_row_per_experiment(results_dir, tmp_path):
    from matplotlib.image import imread

    one, two = tmp_path / "one.png", tmp_path / "two.png"
    assert main(["article-figure", str(results_dir), "--out", str(one)]) == 0
    assert main(["article-figure", str(results_dir), str(results_dir), "--out", str(two)]) == 0
    assert imread(two).shape[0] > 1.8 * imread(one).shape[0]  # two rows of panels, twice as tall
    assert main(["article-figure", str(tmp_path), "--out", str(one)]) == 2  # not a results folder


def test_report_has_setup_table_claims_and_images(results_dir):
    report = (results_dir / "REPORT.md").read_text()
    assert "Complete runs: 4 of 4" in report
    # Shrunk by --set and --seeds: said in the title and at the top, with what was changed.
    assert report.startswith("# Report: article (shrunk smoke run)\n")
    assert "`--set train.epochs=2`" in report.split("**Question.**")[0] and "seeds 0, 1 only" in report
    assert "431,242 parameters" in report and "433,034 parameters" in report
    assert "| test accuracy |" in report
    claims = [l for l in report.splitlines() if re.match(r"\| \d+ \| ", l)]
    assert len(claims) == 11  # the eleven claims of experiments/article.yaml
    assert all(re.search(r"\*\*(supported|not supported|inconclusive)\*\* \|$", l) for l in claims)
    assert "Welch" in report and "![mean_curves.png](plots/mean_curves.png)" in report
    html = (results_dir / "REPORT.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(PLOTS) and 'src="plots/' not in html
    assert "<table>" in html


def test_report_says_which_runs_ran_at_other_threads(results_dir, tmp_path):
    # Seeds added later under --jobs 2 run at one thread each; the first seeds may have run at the default.
    assert re.search(r"^- Device: .*TensorFlow threads intra-op", (results_dir / "REPORT.md").read_text(), re.M)
    mixed = shutil.copytree(results_dir, tmp_path / "mixed")
    for run_json in mixed.glob("*/seed-1/run.json"):
        run = json.loads(run_json.read_text())
        run["threads"] = {"intra_op": 7, "inter_op": 3}
        run_json.write_text(json.dumps(run))
    stats_plots_report(mixed)
    lines = (mixed / "REPORT.md").read_text().splitlines()
    start = lines.index("- Device: the runs differ in what decides bit-identity (threads, CPU or versions):")
    groups = lines[start + 1:start + 3]
    assert [g.split(":")[0] for g in groups] == ["  - 2 runs (seeds 0)", "  - 2 runs (seeds 1)"]
    assert "intra-op 7, inter-op 3" in groups[1] and "intra-op 7" not in groups[0]


def test_rerun_trains_nothing(results_dir):
    experiment = load_experiment(ROOT / "experiments/article.yaml", SHRINK, SEEDS)
    assert run_experiment(experiment, results_dir, verbose=0, log=lambda m: None) == {"skipped": 4}


def test_changed_config_is_never_mixed_with_old_results(results_dir):
    from bn_study.errors import UserError

    experiment = load_experiment(ROOT / "experiments/article.yaml", SHRINK + ["train.batch_size=100"], (0,))
    with pytest.raises(UserError, match="holds a run of a different config"):
        run_experiment(experiment, results_dir, verbose=0, log=lambda m: None)
    assert json.loads((results_dir / "no_bn/seed-0/run.json").read_text())["status"] == "complete"


def test_grid_expands_and_records_divergence(tmp_path):
    spec = tmp_path / "grid.yaml"
    spec.write_text(f"""\
name: grid
grid:
  models: [{{name: no_bn, config: {ROOT / 'configs/article_no_bn.yaml'}}}]
  sweep: [{{key: optimizer.learning_rate, values: [1.0e-3, 1.0e+6]}}]
plots: [sweep]
""")
    experiment = load_experiment(spec, ON_FIXTURE + ["train.epochs=2"])
    assert list(experiment.configs) == ["no_bn-learning_rate=0.001", "no_bn-learning_rate=1000000.0"]
    assert experiment.configs["no_bn-learning_rate=1000000.0"].optimizer.args["learning_rate"] == 1e6
    out = tmp_path / "out"
    assert run_experiment(experiment, out, verbose=0, log=lambda m: None) == {"complete": 1, "diverged": 1}
    stats_plots_report(out)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["status"]) == ["complete", "diverged"]
    assert pd.isna(summary.loc[1, "test_accuracy"]) and summary.loc[1, "diverged_epoch"] >= 1
    assert (out / "plots/sweep_test_accuracy.png").is_file()
    report = (out / "REPORT.md").read_text()
    assert "diverged: 1" in report and "| 1e+06 | **1 of 1 diverged** |" in report


def test_paired_sweep_keys_follow_the_swept_value(tmp_path):
    from bn_study.errors import UserError
    from bn_study.config.experiment_spec import load_spec

    text = (ROOT / "experiments/batch_size.yaml").read_text()
    experiment = load_experiment(ROOT / "experiments/batch_size.yaml")
    assert len(experiment.configs) == 12  # 3 models x 4 batch sizes; the paired keys add no variants
    for batch, rate, grouped in ((2, 8.94e-5, 50), (250, 1.0e-3, 1)):
        config = experiment.configs[f"gn-batch_size={batch}"]
        assert (config.train.batch_size, config.optimizer.args["learning_rate"], config.train.steps_per_execution) == (
            batch, rate, grouped)
    bad = tmp_path / "experiments/bad.yaml"
    bad.parent.mkdir()
    bad.write_text(text.replace("[50, 20, 5, 1]", "[50, 20, 5]"))
    with pytest.raises(UserError, match=r"bad.yaml: grid.sweep.0.paired.train.steps_per_execution: 3 values for the 4 "
                                        r"of train.batch_size; give one per value"):
        load_spec(bad)


def test_try_a_variant_as_the_readme_walks_through_it(results_dir, tmp_path, capsys):
    """README, "Try a variant": copy a config and edit it, `run` it (a figure beside the test
    accuracy), then `plot` it beside a reference's seeds (a band per variant, a table, its rank)."""
    mine = tmp_path / "my_bn.yaml"
    text = (ROOT / "configs/article_bn.yaml").read_text().replace("extends: base.yaml", f"extends: {ROOT}/configs/base.yaml")
    mine.write_text(text.replace("- {class: BatchNormalization}", "- {class: BatchNormalization, momentum: 0.9}", 1))
    sets = [a for s in SHRINK for a in ("--set", s)]
    run_dir = tmp_path / "runs/my_bn/seed-0"
    assert main(["run", str(mine), "--seed", "0", *sets, "--out", str(run_dir)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(rf"{run_dir}: complete, test accuracy 0\.\d{{4}}; figure {run_dir}/figure\.png; "
                        rf"explore {run_dir}/figure\.html", line)
    assert (run_dir / "figure.png").stat().st_size > 10_000
    out = tmp_path / "overlay"
    assert main(["plot", str(run_dir), str(results_dir / "bn"), str(results_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    page = (out / "overlay.md").read_text()
    # the variant folder given and the experiment's variants, the one named twice counted once
    assert f"| figure (mean ± std over runs) | {run_dir} | {results_dir / 'bn'} | {results_dir}/no_bn |" in page
    assert re.search(rf"{run_dir} against {results_dir / 'bn'}: test accuracy 0\.\d{{4}}: (above|below) .*2 reference "
                     r"seeds; 95% prediction interval of the reference \[", page)
    assert "epochs to validation accuracy 0.99" in page and f"wrote {out}/overlay.png" in printed
    # what differs, above the figure and on the console: the edited line, nothing else
    said = f"The resolved configs differ ({run_dir} → {results_dir / 'bn'}) in 1 key(s): `model.layers.1.momentum` `0.9` → (default)."
    assert said in page.split("![overlay]")[0] and said in printed
    table = pd.read_csv(out / "overlay.csv")
    reference = table[(table["group"] == str(results_dir / "bn")) & (table["figure"] == "test_accuracy")].iloc[0]
    summary = pd.read_csv(results_dir / "summary.csv")
    assert reference["mean"] == pytest.approx(summary.loc[summary["variant"] == "bn", "test_accuracy"].mean())


@pytest.mark.parametrize("damage, message", [
    ("not_a_run", "not a run folder (run.json), a variant folder (seed-*/run.json) or an experiment folder"),
    ("history", "damaged run folder (unreadable (ParserError"),
    ("no_history_columns", "damaged run folder (history.csv differs from what the run wrote"),
    ("other_data", "runs of different data sets cannot share a figure"),
])
def test_overlay_refuses_bad_input_in_one_line_and_writes_nothing(results_dir, tmp_path, capsys, damage, message):
    run = shutil.copytree(results_dir / "bn/seed-0", tmp_path / "run")
    if damage == "not_a_run":
        run = tmp_path / "empty"
        run.mkdir()
    elif damage == "history":
        (run / "history.csv").write_bytes(b"epoch,loss\n0,\"1\n")  # an unterminated quote
    elif damage == "no_history_columns":
        (run / "history.csv").write_text("epoch,loss\n0,1.0\n")
    else:  # a sound run of another data set: its recorded files say so too
        from bn_study.results import FILES_KEY, record_files

        (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("mnist_fixture", "fashion_mnist_fixture"))
        record = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**record, FILES_KEY: record_files(run)}))
    out = tmp_path / "overlay"
    assert main(["plot", str(run), str(results_dir / "bn"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_run_of_the_same_config_and_seed_is_reused_not_trained(results_dir, tmp_path):
    """The momentum example of docs/usage.md, shrunk: the article's BN runs exist (same config and
    seed), so only the new variant trains; with reuse off, both do."""
    spec = tmp_path / "momentum.yaml"
    spec.write_text(f"""\
name: momentum
variants:
  - {{name: bn, config: {ROOT}/configs/article_bn.yaml}}
  - {{name: bn_momentum09, config: {ROOT}/configs/article_bn.yaml, set: [model.layers.1.momentum=0.9]}}
seeds: [1]
""")
    experiment = load_experiment(spec, SHRINK)
    out = tmp_path / "out"
    counts = run_experiment(experiment, out, verbose=0, log=lambda m: None, reuse_from=results_dir.parent)
    assert counts == {"complete": 1, "reused": 1}
    record = json.loads((out / "bn/seed-1/run.json").read_text())
    assert record["reused_from"]["path"] == str(results_dir / "bn/seed-1") and record["reused_from"]["commit"]
    assert record["variant"] == "bn"
    # the same run under another variant name (as results/article_bf16 copies results/precision's bn_bf16)
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(spec.read_text().replace("name: momentum", "name: renamed").replace("{name: bn,", "{name: plain_bn,"))
    out2 = tmp_path / "out2"
    assert run_experiment(load_experiment(renamed, SHRINK), out2, verbose=0, log=lambda m: None,
                          reuse_from=tmp_path) == {"reused": 2}  # both from `out` above
    copied = json.loads((out2 / "plain_bn/seed-1/run.json").read_text())
    assert copied["variant"] == "plain_bn" and copied["reused_from"]["variant"] == "bn"
    assert {r.variant for r in read_experiment(out2).complete} == {"plain_bn", "bn_momentum09"}
    assert (out / "bn/seed-1/history.csv").read_bytes() == (results_dir / "bn/seed-1/history.csv").read_bytes()
    stats_plots_report(out)
    assert "- Reused: 1 of these runs were not trained here" in (out / "REPORT.md").read_text()
    assert run_experiment(experiment, tmp_path / "again", verbose=0, log=lambda m: None) == {"complete": 2}


def _tree(root):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_dry_run_lists_what_it_would_do_estimates_it_and_writes_nothing(results_dir, tmp_path, capsys, monkeypatch):
    """--dry-run: the runs to copy (same config and seed under results/) or train, an estimate from the
    runs this kind of CPU made of the same configs (the fixture's own), and not one file written."""
    (tmp_path / "results").symlink_to(results_dir.parent)  # the results/ that reuse and estimates read
    monkeypatch.chdir(tmp_path)
    before = _tree(results_dir.parent), _tree(tmp_path)
    command = ["experiment", str(ROOT / "experiments/article.yaml"), *[a for s in SHRINK for a in ("--set", s)],
               "--seeds", "0,1", "--out", str(tmp_path / "new"), "--dry-run"]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert printed.count(": reuse ") == 4 and "4 to reuse; nothing to train" in printed
    assert main([*command, "--no-reuse", "--jobs", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert sum(": train, ~" in line for line in printed) == 4
    match = re.search(r"4 to train; estimated training wall time (\d+\.\d) min on this kind of CPU \(.+, 2 at once\)",
                      printed[-1])
    assert match and float(match.group(1)) > 0
    assert (_tree(results_dir.parent), _tree(tmp_path)) == before


def test_the_estimate_is_recorded_beside_what_the_command_took(tmp_path):
    from collections import Counter

    from bn_study.report.setup_section import commands_lines
    from bn_study.run.experiment import record_command
    from bn_study.run.jobs import Engine

    record_command(tmp_path, "bn-study experiment e.yaml", Engine(), Counter(complete=2), 126.0, 108.0)
    (line,) = commands_lines(pd.read_csv(tmp_path / "commands.csv"), 2)
    assert "2.1 min in 1 invocation(s) (estimated before they trained, from earlier runs on the same kind of CPU: 1.8 min)" in line
    record_command(tmp_path, "bn-study experiment e.yaml", Engine(), Counter(complete=1), 60.0, None)
    assert "estimated" not in commands_lines(pd.read_csv(tmp_path / "commands.csv"), 3)[0]  # one command had no estimate: no total


def test_lanes_take_the_next_run_when_free():
    from bn_study.run.estimate import lanes_wall_seconds

    assert lanes_wall_seconds([4, 3, 3, 2], 2) == 6 and lanes_wall_seconds([4, 3], 1) == 7
