"""Knowledge distillation: the mixed loss, the teacher's probabilities (a checkpoint or a run folder's best trial),
the data gate, and a distilled student whose repeats stay independent of each other."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from jsc_hw import distill
from jsc_hw.config import (DataSpec, DistillSpec, ModelSpec, QuantSpec, TrainSpec, TrialConfig, from_dict,
                           sweep_from_dict)
from jsc_hw.data import load_splits
from jsc_hw.errors import ConfigError, MissingError, TrainingError
from jsc_hw.sweep import run_sweep
from jsc_hw.train import distill_loss, feature_major, fit, load_checkpoint

DATA = {"max_rows": 6000}
TEACHER = {"name": "teacher", "repeats": 2,
           "base": {"data": DATA, "model": {"arch": "mlp", "hidden": [32, 16]}, "quant": {"enabled": False},
                    "train": {"epochs": 3, "batch_size": 128, "lr": 3e-3}},
           "trials": [{"name": "float_small"}, {"name": "float_bad", "train.lr": 1e-6}]}


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    return run_sweep(sweep_from_dict(TEACHER), tmp_path_factory.mktemp("teacher") / "run", workers=1)


def student(teacher: str, **kw) -> TrialConfig:
    return TrialConfig(data=DataSpec(**DATA), model=ModelSpec(arch="mlp", hidden=(16,)),
                       quant=QuantSpec(weight_bits=4, act_bits=4, act_int_bits=2),
                       train=TrainSpec(epochs=2, batch_size=128, lr=3e-3), distill=DistillSpec(teacher=teacher, **kw))


def test_the_loss_mixes_label_and_teacher_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(2, 5, 7, generator=g), torch.randint(0, 5, (2, 7), generator=g)
    soft = torch.softmax(torch.randn(2, 5, 7, generator=g), dim=1)
    spec = DistillSpec(teacher="t", weight=0.25, temperature=2.0)
    p = torch.log_softmax(logits / 2.0, dim=1)
    expected = 0.75 * F.cross_entropy(logits, labels) + 0.25 * 4.0 * float(-(soft * p).sum(1).mean())
    assert float(distill_loss(logits, labels, soft, spec)) == pytest.approx(float(expected), rel=1e-6)
    onehot = F.one_hot(labels, 5).permute(0, 2, 1).float()  # a teacher that is the labels: plain cross-entropy
    assert float(distill_loss(logits, labels, onehot, DistillSpec(teacher="t", weight=1.0))) == \
        pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)
    with pytest.raises(ConfigError, match="weight"):
        from_dict(DistillSpec, {"teacher": "t", "weight": 0.0})


def test_a_run_folder_teaches_with_its_best_trials_repeats(teacher_run) -> None:
    paths = distill.teacher_checkpoints(teacher_run)
    assert [p.name for p in paths] == ["float_small__r0.pt", "float_small__r1.pt"]  # not the lr 1e-6 trial
    splits = load_splits(DataSpec(**DATA))
    spec = DistillSpec(teacher=str(teacher_run), temperature=2.0)
    soft = distill.soft_targets(spec, DataSpec(**DATA), splits.train)
    assert soft.shape == (len(splits.train.y), 5)
    assert torch.allclose(soft.sum(1), torch.ones(len(soft)), atol=1e-5)
    with torch.no_grad():  # the mean of the two repeats' softened probabilities, row for row
        x = feature_major(torch.from_numpy(splits.train.x), 1)
        each = [torch.softmax(load_checkpoint(p).net(x)[:, 0] / 2.0, dim=1) for p in paths]
    assert torch.allclose(soft, (each[0] + each[1]) / 2, atol=1e-6)
    assert float((soft.argmax(1).numpy() == splits.train.y).mean()) > 0.5  # it learned something to teach
    one = distill.soft_targets(replace(spec, teacher=str(paths[1])), DataSpec(**DATA), splits.train)
    assert torch.allclose(one, each[1], atol=1e-6)


def test_a_teacher_of_other_data_or_none_at_all_is_refused(teacher_run, tmp_path) -> None:
    splits = load_splits(DataSpec(max_rows=5000))
    with pytest.raises(ConfigError, match="other data"):
        distill.soft_targets(DistillSpec(teacher=str(teacher_run)), DataSpec(max_rows=5000), splits.train)
    with pytest.raises(MissingError, match="sweeps/teacher.yaml"):
        distill.check(DistillSpec(teacher=str(tmp_path / "nothing")))
    distill.check(DistillSpec(teacher=str(teacher_run)))


def test_a_distilled_student_trains_each_repeat_on_its_own_rows(teacher_run) -> None:
    cfg = student(str(teacher_run))
    splits = load_splits(cfg.data)
    soft = distill.soft_targets(cfg.distill, cfg.data, splits.train)
    net, results = fit(cfg, splits, [0, 1], soft=soft)
    assert all(r.val_acc[-1] > 0.45 for r in results), results
    alone, res_alone = fit(cfg, splits, [1], soft=soft)  # the soft targets follow each repeat's own row order
    assert res_alone[0].val_acc == results[1].val_acc
    plain, res_plain = fit(replace(cfg, distill=DistillSpec()), splits, [0])
    assert res_plain[0].val_acc != results[0].val_acc  # the teacher term changed the training
    with pytest.raises(TrainingError, match="soft targets"):
        fit(cfg, splits, [0])
