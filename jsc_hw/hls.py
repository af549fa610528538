"""The only module talking to hls4ml: precision config from the QONNX Quant nodes, convert, compile, predict.

Precisions are derived, not guessed:
* the input layer takes the first Quant node's type, so the bridge's float -> ap_fixed cast *is* the Brevitas
  input quantiser (round half to even, saturate).  hls4ml's default ``fixed<16,6,TRN,WRAP>`` truncates first
  and re-rounds, which misses ties (the main cause of mismatches: 82-95 % rows exact without this).  A graph
  without an input quantiser takes the given input format, onto which the rows are quantised beforehand;
* every other Quant node becomes its ap_fixed type by hls4ml itself, and accumulators are ``auto`` (minimal
  exact widths inferred with ``granularity='name'``);
* a float BatchNormalization gets scale/bias with ``BN_FRAC_BITS`` fraction bits and a result type wide enough
  to hold ``x * scale + bias`` without any rounding (exactness is then proven per input code, see export.py).

Known hls4ml 1.3.0 bugs are worked around in ``_workarounds`` and ``_linkable`` only.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jsc_hw.errors import ConfigError, ToolError
from jsc_hw.fixed import FixedFormat

log = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {"vitis": "Vitis", "vivado": "Vivado"}
STRATEGIES: dict[str, str] = {"latency": "Latency", "resource": "Resource"}
IO_TYPES: dict[str, str] = {"parallel": "io_parallel", "stream": "io_stream"}
DEFAULT_PART = "xcvu13p-flga2577-2-e"  # Virtex UltraScale+ VU13P, the hls4ml JSC papers' part
BN_FRAC_BITS = 28


class HlsError(ToolError):
    """An hls4ml step failed; the message names the step, and what was written so far is kept."""


@dataclass(frozen=True)
class HlsSpec:
    backend: str = "vitis"  #: key of BACKENDS
    io: str = "parallel"  #: key of IO_TYPES
    part: str = DEFAULT_PART
    clock_ns: float = 5.0
    strategy: str = "latency"  #: key of STRATEGIES
    reuse: int = 1

    def __post_init__(self) -> None:
        for key, table in (("backend", BACKENDS), ("io", IO_TYPES), ("strategy", STRATEGIES)):
            if getattr(self, key) not in table:
                raise ConfigError(f"--{key} {getattr(self, key)!r}: choose one of {sorted(table)}")
        if not (isinstance(self.reuse, int) and self.reuse >= 1 and math.isfinite(self.clock_ns) and self.clock_ns > 0):
            raise ConfigError(f"--reuse {self.reuse} / --clock-ns {self.clock_ns}: the reuse factor must be an integer "
                              ">= 1 and the clock period a finite number of ns > 0")


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())  # hls4ml prints every layer


def _signed_fixed(values: np.ndarray, frac: int) -> tuple[int, int]:
    """(width, int_bits) of a signed fixed type holding ``values`` with ``frac`` fraction bits."""
    top = float(np.max(np.abs(values))) if values.size else 0.0
    integer = max(1, math.floor(math.log2(top)) + 2) if top > 0 else 1
    return integer + frac, integer


def _batchnorm(model, node, in_fmt: FixedFormat) -> dict[str, str]:
    """Exact fixed-point types for a float BatchNormalization reading a quantised input."""
    gamma, beta, mean, var = (np.asarray(model.get_initializer(n), np.float64) for n in node.input[1:5])
    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    scale = gamma / np.sqrt(var + eps)
    bias = beta - mean * scale
    w_s, i_s = _signed_fixed(scale, BN_FRAC_BITS)
    w_b, i_b = _signed_fixed(bias, BN_FRAC_BITS)
    in_frac = in_fmt.bits - in_fmt.int_bits
    res_int = max(in_fmt.int_bits + i_s, i_b + 1) + 1  # |x*s| + |b| cannot overflow
    res_frac = in_frac + BN_FRAC_BITS  # the product's fraction bits: no rounding at all
    return {"scale": f"fixed<{w_s},{i_s},RND_CONV,SAT>", "bias": f"fixed<{w_b},{i_b},RND_CONV,SAT>",
            "result": f"fixed<{res_int + res_frac},{res_int}>"}


def _workarounds(model, formats: dict[str, FixedFormat], layers: dict[str, dict[str, Any]]) -> None:
    """hls4ml 1.3.0 bugs, in one place.

    * ``FuseConsecutiveBatchNormalization`` (optimizer/passes/batchnorm_opt.py) tests the bias against
      ``ones_like`` instead of ``zeros_like``; when it merges a Mul and an Add fed by Quant constants it drops the
      bias quantiser and casts the float bias with the default ``fixed<16,6,TRN,WRAP>`` (1-LSB errors).  Pin the
      Mul scale / Add bias precision to the Quant node's type (RND_CONV reproduces Brevitas's rounding).
    * ``convert_from_onnx_model`` mutates the config dict it is given (Quant layers read 'auto' before and the
      real type after), so ``convert`` passes a deep copy and the written config stays the derived one.
    """
    for node in model.graph.node:
        if node.op_type not in ("Add", "Mul"):
            continue
        for name in node.input:
            prod = model.find_producer(name)
            if prod is not None and prod.op_type == "Quant" and model.get_initializer(prod.input[0]) is not None:
                key = "bias" if node.op_type == "Add" else "scale"
                layers.setdefault(node.name, {}).setdefault("Precision", {})[key] = formats[prod.name].ap_type


@contextlib.contextmanager
def _python_tags_as_none():
    """yaml.SafeLoader reads ``!!python/object`` tags as None inside the block only (no global loader change)."""
    import yaml

    saved = yaml.SafeLoader.__dict__.get("yaml_multi_constructors")
    saved = None if saved is None else dict(saved)  # add_multi_constructor changes the class's own table in place
    yaml.add_multi_constructor("tag:yaml.org,2002:python/object", lambda loader, suffix, node: None,
                               Loader=yaml.SafeLoader)
    try:
        yield
    finally:
        if saved is None:
            del yaml.SafeLoader.yaml_multi_constructors  # back to the inherited (BaseConstructor) table
        else:
            yaml.SafeLoader.yaml_multi_constructors = saved


def _linkable(project_dir: Path) -> str:
    """hls4ml 1.3.0 bugs met when re-linking a written project (``link_existing_project``):

    * for ONNX models ``hls4ml_config.yml`` holds the qonnx ModelWrapper as a ``!!python/object`` tag, which
      its yaml.safe_load cannot read: read such tags as None while it links (``_python_tags_as_none``);
    * the ``Stamp`` in ``hls4ml_config.yml`` can differ from ``LIB_STAMP`` in ``build_lib.sh``, so the library it
      loads is a stale one, and a library path already loaded in this process is never reloaded (dlopen caches
      it): give the build a fresh stamp, remove the old libraries, and return the stamp for the config."""
    stamp = uuid.uuid4().hex[:8]
    script = project_dir / "build_lib.sh"
    script.write_text(re.sub(r"^LIB_STAMP=.*$", f"LIB_STAMP={stamp}", script.read_text(), flags=re.M))
    for old in (project_dir / "firmware").glob("*.so"):
        old.unlink()
    return stamp


def config(model, formats: dict[str, FixedFormat], first: FixedFormat, spec: HlsSpec,
           trace: tuple[str, ...] = ()) -> dict[str, Any]:
    """The hls4ml config dict, every precision derived from the QONNX graph."""
    import hls4ml

    with _quiet():
        cfg = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend=BACKENDS[spec.backend],
                                                         default_reuse_factor=spec.reuse)
    cfg["Model"]["Strategy"] = STRATEGIES[spec.strategy]
    layers = cfg["LayerName"]
    layers[model.graph.input[0].name]["Precision"]["result"] = first.ap_type
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            graph_input = node.input[0] == model.graph.input[0].name
            in_fmt = first if graph_input else formats.get(getattr(model.find_producer(node.input[0]), "name", ""))
            if in_fmt is None:
                raise HlsError(f"{node.name}: a float BatchNormalization must read a quantised tensor")
            layers[node.name]["Precision"].update(_batchnorm(model, node, in_fmt))
    _workarounds(model, formats, layers)
    for name in trace:
        layers.setdefault(name, {})["Trace"] = True
    return cfg


def convert(model, cfg: dict[str, Any], spec: HlsSpec, out_dir: Path, tb_input: Path | None = None,
            tb_output: Path | None = None):
    """The hls4ml model of the cleaned QONNX graph; ``compile_model`` writes it (firmware, tb_data, tcl) to
    ``out_dir``.  ``tb_input``/``tb_output`` (.npy) become the testbench data."""
    import hls4ml

    try:
        with _quiet():
            return hls4ml.converters.convert_from_onnx_model(
                model, output_dir=str(out_dir), project_name="myproject", backend=BACKENDS[spec.backend],
                io_type=IO_TYPES[spec.io], part=spec.part, clock_period=spec.clock_ns,
                hls_config=copy.deepcopy(cfg), input_data_tb=str(tb_input) if tb_input else None,
                output_data_tb=str(tb_output) if tb_output else None)
    except Exception as exc:  # hls4ml raises bare Exceptions for unsupported layers
        raise HlsError(f"hls4ml conversion ({spec.backend}, io_{spec.io}) failed: {type(exc).__name__}: {exc}. "
                       f"The QONNX files written so far are kept in {out_dir}") from exc


def compile_model(hm, write: bool = True) -> float:
    """Write the project (unless it is a linked one), then g++-build its C-simulation library; returns seconds."""
    out = hm.config.get_output_dir()
    try:
        if write:
            with _quiet():
                hm.write()
    except Exception as exc:
        raise HlsError(f"hls4ml write of the project to {out} failed: {type(exc).__name__}: {exc}") from exc
    if shutil.which("g++") is None:
        raise HlsError("C-simulation needs a C++ compiler: install g++ (Debian: apt-get install g++). The hls4ml "
                       f"project is written in {out}; vendor C-synthesis does not need g++")
    start = time.perf_counter()
    try:
        with _quiet():
            hm.compile()
    except Exception as exc:
        raise HlsError(f"hls4ml compile (g++ via build_lib.sh in {out}) failed: {exc}") from exc
    return time.perf_counter() - start


def link(project_dir: Path):
    """An existing project as an hls4ml model that can only compile and predict (re-verify after hand edits)."""
    import hls4ml

    if not (project_dir / "hls4ml_config.yml").is_file():
        raise HlsError(f"{project_dir}: not an hls4ml project (no hls4ml_config.yml); export one with "
                       "`jsc-hw export --fpga`")
    stamp = _linkable(project_dir)
    with _python_tags_as_none():
        hm = hls4ml.converters.link_existing_project(str(project_dir))
    hm.config.config["Stamp"] = stamp
    hm.config.config["OutputDir"] = str(project_dir.resolve())  # the yml names the folder it was written to
    return hm


def predict(hm, x: np.ndarray) -> np.ndarray:
    """C-simulation outputs, float64 (N, n_out); ``x`` is (N, *input shape in channels-last order).

    Through the bridge's double entry point: an ap_fixed output wider than 24 bits (raw logits) is exact in a
    double, not in a float."""
    with _quiet():
        y = hm.predict(np.ascontiguousarray(x, dtype=np.float64))
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def trace(hm, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-layer outputs of the layers compiled with Trace=True."""
    with _quiet():
        _, traces = hm.trace(np.ascontiguousarray(x, dtype=np.float64))
    return {k: np.asarray(v, dtype=np.float64).reshape(len(x), -1) for k, v in traces.items()}


def layer_types(hm) -> dict[str, dict[str, str]]:
    """Precision of every hls4ml layer after conversion (for the verification report)."""
    return {layer.name: {k: str(v.precision) for k, v in layer.types.items()} for layer in hm.get_layers()}
