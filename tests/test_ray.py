"""--engine ray on one small simulated two-node cluster (one CPU per node), shared by every Ray test:
the runs land on both nodes and equal the same runs under --jobs 2, a run that raises is recorded as
failed, and a worker killed mid-run is retried to the same result."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from bn_study.run import ray_engine  # noqa: E402
from bn_study.run.experiment import load_experiment, run_experiment  # noqa: E402
from bn_study.run.jobs import make_engine  # noqa: E402
from tests.conftest import PARALLEL_SETS, SMALL_BN, SMALL_EXPERIMENT, SMALL_NO_BN, assert_same_runs  # noqa: E402

# A busy machine (another training job on the same 2 cores) delays heartbeats: with Ray's default
# (a node is dead after 5 missed checks of 3 s) raylets were declared dead mid-test. 30 misses = 90 s.
PATIENT = {"health_check_period_ms": 3000, "health_check_failure_threshold": 30}


@pytest.fixture(scope="module")
def two_nodes():
    if ray.is_initialized():  # never a cluster left over from an earlier test
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "_system_config": PATIENT})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes(timeout=180)  # generous: start-up under load took over 30 s
    ray.init(address=cluster.address, **ray_engine.init_options())
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "mixed.yaml"
    spec.write_text(f"""\
name: mixed
variants:
  - {{name: no_bn, config: {SMALL_NO_BN}}}
  - {{name: bn, config: {SMALL_BN}}}
  # builds, then fails in fit: integer labels against categorical cross-entropy's one-hot shape
  - {{name: bad, config: {SMALL_NO_BN}, set: [train.loss=categorical_crossentropy]}}
""")
    return spec


def test_runs_land_on_both_nodes_as_under_jobs2_and_a_failing_run_is_recorded(two_nodes, jobs2_results, tmp_path):
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    experiment = load_experiment(_spec(tmp_path), PARALLEL_SETS, (0,))
    counts = run_experiment(experiment, tmp_path / "out", log=lambda m: None, engine=make_engine("ray"))
    assert counts == {"complete": 2, "failed": 1}
    assert_same_runs(tmp_path / "out", jobs2_results)
    # One CPU a node and one a run: runs that train at once are on different nodes.
    nodes = {json.loads((tmp_path / "out" / v / "seed-0/run.json").read_text())["ray_node_id"] for v in ("no_bn", "bn", "bad")}
    assert len(nodes) == 2
    for variant in ("no_bn", "bn"):
        run_dir = tmp_path / "out" / variant / "seed-0"
        run = json.loads((run_dir / "run.json").read_text())
        assert run["engine"] == "ray" and len(run["ray_node_id"]) == 56 and run["host"]
        assert run["threads"] == {"intra_op": 1, "inter_op": 1}
        assert "Epoch 2/2" in (run_dir / "train.log").read_text()  # the worker's log came back
        assert not (run_dir / "backup").exists()
    bad = json.loads((tmp_path / "out/bad/seed-0/run.json").read_text())
    assert bad["status"] == "failed" and bad["error"].startswith("ValueError") and bad["attempts"] == 1


def _task_pid(title: str) -> int | None:
    """The pid of the Ray worker whose process title starts with `title` (Ray names it after the task)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(title.encode()):
                return int(proc.name)
        except OSError:
            continue
    return None


def test_worker_killed_mid_run_is_retried_to_the_same_result(two_nodes, jobs2_results, tmp_path):
    experiment = load_experiment(SMALL_EXPERIMENT, PARALLEL_SETS, (0,))
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(counts=run_experiment(
        experiment, tmp_path, log=lambda m: None, engine=make_engine("ray"))))
    runner.start()
    deadline, pid = time.time() + 120, None
    while pid is None and time.time() < deadline:
        pid = _task_pid("ray::bn_study bn seed 0")
        time.sleep(0.05)
    assert pid is not None, "the task never started"
    os.kill(pid, signal.SIGKILL)
    runner.join(300)
    assert outcome["counts"] == {"complete": 2}
    assert_same_runs(tmp_path, jobs2_results)
    assert json.loads((tmp_path / "bn/seed-0/run.json").read_text())["pid"] != pid  # trained by the retry
