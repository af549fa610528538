"""Run every trial x repeat of a sweep spec in worker processes; resumable, nothing lost, nothing repeated.

A *job* is one trial's missing repeats, trained together as one batched model.  Each finished repeat is
written as ``records/<trial>__r<k>.json`` (atomically: write a temporary file, then rename), with its weights
in ``weights/``; a killed sweep resumes by training only the repeats that have no record.  Executors are an
explicit table, ``EXECUTORS``: a function taking the pending jobs and running them.  Every executor trains
with ``train_repeats`` (records and checkpoint bytes, in memory) and stores with ``write_trained``: in a local
worker process, or on the Ray driver as each remote task completes (jsc_hw.ray_executor).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from jsc_hw.config import SweepSpec, TrialConfig, dump_yaml, to_dict

log = logging.getLogger(__name__)


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


def record_path(run_dir: Path, trial: str, repeat: int) -> Path:
    return run_dir / "records" / f"{trial}__r{repeat}.json"


def _write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def pending_jobs(spec: SweepSpec, run_dir: Path) -> list[Job]:
    """Trials with at least one repeat that has no record, most expensive first (keeps workers busy)."""
    jobs = []
    for trial in spec.trials:
        missing = tuple(k for k in range(spec.repeats) if not record_path(run_dir, trial.name, k).exists())
        if missing:
            jobs.append(Job(trial, missing))
    cost = {j: j.epochs * (1 + 4096 / j.trial.train.batch_size) for j in jobs}  # epochs x steps, roughly
    return sorted(jobs, key=cost.__getitem__, reverse=True)


@dataclass(frozen=True)
class Trained:
    """One finished trial-repeat as a worker hands it back: its record and its checkpoint file's bytes."""

    record: dict  #: the record JSON (the run-folder contract); ``record["checkpoint"]`` is the relative path
    checkpoint: bytes  #: the ``.pt`` file (jsc_hw.train.save_checkpoint format)


def train_repeats(job: Job, progress: Callable[[int], None] | None = None) -> list[Trained]:
    """Train one job and build its records and checkpoints in memory; writes nothing to the run folder."""
    import tempfile

    import torch

    from jsc_hw import cost
    from jsc_hw.data import load_splits
    from jsc_hw.train import fit, save_checkpoint

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core per worker: parallelism comes from the worker processes
    try:
        splits = load_splits(job.trial.data)
        net, results = fit(job.trial, splits, job.seeds, progress=progress)
    finally:
        torch.set_num_threads(threads)  # an in-process caller (the search) keeps its own setting
    hw = to_dict(cost.estimate(job.trial))
    out = []
    with tempfile.TemporaryDirectory(prefix="jsc-hw-ckpt-") as tmp:
        for r, (k, res) in enumerate(zip(job.repeats, results)):
            metrics = {"val_acc_last_epoch": res.val_acc[-1], "train_acc_last_step": res.train_acc_last_step}
            blob = save_checkpoint(Path(tmp) / f"r{k}.pt", job.trial, net, r, splits.scaler, metrics).read_bytes()
            rec = {"trial": job.trial.name, "repeat": k, "seed": res.seed, "config": to_dict(job.trial),
                   "val_acc": list(res.val_acc), "val_loss": list(res.val_loss), **metrics,
                   "seconds": res.seconds, "cost": hw, "checkpoint": f"weights/{job.trial.name}__r{k}.pt"}
            out.append(Trained(rec, blob))
    return out


def write_trained(run_dir: Path, trained: list[Trained]) -> list[dict]:
    """Write checkpoints, then records, each atomically: a record on disk always has its weights."""
    for t in trained:
        ckpt = run_dir / t.record["checkpoint"]
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_name(f".{ckpt.name}.{os.getpid()}.tmp")
        tmp.write_bytes(t.checkpoint)
        tmp.replace(ckpt)
        _write_json_atomic(record_path(run_dir, t.record["trial"], t.record["repeat"]), t.record)
    return [t.record for t in trained]


def train_job(job: Job, run_dir: Path, ticks=None) -> list[dict]:
    """Train one job and write its records; runs inside a local worker process."""
    progress = (lambda e: ticks.put(len(job.repeats))) if ticks else None
    return write_trained(run_dir, train_repeats(job, progress))


def run_local(jobs: list[Job], run_dir: Path, workers: int | None, address: str | None = None) -> None:
    """Jobs in a pool of ``workers`` processes (default: one per core), with progress bars for trials and epochs."""
    if address is not None:
        raise ValueError("--address names a Ray cluster: use it with --executor ray")
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        ticks = manager.Queue()
        futures = {pool.submit(train_job, job, run_dir, ticks): job for job in jobs}
        trials_bar = tqdm(total=len(jobs), desc="trials", unit="trial", position=0)
        epochs_bar = tqdm(total=sum(j.epochs for j in jobs), desc="epochs", unit="ep", position=1)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            while not ticks.empty():
                epochs_bar.update(ticks.get())
            for fut in done:
                fut.result()  # re-raise a worker's error with its traceback
                trials_bar.update(1)
        trials_bar.close(), epochs_bar.close()


