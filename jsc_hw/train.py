"""The fast trainer: whole splits as in-memory tensors, index batches, R repeats trained as one batched model.

Adam + cross-entropy.  Each repeat has its own seed, which fixes both its initial weights and its own
shuffling order, so a repeat's numbers do not depend on which other repeats share its batch.  Recorded per
epoch: validation accuracy and loss; at the end: the training accuracy of the last step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jsc_hw.config import TrialConfig, dump_yaml, to_dict, trial_from_yaml
from jsc_hw.data import Scaler, Splits
from jsc_hw.nets import BatchedNet, build

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    seed: int
    val_acc: tuple[float, ...]  #: per epoch
    val_loss: tuple[float, ...]  #: per epoch
    train_acc_last_step: float
    seconds: float


def _permutations(n: int, seeds: Sequence[int], epoch: int) -> torch.Tensor:
    """(R, n) row orders: repeat r's order for this epoch depends only on (seed_r, epoch)."""
    return torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(int(s) * 100_003 + epoch))
                        for s in seeds])


@torch.no_grad()
def evaluate(net: BatchedNet, x: torch.Tensor, y: torch.Tensor, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean cross-entropy per repeat on the same rows: arrays of shape (R,)."""
    was_training = net.training
    net.eval()
    correct = torch.zeros(net.repeats, dtype=torch.float64)
    loss = torch.zeros(net.repeats, dtype=torch.float64)
    for i in range(0, len(y), chunk):
        xb, yb = x[i:i + chunk], y[i:i + chunk]
        logits = net(xb[:, None, :].expand(-1, net.repeats, -1))  # (B, R, C)
        correct += (logits.argmax(-1) == yb[:, None]).sum(0)
        loss += F.cross_entropy(logits.permute(0, 2, 1), yb[:, None].expand(-1, net.repeats),
                                reduction="none").sum(0)
    net.train(was_training)
    return (correct / len(y)).numpy(), (loss / len(y)).numpy()


def fit(cfg: TrialConfig, splits: Splits, seeds: Sequence[int], progress=None) -> tuple[BatchedNet, list[TrainResult]]:
    """Train len(seeds) repeats of ``cfg`` together; ``progress(epoch)`` is called after each epoch."""
    start = time.perf_counter()
    net = build(cfg, seeds)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.train.lr, foreach=True)
    x_train, y_train = torch.from_numpy(splits.train.x), torch.from_numpy(splits.train.y)
    x_val, y_val = torch.from_numpy(splits.val.x), torch.from_numpy(splits.val.y)
    n, bs, r = len(y_train), cfg.train.batch_size, len(seeds)
    val_acc, val_loss = [], []
    last_acc = np.zeros(r)
    net.train()
    for epoch in range(cfg.train.epochs):
        order = _permutations(n, seeds, epoch)  # (R, n)
        for i in range(0, n, bs):
            idx = order[:, i:i + bs].T  # (B, R): row of sample b for repeat r
            xb, yb = x_train[idx], y_train[idx]  # (B, R, 16), (B, R)
            logits = net(xb)
            # sum over repeats of each repeat's mean loss: every repeat gets exactly its own gradient
            loss = F.cross_entropy(logits.permute(0, 2, 1), yb, reduction="mean") * r
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            last_acc = (logits.argmax(-1) == yb).double().mean(0).numpy()
        acc, lss = evaluate(net, x_val, y_val)
        val_acc.append(acc), val_loss.append(lss)
        if progress is not None:
            progress(epoch)
    seconds = time.perf_counter() - start
    results = [TrainResult(int(s), tuple(float(a[k]) for a in val_acc), tuple(float(v[k]) for v in val_loss),
                           float(last_acc[k]), seconds / r) for k, s in enumerate(seeds)]
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"config_yaml": dump_yaml(to_dict(cfg)), "seed": net.seeds[r], "state": net.repeat_state(r),
            "scaler": {"mean": scaler.mean, "std": scaler.std}, "metrics": metrics}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (train one with `jsc-hw sweep`)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    cfg = trial_from_yaml(blob["config_yaml"])
    net = build(cfg, [blob["seed"]])
    net.load_state_dict(blob["state"])
    net.eval()
    scaler = Scaler(tuple(blob["scaler"]["mean"]), tuple(blob["scaler"]["std"]))
    return Checkpoint(cfg, net, scaler, dict(blob["metrics"]))
