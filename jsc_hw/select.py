"""Choose the best trial of a sweep run by a metric, and the checkpoint to export.

The trial is chosen by its metric *averaged over repeats* (a configuration, not a lucky seed); within that trial
the repeat with the best value supplies the weights.  Records are read straight from ``records/*.json`` (the
run-folder contract: ``trial``, ``repeat``, ``val_acc``, ``val_loss``, ``val_acc_last_epoch``, ``checkpoint``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

#: metric name -> (value of one record, higher is better)
METRICS: dict[str, tuple[Callable[[dict], float], bool]] = {
    "val_acc_last_epoch": (lambda r: float(r["val_acc_last_epoch"]), True),
    "val_acc_best_epoch": (lambda r: float(max(r["val_acc"])), True),
    "val_loss_last_epoch": (lambda r: float(r["val_loss"][-1]), False),
    "train_acc_last_step": (lambda r: float(r["train_acc_last_step"]), True),
}


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


def read_records(run_dir: str | Path) -> list[dict]:
    """Every trial-repeat record of a run folder, sorted by file name."""
    run_dir = Path(run_dir)
    paths = sorted((run_dir / "records").glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"{run_dir}: no records/*.json; is this a sweep run folder (jsc-hw sweep)?")
    return [json.loads(p.read_text()) for p in paths]


def best_trial(run_dir: str | Path, metric: str = "val_acc_last_epoch") -> Choice:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")
    run_dir = Path(run_dir)
    value, higher = METRICS[metric]
    sign = 1.0 if higher else -1.0
    by_trial: dict[str, list[dict]] = {}
    for rec in read_records(run_dir):
        by_trial.setdefault(rec["trial"], []).append(rec)
    means = {t: mean(value(r) for r in recs) for t, recs in by_trial.items()}
    trial = max(sorted(means), key=lambda t: sign * means[t])  # sorted: ties go to the first name
    rec = max(sorted(by_trial[trial], key=lambda r: r["repeat"]), key=lambda r: sign * value(r))
    ckpt = run_dir / rec["checkpoint"]
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: the best trial's checkpoint is missing; rerun `jsc-hw sweep` on its spec")
    return Choice(run_dir, trial, int(rec["repeat"]), metric, means[trial], value(rec), len(by_trial[trial]), ckpt)
