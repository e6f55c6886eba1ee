"""--jobs N: up to N runs at once on this machine, in N spawned worker processes.

TensorFlow is not fork-safe and fixes its thread pools at its first op, so each worker is a
`spawn`ed process whose thread count is set before TensorFlow starts; it then trains job after job
from a queue (importing TensorFlow once, not once per run). A worker writes each run
directory exactly as a sequential run does (train_run, under the run's lock) and the run's Keras log
to <run>/train.log; the parent only hands out jobs and reads what the workers report. Workers die
with the parent (PR_SET_PDEATHSIG): an orphan would keep training and hold its run's lock, and the
rerun that follows a `kill -9` must be able to take every run over.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from bn_study import results
from bn_study.faults import WriteFault, fault_line, write_fault
from bn_study.run.jobs import Engine, Job, longest_first, progress_bar

LOG_FILE = "train.log"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent_pid: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM handler still stops workers
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(130)


def _log_into(path: Path) -> None:
    """Point this process's stdout and stderr (TensorFlow's C++ logs too) at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log_file:
        for fd in (1, 2):
            os.dup2(log_file.fileno(), fd)


def _worker(tasks, events, data: dict, key, threads: int | None, jobs: int, parent_pid: int) -> None:
    """A spawned process: train jobs from `tasks` until None, reporting each start and end."""
    _die_with_parent(parent_pid)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    from bn_study.train.threads import configure_threads

    configure_threads(threads)  # starts TensorFlow quietly, before anything else imports it
    from bn_study.train.training import train_run

    for job in iter(tasks.get, None):
        events.put(("start", job.index, os.getpid()))
        _log_into(job.run_dir / LOG_FILE)
        print(f"[run {job.index}/{job.total}] {job.label} -> {job.run_dir} (process {os.getpid()})")
        try:
            status = train_run(job.config, job.run_dir, data[key(job.config)], variant=job.variant, verbose=2,
                               log=print, extra_record={"engine": "local", "jobs": jobs})
        except KeyboardInterrupt:  # SIGTERM from the parent (Ctrl-C, kill) or from its death
            print("interrupted; the same command resumes from the last complete epoch")
            sys.exit(130)
        except Exception as e:  # train_run recorded 'failed' in run.json; the other jobs go on
            traceback.print_exc()
            fault = write_fault(e)
            if fault:  # a full disk fails every run after it too: the parent ends the experiment
                events.put(("fault", job.index, fault_line(fault)))
                continue
            status = "failed"
        events.put(("done", job.index, status))


def _failed_status(job: Job, exitcode) -> str:
    """A worker died while training `job` without recording an end: mark the run failed."""
    run_file = job.run_dir / results.RUN_FILE
    if results.run_status(job.run_dir) == results.RUNNING:
        record = results.read_json(run_file)
        record.update(status="failed", error=f"worker process exited with code {exitcode} while training")
        results.write_json(run_file, record)
    return "failed"


