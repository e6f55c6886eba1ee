"""--engine ray on a simulated two-node cluster (one CPU per node): the runs land on both nodes,
and each equals the same run under --jobs 2."""
import json

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from bn_study.run import ray_engine  # noqa: E402
from bn_study.run.experiment import load_experiment, run_experiment  # noqa: E402
from bn_study.run.jobs import make_engine  # noqa: E402
from tests.conftest import PARALLEL_SETS, SMALL_EXPERIMENT, assert_same_runs  # noqa: E402


@pytest.fixture(scope="module")
def two_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, **ray_engine.init_options())
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_runs_land_on_both_nodes(two_nodes, jobs2_results, tmp_path):
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    experiment = load_experiment(SMALL_EXPERIMENT, PARALLEL_SETS, (0,))
    assert run_experiment(experiment, tmp_path, log=lambda m: None, engine=make_engine("ray")) == {"complete": 2}
    nodes = {json.loads((tmp_path / v / "seed-0/run.json").read_text())["ray_node_id"] for v in ("no_bn", "bn")}
    assert len(nodes) == 2
    assert_same_runs(tmp_path, jobs2_results)
