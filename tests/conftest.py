"""Shared fixtures: a small, seeded, JSC-shaped synthetic dataset (no network, no generator needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jsc_hw.schema import CLASSES, FEATURES, N_FEATURES


def synthetic_jets(n_per_class: int = 600, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Five overlapping Gaussian classes in 16 dimensions (a linear model reaches roughly 80-90 %)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(len(CLASSES), N_FEATURES))
    x = np.concatenate([rng.normal(c, 1.5, size=(n_per_class, N_FEATURES)) for c in centres])
    y = np.repeat(np.arange(len(CLASSES)), n_per_class)
    return x.astype(np.float32), y.astype(np.int64)


def write_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.savez(path, features=x, names=np.array(FEATURES), label=y)
    return path


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x, y = synthetic_jets()
    return write_npz(tmp_path_factory.mktemp("data") / "synthetic.npz", x, y)
