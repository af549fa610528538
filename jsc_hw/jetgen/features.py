"""Jet clustering and the 16 JSC features of the leading jets of one event.

Two interchangeable backends behind one signature, ``(p4 (n,4) px,py,pz,E, R, ptmin, max_jets) -> (nj, len(COLUMNS))``:

* ``cpp``: ``_jscfeat.cc``, the original fjcontrib classes (SoftDrop, EnergyCorrelator*), compiled on first use
  with g++ against the FastJet + fjcontrib libraries shipped inside the ``fastjet`` wheel, cached in
  ``~/.cache/jsc-hw/`` (or ``$JSC_HW_CACHE``) under a hash of the source and the wheel location;
* ``numpy``: :mod:`jsc_hw.jetgen.numpy_features`, an independent implementation used when no compiler is
  available (agrees with ``cpp`` to ~1e-13, see tests/test_jetgen.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: output columns of both backends, in order (the 16 JSC features sit at COLUMNS[4:20])
COLUMNS: tuple[str, ...] = (
    "j_pt", "j_eta", "j_phi", "j_mass",
    "j_zlogz", "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt",
    "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt", "j_m2_b1_mmdt", "j_m2_b2_mmdt",
    "j_n2_b1_mmdt", "j_n2_b2_mmdt", "j_mass_mmdt", "j_multiplicity",
    "j_pt_mmdt", "j_nconst_mmdt",
)
SOURCE = Path(__file__).with_name("_jscfeat.cc")

JetFeatures = Callable[[np.ndarray, float, float, int], np.ndarray]


@dataclass(frozen=True)
class Backend:
    name: str
    compute: JetFeatures


def cache_dir() -> Path:
    return Path(os.environ.get("JSC_HW_CACHE", Path.home() / ".cache" / "jsc-hw"))


def build_library(timeout_s: float = 300.0) -> Path:
    """Compile ``_jscfeat.cc`` once per (source, fastjet wheel) into the cache; return the ``.so`` path."""
    import fastjet

    fj = Path(fastjet.__file__).resolve().parent
    key = hashlib.sha256(SOURCE.read_bytes() + str(fj).encode()).hexdigest()[:16]
    out_dir = cache_dir() / f"jscfeat-{key}"
    lib = out_dir / "libjscfeat.so"
    if lib.exists():
        return lib
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise RuntimeError("no C++ compiler (g++) on PATH: install one or use the numpy backend")
    libdir = fj / "lib64" if (fj / "lib64").is_dir() else fj / "lib"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"libjscfeat.{os.getpid()}.so"
    cmd = [compiler, "-O2", "-fPIC", "-shared", "-std=c++17", str(SOURCE), f"-I{fj / 'include'}", f"-L{libdir}",
           "-lfastjetcontribfragile", "-lfastjettools", "-lfastjet", f"-Wl,-rpath,{libdir}", "-o", str(tmp)]
    log.info("building the fjcontrib feature library in %s", out_dir)
    subprocess.run(cmd, cwd=out_dir, check=True, timeout=timeout_s, capture_output=True)
    os.replace(tmp, lib)  # atomic: parallel workers may build at the same time
    return lib


def _cpp_backend() -> Backend:
    lib = ctypes.CDLL(str(build_library()))
    lib.jsc_nout.restype = ctypes.c_int
    lib.jsc_name.restype = ctypes.c_char_p
    lib.jsc_name.argtypes = [ctypes.c_int]
    names = tuple(lib.jsc_name(i).decode() for i in range(lib.jsc_nout()))
    if names != COLUMNS:
        raise RuntimeError(f"{SOURCE}: feature columns {names} differ from features.COLUMNS")
    dp = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
    lib.jsc_event.restype = ctypes.c_int
    lib.jsc_event.argtypes = [ctypes.c_int, dp, dp, dp, dp, ctypes.c_double, ctypes.c_double, ctypes.c_int, dp]

    def compute(p4: np.ndarray, radius: float, ptmin: float, max_jets: int) -> np.ndarray:
        cols = [np.ascontiguousarray(p4[:, k], dtype=np.float64) for k in range(4)]
        out = np.zeros(max_jets * len(COLUMNS))
        nj = lib.jsc_event(len(p4), *cols, radius, ptmin, max_jets, out)
        return out[: nj * len(COLUMNS)].reshape(nj, len(COLUMNS))

    return Backend("cpp", compute)


def _numpy_backend() -> Backend:
    from jsc_hw.jetgen.numpy_features import event_features

    return Backend("numpy", event_features)


BACKENDS: dict[str, Callable[[], Backend]] = {"cpp": _cpp_backend, "numpy": _numpy_backend}


@cache
def load_backend(name: str = "auto") -> Backend:
    """``cpp`` or ``numpy``; ``auto`` tries ``cpp`` and falls back to ``numpy`` (logged) if it cannot be built."""
    if name != "auto":
        if name not in BACKENDS:
            raise ValueError(f"unknown feature backend {name!r}: choose one of {sorted(BACKENDS)} or 'auto'")
        return BACKENDS[name]()
    try:
        return _cpp_backend()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        log.warning("fjcontrib feature library unavailable (%s); using the pure-numpy backend", exc)
        return _numpy_backend()
