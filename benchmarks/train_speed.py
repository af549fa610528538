"""Training speed: jsc-hw's trainer against the usual Dataset/DataLoader loop, on the same data and machine.

    python benchmarks/train_speed.py                  # embedded dataset, every case, plus the full study
    python benchmarks/train_speed.py --quick          # ~2 minutes: 20k rows, fewer timed steps, no study
    python benchmarks/train_speed.py --data DIR_OR_FILE --study-workers 2

Baselines: the Brevitas model ``BatchedNet(...).twin(0)`` in train mode, ``torch.optim.Adam`` with the same
learning rate and batch size, cross-entropy, fed (1) "the usual way", by a torch ``Dataset`` whose
``__getitem__`` returns one sample and a shuffling ``DataLoader``, and (2) "in memory", as a competent user
writes it: whole tensors, index batches of a random permutation, no DataLoader.  Their epoch times are
extrapolated from timed steps after a warm-up (a full DataLoader epoch at batch size 16 takes minutes).
jsc-hw: ``jsc_hw.train.fit`` for two whole epochs (set-up and per-epoch validation included, which the
baselines do not do), with R = 1 and with R = 10 repeats trained as one batched model; for R = 10 the figure
is per model (epoch time / 10), which is what a study of 10 repeats pays.  Every case runs with one thread
(``--threads``), as sweep workers do, and is timed in CPU seconds of this process (``time.process_time``: on
an idle core the same as wall time, and much less disturbed by other jobs on a shared machine); the two
studies (8-bit QAT and float) are timed in wall seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from jsc_hw import kernels, loaders, native
from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, TrainSpec, TrialConfig, load_sweep
from jsc_hw.data import Splits, make_splits
from jsc_hw.nets import BatchedNet
from jsc_hw.schema import FEATURES, Jets
from jsc_hw.train import fit

ROOT = Path(__file__).resolve().parents[1]
CASES: dict[str, tuple[str, QuantSpec]] = {
    "JSC-Tiny float": ("jsc_tiny", QuantSpec(enabled=False)),
    "JSC-Tiny 8-bit QAT": ("jsc_tiny", QuantSpec()),
    "JSC_rs1923 8-bit QAT": ("jsc_rs1923", QuantSpec()),
}
BATCH_SIZES = (16, 256, 1024)


class RowDataset(Dataset):
    """One sample per ``__getitem__``, as in the usual tutorial loop."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.x[i]), int(self.y[i])


