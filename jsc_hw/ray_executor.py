"""Sweep jobs as tasks on a Ray cluster; the driver writes each record as its task completes.

A task trains one job with ``jobs.train_repeats`` and returns its records together with the checkpoint
bytes; only the driver touches the run folder (``jobs.write_trained``: weights, then record, each renamed
into place).  Workers therefore need no shared file system, and a driver killed at any moment leaves only
complete records behind: rerunning the same command trains exactly the missing repeats.

Ray is an optional extra (``pip install 'jsc-hw[ray]'``) and is imported only here.  Every node needs the
same jsc-hw installation (and, for ``data.path`` specs, the data at the same path; the embedded default
dataset ships inside the package).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from jsc_hw.errors import ConfigError, one_line
from jsc_hw.jobs import Job, failed_trials, Trained, sigterm_as_interrupt, train_repeats, write_trained
from jsc_hw.progress import Progress

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray executor needs Ray: pip install 'jsc-hw[ray]' (or use --executor local)") from None
    return ray


@dataclass(frozen=True)
class Failed:
    """A task that raised (or whose worker died): the error in one line, and the traceback Ray reported."""

    message: str
    traceback: str


def failure(exc: BaseException) -> Failed:
    """Unwrap Ray's error around a task's own exception (``RayTaskError.cause``) into one line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return Failed(one_line(cause), str(exc))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return Failed(f"{type(exc).__name__}: {first}", str(exc))


def _train(job: Job) -> list[Trained]:
    """The remote task body (runs on a Ray worker)."""
    return train_repeats(job)


def connect(address: str | None, workers: int | None) -> bool:
    """Join the cluster at ``address`` or start a local instance; True if this call started Ray."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address is None:  # a private local instance: one CPU per worker
        ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)
    else:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    log.info("Ray: %s CPUs in the cluster", ray.cluster_resources().get("CPU", 0))
    return True


def imap_unordered(fn: Callable[[T], R], items: list[T], workers: int | None = None,
                   address: str | None = None) -> Iterator[tuple[T, R | Failed]]:
    """``(item, fn(item))`` as each Ray task (one CPU) completes, at most ``workers`` in flight (default: all).

    ``fn`` must be a module-level function of an installed package (workers import it by name).  The caller
    stores each result (on the driver) before asking for the next one; an interrupted loop cancels the rest.
    A task that raises yields a :class:`Failed` (after Ray's retries of a dead worker), and the others go on.
    """
    ray = import_ray()
    started = connect(address, workers)
    task = ray.remote(num_cpus=1, max_retries=2)(fn)
    queue, limit, running = list(items), workers or len(items), {}
    try:
        while queue or running:
            while queue and len(running) < limit:
                item = queue.pop(0)
                running[task.remote(item)] = item
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                item = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the task raised, or its worker died
                    result = failure(exc)
                yield item, result
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def run_ray(jobs: list[Job], run_dir: Path, workers: int | None, address: str | None = None) -> None:
    """The sweep executor: ``jobs`` as Ray tasks; the driver writes each job's records as it completes."""
    results = imap_unordered(_train, jobs, workers, address)
    bar = Progress(f"sweep {run_dir.name} (Ray)", {"trials": len(jobs), "epochs": sum(j.epochs for j in jobs)},
                   {"trials": "trial", "epochs": "ep"})
    failures: list[tuple[Job, str]] = []
    with sigterm_as_interrupt(), closing(results), bar:
        for job, trained in results:
            if isinstance(trained, Failed):
                failures.append((job, trained.message))
                log.error("trial %s failed, no record written: %s", job.trial.name, trained.message)
                log.debug("%s", trained.traceback)
                bar.update("trials")
                continue
            write_trained(run_dir, trained)
            log.debug("%s: %d repeat(s) written", job.trial.name, len(job.repeats))
            bar.update("trials")
            bar.update("epochs", job.epochs)
    if failures:
        raise failed_trials(failures)
