"""Seeded, disjoint train/val/test splits and a standardisation fitted on the training split only.

The validation split is never training data (MASE and LogicNets validate on their training set; we do not),
and the test split is touched only by export and reports.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from jsc_hw import loaders
from jsc_hw.config import DataSpec
from jsc_hw.errors import ConfigError, DataError, MissingError
from jsc_hw.schema import Jets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scaler:
    """Per-feature standardisation; saved with every model so inference uses the training statistics."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray) -> Scaler:
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0  # a constant feature stays constant instead of becoming NaN
        return cls(tuple(map(float, mean)), tuple(map(float, std)))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    @classmethod
    def load(cls, path: str | Path) -> Scaler:
        """A scaler saved as JSON (``{"mean": [...], "std": [...]}``) or NPZ (arrays ``mean``, ``std``)."""
        path = Path(path)
        if not path.is_file():
            raise MissingError(f"{path}: no such scaler file (JSON with mean/std lists, or NPZ with mean/std)")
        blob = json.loads(path.read_text()) if path.suffix == ".json" else dict(np.load(path))
        try:
            mean, std = (np.asarray(blob[k], np.float64).reshape(-1) for k in ("mean", "std"))
        except KeyError as exc:
            raise DataError(f"{path}: a scaler needs 'mean' and 'std' ({exc} missing)") from exc
        if mean.shape != std.shape or not np.all(std > 0):
            raise DataError(f"{path}: mean and std must have the same length and std > 0")
        return cls(tuple(map(float, mean)), tuple(map(float, std)))


@dataclass(frozen=True)
class Split:
    x: np.ndarray  #: standardised features, float32 (N, 16)
    y: np.ndarray  #: canonical labels, int64 (N,)
    rows: np.ndarray  #: row indices into the source dataset (for provenance and disjointness checks)


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split
    scaler: Scaler
    source: str


def split_rows(n: int, val_fraction: float, test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded permutation cut into three disjoint index sets (train, val, test)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    if min(n_test, n_val, n - n_test - n_val) < 1:
        raise ConfigError(f"{n} rows are too few for val_fraction={val_fraction}, test_fraction={test_fraction}: "
                          "each split needs at least one row (raise data.max_rows)")
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return np.sort(train), np.sort(val), np.sort(test)


def make_splits(jets: Jets, spec: DataSpec) -> Splits:
    n = len(jets)
    subset = np.arange(n)
    if spec.max_rows is not None and spec.max_rows < n:
        subset = np.sort(np.random.default_rng(spec.split_seed + 1).choice(n, spec.max_rows, replace=False))
    parts = split_rows(len(subset), spec.val_fraction, spec.test_fraction, spec.split_seed)
    train_rows, val_rows, test_rows = (subset[p] for p in parts)
    scaler = Scaler.fit(jets.x[train_rows])

    def part(rows: np.ndarray) -> Split:
        return Split(scaler(jets.x[rows]), jets.y[rows], rows)

    return Splits(part(train_rows), part(val_rows), part(test_rows), scaler, jets.source)


@lru_cache(maxsize=4)
def _jets(path: str | None, fmt: str | None, drop_invalid: bool) -> Jets:
    return loaders.read_jets(path, fmt, drop_invalid=drop_invalid) if path else loaders.default_jets()


def load_splits(spec: DataSpec) -> Splits:
    """Load the dataset named by ``spec`` (the embedded default when ``spec.path`` is None) and split it."""
    splits = make_splits(_jets(spec.path, spec.format, spec.drop_invalid), spec)
    log.debug("%s: train %d, val %d, test %d rows", splits.source, len(splits.train.y), len(splits.val.y),
              len(splits.test.y))
    return splits


def held_out_split(spec: DataSpec, scaler: Scaler | None = None) -> tuple[Split, str]:
    """The test split of ``spec``'s dataset standardised with ``scaler``, or with the scaler fitted on its own training
    split when None; and a description of both (for a model trained elsewhere, e.g. a QONNX file)."""
    jets = _jets(spec.path, spec.format, spec.drop_invalid)
    splits = make_splits(jets, spec)
    if scaler is None:
        return splits.test, f"test split of {splits.source}, standardised with its training split's statistics"
    if len(scaler.mean) != jets.x.shape[1]:
        raise DataError(f"the scaler has {len(scaler.mean)} features, the dataset {jets.x.shape[1]}")
    test = splits.test
    return Split(scaler(jets.x[test.rows]), test.y, test.rows), f"test split of {splits.source}, the given scaler"
