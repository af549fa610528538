"""A *job*: one trial's missing repeats, trained together as one batched model, and how its results are stored.

Every executor (a local worker process, a Ray task) trains with ``train_repeats``, which builds the records and
checkpoint bytes in memory and writes nothing; ``write_trained`` stores them (checkpoint first, then the record,
each atomically), so a record on disk always has its weights.  Both sweep and the executors import this module.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jsc_hw import native
from jsc_hw.config import TrialConfig, to_dict
from jsc_hw.errors import TrainingError
from jsc_hw.files import atomic_write
from jsc_hw.runfolder import SCHEMA, Record, checkpoint_relpath, software_versions, write_record


@dataclass(frozen=True)
class Job:
    trial: TrialConfig
    repeats: tuple[int, ...]  #: repeat indices to train; repeat k trains with seed trial.train.seed + k

    @property
    def seeds(self) -> list[int]:
        return [self.trial.train.seed + k for k in self.repeats]

    @property
    def epochs(self) -> int:
        return self.trial.train.epochs * len(self.repeats)


@dataclass(frozen=True)
class Trained:
    """One finished trial-repeat as a worker hands it back: its record and its checkpoint file's bytes."""

    record: Record
    checkpoint: bytes  #: the ``.pt`` file (jsc_hw.train.save_checkpoint format)


def train_repeats(job: Job, progress: Callable[[int], None] | None = None) -> list[Trained]:
    """Train one job and build its records and checkpoints in memory; writes nothing to the run folder."""
    import tempfile

    import torch

    from jsc_hw import kernels
    from jsc_hw.data import load_splits
    from jsc_hw.distill import soft_targets
    from jsc_hw.hardware import cost
    from jsc_hw.train import fit, save_checkpoint

    native.keep_freed_memory()  # activations are reused, not mapped and page-faulted anew every step
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per worker: parallelism comes from the worker processes
    try:
        splits = load_splits(job.trial.data)
        d = job.trial.distill
        soft = None if d.teacher is None else soft_targets(d, job.trial.data, splits.train)
        net, results = fit(job.trial, splits, job.seeds, progress=progress, soft=soft)
    finally:
        torch.set_num_threads(threads)  # an in-process caller (the search) keeps its own setting
    # which path trained it: the native kernels and the torch path differ in gradient rounding (jsc_hw.kernels)
    kernel_path = "native" if kernels.library() is not None else "torch"
    hw = to_dict(cost.estimate(job.trial))
    out = []
    with tempfile.TemporaryDirectory(prefix="jsc-hw-ckpt-") as tmp:
        for r, (k, res) in enumerate(zip(job.repeats, results)):
            epoch_mean = res.train_acc_epoch_mean
            metrics = {"val_acc_last_epoch": res.val_acc[-1], "train_acc_last_step": res.train_acc_last_step,
                       "train_acc_epoch_mean": epoch_mean}
            blob = save_checkpoint(Path(tmp) / f"r{k}.pt", job.trial, net, r, splits.scaler, metrics).read_bytes()
            rec = Record(trial=job.trial.name, repeat=k, seed=res.seed, config=job.trial, val_acc=tuple(res.val_acc),
                         val_loss=tuple(res.val_loss), val_acc_last_epoch=res.val_acc[-1],
                         train_acc_last_step=res.train_acc_last_step, seconds=res.seconds, cost=hw,
                         checkpoint=checkpoint_relpath(job.trial.name, k),
                         train_acc_epoch_mean=epoch_mean,
                         schema=SCHEMA, versions={**software_versions(), "training kernels": kernel_path})
            out.append(Trained(rec, blob))
    return out


def write_trained(run_dir: Path, trained: list[Trained]) -> list[Record]:
    """Write checkpoints, then records, each atomically: a record on disk always has its weights."""
    for t in trained:
        atomic_write(Path(run_dir) / t.record.checkpoint, t.checkpoint)
        write_record(run_dir, t.record)
    return [t.record for t in trained]


def failed_trials(failures: list[tuple[Job, str]]) -> TrainingError:
    """The one-line error an executor raises at the end when jobs failed (their trials have no records)."""
    return TrainingError(f"{len(failures)} trial(s) failed and have no records: " + "; ".join(
        f"{job.trial.name}: {why}" for job, why in failures))


def train_job(job: Job, run_dir: Path, progress: Callable[[int], None] | None = None) -> list[Record]:
    """Train one job and write its records (inside a local worker process)."""
    return write_trained(run_dir, train_repeats(job, progress))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread (as Ctrl-C does) while the block runs, so an executor
    stops its workers the same way for both; the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
