"""The fast trainer: whole splits as in-memory tensors, index batches, R repeats trained as one batched model.

Adam + cross-entropy, at a constant learning rate or one that follows ``train.lr_schedule``.  Each repeat has
its own seed, which fixes both its initial weights and its own shuffling order, so a repeat's numbers do not
depend on which other repeats share its batch.  Recorded per epoch: validation accuracy and loss; at the end:
the training accuracy of the last step (what the course lab reports; at batch sizes 16-64 its last batch can be
8 rows) and the mean training accuracy over the last epoch's steps.  The weights kept are the last epoch's.  A
trial's ``prune:`` section prunes during training (``jsc_hw.prune``); its zero weights are saved as zeros.  A
``distill:`` section mixes a teacher's probabilities (``jsc_hw.distill``) into the loss (``distill_loss``).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jsc_hw.config import LR_SCHEDULES, DistillSpec, TrialConfig, dump_yaml, to_dict, trial_from_yaml
from jsc_hw.data import Scaler, Splits
from jsc_hw.errors import MissingError, RunFolderError, TrainingError
from jsc_hw.files import atomic_write
from jsc_hw.nets import BatchedNet, build
from jsc_hw.prune import final_sparsity, finalise, kernels, schedule, update_masks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    seed: int
    val_acc: tuple[float, ...]  #: per epoch
    val_loss: tuple[float, ...]  #: per epoch
    train_acc_last_step: float
    seconds: float
    train_acc_epoch_mean: float = float("nan")  #: over every training row of the last epoch, as it was predicted


def _permutations(n: int, seeds: Sequence[int], epoch: int) -> torch.Tensor:
    """(R, n) row orders: repeat r's order for this epoch depends only on (seed_r, epoch)."""
    return torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(int(s) * 100_003 + epoch))
                        for s in seeds])


def feature_major(x: torch.Tensor, repeats: int) -> torch.Tensor:
    """(N, 16) rows as the (N, R, 16) input of every repeat, laid out as an (R, 16, N) block (see layers.py)."""
    return x.T.contiguous().expand(repeats, -1, -1).contiguous().permute(2, 0, 1)


