"""Choose the best trial of a sweep run by a metric, and the checkpoint to export.

The trial is chosen by its metric *averaged over repeats* (a configuration, not a lucky seed); within that trial
the repeat with the best value supplies the weights.  Records are the run-folder contract (``jsc_hw.runfolder``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from jsc_hw.errors import ConfigError, MissingError
from jsc_hw.runfolder import Record, read_records

#: metric name -> (value of one record, higher is better)
METRICS: dict[str, tuple[Callable[[Record], float], bool]] = {
    "val_acc_last_epoch": (lambda r: float(r.val_acc_last_epoch), True),
    # selection only: the repeat it chooses is exported with its last epoch's weights (the only ones saved)
    "val_acc_best_epoch": (lambda r: float(max(r.val_acc)), True),
    "val_loss_last_epoch": (lambda r: float(r.val_loss[-1]), False),
    "train_acc_last_step": (lambda r: float(r.train_acc_last_step), True),
}
DEFAULT_METRIC = "val_acc_last_epoch"


@dataclass(frozen=True)
class Choice:
    run_dir: Path
    trial: str
    repeat: int
    metric: str
    trial_mean: float  #: the metric averaged over the trial's repeats (what chose the trial)
    value: float  #: the chosen repeat's own value (what chose the repeat)
    repeats: int
    checkpoint: Path


def best_trial(run_dir: str | Path, metric: str = DEFAULT_METRIC, among: Collection[str] | None = None) -> Choice:
    """The best trial of ``run_dir`` by ``metric`` (``among``: only these trials) and its best repeat."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")
    run_dir = Path(run_dir)
    value, higher = METRICS[metric]
    sign = 1.0 if higher else -1.0
    by_trial: dict[str, list[Record]] = {}
    for rec in read_records(run_dir, required=True):
        if among is None or rec.trial in among:
            by_trial.setdefault(rec.trial, []).append(rec)
    if not by_trial:
        raise ConfigError(f"{run_dir}: no records of the trials {sorted(among or [])}")
    means = {t: mean(value(r) for r in recs) for t, recs in by_trial.items()}
    trial = max(sorted(means), key=lambda t: sign * means[t])  # sorted: ties go to the first name
    rec = max(sorted(by_trial[trial], key=lambda r: r.repeat), key=lambda r: sign * value(r))
    ckpt = run_dir / rec.checkpoint
    if not ckpt.is_file():  # the sweep treats a record without weights as not trained: a rerun retrains it
        raise MissingError(f"{ckpt}: the best trial's checkpoint is missing; rerun the sweep into this folder "
                           f"(`jsc-hw sweep SPEC.yaml --out {run_dir}`): it retrains every trial-repeat whose "
                           "weights are missing")
    return Choice(run_dir, trial, rec.repeat, metric, means[trial], value(rec), len(by_trial[trial]), ckpt)
