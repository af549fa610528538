"""Writing files so that a reader never sees half of one: every file a run writes goes through ``atomic_write``.

The bytes go to a hidden temporary file in the same folder (``.<name>.<pid>.<thread>.tmp``), are flushed to disk,
and the temporary file is renamed over the target: a process killed at any moment leaves the old file or the new
one, never a truncated one.  A killed writer can leave its temporary file behind; ``remove_stale_tmp`` clears them
when a run starts again.
"""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path
from typing import Any

from jsc_hw.errors import ConfigError


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically, creating its folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    blob = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when the write or the rename failed
    return path


def atomic_json(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, json.dumps(obj, indent=1) + "\n")


def atomic_savefig(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """A matplotlib figure saved as PNG atomically (rendered to memory first)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **kwargs)
    return atomic_write(path, buf.getvalue())


def remove_stale_tmp(folder: str | Path) -> int:
    """Delete temporary files a killed writer left in ``folder``; returns how many."""
    stale = list(Path(folder).glob(".*.tmp")) if Path(folder).is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def output_folder(path: str | Path, what: str = "--out") -> Path:
    """``path`` as a folder to write into, created if needed; a clear error when it is a file."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise ConfigError(f"{what} {path}: {p} is a file, not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot create the folder ({exc.strerror})") from None
    return path
