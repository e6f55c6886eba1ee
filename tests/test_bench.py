"""`bench` works end to end in its shrunk form (files and columns only; never a speed)."""
import pandas as pd

from bn_study.cli import main
from tests.conftest import ON_FIXTURE


def test_bench_writes_csv_and_readme(tmp_path, capsys):
    sets = [a for s in ON_FIXTURE for a in ("--set", s)]
    assert main(["bench", "--epochs", "2", "--pairs", "1", "--variants", "no_bn",
                 "--arms", "reference,reference_tf_data_uint8,bn_study:TF_NUM_INTEROP_THREADS=1",
                 *sets, "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "bench.csv")
    assert list(table["arm"]) == ["reference", "reference_tf_data_uint8", "bn_study:TF_NUM_INTEROP_THREADS=1"]
    assert {"pair", "model", "median_epoch_s", "median_epoch_cpu_s", "cpu_ms_per_sample", "samples_per_s",
            "process_wall_s", "process_cpu_s", "peak_rss_mb", "final_accuracy", "final_val_accuracy", "intra_op_threads", "ratio_to_reference",
            "cpu_ratio_to_reference", "accuracy_diff_to_reference", "val_accuracy_diff_to_reference"} <= set(table.columns)
    # Each arm's ratios divide by the reference process of the same pair, rounded to 3 places.
    for arm in (1, 2):
        for ratio, column in (("ratio_to_reference", "median_epoch_s"), ("cpu_ratio_to_reference", "median_epoch_cpu_s")):
            assert table.loc[arm, ratio] == round(table.loc[arm, column] / table.loc[0, column], 3)
        assert table.loc[arm, "val_accuracy_diff_to_reference"] == round(
            table.loc[arm, "final_val_accuracy"] - table.loc[0, "final_val_accuracy"], 5)
    assert (table["peak_rss_mb"] > 0).all() and (table["median_epoch_cpu_s"] > 0).all()
    # The whole process (imports, data, every epoch) costs more than one timed epoch.
    assert (table["process_wall_s"] > table["median_epoch_s"]).all()
    assert (table["process_cpu_s"] > table["median_epoch_cpu_s"]).all()
    readme = (tmp_path / "README.md").read_text()
    assert "alternate" in readme and "Device:" in readme
    # the command as it was typed, so that it runs as written (the arms' own options included)
    assert "bench --epochs 2 --pairs 1 --variants no_bn --arms reference,reference_tf_data_uint8,bn_study:" in readme


def test_bench_rejects_unknown_arm(capsys):
    assert main(["bench", "--arms", "reference,fast"]) == 2
    assert "--arms: unknown 'fast'" in capsys.readouterr().err
    assert main(["bench", "--arms", "reference:train.epochs=2"]) == 2
    assert "reference arms take only environment variables" in capsys.readouterr().err
    assert main(["bench", "--variants", "no_bn,bn", "--arms", "bn_study,bn_study_fused"]) == 2
    assert "--arms bn_study_fused: has no 'no_bn' model; use it with --variants bn" in capsys.readouterr().err


def test_bn_layer_arms_train_their_own_configs():
    from pathlib import Path

    from bn_study.bench.side_by_side import _command

    for arm, config in (("bn_study", "article_bn.yaml"), ("bn_study_fused", "article_bn_fused.yaml"),
                        ("bn_study_manual", "article_bn_manual.yaml")):
        assert Path(_command(arm, "bn", 3, [], Path("out"))[4]).name == config


def test_arm_settings_split_into_environment_and_overrides():
    from bn_study.bench.side_by_side import parse_arm

    assert parse_arm("bn_study:TF_NUM_INTRAOP_THREADS=1;train.shuffle=true") == (
        "bn_study", {"TF_NUM_INTRAOP_THREADS": "1"}, ["train.shuffle=true"])
    assert parse_arm("reference_tf_data") == ("reference_tf_data", {}, [])


def test_uint8_pipeline_yields_the_same_float32_images():
    import numpy as np

    from bn_study.bench.reference_script import _tf_data

    x = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)  # every byte value
    y = np.arange(4)
    (as_uint8, labels), = _tf_data(x, y, batch_size=4, shuffle=False)
    (as_float, _), = _tf_data(x.astype("float32") / 255, y, batch_size=4, shuffle=False)
    assert as_uint8.dtype == as_float.dtype == "float32"
    assert np.array_equal(as_uint8.numpy(), as_float.numpy()) and np.array_equal(labels.numpy(), y)


def test_parallel_bench_divides_by_the_sequential_arm_of_each_round(tmp_path, monkeypatch):
    from bn_study.bench import parallel as bench_parallel

    walls = iter([100.0, 80.0, 90.0, 120.0, 96.0, 120.0])  # round 1, then round 2, in arm order
    monkeypatch.setattr(bench_parallel, "measure", lambda arm, *a: {
        "arm": arm, "runs": 4, "wall_s": next(walls), "tree_cpu_s": 150.0, "runs_cpu_s": 140.0,
        "runs_wall_s": 130.0, "threads_per_run": 2 if arm == "sequential" else 1})
    table = bench_parallel.run_parallel_bench(2, 3, "0,1", ON_FIXTURE, tmp_path, "bn-study bench --parallel --pairs 2 "
                                              "--epochs 3 --seeds 0,1", log=lambda m: None)
    assert list(table["arm"]) == ["sequential", "jobs_2", "ray"] * 2
    assert list(table["ratio_to_sequential"]) == [1.0, 0.8, 0.9, 1.0, 0.8, 1.0]
    assert pd.read_csv(tmp_path / "bench.csv").equals(table)
    readme = (tmp_path / "README.md").read_text()
    assert "bench --parallel --pairs 2 --epochs 3 --seeds 0,1" in readme and "median_ratio" in readme


def test_parallel_bench_command_shapes():
    from pathlib import Path

    from bn_study.bench.parallel import _command

    commands = {arm: _command(arm, 3, "0,1", ["data.train_limit=15000"], Path("out")) for arm in ("sequential", "jobs_2", "ray")}
    assert commands["jobs_2"][-2:] == ["--jobs", "2"] and commands["ray"][-2:] == ["--engine", "ray"]
    assert "train.epochs=3" in commands["sequential"] and "--jobs" not in commands["sequential"]


def test_kernel_alternatives_compute_what_the_library_kernels_compute(tmp_path):
    """`bench --kernels`: every alternative is timed beside the library's kernel and compared with it;
    on a batch of 4 they agree to float32 rounding (forward and the gradients training needs)."""
    from bn_study.bench.kernels import write_kernel_bench

    table = write_kernel_bench(tmp_path, "bench --kernels", batch=4, rounds=1)
    assert len(table) == 7 and set(table.groupby("op")["ratio"].first()) == {1.0}  # library first, ratio 1
    assert (table["median_ms"] > 0).all()
    assert (table["max_abs_output_diff"] < 1e-3).all() and (table["max_rel_gradient_diff"] < 1e-4).all()
    assert "Other kernels" in (tmp_path / "README.md").read_text() and (tmp_path / "kernels.csv").is_file()
