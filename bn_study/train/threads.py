"""TensorFlow's thread pools, and what a run records about the process that trained it.

The intra-op thread count is part of what makes a run reproducible: reductions are split across
threads, so seed 0 of the article's BN model ends in other last digits with one thread than with two
(issue 12). The pools are fixed when TensorFlow first runs an op, so
`configure_threads` must be called at the start of the process that will train.
"""
from __future__ import annotations

import os
import resource
import socket


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads(jobs: int) -> int:
    """Intra-op threads per run when `jobs` runs share this machine: cores // jobs, at least 1."""
    return max(1, available_cores() // jobs)


def configure_threads(threads: int | None) -> None:
    """Start TensorFlow (quietly) with its intra- and inter-op pools at `threads` each (None: its default).

    Raises RuntimeError if TensorFlow has already run an op in this process.
    """
    from bn_study.train.quiet_tensorflow import import_tensorflow

    tf = import_tensorflow()
    if threads is None:
        return

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def thread_counts() -> dict[str, int]:
    """The pools' sizes as TensorFlow resolves them: the setting, else TF_NUM_*_THREADS, else the cores."""
    import tensorflow as tf

    counts = {}
    for name, setting, variable in (
            ("intra_op", tf.config.threading.get_intra_op_parallelism_threads(), "TF_NUM_INTRAOP_THREADS"),
            ("inter_op", tf.config.threading.get_inter_op_parallelism_threads(), "TF_NUM_INTEROP_THREADS")):
        counts[name] = setting or int(os.environ.get(variable) or 0) or available_cores()
    return counts


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports ru_maxrss in KB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def host_name() -> str:
    return socket.gethostname()
