"""--engine ray: the experiment's jobs as Ray tasks, on a local Ray or on a cluster (--address).

What travels where: the driver verifies the data once and puts the arrays in Ray's object store;
the bn_study package goes to the workers as a Ray `py_modules` runtime environment; each task gets
its job and the files its run directory already has (so an interrupted run resumes), trains in a
temporary folder and returns that folder's files. Only the driver writes under results/, under
the experiment's and the run's locks, each file atomically and run.json last. Workers need the
same Python packages (the project's venv) but no data cache, no results folder and no shared disk.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import bn_study
from bn_study.train.machine import COMMAND_VARIABLE, NUMERICS_VARIABLES
from bn_study import results
from bn_study.errors import UserError
from bn_study.run.jobs import Engine, Job, longest_first, progress_bar
from bn_study.train.threads import available_cores

TASK_RETRIES = 3  # Ray's default for a task whose worker dies; an exception is never retried
LOG_FILE = "train.log"


def import_ray():
    """Ray, or a one-line UserError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError("--engine ray: Ray is not installed; install it with "
                        "`.venv/bin/pip install ray==2.60.0` (make install does)") from None
    return ray


def check_address(address: str | None) -> None:
    """Fail at once on an address where no cluster answers (ray.init would wait for minutes)."""
    if address in (None, "auto"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--address {address}: expected auto or HOST:PORT, e.g. 10.0.0.5:6379")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as e:
        raise UserError(f"--address {address}: no Ray cluster answers there ({e.strerror or e}); start one "
                        f"with `ray start --head` and pass the address it prints") from None


def _env_vars(threads: int | None = None) -> dict:
    """The workers' environment: quiet TensorFlow; its thread pools, read when it starts."""
    env_vars = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    # What run.json records as deciding the numbers and as the command: the same on every node.
    env_vars.update({name: os.environ[name] for name in (*NUMERICS_VARIABLES, COMMAND_VARIABLE) if name in os.environ})
    if threads is not None:
        env_vars.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    return env_vars


def init_options() -> dict:
    """ray.init's arguments beside the address: bn_study shipped to the workers as a package
    (Ray uploads it once per job), quiet logs."""
    runtime_env = {"py_modules": [os.path.dirname(bn_study.__file__)], "env_vars": _env_vars()}
    return dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, runtime_env=runtime_env)