def run_in_processes(jobs: list[Job], data: dict, engine: Engine, key, log=print) -> Counter:
    """Train `jobs` in engine.jobs worker processes; returns a count per final status.

    `data` maps key(config) to its verified ImageSet arrays, sent once to each worker (no worker reads
    a data cache). Ctrl-C or SIGTERM stops every worker (each records 'interrupted') and re-raises.
    """
    context = multiprocessing.get_context("spawn")
    tasks, events = context.Queue(), context.Queue()
    for job in longest_first(jobs):
        tasks.put(job)
    by_index, counts, running = {job.index: job for job in jobs}, Counter(), {}  # running: index -> (pid, start)
    threads, parent = engine.threads_per_run(), os.getpid()

    def start_worker():
        worker = context.Process(target=_worker, name="bn_study worker",
                                 args=(tasks, events, data, key, threads, engine.jobs, parent))
        worker.start()
        return worker

    workers = [start_worker() for _ in range(min(engine.jobs, len(jobs)))]
    for _ in workers:
        tasks.put(None)  # one stop sign per worker, behind the jobs
    bar = progress_bar(jobs)
    say = bar.write if not bar.disable else log
    from bn_study.train.training import raise_interrupt  # TensorFlow is loaded here already (check_buildable)

    old_sigterm = signal.signal(signal.SIGTERM, raise_interrupt)
    total_epochs, first_epochs, began = bar.total, sum(j.epochs_done() for j in jobs), time.perf_counter()
    try:
        while sum(counts.values()) < len(jobs):
            try:
                kind, index, value = events.get(timeout=1.0)
            except queue.Empty:
                _replace_dead_workers(workers, running, by_index, counts, start_worker, tasks, say)
            else:
                job = by_index[index]
                if kind == "fault":  # one line, the other runs stopped (they resume), nothing finished lost
                    running.pop(index, None)
                    counts["failed"] += 1
                    say(f"[run {job.index}/{job.total}] {job.label}: failed: {value}")
                    _stop(tasks, workers)
                    raise WriteFault(value)
                if kind == "start":
                    running[index] = (value, time.perf_counter())
                    say(f"[run {job.index}/{job.total}] {job.label} -> {job.run_dir} (process {value}, "
                        f"log {Path(job.run_dir) / LOG_FILE})")
                else:
                    _, started = running.pop(index)
                    counts[value] += 1
                    say(f"[run {job.index}/{job.total}] {job.label}: {value} after "
                        f"{(time.perf_counter() - started) / 60:.1f} min"
                        + _eta(sum(j.epochs_done() for j in jobs), first_epochs, total_epochs, began))
            bar.n = sum(j.epochs_done() for j in jobs)
            bar.set_postfix_str(_postfix(counts, [by_index[i] for i in running]))
        for worker in workers:
            worker.join(30)
    except KeyboardInterrupt:
        _stop(tasks, workers)
        raise
    finally:
        signal.signal(signal.SIGTERM, old_sigterm)
        bar.close()
    return counts


def _stop(tasks, workers) -> None:
    """Stop every worker: each training one records 'interrupted' (the same command resumes it)."""
    # The runs still queued will never be read; without this the queue's feeder thread waits at
    # exit to flush them into a full pipe, and the parent hangs after "interrupted" (96 queued
    # runs of a grid did; tests/test_parallel.py).
    tasks.cancel_join_thread()
    for worker in workers:
        worker.terminate()  # SIGTERM: a training worker records 'interrupted' and exits
    for worker in workers:
        worker.join(30)
        if worker.is_alive():  # stuck on its way out: its status is already written
            worker.kill()


def _replace_dead_workers(workers, running, by_index, counts, start_worker, tasks, say) -> None:
    """A worker that died (killed, out of memory) fails the run it held; a new worker takes its place."""
    for i, worker in enumerate(workers):
        if worker.is_alive() or worker.exitcode == 0:
            continue
        for index, (pid, _) in list(running.items()):
            if pid == worker.pid:
                running.pop(index)
                job = by_index[index]
                counts[_failed_status(job, worker.exitcode)] += 1
                say(f"[run {job.index}/{job.total}] {job.label}: failed (worker exited with code {worker.exitcode})")
        workers[i] = start_worker()
        tasks.put(None)


def _eta(epochs_now: int, epochs_first: int, epochs_total: int, began: float) -> str:
    """'; 120 of 250 epochs, about 14 min to go' from this command's pace so far (longest runs go
    first, so the estimate errs long early on)."""
    done = epochs_now - epochs_first
    if done <= 0 or epochs_now >= epochs_total:
        return ""
    left = (time.perf_counter() - began) * (epochs_total - epochs_now) / done
    return f"; {epochs_now} of {epochs_total} epochs, about {left / 60:.0f} min to go"


def _postfix(counts: Counter, running: list[Job]) -> str:
    now = ", ".join(f"{j.variant} s{j.seed} e{j.epochs_done() + 1}/{j.config.train.epochs}" for j in running)
    failed = counts["failed"] + counts["interrupted"]
    return f"done {counts['complete'] + counts['diverged']}, running {len(running)} [{now}], failed {failed}"