def _loop_epoch_seconds(arch: str, q: QuantSpec, batches, n_batches: int, lr: float, steps: int) -> float:
    """Seconds per epoch of a textbook loop over the Brevitas twin, from ``steps`` timed steps after 10 warm-up."""
    net = BatchedNet(arch, q, [0])
    model = net.twin(0).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = min(steps, n_batches - 10)
    done, start = 0, 0.0
    for xb, yb in batches:
        if done == 10:
            start = time.process_time()
        loss = F.cross_entropy(model(xb.view(-1, *net.input_shape)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += 1
        if done == 10 + steps:
            break
    return (time.process_time() - start) / steps * n_batches


def baseline_epoch_seconds(arch: str, q: QuantSpec, splits: Splits, bs: int, lr: float, steps: int) -> float:
    """The usual loop: a one-sample-per-item Dataset and a shuffling DataLoader."""
    loader = DataLoader(RowDataset(splits.train.x, splits.train.y), batch_size=bs, shuffle=True)
    return _loop_epoch_seconds(arch, q, loader, len(loader), lr, steps)


def in_memory_epoch_seconds(arch: str, q: QuantSpec, splits: Splits, bs: int, lr: float, steps: int) -> float:
    """The loop a competent user writes: whole tensors in memory, index batches of a permutation, no DataLoader."""
    x, y = torch.from_numpy(splits.train.x), torch.from_numpy(splits.train.y)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    batches = ((x[order[i:i + bs]], y[order[i:i + bs]]) for i in range(0, len(y), bs))
    return _loop_epoch_seconds(arch, q, batches, -(-len(y) // bs), lr, steps)


def fast_epoch_seconds(arch: str, q: QuantSpec, splits: Splits, bs: int, lr: float, repeats: int,
                       epochs: int = 2) -> float:
    """Seconds per epoch of ``fit`` with ``repeats`` models (whole epochs, set-up and validation included)."""
    cfg = TrialConfig(model=ModelSpec(arch=arch), quant=q, train=TrainSpec(epochs=epochs, batch_size=bs, lr=lr))
    start = time.process_time()
    fit(cfg, splits, list(range(repeats)))
    return (time.process_time() - start) / epochs


def study_seconds(jets_path: Path, workers: int, out: Path, overrides: dict | None = None) -> float:
    """Wall time of the full JSC-Tiny hyperparameter study (12 trials x 10 repeats) via ``run_sweep``."""
    from jsc_hw.sweep import run_sweep, with_overrides

    spec = with_overrides(load_sweep(ROOT / "sweeps" / "jsc_tiny_hyperparameters.yaml"),
                          {"data.path": str(jets_path), **(overrides or {})})
    start = time.perf_counter()
    run_sweep(spec, out, workers=workers)
    return time.perf_counter() - start


STUDIES: dict[str, dict] = {"8-bit QAT": {}, "float": {"quant.enabled": False}}


def load_jets(path: str | None, folder: Path) -> tuple[Jets, Path]:
    """The dataset and a clean NPZ of it (NaN rows dropped) in ``folder``, which sweep workers read by path."""
    jets = loaders.read_jets(path, drop_invalid=True) if path else loaders.default_jets()
    clean = folder / "jets.npz"
    np.savez(clean, features=jets.x, names=np.array(FEATURES), label=jets.y)
    return jets, clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="JSC file or folder (default: the embedded dataset)")
    parser.add_argument("--quick", action="store_true", help="20k rows, 100 timed baseline steps, no study")
    parser.add_argument("--steps", type=int, default=300, help="timed baseline steps per case")
    parser.add_argument("--repeats", type=int, default=10, help="repeats trained as one batched model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (sweep workers use 1)")
    parser.add_argument("--study-workers", type=int, default=2, help="worker processes for the study")
    parser.add_argument("--no-study", action="store_true", help="skip the full-study timing")
    parser.add_argument("--cases", nargs="*", default=list(CASES), help=f"subset of {list(CASES)}")
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=list(BATCH_SIZES))
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (sweep workers call native.keep_freed_memory)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.default_malloc:  # as every sweep worker does; the baselines run with the same allocator
        native.keep_freed_memory()
    with tempfile.TemporaryDirectory(prefix="jsc_bench_") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    jets, clean = load_jets(args.data, tmp)
    spec = DataSpec(max_rows=20_000 if args.quick else None)
    splits = make_splits(jets, spec)
    steps = 100 if args.quick else args.steps
    r = args.repeats
    print(f"data: {jets.source} ({len(jets)} rows; train {len(splits.train.y)}), torch {torch.__version__}, "
          f"{args.threads} thread(s), lr 1e-3, native kernels {'on' if kernels.library() else 'off'}, "
          f"malloc {'default' if args.default_malloc else 'keeps freed memory'}")
    print(f"| case | batch | DataLoader s/epoch | in-memory s/epoch | jsc-hw R=1 s/epoch | ratio R=1 | "
          f"jsc-hw R={r} s/epoch (per model) | per model vs DataLoader | per model vs in-memory |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.cases:
        arch, q = CASES[name]
        for bs in args.batch_sizes:
            base = baseline_epoch_seconds(arch, q, splits, bs, 1e-3, steps)
            mem = in_memory_epoch_seconds(arch, q, splits, bs, 1e-3, steps)
            one = fast_epoch_seconds(arch, q, splits, bs, 1e-3, 1)
            many = fast_epoch_seconds(arch, q, splits, bs, 1e-3, r)
            print(f"| {name} | {bs} | {base:.2f} | {mem:.2f} | {one:.3f} | {base / one:.1f}x | {many:.2f} "
                  f"({many / r:.3f}) | {base / (many / r):.1f}x | {mem / (many / r):.1f}x |", flush=True)
    if not (args.quick or args.no_study):
        for label, overrides in STUDIES.items():
            seconds = study_seconds(clean, args.study_workers, tmp / label.replace(" ", "_"), overrides)
            print(f"\nfull study sweeps/jsc_tiny_hyperparameters.yaml, {label} (12 trials x 10 repeats, {len(jets)} "
                  f"jets, {args.study_workers} workers): {seconds:.0f} s wall ({seconds / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
