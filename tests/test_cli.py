"""The command line: `show` output, and each kind of bad input -> one line, exit 2, nothing written."""
import os
import subprocess
import sys

import pytest

from bn_study.cli import main
from tests.conftest import ROOT, write

NO_BN, BN = str(ROOT / "configs/article_no_bn.yaml"), str(ROOT / "configs/article_bn.yaml")


@pytest.mark.parametrize("config, params", [(NO_BN, "431,242"), (BN, "433,034")])
def test_show_prints_resolved_config_and_summary(config, params, capsys):
    assert main(["show", config]) == 0
    out = capsys.readouterr().out
    assert "batch_size: 250" in out and "Total params: " + params in out


def _bad_config(tmp_path, text):
    write(tmp_path / "base.yaml", (ROOT / "configs/base.yaml").read_text())
    return str(write(tmp_path / "bad.yaml", (ROOT / "configs/article_no_bn.yaml").read_text() + text))


@pytest.mark.parametrize("args, message", [
    (lambda t: ["run", _bad_config(t, "train: {epochs: [\n")], "bad.yaml:"),
    (lambda t: ["run", _bad_config(t, "trian: {epochs: 2}\n")], "did you mean 'train'"),
    (lambda t: ["run", _bad_config(t, "train: {epochs: -1}\n")], "train.epochs: expected a positive integer, got -1"),
    (lambda t: ["run", _bad_config(t, "train: {batch_size: big}\n")], "train.batch_size: expected int, got 'big'"),
    (lambda t: ["run", _bad_config(t, "train: {validation_split: 1.5}\n")], "train.validation_split"),
    (lambda t: ["run", NO_BN, "--set", "model.layers.2.class=Conv3x3"], "model.layers.2 (Conv3x3): unknown layer class"),
    (lambda t: ["run", NO_BN, "--set", "model.layers.5.activaton=relu"], "model.layers.5 (Dense): Keras rejects"),
    (lambda t: ["run", str(t / "missing.yaml")], "missing.yaml: no such file"),
    (lambda t: ["run", NO_BN, "--set", "train.epocs=2"], "--set train.epocs: unknown key 'train.epocs'"),
    (lambda t: ["experiment", str(ROOT / "experiments/article.yaml"), "--set", "trian.epochs=2"], "unknown key 'trian'"),
    (lambda t: ["experiment", str(write(t / "e.yaml", "name: e\nvariants: [{name: a, config: nope.yaml}]\n"))],
     "variant 'a': "),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("bn_study: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "results").exists()


def test_no_traceback_from_the_real_process(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "bn_study", "run", NO_BN, "--set", "model.layers.5.units=big"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [l for l in done.stderr.splitlines() if l.startswith("bn_study: error:")]
    assert "Traceback" not in done.stderr and len(errors) == 1
    assert "model.layers.5 (Dense): Keras rejects the arguments" in errors[0]
    assert not (tmp_path / "results").exists()


def test_console_script_is_installed_and_names_itself(tmp_path):
    """`make install` installs the package editable with its `bn-study` entry point."""
    script = os.path.join(os.path.dirname(sys.executable), "bn-study")
    done = subprocess.run([script, "data", "--dataset", "nope"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "argument --dataset: invalid choice: 'nope' (choose from 'mnist', 'fashion_mnist'" in done.stderr
    usage = subprocess.run([script, "run", "--help"], capture_output=True, text=True, timeout=120).stdout
    assert usage.startswith("usage: bn-study run")



@pytest.mark.parametrize("args, message", [
    (["run", NO_BN, "--seed", "-1"], "argument --seed: expected a non-negative integer, got '-1'"),
    (["show", BN, "--set", "model.layers.1.momentun=0.9"], "'momentun' (did you mean 'momentum'?)"),
    (["show", BN, "--set", "model.layers.1.class=BatchNorm"], "(did you mean 'BatchNormalization'?)"),
    (["show", BN, "--set", "model.layers.1.class=FusedBatchNom"], "(did you mean 'FusedBatchNorm'?)"),
])
def test_mistakes_name_the_flag_or_the_close_match(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_tensorflow_start_up_prints_nothing_and_config_errors_come_before_it(tmp_path):
    """With oneDNN on (the default on AVX512_VNNI/AMX CPUs), TensorFlow's import prints absl's and
    oneDNN's notices unless filtered; a config error should not even wait for TensorFlow."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", PYTHONPATH=str(ROOT))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    shown = subprocess.run([sys.executable, "-m", "bn_study", "show", NO_BN], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "Total params: 431,242" in shown.stdout
    assert shown.stderr == "", shown.stderr
    bad = subprocess.run([sys.executable, "-X", "importtime", "-m", "bn_study", "run", NO_BN, "--set", "train.epocs=2"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown key 'train.epocs'" in bad.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in bad.stderr.splitlines() if line.startswith("import time:")]
    assert "json" in imported and "tensorflow" not in imported  # -X importtime lists every module imported
