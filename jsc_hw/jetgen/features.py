"""Jet clustering and the 16 JSC features of the leading jets of one event.

Interchangeable backends behind two signatures: ``event(p4 (n,4) px,py,pz,E, R, ptmin, max_jets) -> (nj,
len(COLUMNS))`` clusters a whole event; ``jet(constituents (n,4)) -> (0 or 1, len(COLUMNS))`` takes the
constituents of one jet already found (by Pythia's SlowJet, i.e. fjcore anti-kT, see ``pythia.Event``):

* ``cpp``: ``_jscfeat.cc``: FastJet clustering, fjcontrib SoftDrop, and the ECF sums of the fjcontrib
  ``EnergyCorrelator*`` classes computed in one fused pass; compiled on first use with g++ against the FastJet +
  fjcontrib libraries shipped inside the ``fastjet`` wheel, cached by :mod:`jsc_hw.native` under a hash of the
  source and the wheel location;
* ``fjcontrib``: the same library calling the fjcontrib classes one observable at a time (the reference);
* ``numpy``: :mod:`jsc_hw.jetgen.numpy_features`, an independent implementation used when no compiler is
  available.  All three agree to ~1e-13 (tests/test_jetgen.py).
"""

from __future__ import annotations

import ctypes
import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from jsc_hw import native
from jsc_hw.errors import ConfigError, ToolError
from jsc_hw.jetgen.columns import COLUMNS

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_jscfeat.cc")

EventFeatures = Callable[[np.ndarray, float, float, int], np.ndarray]
JetFeatures = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Backend:
    name: str
    compute: EventFeatures  # a whole event: cluster, then the leading jets' features
    jet: JetFeatures  # the constituents of one jet


def build_library() -> Path:
    """Compile ``_jscfeat.cc`` once per (source, fastjet wheel) into the cache; return the ``.so`` path."""
    import fastjet

    fj = Path(fastjet.__file__).resolve().parent
    libdir = fj / "lib64" if (fj / "lib64").is_dir() else fj / "lib"
    flags = ["-O2", "-std=c++17", f"-I{fj / 'include'}", f"-L{libdir}", "-lfastjetcontribfragile", "-lfastjettools",
             "-lfastjet", f"-Wl,-rpath,{libdir}"]
    return native.build(SOURCE, "jscfeat", flags, key=str(fj))


def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(build_library()))
    lib.jsc_nout.restype = ctypes.c_int
    lib.jsc_name.restype = ctypes.c_char_p
    lib.jsc_name.argtypes = [ctypes.c_int]
    names = tuple(lib.jsc_name(i).decode() for i in range(lib.jsc_nout()))
    if names != COLUMNS:
        raise ToolError(f"{SOURCE}: feature columns {names} differ from features.COLUMNS")
    dp = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
    for fn in (lib.jsc_event, lib.jsc_event_fjcontrib):
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int, dp, dp, dp, dp, ctypes.c_double, ctypes.c_double, ctypes.c_int, dp]
    lib.jsc_jet.restype = ctypes.c_int
    lib.jsc_jet.argtypes = [ctypes.c_int, dp, dp, dp, dp, dp]
    return lib


def _columns(p4: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(p4[:, k], dtype=np.float64) for k in range(4)]


def _cpp_backend(fused: bool = True) -> Backend:
    lib = _library()
    event_fn = lib.jsc_event if fused else lib.jsc_event_fjcontrib

    def compute(p4: np.ndarray, radius: float, ptmin: float, max_jets: int) -> np.ndarray:
        out = np.zeros(max_jets * len(COLUMNS))
        nj = event_fn(len(p4), *_columns(p4), radius, ptmin, max_jets, out)
        return out[: nj * len(COLUMNS)].reshape(nj, len(COLUMNS))

    def jet(cons: np.ndarray) -> np.ndarray:
        out = np.zeros(len(COLUMNS))
        return out.reshape(lib.jsc_jet(len(cons), *_columns(cons), out), len(COLUMNS))

    return Backend("cpp" if fused else "fjcontrib", compute, jet)


def _numpy_backend() -> Backend:
    from jsc_hw.jetgen.numpy_features import event_features, jet_row

    return Backend("numpy", event_features, jet_row)


BACKENDS: dict[str, Callable[[], Backend]] = {"cpp": _cpp_backend, "fjcontrib": lambda: _cpp_backend(fused=False),
                                              "numpy": _numpy_backend}


@cache
def load_backend(name: str = "auto") -> Backend:
    """``cpp`` or ``numpy``; ``auto`` tries ``cpp`` and falls back to ``numpy`` (logged) if it cannot be built."""
    if name != "auto":
        if name not in BACKENDS:
            raise ConfigError(f"unknown feature backend {name!r}: choose one of {sorted(BACKENDS)} or 'auto'")
        return BACKENDS[name]()
    try:
        return _cpp_backend()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        log.warning("fjcontrib feature library unavailable (%s); using the pure-numpy backend", exc)
        return _numpy_backend()