def connect(address: str | None, log=print) -> bool:
    """Join the cluster at `address`, or start a local one with this machine's cores; returns
    whether this call started Ray (and so must shut it down). A Ray already initialised in this
    process (a test's cluster, a notebook's) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    check_address(address)
    try:
        # "local": a new Ray on this machine, even where a crashed one left its address in
        # /tmp/ray/ray_current_cluster (plain address=None would try to join that dead cluster).
        ray.init(address=address or "local", num_cpus=None if address else available_cores(), **init_options())
    except ConnectionError as e:
        # Ray 2.60's `ray start --head` turns token authentication on; a driver given the address
        # joins without a token unless told to (seen here as InvalidAuthToken, then this error).
        raise UserError(f"--address {address}: {str(e).splitlines()[0]}; if the cluster uses token "
                        f"authentication, set RAY_AUTH_MODE=token and give this machine the head's "
                        f"~/.ray/auth_token (docs/scaling.md)") from None
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    where = f"connected to {address}" if address else "started on this machine"
    log(f"ray: cluster {where} ({ray.get_runtime_context().gcs_address}): {len(nodes)} node"
        f"{'s' if len(nodes) != 1 else ''}, {int(ray.cluster_resources().get('CPU', 0))} CPUs")
    return True


def _train_task(job: Job, images, threads: int | None, files: dict[str, bytes]) -> dict[str, bytes]:
    """One run on a Ray worker, in a temporary folder; returns its files.

    Workers are reused between tasks (TensorFlow imported once); the thread count comes from the
    task's runtime environment (TF_NUM_*_THREADS, read when TensorFlow starts) and is checked here.
    """
    import ray

    from bn_study.train.threads import configure_threads, thread_counts

    try:
        configure_threads(threads)
    except RuntimeError:  # TensorFlow already running in this reused worker
        pass
    if threads is not None and thread_counts() != {"intra_op": threads, "inter_op": threads}:
        raise RuntimeError(f"worker threads {thread_counts()} differ from the {threads} asked for")
    from bn_study.train.training import train_run

    with tempfile.TemporaryDirectory(prefix="bn_study_ray_") as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        results.unpack_run(files, run_dir)
        with open(run_dir / LOG_FILE, "a", buffering=1) as log_file:
            saved = [os.dup(1), os.dup(2)]
            for fd in (1, 2):
                os.dup2(log_file.fileno(), fd)
            try:
                train_run(job.config, run_dir, images, variant=job.variant, verbose=2, log=print,
                          extra_record={"engine": "ray", "ray_node_id": ray.get_runtime_context().get_node_id()})
            except Exception:  # recorded as failed in run.json; returned, not retried
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                for fd, copy in zip((1, 2), saved):
                    os.dup2(copy, fd)
        return results.pack_run(run_dir)


def run_on_ray(jobs: list[Job], data: dict, engine: Engine, key, log=print) -> Counter:
    """Train `jobs` as Ray tasks (num_cpus = threads per run); returns a count per final status."""
    ray = import_ray()
    started_here = connect(engine.address, log)
    threads = engine.threads_per_run()
    counts, pending, queue = Counter(), {}, longest_first(jobs)
    bar = progress_bar(jobs, unit="run")
    say = bar.write if not bar.disable else log
    try:
        data_refs = {k: ray.put(images) for k, images in data.items()}  # once, shared by every task
        # Ray keeps one pool of workers per runtime environment, so the thread count in it keeps
        # every reused worker's TensorFlow at the same thread count.
        task = ray.remote(num_cpus=threads, max_retries=TASK_RETRIES, retry_exceptions=False,
                          runtime_env={"env_vars": _env_vars(threads)})(_train_task)
        limit = engine.jobs or len(jobs)
        while queue or pending:
            while queue and len(pending) < limit:
                job = queue.pop(0)
                files = results.pack_run(job.run_dir) if job.run_dir.is_dir() else {}
                ref = task.options(name=f"bn_study {job.label}").remote(job, data_refs[key(job.config)], threads, files)
                pending[ref] = (job, time.perf_counter())
                say(f"[run {job.index}/{job.total}] {job.label}: submitted to Ray ({threads} CPU)")
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                job, started = pending.pop(ref)
                status = _collect(ray, ref, job)
                counts[status] += 1
                node = results.read_json(job.run_dir / results.RUN_FILE).get("host", "?") if status != "lost" else "?"
                say(f"[run {job.index}/{job.total}] {job.label}: {status} after "
                    f"{(time.perf_counter() - started) / 60:.1f} min on {node}")
            bar.n = sum(counts.values())
            bar.set_postfix_str(f"done {counts['complete'] + counts['diverged']}, running {len(pending)}, "
                                f"failed {counts['failed'] + counts['lost']}")
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
        if started_here:
            ray.shutdown()
    return counts


def _collect(ray, ref, job: Job) -> str:
    """Write a finished task's files under results/; 'lost' when Ray could not finish it."""
    try:
        files = ray.get(ref)
    except ray.exceptions.RayError as e:  # its worker died more than TASK_RETRIES times, or similar
        print(f"bn_study: {job.label}: Ray lost the run ({str(e).strip().splitlines()[-1]}); "
              f"rerun the same command to train it", file=sys.stderr)
        return "lost"
    with results.lock(job.run_dir):
        results.unpack_run(files, job.run_dir)
    return results.run_status(job.run_dir) or "failed"
