"""Readers for JSC data files.  Every reader returns :class:`jsc_hw.schema.Jets` in canonical order.

Extend by writing ``def read_x(path: Path) -> Jets`` and adding one line to ``READERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from jsc_hw.schema import FEATURES, Jets


def read_npz(path: Path) -> Jets:
    """An ``.npz`` with ``features`` + ``names`` + ``label`` (jsc-hw generator chunks), or a folder of them."""
    files = sorted(path.glob("*.npz")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"{path}: no .npz files in this folder")
    xs, ys = [], []
    for f in files:
        with np.load(f, allow_pickle=False) as d:
            missing = {"features", "names", "label"} - set(d.files)
            if missing:
                raise ValueError(f"{f}: missing arrays {sorted(missing)}")
            names = [str(n) for n in d["names"]]
            absent = [c for c in FEATURES if c not in names]
            if absent:
                raise ValueError(f"{f}: missing feature columns {absent}")
            cols = [names.index(c) for c in FEATURES]
            xs.append(d["features"][:, cols])
            ys.append(d["label"])
    return Jets(np.concatenate(xs), np.concatenate(ys), source=str(path))


READERS: dict[str, Callable[[Path], Jets]] = {"npz": read_npz}


def read_jets(path: str | Path, fmt: str | None = None) -> Jets:
    """Read a JSC file or folder; ``fmt`` overrides the guess from the file suffix."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    key = fmt or ("npz" if path.is_dir() else path.suffix.lstrip(".").lower())
    if key not in READERS:
        raise ValueError(f"{path}: unknown data format {key!r}; pass --format, one of {sorted(READERS)}")
    return READERS[key](path)
