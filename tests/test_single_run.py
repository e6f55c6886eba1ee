"""`bn-study run` (run/single.py): where a run goes."""
from pathlib import Path

from bn_study.run.single import run_folder


def test_run_folder_names_the_overrides():
    assert run_folder(Path("configs/article_bn.yaml"), [], 3) == Path("results/runs/article_bn/seed-3")
    assert run_folder(Path("configs/article_bn.yaml"), ["model.layers.1.momentum=0.9"], 0) == Path(
        "results/runs/article_bn+model.layers.1.momentum=0.9/seed-0")
    odd = run_folder(Path("a.yaml"), ["data.path=/x/y.npz"], 0)  # a path: a hash, never a nested folder
    assert odd.parent.name.startswith("a+") and "/" not in odd.parent.name and len(odd.parent.name) == 14
