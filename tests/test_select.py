"""Best trial of a run folder: the trial by its mean over repeats, then its best repeat."""

from __future__ import annotations

from pathlib import Path

import pytest

from jsc_hw.config import TrialConfig
from jsc_hw.runfolder import Record, read_records, write_record
from jsc_hw.select import METRICS, best_trial

#: trial -> per-repeat (val_acc_last_epoch, last val_loss); "b" has the best mean, "c" the single best repeat
RUN = {"a": [(0.70, 0.9), (0.72, 0.8)], "b": [(0.80, 0.6), (0.78, 0.5)], "c": [(0.50, 1.2), (0.90, 0.7)]}


def make_run(root: Path, run: dict = RUN, checkpoints: bool = True) -> Path:
    (root / "records").mkdir(parents=True)
    (root / "weights").mkdir()
    for trial, reps in run.items():
        for k, (acc, loss) in enumerate(reps):
            rel = f"weights/{trial}__r{k}.pt"
            if checkpoints:
                (root / rel).write_bytes(b"")  # selection only needs the file to exist
            write_record(root, Record(trial=trial, repeat=k, seed=k, config=TrialConfig(name=trial),
                                      val_acc=(acc - 0.1, acc), val_loss=(loss + 0.1, loss), val_acc_last_epoch=acc,
                                      train_acc_last_step=acc, seconds=1.0, cost={}, checkpoint=rel))
    return root


def test_the_trial_is_chosen_by_its_mean_over_repeats(tmp_path):
    c = best_trial(make_run(tmp_path))
    assert (c.trial, c.repeat, c.repeats) == ("b", 0, 2)
    assert c.trial_mean == pytest.approx(0.79) and c.value == 0.80
    assert c.checkpoint == tmp_path / "weights" / "b__r0.pt"


def test_loss_metrics_are_minimised(tmp_path):
    c = best_trial(make_run(tmp_path), "val_loss_last_epoch")
    assert (c.trial, c.repeat, c.value) == ("b", 1, 0.5)


def test_best_epoch_metric(tmp_path):
    assert best_trial(make_run(tmp_path), "val_acc_best_epoch").trial == "b"
    assert set(METRICS) >= {"val_acc_last_epoch", "val_loss_last_epoch"}


def test_errors_tell_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no records"):
        read_records(tmp_path, required=True)
    run = make_run(tmp_path / "run", checkpoints=False)
    with pytest.raises(FileNotFoundError, match="checkpoint is missing.*retrains every trial-repeat whose weights"):
        best_trial(run)
    with pytest.raises(ValueError, match="unknown metric"):
        best_trial(run, "accuracy")
