"""Every experiment in experiments/ runs end to end in its --set-shrunk form on the fixture:
one seed, one or two epochs, and writes its runs, tables, plots and a report with every claim.
They run with --jobs 2, as `make studies JOBS=2` would (and in about half the time)."""
import pandas as pd
import pytest

from bn_study.cli import main
from bn_study.config.experiment_spec import load_spec
from tests.conftest import ON_FASHION_FIXTURE, ON_FIXTURE, ROOT

SHRINK = {  # beyond the fixture: the fewest epochs that still exercise each experiment's own parts
    "placement": ["train.epochs=1"],
    "learning_rate": ["train.epochs=1"],
    "ioffe2015_fig1_rate": ["train.epochs=1"],
    "ioffe2015_fig1": ["train.epochs=2", "train.test_every_steps=5", "probe.every=5"],
    "regularization": ["train.epochs=1"],
    "article_fashion": ["train.epochs=2"],
    # 20 batches of 250 do not fit in 240 fixture images: 2 of 60 (which makes every variant precise).
    "batch_size": ["train.epochs=1", "train.precise_bn.batches=2", "train.precise_bn.batch_size=60"],
    "covariate_shift": ["train.epochs=1", "probe.every=4"],
    "precise_bn": ["train.epochs=1", "train.batch_size=60", "train.precise_bn.batches=2"],
    # 32-40 variants: every depth shrunk to 2 (the command line's --set comes after the sweep's).
    "when_bn_helps_mlp": ["train.epochs=1", "model.family.depth=2"],
    # Its BN lines use precise BN over 20 batches of 250; 240 fixture images hold 2 of 60.
    "when_bn_helps_cnn": ["train.epochs=1", "model.family.depth=2", "train.precise_bn.batches=2",
                          "train.precise_bn.batch_size=60"],
    "landscape": ["train.epochs=1", "landscape.every=4"],
    "when_bn_helps_rate": ["train.epochs=1"],
    "when_bn_helps_fashion": ["train.epochs=1", "model.family.depth=2"],
}
# the others train on the MNIST fixture
DATA = {"article_fashion": ON_FASHION_FIXTURE, "when_bn_helps_fashion": ON_FASHION_FIXTURE}


# `placement` (with its extra checks of commands.csv and of a rerun that skips) runs in `make test`;
# the others (the eight of 2026-11-30: 650 of the whole suite's 2,124 s (measured under training load)), in
# `make test-slow` (CI runs both).
FAST = {"placement"}


def _ioffe2015_fig1(out, spec, summary, report, **_):  # Figure 1(a) and (b, c): steps.csv, probe.csv
    assert {"test_accuracy_step_mean", "probe_p50_range", "probe_spread_range"} <= set(summary.columns)
    assert (out / "plots/test_accuracy_by_step.png").is_file() and (out / "plots/probe_percentiles.png").is_file()
    assert "## Test accuracy during training" in report and (out / "probe_movement.csv").is_file()


def _when_bn_helps_fashion(out, spec, summary, **_):  # train.step_loss, and the spikes counted from it
    assert summary["loss_spikes"].notna().all()
    assert all((out / v.name / "seed-0/step_loss.csv").is_file() for v in spec.all_variants)


def _placement(out, spec, summary, report, rerun, output, **_):  # the command's wall time, once per command
    commands = pd.read_csv(out / "commands.csv")
    assert len(commands) == 1 and commands.loc[0, "complete"] == 3 and commands.loc[0, "jobs"] == 2
    assert commands.loc[0, "command"].startswith(f"python -m bn_study experiment {spec_path('placement')} --seeds 0")
    assert "Wall time of the experiment commands that trained these runs" in report
    assert rerun() == 0  # all skipped: no second row
    assert len(pd.read_csv(out / "commands.csv")) == 1
    assert "min wall (training, statistics, plots and report)" in output()


def _article_fashion(report, **_):
    assert "- Data: fashion_mnist_fixture from " in report
    assert "gain: test_accuracy of bn − no_bn in [0, 0.02]" in report


def _landscape(out, summary, **_):  # Santurkar et al.'s three quantities per run, and their bands
    assert {"landscape_loss_variation", "landscape_grad_change", "landscape_beta"} <= set(summary.columns)
    assert (out / "plots/landscape.png").is_file()


def _when_bn_helps_rate(report, **_):  # range claims: the rates at which each line trains
    assert "| range: final_val_accuracy ≥ 0.9, wider for relu_bn |" in report


def _learning_rate(report, **_):
    assert "## Results against the swept value" in report and "| range: test_accuracy ≥ 0.98, wider for bn_adam |" in report


def _effect_map(out, **_):  # the when_bn_helps grids: a cell per (line pair, depth)
    assert (out / "plots/effect_map.png").is_file()


# What each experiment has beyond the common checks.
OWN_CHECKS = {"ioffe2015_fig1": [_ioffe2015_fig1], "when_bn_helps_fashion": [_when_bn_helps_fashion, _effect_map],
              "placement": [_placement], "article_fashion": [_article_fashion], "landscape": [_landscape],
              "when_bn_helps_rate": [_when_bn_helps_rate], "learning_rate": [_learning_rate],
              "when_bn_helps_mlp": [_effect_map], "when_bn_helps_cnn": [_effect_map]}


def spec_path(name: str):
    return ROOT / "experiments" / f"{name}.yaml"


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in SHRINK])
def test_experiment_runs_shrunk_on_the_fixture(name, tmp_path, capsys):
    path = spec_path(name)
    small = ["data.train_limit=300", "data.test_limit=100"]  # per-run overhead dominates; fewer steps help
    sets = [a for s in DATA.get(name, ON_FIXTURE) + small + SHRINK[name] for a in ("--set", s)]
    assert main(["experiment", str(path), "--seeds", "0", *sets, "--jobs", "2", "--out", str(tmp_path)]) == 0
    spec = load_spec(path)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(summary["variant"]) == sorted(v.name for v in spec.all_variants)
    assert set(summary["status"]) <= {"complete", "diverged"}
    report = (tmp_path / "REPORT.md").read_text()
    assert all(f"| {i} | {claim.claim}" in report for i, claim in enumerate(spec.claims, 1))
    images = [line for line in report.splitlines() if line.startswith("![")]
    assert images and all((tmp_path / line.split("](")[1].rstrip(")")).is_file() for line in images)
    assert ("effect_map" in spec.plots) == (_effect_map in OWN_CHECKS.get(name, []))
    for check in OWN_CHECKS.get(name, []):
        check(out=tmp_path, spec=spec, summary=summary, report=report, output=lambda: capsys.readouterr().out,
              rerun=lambda: main(["experiment", str(path), "--seeds", "0", *sets, "--out", str(tmp_path)]))
