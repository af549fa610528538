"""A LUT count in about a second: Yosys ``synth_xilinx`` LUTs predicted from the logic jsc-hw's Verilog instantiates.

The Verilog writer counts what it instantiates (``verilog.Logic``: the widths of every two-input adder, and truth
tables as LUT6s); a Yosys LUT count is close to linear in those sizes (one LUT per adder bit on a carry chain,
less what Yosys folds or shares).  ``fit`` calibrates the two coefficients on designs that were synthesised
(``Sample``: a checkpoint's ``Logic`` beside its Yosys LUTs), minimising the *relative* error so that a 300-LUT
design counts as much as a 300,000-LUT one; ``loo_errors`` gives the leave-one-out errors of a calibration set and
``errors`` the errors on designs it did not see.  The package ships a calibration (``lut_model.json``, made by
``benchmarks/lut_model.py`` from the records in ``docs/hardware``), which ``default_model`` reads.

It is an estimate: the search ranks trials with it (``cost: lut_model``); a figure in a report or a table is
always a Yosys count of Verilator-checked RTL.  It covers the flows whose Verilog ``jsc_hw.hardware.verilog``
writes (``jsc-hw`` shift-and-add and ``lut`` truth tables), xc7 without DSPs, each module synthesised once.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

from jsc_hw.errors import ConfigError, RunFolderError
from jsc_hw.hardware import rtl, verilog
from jsc_hw.hardware.verilog import Logic

MULT_OF_FLOW = {"jsc-hw": "csd", "lut": "lut"}  #: RTL flows the model covers -> the Verilog writer's mult


@dataclass(frozen=True)
class Sample:
    name: str
    logic: Logic
    lut: int  #: Yosys synth_xilinx LUT1-6 + INV


@dataclass(frozen=True)
class LutModel:
    per_adder_bit: float
    per_table_lut: float
    designs: int = 0  #: calibration designs
    loo_mape: float = math.nan  #: leave-one-out mean absolute relative error on them
    loo_max: float = math.nan  #: and its largest
    yosys: str = ""  #: the Yosys version of the calibration figures

    def predict(self, logic: Logic) -> float:
        return self.per_adder_bit * logic.adder_bits + self.per_table_lut * logic.table_luts


def _features(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[s.logic.adder_bits, s.logic.table_luts] for s in samples], dtype=np.float64)
    return x, np.array([s.lut for s in samples], dtype=np.float64)


def _solve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    w = 1.0 / y  # least squares of the relative error
    return np.linalg.lstsq(x * w[:, None], y * w, rcond=None)[0]


def errors(model: LutModel, samples: Sequence[Sample]) -> list[float]:
    """predicted / Yosys - 1 for each sample."""
    return [model.predict(s.logic) / s.lut - 1.0 for s in samples]


def loo_errors(samples: Sequence[Sample]) -> list[float]:
    """Leave-one-out: each sample predicted by the model fitted on all the others."""
    x, y = _features(samples)
    keep = np.ones(len(y), dtype=bool)
    out = []
    for i in range(len(y)):
        keep[i] = False
        out.append(float(x[i] @ _solve(x[keep], y[keep]) / y[i] - 1.0))
        keep[i] = True
    return out


def fit(samples: Sequence[Sample], yosys: str = "") -> LutModel:
    if len(samples) < 3:
        raise ConfigError(f"a LUT model needs at least 3 synthesised designs, got {len(samples)}")
    c = _solve(*_features(samples))
    loo = [abs(e) for e in loo_errors(samples)]
    return LutModel(float(c[0]), float(c[1]), len(samples), float(np.mean(loo)), float(np.max(loo)), yosys)


def logic_of(net: rtl.IntNet, rtl_flow: str = "jsc-hw") -> Logic:
    """What the Verilog of ``net`` instantiates (written into a temporary folder and dropped)."""
    if rtl_flow not in MULT_OF_FLOW:
        raise ConfigError(f"the LUT model covers the RTL flows {sorted(MULT_OF_FLOW)}, not {rtl_flow!r}")
    with tempfile.TemporaryDirectory() as tmp:
        return verilog.write_verilog(net, tmp, mult=MULT_OF_FLOW[rtl_flow]).logic


def checkpoint_logic(checkpoint: str | Path, rtl_flow: str | None = None) -> Logic:
    """``Logic`` of repeat 0 of a checkpoint in ``rtl_flow`` (default: the flow the search costs it by,
    ``synth.flow_for``: truth tables when model.fan_in)."""
    from jsc_hw.hardware.synth import flow_for
    from jsc_hw.train import load_checkpoint

    ck = load_checkpoint(checkpoint)
    return logic_of(rtl.lower(ck.net.twin(0), ck.net.input_shape), rtl_flow or flow_for(ck.config.model))


def samples_from(synth_jsons: Iterable[str | Path]) -> list[Sample]:
    """Calibration samples of ``synth.json`` records: the hierarchical xc7 no-DSP Yosys LUTs of bit-exact RTL in a
    covered flow, beside the Logic of the checkpoint next to the record (``checkpoint.pt`` in its folder, as the
    model folders under docs/hardware keep it) or else the one it names.  Other records are skipped."""
    from jsc_hw.runfolder import read_synth

    out = []
    for p in map(Path, synth_jsons):
        rec = read_synth(p)
        mult = rec.rtl.get("mult")
        figs = [f for f in rec.figures if f.stage == "logic-synthesis" and "xc7" in f.part and f.dsp == 0
                and "-nodsp" in f.note and "flattened" not in f.note]
        flow = next((f for f, m in MULT_OF_FLOW.items() if m == mult), None)
        if flow is None or not figs or not rec.verdict.bit_exact:
            continue
        ck = p.parent / "checkpoint.pt"
        if not ck.exists():
            ck = Path(rec.checkpoint)
        if not ck.exists():
            raise RunFolderError(f"{p}: its checkpoint {rec.checkpoint} is missing; copy it beside the record")
        out.append(Sample(rec.model.name, checkpoint_logic(ck, flow), int(figs[0].lut)))
    return out


def save(model: LutModel, path: str | Path, samples: Sequence[Sample] = ()) -> Path:
    from jsc_hw.files import atomic_json

    rows = [{"name": s.name, "lut": s.lut, **asdict(s.logic), "predicted": round(model.predict(s.logic))}
            for s in samples]
    return atomic_json(path, {**asdict(model), "samples": rows})


def load(path: str | Path) -> LutModel:
    d = json.loads(Path(path).read_text())
    return LutModel(**{f.name: d[f.name] for f in fields(LutModel)})


def default_model() -> LutModel:
    """The calibration shipped with jsc-hw (``jsc_hw/hardware/lut_model.json``)."""
    with resources.as_file(resources.files("jsc_hw.hardware") / "lut_model.json") as p:
        return load(p)