class FlatAdam:
    """Adam (torch's update, op for op, so the same numbers as ``torch.optim.Adam(foreach=False)``) on ONE
    flat buffer: the parameters are re-pointed into it and their gradients accumulate into a second one, so
    a step is eight kernels whatever the number of parameter tensors (torch's Adam: ~0.4 ms of Python/step)."""

    def __init__(self, params: list[torch.nn.Parameter], lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.steps = params, lr, betas, eps, 0
        n = sum(p.numel() for p in params)
        self.flat, self.grad = torch.empty(n), torch.zeros(n)
        self.exp_avg, self.exp_avg_sq = torch.zeros(n), torch.zeros(n)
        i = 0
        for p in params:
            k = p.numel()
            self.flat[i:i + k] = p.detach().reshape(-1)
            p.data, p.grad = self.flat[i:i + k].view_as(p), self.grad[i:i + k].view_as(p)
            i += k

    def zero_grad(self) -> None:
        self.grad.zero_()  # backward accumulates into the views in place

    def step(self) -> None:
        (beta1, beta2), self.steps = self.betas, self.steps + 1
        self.exp_avg.lerp_(self.grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1 - beta2)
        step_size = self.lr / (1 - beta1 ** self.steps)
        denom = (self.exp_avg_sq.sqrt() / (1 - beta2 ** self.steps) ** 0.5).add_(self.eps)
        self.flat.addcdiv_(self.exp_avg, denom, value=-step_size)

    def release(self) -> None:
        """Give every parameter its own storage again (and drop the gradient views)."""
        for p in self.params:
            p.data, p.grad = p.data.clone(), None


def first_max(logits: torch.Tensor) -> torch.Tensor:
    """argmax over the class axis of (R, C, B) logits (ties: the first class, as argmax): ``max(1).indices``
    is ~8x faster here than ``argmax(1)``, which reduces over a strided axis (0.3 ms a call at B = 256)."""
    return logits.max(1).indices


#: activation elements (rows x repeats x widest layer) per evaluation chunk: ~2 MB of float32 stays in L2, which
#: made validation 4-6x faster than 65,536-row chunks (JSC_rs1923, R = 10: 27 s -> 4.4 s on 124,500 rows)
EVAL_CHUNK_ELEMENTS = 2 ** 19


def eval_chunk(net: BatchedNet) -> int:
    """Rows per inference chunk of ``net``: its activations stay within ``EVAL_CHUNK_ELEMENTS``."""
    return max(64, EVAL_CHUNK_ELEMENTS // (net.repeats * net.widest_activation()))


@torch.no_grad()
def evaluate(net: BatchedNet, x: torch.Tensor, y: torch.Tensor, chunk: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean cross-entropy per repeat on the same rows: arrays of shape (R,).

    Rows go through in chunks of ``chunk`` (default: sized so an activation stays in cache); per-row losses are
    summed in float64, so the result does not depend on the chunk size beyond float64 rounding.
    """
    was_training = net.training
    net.eval()
    chunk = chunk or eval_chunk(net)
    correct = torch.zeros(net.repeats, dtype=torch.float64)
    loss = torch.zeros(net.repeats, dtype=torch.float64)
    for i in range(0, len(y), chunk):
        yb = y[i:i + chunk]
        logits = net(feature_major(x[i:i + chunk], net.repeats)).permute(1, 2, 0)  # (R, C, B)
        correct += (first_max(logits) == yb).sum(1)
        loss += F.cross_entropy(logits, yb.expand(net.repeats, -1), reduction="none").double().sum(1)
    net.train(was_training)
    return (correct / len(y)).numpy(), (loss / len(y)).numpy()


def distill_loss(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor, spec: DistillSpec) -> torch.Tensor:
    """Mean over (R, C, B) logits of (1 - w) x cross-entropy with the labels + w T**2 x cross-entropy with the
    teacher's (R, C, B) probabilities at temperature T (T**2 keeps its gradients' size as T grows, Hinton et al.)."""
    t = spec.temperature
    return (1 - spec.weight) * F.cross_entropy(logits, labels, reduction="mean") + \
        spec.weight * t * t * F.cross_entropy(logits / t, soft, reduction="mean")


def fit(cfg: TrialConfig, splits: Splits, seeds: Sequence[int], progress=None, soft: torch.Tensor | None = None
        ) -> tuple[BatchedNet, list[TrainResult]]:
    """Train len(seeds) repeats of ``cfg`` together; ``progress(epoch)`` is called after each epoch.  ``soft``:
    the teacher's (rows, classes) probabilities on the training rows (``jsc_hw.distill.soft_targets``), when
    ``cfg.distill`` names a teacher.

    Per epoch, each repeat's shuffled copy of the training set is gathered once into an (R, 16, n) block;
    a step's batch is then a slice of it (no copy), already in the layers' feature-major layout.
    """
    start = time.perf_counter()
    net = build(cfg, seeds)
    opt = FlatAdam(list(net.parameters()), lr=cfg.train.lr)
    x_cols = torch.from_numpy(np.ascontiguousarray(splits.train.x.T))  # (16, n)
    y_train = torch.from_numpy(splits.train.y)
    x_val, y_val = torch.from_numpy(splits.val.x), torch.from_numpy(splits.val.y)
    n, bs, r = len(y_train), cfg.train.batch_size, len(seeds)
    xs, ys = torch.empty((r, x_cols.shape[0], n)), torch.empty((r, n), dtype=torch.int64)
    if (soft is None) != (cfg.distill.teacher is None):
        raise TrainingError(f"{cfg.name}: soft targets are needed exactly when distill.teacher is set")
    if soft is not None:
        soft_cols = soft.T.contiguous()  # (C, n), gathered per epoch in each repeat's row order, as the labels
        ss = torch.empty((r, soft_cols.shape[0], n))
    val_acc, val_loss = [], []
    r_t = torch.tensor(float(r))  # a 0-dim tensor: a Python number is re-wrapped and cast on every step
    total = cfg.train.epochs * -(-n // bs)
    prunes = schedule(cfg.prune, total)[::-1]  # (step, ramp), next one last
    finals = final_sparsity(cfg.prune, len(kernels(net)))
    lr_at = LR_SCHEDULES[cfg.train.lr_schedule]
    step = 0
    net.train()
    for epoch in range(cfg.train.epochs):
        order = _permutations(n, seeds, epoch)  # (R, n)
        for k in range(r):  # into the preallocated block (np.take(..., out=) buffers: 5x slower)
            torch.index_select(x_cols, 1, order[k], out=xs[k])
        torch.index_select(y_train, 0, order.view(-1), out=ys.view(-1))
        if soft is not None:
            for k in range(r):
                torch.index_select(soft_cols, 1, order[k], out=ss[k])
        last = epoch == cfg.train.epochs - 1
        correct = torch.zeros(r, dtype=torch.int64)
        for i in range(0, n, bs):
            xb, yb = xs[:, :, i:i + bs], ys[:, i:i + bs]  # (R, 16, B), (R, B) views
            logits = net(xb.permute(2, 0, 1)).permute(1, 2, 0)  # (R, C, B)
            # sum over repeats of each repeat's mean loss: every repeat gets exactly its own gradient
            if soft is None:
                loss = F.cross_entropy(logits, yb, reduction="mean") * r_t
            else:
                loss = distill_loss(logits, yb, ss[:, :, i:i + bs], cfg.distill) * r_t
            opt.zero_grad()
            loss.backward()
            opt.lr = cfg.train.lr * lr_at(step / total)
            opt.step()
            step += 1
            if prunes and prunes[-1][0] == step:
                ramp = prunes.pop()[1]
                update_masks(net, [ramp * f for f in finals])
            if last:  # the epoch-mean training accuracy: the predictions the step trained on
                correct += (first_max(logits.detach()) == yb).sum(1)
        acc, lss = evaluate(net, x_val, y_val)
        if not (np.all(np.isfinite(lss)) and torch.isfinite(loss)):
            raise TrainingError(f"{cfg.name}: the loss is not finite after epoch {epoch + 1} (training diverged: "
                                f"lower train.lr, now {cfg.train.lr:g}); no record is written")
        val_acc.append(acc), val_loss.append(lss)
        if progress is not None:
            progress(epoch)
    last_acc = (first_max(logits.detach()) == yb).double().mean(1).numpy()
    finalise(net)
    opt.release()
    seconds = time.perf_counter() - start
    epoch_acc = (correct.double() / n).numpy()
    results = [TrainResult(int(s), tuple(float(a[k]) for a in val_acc), tuple(float(v[k]) for v in val_loss),
                           float(last_acc[k]), seconds / r, float(epoch_acc[k])) for k, s in enumerate(seeds)]
    return net, results


# ---- checkpoints: one repeat = resolved config + weights + the training scaler -----------------------------
@dataclass(frozen=True)
class Checkpoint:
    config: TrialConfig
    net: BatchedNet  #: one repeat (R = 1); ``net.twin()`` is the exportable Brevitas model
    scaler: Scaler
    metrics: dict


def save_checkpoint(path: str | Path, cfg: TrialConfig, net: BatchedNet, r: int, scaler: Scaler,
                    metrics: dict) -> Path:
    blob = {"config_yaml": dump_yaml(to_dict(cfg)), "seed": net.seeds[r], "state": net.repeat_state(r),
            "scaler": {"mean": scaler.mean, "std": scaler.std}, "metrics": metrics}
    buf = io.BytesIO()
    torch.save(blob, buf)
    return atomic_write(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise MissingError(f"{path}: checkpoint not found (train one with `jsc-hw sweep`)")
    try:  # an untrusted file: empty, truncated, random bytes or another program's .pt all end here
        blob = torch.load(path, map_location="cpu", weights_only=True)
        cfg = trial_from_yaml(blob["config_yaml"])
        net = build(cfg, [blob["seed"]])
        net.load_state_dict(blob["state"])
        scaler = Scaler(tuple(blob["scaler"]["mean"]), tuple(blob["scaler"]["std"]))
        metrics = dict(blob["metrics"])
    except Exception as exc:
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        raise RunFolderError(f"{path}: not a readable jsc-hw checkpoint ({why}); retrain it (rerun its sweep) or "
                             "export it again") from None
    net.eval()
    return Checkpoint(cfg, net, scaler, metrics)
