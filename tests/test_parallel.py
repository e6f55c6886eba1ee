"""--jobs N: runs in spawned processes, bit-identical to a run alone at the same thread count;
the parent killed at any moment, a failing run among good ones, and each bad option."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bn_study.run import jobs
from bn_study.cli import main
from bn_study.run.experiment import load_experiment, run_experiment
from bn_study.run.jobs import make_engine
from tests.conftest import PARALLEL_SETS, ROOT, SMALL_BN, SMALL_EXPERIMENT, SMALL_NO_BN, assert_same_runs

ARTICLE = str(ROOT / "experiments/article.yaml")
SETS = [a for s in PARALLEL_SETS for a in ("--set", s)]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")


def test_each_run_records_its_process(jobs2_results):
    for variant in ("no_bn", "bn"):
        run_dir = jobs2_results / variant / "seed-0"
        run = json.loads((run_dir / "run.json").read_text())
        assert run["threads"] == {"intra_op": 1, "inter_op": 1}  # cores // jobs on 2 cores, at least 1
        assert (run["engine"], run["jobs"]) == ("local", 2)
        assert run["peak_rss_mb"] > 100 and 0 < run["cpu_seconds"] and run["host"]
        assert {"numpy", "tensorflow", "keras", "device"} <= set(run)
        log = (run_dir / "train.log").read_text()
        assert "Epoch 1/2" in log and "Epoch 2/2" in log  # Keras' own log, not the console's


def test_same_history_as_the_run_alone_at_one_thread(jobs2_results, tmp_path):
    alone = tmp_path / "alone"
    # The CLI's own log level (2: TensorFlow's errors show, its info lines do not); ENV's 3 hides errors.
    env = {k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "bn_study", "run", str(SMALL_BN), *SETS,
                           "--threads-per-run", "1", "--out", str(alone / "bn/seed-0")],
                          env=env, check=True, capture_output=True, text=True, timeout=300)
    assert_same_runs(alone, jobs2_results, runs=("bn/seed-0",))
    # The deterministic tf.data rewrite's "E0000 ... use_unbounded_threadpool" (bn_study/data/batches.py)
    # is gone: 240 training images in batches of 8 leave Keras' pipeline no partial batch, and
    # validation and test batches are ours. Before that change this run's stderr had 2 such lines.
    assert "E0000" not in done.stderr


def test_parent_killed_then_rerun_completes_every_run_identically(jobs2_results, tmp_path, capsys):
    arguments = ["experiment", str(SMALL_EXPERIMENT), "--seeds", "0", *SETS, "--jobs", "2", "--out", str(tmp_path)]
    # Its own session, so that one signal freezes the parent and its workers together.
    parent = subprocess.Popen([sys.executable, "-m", "bn_study", *arguments], env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not any(p.read_text().count("\n") > 1 for p in tmp_path.glob("*/seed-0/history.csv")):  # an epoch is done
        assert parent.poll() is None and time.time() < deadline, parent.communicate()
        time.sleep(0.02)
    # The small CNN trains an epoch in well under a second: freeze everything mid-run rather than
    # race it, so that "killed mid-run" is a fact the test checks, not a timing it hopes for.
    os.killpg(parent.pid, signal.SIGSTOP)
    statuses = [json.loads(p.read_text())["status"] for p in tmp_path.glob("*/seed-0/run.json")]
    assert "running" in statuses, f"both runs ended before the parent was stopped: {statuses}"
    assert main(arguments) == 2  # a second experiment command on the same folder writes nothing
    assert f"held by running process {parent.pid}" in capsys.readouterr().err
    parent.kill()  # SIGKILL: no handler runs in the parent; its workers get SIGTERM (PDEATHSIG)
    parent.wait()
    os.killpg(parent.pid, signal.SIGCONT)  # the workers wake to their SIGTERM
    deadline = time.time() + 60
    while any(p.is_file() for p in tmp_path.glob("*/seed-0/.lock")) and time.time() < deadline:
        time.sleep(0.1)  # workers record 'interrupted' and exit
    rerun = subprocess.run([sys.executable, "-m", "bn_study", *arguments], env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert_same_runs(tmp_path, jobs2_results)


@pytest.mark.slow
def test_interrupted_with_many_runs_queued_the_parent_exits(tmp_path):
    """Ctrl-C or SIGTERM with more queued runs than a pipe holds (here 2 x 150; 96 runs of a grid did
    it on 2026-12-01): the parent said "interrupted" and then hung, its queue's feeder thread waiting
    to flush runs no worker would ever read. It must exit, with 130, its workers' runs 'interrupted'."""
    seeds = ",".join(map(str, range(150)))
    arguments = ["experiment", str(SMALL_EXPERIMENT), "--seeds", seeds, *SETS, "--jobs", "2", "--out", str(tmp_path)]
    parent = subprocess.Popen([sys.executable, "-m", "bn_study", *arguments], env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob("*/seed-*/history.csv")):  # a worker is training
        assert parent.poll() is None and time.time() < deadline, parent.communicate()
        time.sleep(0.05)
    parent.send_signal(signal.SIGTERM)
    try:
        _, stderr = parent.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(parent.pid, signal.SIGKILL)
        pytest.fail("the interrupted parent did not exit within 90 s")
    assert parent.returncode == 130 and "interrupted; rerun the same command" in stderr
    statuses = [json.loads(p.read_text())["status"] for p in tmp_path.glob("*/seed-*/run.json")]
    assert "running" not in statuses and "interrupted" in statuses


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path):
    spec = tmp_path / "mixed.yaml"
    spec.write_text(f"""\
name: mixed
variants:
  - {{name: good, config: {SMALL_NO_BN}}}
  # builds, then fails in fit: integer labels against categorical cross-entropy's one-hot shape
  - {{name: bad, config: {SMALL_NO_BN}, set: [train.loss=categorical_crossentropy]}}
""")
    experiment = load_experiment(spec, PARALLEL_SETS + ["train.epochs=1"])
    counts = run_experiment(experiment, tmp_path / "out", log=lambda m: None, engine=make_engine("local", jobs=2))
    assert counts == {"complete": 1, "failed": 1}
    bad = json.loads((tmp_path / "out/bad/seed-0/run.json").read_text())
    assert bad["status"] == "failed" and bad["error"].startswith("ValueError")
    assert "Traceback" in (tmp_path / "out/bad/seed-0/train.log").read_text()


