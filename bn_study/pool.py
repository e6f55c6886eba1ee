"""--jobs N: up to N runs at once on this machine, each in its own spawned process.

TensorFlow is not fork-safe and fixes its thread pools at its first op, so every run gets a fresh
`spawn`ed process (one run per process) with its thread count set before TensorFlow starts. A
worker writes its run directory exactly as a sequential run does (train_run, under the run's lock)
and its Keras log to <run>/train.log; the parent only starts processes, watches them and reads
their run.json. Workers die with the parent (PR_SET_PDEATHSIG): an orphan would keep training and
hold its run's lock, and the rerun that follows a `kill -9` must be able to take every run over.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from bn_study import results
from bn_study.data import Mnist
from bn_study.jobs import Engine, Job, progress_bar

LOG_FILE = "train.log"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM handler still stops workers
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(130)


def _worker(job: Job, mnist: Mnist, threads: int | None, jobs: int, parent_pid: int) -> None:
    """A spawned process: train one job, its console output into <run>/train.log."""
    _die_with_parent(parent_pid)
    job.run_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(job.run_dir / LOG_FILE, "a", buffering=1)
    for fd in (1, 2):  # TensorFlow's C++ logs too, not only Python's
        os.dup2(log_file.fileno(), fd)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    from bn_study.threads import configure_threads
    from bn_study.training import train_run

    configure_threads(threads)
    print(f"[run {job.index}/{job.total}] {job.label} -> {job.run_dir} (process {os.getpid()})")
    try:
        train_run(job.config, job.run_dir, mnist, variant=job.variant, verbose=2, log=print,
                  extra_record={"engine": "local", "jobs": jobs})
    except KeyboardInterrupt:
        print("interrupted; the same command resumes from the last complete epoch")
        sys.exit(130)


def _final_status(process, job: Job) -> str:
    """The status the worker recorded; a worker that died before recording one is marked failed."""
    status = results.run_status(job.run_dir)
    if status == "running" and process.exitcode != 0:
        run_file = job.run_dir / results.RUN_FILE
        record = results.read_json(run_file)
        record.update(status="failed", error=f"worker process exited with code {process.exitcode} while training")
        results.write_json(run_file, record)
        return "failed"
    return status or "failed"  # no run.json: it failed before training began (see train.log)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_in_processes(jobs: list[Job], data: dict, engine: Engine, key, log=print) -> Counter:
    """Train `jobs` with at most engine.jobs processes at once; returns a count per final status.

    `data` maps key(config) to its verified Mnist arrays, passed to each worker (no worker reads a
    data cache). Ctrl-C or SIGTERM stops every worker (each records 'interrupted') and re-raises.
    """
    context = multiprocessing.get_context("spawn")
    threads, queue, running, counts = engine.threads_per_run(), list(jobs), {}, Counter()
    bar = progress_bar(jobs)
    say = bar.write if not bar.disable else log
    old_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while queue or running:
            while queue and len(running) < engine.jobs:
                job = queue.pop(0)
                process = context.Process(target=_worker, name=f"bn_study {job.label}", daemon=False,
                                          args=(job, data[key(job.config)], threads, engine.jobs, os.getpid()))
                process.start()
                running[process.sentinel] = (process, job, time.perf_counter())
                say(f"[run {job.index}/{job.total}] {job.label} -> {job.run_dir} (process {process.pid}, "
                    f"log {Path(job.run_dir) / LOG_FILE})")
            for sentinel in multiprocessing.connection.wait(list(running), timeout=1.0):
                process, job, started = running.pop(sentinel)
                process.join()
                status = _final_status(process, job)
                counts[status] += 1
                minutes = (time.perf_counter() - started) / 60
                say(f"[run {job.index}/{job.total}] {job.label}: {status} after {minutes:.1f} min")
            bar.n = sum(j.epochs_done() for j in jobs)
            bar.set_postfix_str(_postfix(counts, [job for _, job, _ in running.values()]))
    except KeyboardInterrupt:
        for process, _, _ in running.values():
            process.terminate()  # SIGTERM: train_run records 'interrupted' and exits
        for process, _, _ in running.values():
            process.join(30)
            if process.is_alive():  # stuck on its way out: its status is already written
                process.kill()
        raise
    finally:
        signal.signal(signal.SIGTERM, old_sigterm)
        bar.close()
    return counts


def _postfix(counts: Counter, running: list[Job]) -> str:
    now = ", ".join(f"{j.variant} s{j.seed} e{j.epochs_done() + 1}/{j.config.train.epochs}" for j in running)
    failed = counts["failed"] + counts["interrupted"]
    return f"done {counts['complete'] + counts['diverged']}, running {len(running)} [{now}], failed {failed}"
