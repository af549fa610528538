"""C++ helpers compiled on first use with the system compiler (``$CXX``, else ``g++``) into the per-user cache.

There is no build step at install time: a library is compiled the first time it is needed (a few seconds) into
``~/.cache/jsc-hw`` (or ``$JSC_HW_CACHE``), in a folder named after a hash of its source, the compiler flags and
whatever else it depends on (``key``), and loaded from there afterwards.  Parallel workers may build it at the same
time: each compiles to its own file and renames it into place.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from jsc_hw.errors import MissingError, ToolError

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    return Path(os.environ.get("JSC_HW_CACHE", Path.home() / ".cache" / "jsc-hw"))


def build(source: Path, name: str, flags: Sequence[str], key: str = "", timeout_s: float = 300.0) -> Path:
    """Compile ``source`` into ``lib<name>.so`` once per (source, flags, key); return its path."""
    digest = hashlib.sha256(source.read_bytes() + " ".join(flags).encode() + key.encode()).hexdigest()[:16]
    out_dir = cache_dir() / f"{name}-{digest}"
    lib = out_dir / f"lib{name}.so"
    if lib.exists():
        return lib
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise MissingError(f"no C++ compiler (g++) on PATH to build {source.name}: install one (apt install g++)")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"lib{name}.{os.getpid()}.so"
    log.info("building %s in %s", source.name, out_dir)
    try:
        subprocess.run([compiler, "-fPIC", "-shared", str(source), *flags, "-o", str(tmp)], cwd=out_dir, check=True,
                       timeout=timeout_s, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or "").strip().splitlines()
        raise ToolError(f"{compiler} could not build {source.name} ({said[-1] if said else f'exit {exc.returncode}'}):"
                        f" check the compiler, or set CXX to another one") from exc
    os.replace(tmp, lib)  # atomic: parallel workers may build at the same time
    return lib


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc <malloc.h>


def keep_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Let glibc's malloc reuse freed blocks of up to ``mmap_threshold`` bytes instead of unmapping them.

    A training step allocates and frees activations of a few MB; by default glibc maps and unmaps each one, and
    the kernel zero-fills every page again on first touch (JSC_rs1923, R = 10, batch 256: ~4,400 page faults and
    ~6 ms of system time in a 21 ms step).  Process-wide and idempotent; the job runner (``jobs.train_repeats``)
    calls it in each worker.  Returns False where the C library is not glibc (nothing changes).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "mallopt"):
        return False
    return all(libc.mallopt(k, v) == 1 for k, v in ((_M_MMAP_THRESHOLD, mmap_threshold),
                                                     (_M_TRIM_THRESHOLD, trim_threshold), (_M_TOP_PAD, 16 << 20)))
