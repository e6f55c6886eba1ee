"""`bn-study run`: one config, one seed, in this process, into its own run folder."""
from __future__ import annotations

import hashlib
from pathlib import Path

from bn_study.config.schema import load_config
from bn_study.results import METRICS_FILE, read_json, read_run, run_dir
from bn_study.train.threads import configure_threads

RUNS_DIR = Path("results") / "runs"


def run_folder(config_path: Path, overrides: list[str], seed: int, root: Path = RUNS_DIR) -> Path:
    """results/runs/<config>/seed-<k>; with --set overrides results/runs/<config>+<overrides>/seed-<k>
    (or +<fingerprint of the overrides> when they do not make a short, plain folder name)."""
    name = Path(config_path).stem
    if overrides:
        text = ",".join(overrides)
        plain = len(text) <= 80 and all(c.isalnum() or c in "._=,-" for c in text)
        name += "+" + (text if plain else hashlib.sha256(text.encode()).hexdigest()[:12])
    return run_dir(root, name, seed)


def run_one(config_path: Path, overrides: list[str], seed: int | None, out: Path | None,
            threads_per_run: int | None, verbose) -> str:
    """Load and check the config (before TensorFlow starts), set the threads, train; one line saying
    where the run is, its status and its test accuracy."""
    config = load_config(config_path, overrides, seed=seed)
    configure_threads(threads_per_run)  # starts TensorFlow: before its first op
    from bn_study.data.datasets import load_dataset
    from bn_study.model.build import check_buildable
    from bn_study.train.training import train_run

    check_buildable(config)
    out = out or run_folder(config_path, overrides, config.seed)
    images = load_dataset(config.data.path, config.data.dataset)
    status = train_run(config, out, images, variant=Path(config_path).stem, verbose=verbose)
    metrics = out / METRICS_FILE
    if not metrics.is_file():
        return f"{out}: {status}"
    from bn_study.report.run_figure import draw_run_figure

    figure, page = draw_run_figure(read_run(out))
    return f"{out}: {status}, test accuracy {read_json(metrics)['test_accuracy']:.4f}; figure {figure}; explore {page}"
