"""Run every trial x repeat of a sweep spec; resumable, nothing lost, nothing repeated, nothing half-done.

The whole spec is checked in the driver before anything is written (``preflight``: architectures, per-layer
lengths, bit formats, the data files and their splits).  A *job* (``jsc_hw.jobs``) is one trial's missing repeats;
each finished repeat is ``records/<trial>__r<k>.json`` with its weights in ``weights/`` (``jsc_hw.runfolder``), so
a killed or interrupted sweep resumes by training only the repeats without a complete record.  A run folder
holds one spec: ``spec.resolved.yaml`` and every record's stored config are compared with the spec at each start.
Executors are an explicit table, ``EXECUTORS``: local worker processes (``jsc_hw.local_executor``) or Ray tasks
(``jsc_hw.ray_executor``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from jsc_hw.config import SweepSpec, TrialConfig, apply_overrides, dump_yaml, from_dict, parse_yaml, to_dict
from jsc_hw.errors import ConfigError, DataError, JscHwError, MissingError, RunFolderError, TrainingError
from jsc_hw.files import atomic_write, output_folder, remove_stale_tmp
from jsc_hw.jobs import Job
from jsc_hw.local_executor import run_local
from jsc_hw.progress import Progress
from jsc_hw.ray_executor import run_ray
from jsc_hw.runfolder import Record, checkpoint_relpath, read_records, record_path, synth_dir

log = logging.getLogger(__name__)

#: (pending jobs, run folder, workers or None = the executor's default, cluster address or None) -> None
Executor = Callable[[list[Job], Path, int | None, str | None], None]
EXECUTORS: dict[str, Executor] = {"local": run_local, "ray": run_ray}


# ---- the spec, checked before anything is written ---------------------------------------------------------------
def dotted_value(cfg: dict, key: str) -> Any:
    """``cfg['model']['arch']`` for ``key='model.arch'`` (a config as nested dicts)."""
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def varying_keys(trials: tuple[TrialConfig, ...]) -> set[str]:
    """Dotted keys whose value differs between trials (grid axes, tied keys and explicit trial entries alike)."""
    dicts = [to_dict(t) for t in trials]
    keys = {f"{section}.{k}" for section, part in dicts[0].items() if isinstance(part, dict) for k in part}
    return {k for k in keys if len({repr(dotted_value(d, k)) for d in dicts}) > 1}


def with_overrides(spec: SweepSpec, overrides: dict, repeats: int | None = None) -> SweepSpec:
    """Apply dotted overrides (``--set data.max_rows=20000``) to every trial and the base.

    Refused: ``name`` (trial names come from the spec: one name would merge every trial into one), and a key the
    spec varies between trials (the override would silently replace the sweep's own axis)."""
    if "name" in overrides:
        raise ConfigError("--set name: trial names come from the spec (one name would merge every trial into one); "
                          "to rename the run, change the spec's name or pass --out")
    varied = sorted(set(overrides) & varying_keys(spec.trials)) if len(spec.trials) > 1 else []
    if varied:
        raise ConfigError(f"--set {', '.join(varied)}: the spec varies this key between its trials; change the spec "
                          "(grid or trials) instead of overriding it")
    if repeats is not None and repeats < 1:
        raise ConfigError(f"--repeats: must be at least 1, got {repeats}")
    return replace(spec, base=apply_overrides(spec.base, overrides),
                   trials=tuple(apply_overrides(t, overrides) for t in spec.trials),
                   repeats=repeats if repeats is not None else spec.repeats)


def check_trial(cfg: TrialConfig) -> None:
    """What would otherwise fail inside a worker: the model builds (arch, widths, per-layer bit lists), the data
    file reads and splits (path, format, NaN/inf rows, max_rows) and a distillation teacher is there.  Data files
    are read once (cached)."""
    from jsc_hw.data import load_splits
    from jsc_hw.distill import check
    from jsc_hw.nets import BatchedNet

    try:
        BatchedNet(cfg.model, cfg.quant, [0])
        load_splits(cfg.data)
        check(cfg.distill)
    except JscHwError as exc:
        raise type(exc)(f"trial {cfg.name}: {exc}") from None
    except FileNotFoundError as exc:
        raise MissingError(f"trial {cfg.name}: {exc}") from None
    except ValueError as exc:
        raise DataError(f"trial {cfg.name}: {exc}") from None


def preflight(spec: SweepSpec) -> None:
    for trial in spec.trials:
        check_trial(trial)


# ---- the run folder ----------------------------------------------------------------------------------------------
def resolved_yaml(spec: SweepSpec) -> str:
    """``spec.resolved.yaml``: every trial's full config."""
    return dump_yaml({"name": spec.name, "repeats": spec.repeats, "varied": list(spec.varied),
                      "trials": [to_dict(t) for t in spec.trials]})


def _same_spec(text: str, spec: SweepSpec) -> bool:
    """A saved resolved spec equals ``spec`` (compared as configs: fields added since it was saved take defaults)."""
    try:
        raw = parse_yaml(text, "spec.resolved.yaml")
        trials = tuple(from_dict(TrialConfig, t) for t in raw["trials"])
    except (JscHwError, KeyError, TypeError):
        return False
    return (raw.get("name"), raw.get("repeats"), tuple(raw.get("varied") or ()), trials) == (
        spec.name, spec.repeats, spec.varied, spec.trials)


def prepare_run(spec: SweepSpec, run_dir: Path) -> None:
    """Create the run folder and save the resolved spec; refuse to mix two different specs in one folder."""
    output_folder(run_dir)
    path = run_dir / "spec.resolved.yaml"
    if path.exists() and not _same_spec(path.read_text(errors="replace"), spec):
        raise RunFolderError(f"{run_dir} holds results of a different spec ({path}); choose another --out folder")
    check_records(spec, read_records(run_dir), run_dir)
    for sub in ("records", "weights"):
        remove_stale_tmp(run_dir / sub)
    atomic_write(path, resolved_yaml(spec))


def check_records(spec: SweepSpec, records: list[Record], run_dir: Path) -> None:
    """Every record in the folder is of this spec: a trial of it, trained with its config."""
    trials = {t.name: t for t in spec.trials}
    for rec in records:
        trial = trials.get(rec.trial)
        if trial is None or rec.config != trial:
            why = "a trial this spec does not have" if trial is None else "a different config"
            raise RunFolderError(f"{record_path(run_dir, rec.trial, rec.repeat)} holds results of {why} "
                                 f"({_first_difference(rec.config, trial)}); choose another --out folder")


def _first_difference(a: TrialConfig, b: TrialConfig | None) -> str:
    if b is None:
        return f"trial {a.name!r}"
    da, db = to_dict(a), to_dict(b)
    for section in da:
        if da[section] != db[section]:
            if not isinstance(da[section], dict):
                return f"{section}: {da[section]!r} there, {db[section]!r} in the spec"
            key = next(k for k in da[section] if da[section][k] != db[section].get(k))
            return f"{section}.{key}: {da[section][key]!r} there, {db[section][key]!r} in the spec"
    return "?"


def pending_jobs(spec: SweepSpec, run_dir: Path) -> list[Job]:
    """Trials with at least one repeat without a complete record (record and weights), most expensive first."""
    jobs = []
    for trial in spec.trials:
        missing = tuple(k for k in range(spec.repeats) if not _complete(run_dir, trial.name, k))
        if missing:
            jobs.append(Job(trial, missing))
    cost = {j: j.epochs * (1 + 4096 / j.trial.train.batch_size) for j in jobs}  # epochs x steps, roughly
    return sorted(jobs, key=cost.__getitem__, reverse=True)


def _complete(run_dir: Path, trial: str, repeat: int) -> bool:
    return record_path(run_dir, trial, repeat).is_file() and (run_dir / checkpoint_relpath(trial, repeat)).is_file()


# ---- hardware figures of a run -------------------------------------------------------------------------------------
def synthesise_records(run_dir: Path, every_repeat: bool = False, keep_existing: bool = True,
                       **flow: Any) -> list[Path]:
    """The open-source hardware flow (``hardware.synth.synth_checkpoint``: Verilog, Verilator, Yosys) for the
    first repeat of every trial (or every repeat), into ``<run>/synth/<trial>__r<k>/synth.json``.

    ``keep_existing``: a record already synthesised is not redone; ``flow``: keyword options of synth_checkpoint."""
    from jsc_hw.hardware.synth import synth_checkpoint

    chosen: dict[str, Record] = {}
    for rec in read_records(run_dir):
        key = rec.name if every_repeat else rec.trial
        if key not in chosen or rec.repeat < chosen[key].repeat:
            chosen[key] = rec
    paths = []
    with Progress(f"synth {Path(run_dir).name}", {"models": len(chosen)}, {"models": "model"}) as bar:
        for rec in chosen.values():
            out = synth_dir(run_dir, rec.trial, rec.repeat)
            paths.append(out / "synth.json")
            if not (keep_existing and paths[-1].exists()):
                synth_checkpoint(run_dir / rec.checkpoint, out, **flow)
            bar.update("models")
    return paths


def run_sweep(spec: SweepSpec, out_dir: str | Path, workers: int | None = None, executor: str = "local",
              address: str | None = None, synth: bool = False) -> Path:
    """Train what is missing, then write the results table and plots.  Returns the run folder.

    ``address``: a running Ray cluster for ``executor="ray"`` (None: start a local Ray instance).
    ``synth``: also synthesise one repeat of every trial (``synthesise_records``): LUT/FF columns and plot."""
    from jsc_hw import tables

    run_dir = Path(out_dir)
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; available: {sorted(EXECUTORS)}")
    preflight(spec)
    prepare_run(spec, run_dir)
    jobs = pending_jobs(spec, run_dir)
    done = len(spec.trials) * spec.repeats - sum(len(j.repeats) for j in jobs)
    log.info("%s: %d trial-repeats done, %d to train in %d jobs", spec.name, done,
             sum(len(j.repeats) for j in jobs), len(jobs))
    try:
        if jobs:
            EXECUTORS[executor](jobs, run_dir, workers, address)
    except TrainingError:
        tables.write_results(spec, run_dir, read_records(run_dir))  # the trials that did train
        raise
    if synth:
        synthesise_records(run_dir)
    tables.write_results(spec, run_dir, read_records(run_dir))
    return run_dir
