"""The canonical JSC schema: one feature order and one label order for the whole toolkit.

Every loader converts its source's order into these; nothing downstream ever sees another order.
Feature order is the hls4ml / OpenML order (names with the ``j_`` prefix of the ROOT/.z production).
Label order is the one-hot order of the CERNBox ``.z`` file: g, q, w, z, t.  OpenML's LabelEncoder order
(g, q, t, w, z) differs: convert with :func:`label_index`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jsc_hw.errors import DataError

FEATURES: tuple[str, ...] = (
    "j_zlogz", "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt",
    "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt", "j_m2_b1_mmdt", "j_m2_b2_mmdt",
    "j_n2_b1_mmdt", "j_n2_b2_mmdt", "j_mass_mmdt", "j_multiplicity",
)
CLASSES: tuple[str, ...] = ("g", "q", "w", "z", "t")
#: how every accuracy in jsc-hw resolves a tied maximum (stated wherever an accuracy is printed)
TIE_RULE = ("accuracy = argmax of the outputs vs the label; a tied maximum counts as the first tied class in the "
            "order g, q, w, z, t (torch/numpy argmax), so ties favour g")
N_FEATURES = len(FEATURES)
N_CLASSES = len(CLASSES)

#: label orders of the published releases, as class names in index order
OPENML_CLASSES: tuple[str, ...] = ("g", "q", "t", "w", "z")
ZFILE_CLASSES: tuple[str, ...] = ("g", "q", "w", "z", "t")


def feature_name(name: str) -> str:
    """Map a source's column name (with or without ``j_``, any case) to the canonical name."""
    key = name.strip().lower()
    if not key.startswith("j_"):
        key = "j_" + key
    if key not in FEATURES:
        raise DataError(f"{name!r} is not one of the 16 JSC features {FEATURES}")
    return key


def label_index(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """Convert class names ('g', 'Q', 'w', ...) to canonical indices; unknown names raise ValueError."""
    lookup = {c: i for i, c in enumerate(CLASSES)}
    names = np.asarray(labels).astype(str)
    out = np.empty(names.shape, dtype=np.int64)
    for i, n in enumerate(names.ravel()):
        k = n.strip().lower()
        if k not in lookup:
            raise DataError(f"unknown class label {str(n)!r}: expected one of {CLASSES}")
        out.ravel()[i] = lookup[k]
    return out


def reorder_labels(indices: np.ndarray, source_classes: Sequence[str]) -> np.ndarray:
    """Convert label indices given in ``source_classes`` order (e.g. OPENML_CLASSES) to canonical indices."""
    perm = np.array([CLASSES.index(c) for c in source_classes], dtype=np.int64)
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(source_classes)):
        raise DataError(f"label index out of range 0..{len(source_classes) - 1}")
    return perm[idx]


class Jets:
    """Feature matrix in canonical order and canonical label indices (float32 (N,16), int64 (N,))."""

    __slots__ = ("x", "y", "source")

    def __init__(self, x: np.ndarray, y: np.ndarray, source: str = "") -> None:
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise DataError(f"{source or 'data'}: features must have shape (N, {N_FEATURES}), got {x.shape}")
        if y.shape != (x.shape[0],):
            raise DataError(f"{source or 'data'}: {x.shape[0]} feature rows but labels of shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
            raise DataError(f"{source or 'data'}: label indices must lie in 0..{N_CLASSES - 1}")
        self.x, self.y, self.source = x, y, source

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=N_CLASSES)
        return {c: int(n) for c, n in zip(CLASSES, counts)}