def run_ray(jobs: list[Job], run_dir: Path, workers: int | None, address: str | None = None) -> None:
    """Jobs as Ray tasks (optional extra ``jsc-hw[ray]``); see jsc_hw.ray_executor."""
    from jsc_hw.ray_executor import run_ray as run

    run(jobs, run_dir, workers, address)


#: (pending jobs, run folder, workers or None = the executor's default, cluster address or None) -> None
Executor = Callable[[list[Job], Path, int | None, str | None], None]
EXECUTORS: dict[str, Executor] = {"local": run_local, "ray": run_ray}


def resolved_yaml(spec: SweepSpec) -> str:
    """``spec.resolved.yaml``: every trial's full config."""
    return dump_yaml({"name": spec.name, "repeats": spec.repeats, "varied": list(spec.varied),
                      "trials": [to_dict(t) for t in spec.trials]})


def prepare_run(spec: SweepSpec, run_dir: Path) -> None:
    """Create the run folder and save the resolved spec; refuse to mix two different specs in one folder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = resolved_yaml(spec)
    path = run_dir / "spec.resolved.yaml"
    if path.exists() and path.read_text() != resolved:
        raise ValueError(f"{run_dir} holds results of a different spec ({path}); choose another --out folder")
    path.write_text(resolved)


def synthesise_records(run_dir: Path, every_repeat: bool = False, keep_existing: bool = True,
                       **flow: Any) -> list[Path]:
    """The open-source hardware flow (``jsc_hw.synth.synth_checkpoint``: Verilog, Verilator check, Yosys) for the
    first repeat of every trial (or every repeat), into ``<run>/synth/<trial>__r<k>/synth.json``.

    ``keep_existing``: a record already synthesised is not redone; ``flow``: keyword options of synth_checkpoint."""
    from jsc_hw.synth import synth_checkpoint

    chosen: dict[str, dict] = {}
    for rec in load_records(run_dir):
        key = f"{rec['trial']}__r{rec['repeat']}" if every_repeat else rec["trial"]
        if key not in chosen or rec["repeat"] < chosen[key]["repeat"]:
            chosen[key] = rec
    paths = []
    for rec in tqdm(list(chosen.values()), desc="synth", unit="model"):
        out = run_dir / "synth" / f"{rec['trial']}__r{rec['repeat']}"
        paths.append(out / "synth.json")
        if not (keep_existing and paths[-1].exists()):
            synth_checkpoint(run_dir / rec["checkpoint"], out, **flow)
    return paths


def run_sweep(spec: SweepSpec, out_dir: str | Path, workers: int | None = None, executor: str = "local",
              address: str | None = None, synth: bool = False) -> Path:
    """Train what is missing, then write the results table and plots.  Returns the run folder.

    ``address``: a running Ray cluster for ``executor="ray"`` (None: start a local Ray instance).
    ``synth``: also synthesise one repeat of every trial (``synthesise_records``): LUT/FF columns and plot."""
    from jsc_hw import tables

    run_dir = Path(out_dir)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; available: {sorted(EXECUTORS)}")
    prepare_run(spec, run_dir)
    jobs = pending_jobs(spec, run_dir)
    done = len(spec.trials) * spec.repeats - sum(len(j.repeats) for j in jobs)
    log.info("%s: %d trial-repeats done, %d to train in %d jobs", spec.name, done,
             sum(len(j.repeats) for j in jobs), len(jobs))
    if jobs:
        EXECUTORS[executor](jobs, run_dir, workers, address)
    if synth:
        synthesise_records(run_dir)
    tables.write_results(spec, run_dir, load_records(run_dir))
    return run_dir


def iter_records(run_dir: Path) -> Iterator[dict]:
    for path in sorted((Path(run_dir) / "records").glob("*.json")):
        yield json.loads(path.read_text())


def load_records(run_dir: str | Path) -> list[dict]:
    return list(iter_records(Path(run_dir)))


def with_overrides(spec: SweepSpec, overrides: dict, repeats: int | None = None) -> SweepSpec:
    """Apply dotted overrides (``--set data.max_rows=20000``) to every trial and the base."""
    from jsc_hw.config import apply_overrides

    return replace(spec, base=apply_overrides(spec.base, overrides),
                   trials=tuple(apply_overrides(t, overrides) for t in spec.trials),
                   repeats=repeats if repeats is not None else spec.repeats)
