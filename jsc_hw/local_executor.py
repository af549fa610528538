"""Sweep jobs in a pool of local worker processes, stopped cleanly by Ctrl-C or SIGTERM, never outliving the driver.

* Each worker trains one job at a time and writes its records itself (``jobs.train_job``: atomic files).
* Ctrl-C (SIGINT, which a terminal sends to the driver and the workers) or SIGTERM to the driver: the workers
  ignore SIGINT; the driver terminates them at once, so queued jobs never start and running ones stop within
  a second or two.  What was finished is on disk as complete records; a killed writer's temporary files are
  removed.  The driver then raises ``KeyboardInterrupt``.
* A driver killed outright (``kill -9``) takes its workers with it: each worker asks the kernel for SIGKILL when
  its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``) and elsewhere watches its parent's pid.
* A job that raises (e.g. training diverged) writes nothing; the other jobs go on, and ``TrainingError`` names
  every failed trial at the end.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsc_hw.errors import ConfigError, one_line
from jsc_hw.files import remove_stale_tmp
from jsc_hw.jobs import Job, failed_trials, sigterm_as_interrupt, train_job
from jsc_hw.progress import Progress

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` ends (SIGKILL from the kernel on Linux, else a watchdog thread)."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="jsc-hw-parent-watchdog").start()


def _worker(job_fn: Callable[..., Any], run_dir: Path, tasks: Any, messages: Any, parent: int) -> None:
    """A worker process: take jobs until told to stop (None), reporting start, epoch ticks and the outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides what Ctrl-C stops
    die_with_parent(parent)
    pid = os.getpid()
    while (task := tasks.get()) is not None:
        i, job = task
        messages.put(("start", i, pid))
        try:
            job_fn(job, run_dir, lambda epoch, i=i, n=len(job.repeats): messages.put(("tick", i, n)))
            messages.put(("done", i, None))
        except Exception as exc:  # the job wrote nothing; tell the driver in one line (any exception pickles)
            messages.put(("failed", i, (one_line(exc), "".join(traceback.format_exception(exc)))))


class _Pool:
    """``workers`` persistent processes sharing one task queue; a worker that dies is noticed and replaced."""

    def __init__(self, workers: int, job_fn: Callable[..., Any], run_dir: Path) -> None:
        self.ctx = mp.get_context("spawn")  # no fork of a driver holding torch threads and open files
        self.tasks, self.messages = self.ctx.Queue(), self.ctx.Queue()
        self.args = (job_fn, run_dir, self.tasks, self.messages, os.getpid())
        self.procs: list[Any] = []
        for _ in range(workers):
            self.start_worker()

    def start_worker(self) -> None:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # inherited: no Ctrl-C before set-up
        try:
            p = self.ctx.Process(target=_worker, args=self.args, daemon=True, name="jsc-hw-worker")
            p.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.procs.append(p)

    def dead(self) -> list[Any]:
        gone = [p for p in self.procs if not p.is_alive()]
        self.procs = [p for p in self.procs if p.is_alive()]
        return gone

    def stop(self, now: bool) -> None:
        """``now``: SIGTERM every worker (running jobs end at once); else let them finish and exit."""
        for p in self.procs:
            if now:
                p.terminate()
            else:
                self.tasks.put(None)
        deadline = time.monotonic() + (5 if now else 60)
        for p in self.procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
        for q in (self.tasks, self.messages):
            q.cancel_join_thread()
            q.close()


def run_local(jobs: list[Job], run_dir: Path, workers: int | None, address: str | None = None,
              job_fn: Callable[..., Any] = train_job) -> None:
    """Jobs in ``workers`` processes (default: one per core) with progress per trial and epoch.

    ``job_fn(job, run_dir, progress)`` trains and stores one job in a worker (a module-level function)."""
    if address is not None:
        raise ConfigError("--address names a Ray cluster: use it with --executor ray")
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    failures: list[tuple[Job, str]] = []
    pool = _Pool(workers, job_fn, run_dir)
    clean = False
    try:
        totals = {"trials": len(jobs), "epochs": sum(j.epochs for j in jobs)}
        units = {"trials": "trial", "epochs": "ep"}
        with sigterm_as_interrupt(), Progress(f"sweep {run_dir.name}", totals, units) as bar:
            for i, job in enumerate(jobs):
                pool.tasks.put((i, job))
            pending, owner = set(range(len(jobs))), {}  # job index -> pid of the worker training it
            while pending:
                try:
                    kind, i, payload = pool.messages.get(timeout=0.5)
                except queue.Empty:
                    for p in pool.dead():  # killed (e.g. out of memory): its job failed, a new worker takes over
                        for i in [i for i, pid in owner.items() if pid == p.pid and i in pending]:
                            failures.append((jobs[i], f"its worker process died (exit code {p.exitcode})"))
                            log.error("trial %s failed: its worker process died (exit code %s)", jobs[i].trial.name,
                                      p.exitcode)
                            pending.discard(i)
                            bar.update("trials")
                        if pending:
                            pool.start_worker()
                    continue
                if kind == "start":
                    owner[i] = payload
                elif kind == "tick":
                    bar.update("epochs", payload)
                else:
                    if kind == "failed":
                        failures.append((jobs[i], payload[0]))
                        log.error("trial %s failed, no record written: %s", jobs[i].trial.name, payload[0])
                        log.debug("%s", payload[1])
                    pending.discard(i)
                    bar.update("trials")
        clean = True
    finally:
        pool.stop(now=not clean)  # interrupted: queued jobs never start, running ones stop now
        for sub in ("records", "weights"):
            remove_stale_tmp(run_dir / sub)
    if failures:
        raise failed_trials(failures)
