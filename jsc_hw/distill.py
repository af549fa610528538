"""Knowledge distillation: a trained teacher's class probabilities on the training rows (a trial's ``distill:``
section, ``DistillSpec``); ``jsc_hw.train.fit`` mixes them with the labels in its loss.

The teacher is a checkpoint, or a sweep run folder whose best trial (mean validation accuracy over its repeats)
teaches as the mean of its repeats' probabilities.  It must have been trained on the same ``data:`` section as the
student: the same split, so the teacher never saw a validation or test row, and the same standardisation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from jsc_hw.config import DataSpec, DistillSpec
from jsc_hw.data import Split
from jsc_hw.errors import ConfigError, MissingError
from jsc_hw.runfolder import read_records
from jsc_hw.select import best_trial
from jsc_hw.train import eval_chunk, feature_major, load_checkpoint

log = logging.getLogger(__name__)

HOW = "train one with `jsc-hw sweep sweeps/teacher.yaml --out runs/teacher` (same data: section)"


def teacher_checkpoints(teacher: str | Path) -> list[Path]:
    """The checkpoint itself, or every repeat's checkpoint of a run folder's best trial."""
    path = Path(teacher)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingError(f"distill.teacher: {path} is neither a checkpoint nor a sweep run folder; {HOW}")
    choice = best_trial(path)
    return sorted(path / r.checkpoint for r in read_records(path, required=True) if r.trial == choice.trial)


@torch.no_grad()
def soft_targets(spec: DistillSpec, data: DataSpec, train: Split) -> torch.Tensor:
    """(rows, classes) probabilities of the teacher (mean over its checkpoints) at ``spec.temperature``."""
    paths = teacher_checkpoints(spec.teacher)
    x, probs = torch.from_numpy(train.x), None
    for path in paths:
        ckpt = load_checkpoint(path)
        if ckpt.config.data != data:
            raise ConfigError(f"distill.teacher: {path} was trained on other data ({ckpt.config.data}); the teacher "
                              "must have the student's data: section, or it has seen the student's validation rows")
        chunk = eval_chunk(ckpt.net)
        logits = torch.cat([ckpt.net(feature_major(x[i:i + chunk], 1))[:, 0] for i in range(0, len(x), chunk)])
        p = torch.softmax(logits / spec.temperature, dim=1)
        probs = p if probs is None else probs + p
        acc = float((logits.argmax(1).numpy() == train.y).mean())
        log.info("distill: teacher %s, training accuracy %.4f", path, acc)
    return (probs / len(paths)).float()


def check(spec: DistillSpec) -> None:
    """Fail early (before any training) when the teacher cannot be found."""
    if spec.teacher is not None:
        missing = [p for p in teacher_checkpoints(spec.teacher) if not p.is_file()]
        if missing:
            raise MissingError(f"distill.teacher: {missing[0]} is missing; {HOW}")
