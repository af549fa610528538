"""jsc-hw: accuracy and FPGA cost of quantised jet-substructure classifiers, with one command.

The names below are imported on first use (PEP 562), so ``import jsc_hw`` and ``jsc-hw --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
_LAZY: dict[str, str] = {
    "ARCHITECTURES": "jsc_hw.nets", "BatchedNet": "jsc_hw.nets", "DataSpec": "jsc_hw.config",
    "ModelSpec": "jsc_hw.config", "QuantSpec": "jsc_hw.config", "SweepSpec": "jsc_hw.config",
    "TrainSpec": "jsc_hw.config", "TrialConfig": "jsc_hw.config", "load_sweep": "jsc_hw.config",
    "export_fpga": "jsc_hw.export", "FixedFormat": "jsc_hw.fixed",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jsc_hw' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