@pytest.mark.parametrize("args, message", [
    (["--jobs", "0"], "argument --jobs: expected a positive integer, got '0'"),
    (["--jobs", "many"], "argument --jobs: expected a positive integer, got 'many'"),
    (["--threads-per-run", "0"], "argument --threads-per-run: expected a positive integer, got '0'"),
    (["--engine", "spark"], "argument --engine: invalid choice: 'spark' (choose from 'local', 'ray')"),
    (["--engine", "ray", "--address", "nowhere:1"], "--address nowhere:1: no Ray cluster answers there"),
    (["--engine", "ray", "--address", "nowhere"], "--address nowhere: expected auto or HOST:PORT"),
    (["--address", "127.0.0.1:1"], "--address: only with --engine ray"),
])
def test_bad_engine_options_one_line_exit_2_nothing_written(args, message, tmp_path, capsys):
    assert main(["experiment", ARTICLE, "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bn_study: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_without_ray_installed_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["experiment", ARTICLE, "--engine", "ray", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--engine ray: Ray is not installed; install it with" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_jobs_refused_when_memory_would_not_fit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(jobs, "available_memory_mb", lambda: 2000.0)
    assert main(["experiment", ARTICLE, *SETS, "--jobs", "2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert ("--jobs 2: 2 runs x 1,500 MB peak memory per run (estimated; no run here has measured one yet) = "
            "3,000 MB, more than the 2,000 MB available; use --jobs 1 or fewer") in err
    assert not list((tmp_path / "out").glob("*/seed-*"))  # nothing trained


def test_measured_peak_decides(jobs2_results, monkeypatch):
    peak = max(json.loads(p.read_text())["peak_rss_mb"] for p in jobs2_results.glob("*/seed-0/run.json"))
    monkeypatch.setattr(jobs, "available_memory_mb", lambda: 2.5 * peak)
    jobs.check_memory(2, jobs2_results)
    with pytest.raises(Exception, match=f"--jobs 3: 3 runs x {peak:,.0f} MB .*measured in .*run.json.*use --jobs 2"):
        jobs.check_memory(3, jobs2_results)


def test_costliest_run_of_each_seed_goes_first():
    experiment = load_experiment(ROOT / "experiments/article.yaml", PARALLEL_SETS, (0, 1))
    planned, _, _ = jobs.plan_jobs(jobs.plan_runs(("no_bn", "bn"), (0, 1), experiment.configs, Path("nowhere")),
                                   log=lambda m: None)
    assert [(j.variant, j.seed) for j in planned] == [("no_bn", 0), ("bn", 0), ("no_bn", 1), ("bn", 1)]
    assert [(j.variant, j.seed) for j in jobs.longest_first(planned)] == [("bn", 0), ("no_bn", 0), ("bn", 1), ("no_bn", 1)]


# Every way to ask for threads: TensorFlow's pools are set before anything starts it, whatever the
# command (the in-process engine once crashed here: "Intra op parallelism cannot be modified after
# initialization"). Each case is a fresh process, as a user's command is.
THREAD_CASES = [("experiment", jobs, threads) for jobs in (None, "1", "2") for threads in (None, "1", "2")] + [
    ("run", None, threads) for threads in (None, "1", "2")]
FAST_THREAD_CASES = {("experiment", "1", "1"), ("run", None, "2")}


@pytest.mark.parametrize("command, jobs, threads", [
    case if case in FAST_THREAD_CASES else pytest.param(*case, marks=pytest.mark.slow) for case in THREAD_CASES])
def test_every_jobs_and_threads_combination_works(command, jobs, threads, tmp_path):
    from bn_study.train.threads import available_cores

    target = SMALL_EXPERIMENT if command == "experiment" else SMALL_BN
    out = tmp_path / ("out" if command == "experiment" else "out/bn/seed-0")
    options = [*(["--jobs", jobs] if jobs else []), *(["--threads-per-run", threads] if threads else [])]
    seeds = ["--seeds", "0"] if command == "experiment" else []
    done = subprocess.run([sys.executable, "-m", "bn_study", command, str(target), *seeds, *SETS, *options,
                           "--out", str(out)], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    expected = int(threads) if threads else max(1, available_cores() // int(jobs)) if jobs and int(jobs) > 1 else None
    for run_json in (tmp_path / "out").glob("*/seed-0/run.json"):
        run = json.loads(run_json.read_text())
        assert run["status"] == "complete"
        if expected is not None:
            assert run["threads"] == {"intra_op": expected, "inter_op": expected}
