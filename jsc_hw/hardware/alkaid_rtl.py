"""The alkaid flow: the same integer network (``rtl.IntNet``) written by alkaid (PyPI ``alkaid``, da4ml's successor)
instead of by ``verilog``.

``verilog`` gives every weight its own shift-and-add tree; alkaid's CMVM solver shares the constant
multiplications of a whole layer as one adder graph (distributed arithmetic).  ``trace`` replays the IntNet's
stages on alkaid's symbolic fixed-point arrays, exactly: the input format, ``x @ W + b`` on the stage's grids,
requantisers with round-half-to-even (``RND_CONV``) or floor (``TRN``) and saturation, tables as alkaid lookup
tables, residual sums.  ``write_verilog`` writes alkaid's combinational logic inside a top module with jsc-hw's
ports (``clk``, packed codes ``x`` and ``y``, both registered: latency 2), so the same Verilator check and the same
Yosys command apply to both flows (``synth --rtl alkaid``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from jsc_hw.errors import MissingError, UnsupportedModel
from jsc_hw.files import atomic_write
from jsc_hw.fixed import FixedFormat
from jsc_hw.hardware.rtl import AddSkip, IntNet, MatVec, Push, Requant, Table, Threshold
from jsc_hw.hardware.verilog import Design

log = logging.getLogger(__name__)
_NEW_LINT = re.compile(r"/\*\s*verilator lint_(?:on|off) (?:WIDTHTRUNC|WIDTHEXPAND)\s*\*/")
SOLVER = {"hard_dc": 2}  #: alkaid CMVM solver options (as the HGQ2 + alkaid reference flow)


def require() -> None:
    """A one-line error now, rather than after training data and Verilator, when alkaid is not installed."""
    _alkaid()


def _alkaid():
    try:
        from alkaid.trace import FVArray, FVArrayInput, HWConfig, trace
        from alkaid.codegen import RTLModel
    except ImportError:
        raise MissingError("the alkaid flow needs alkaid: pip install 'jsc-hw[alkaid]' (alkaid==0.8.2)") from None
    return FVArray, FVArrayInput, HWConfig, trace, RTLModel


def kif(fmt: FixedFormat) -> tuple[int, int, int]:
    """alkaid's (sign bit, integer bits without the sign, fractional bits) of a format."""
    if fmt.narrow:
        raise UnsupportedModel("alkaid flow: a narrow (symmetric) activation range has no alkaid format")
    k, f = int(fmt.signed), -fmt.exp
    return k, fmt.bits - k - f, f


def _quantise(v, fmt: FixedFormat):
    if fmt.rounding not in ("RND_CONV", "TRN"):  # alkaid's names for round-half-to-even and floor
        raise UnsupportedModel(f"alkaid flow: rounding {fmt.rounding} (RND_CONV and TRN are exact)")
    return v.quantize(*kif(fmt), overflow_mode="SAT", round_mode=fmt.rounding)


def trace(net: IntNet):
    """The IntNet as alkaid ``CombLogic``: inputs are the input codes' values (code * 2**inp.exp)."""
    fv_array, fv_input, hw_config, alk_trace, _ = _alkaid()
    inp = fv_input((net.n_in,), hwconf=hw_config(1, -1, -1), solver_options=SOLVER)
    # the inputs are codes of the input format already: declare it (no rounding, no overflow)
    v, exp, skips = inp.quantize(*kif(net.inp), overflow_mode="WRAP", round_mode="TRN"), net.inp.exp, []
    for st in net.stages:
        if isinstance(st, MatVec):
            # v holds values on grid 2**exp; the accumulator's codes sum w * code at 2**st.exp
            v = v @ (st.w.T.astype(np.float64) * 2.0 ** (st.exp - exp)) + st.b.astype(np.float64) * 2.0 ** st.exp
            exp = st.exp
        elif isinstance(st, Requant):
            v, exp = _quantise(v, st.out), st.out.exp
        elif isinstance(st, Table):
            cols = []
            for f in range(st.table.shape[0]):
                table = st.table[f].astype(np.float64) * 2.0 ** st.out.exp
                lo, step = st.in_fmt.lo, 2.0 ** st.in_fmt.exp

                def lookup(x, table=table, lo=lo, step=step):
                    return table[np.round(np.asarray(x) / step).astype(np.int64) - lo]
                cols.append(_quantise(v[f:f + 1].apply(lookup), st.out))
            v, exp = fv_array(np.concatenate([np.asarray(c) for c in cols]), SOLVER), st.out.exp
        elif isinstance(st, Push):
            skips.append(v)
        elif isinstance(st, AddSkip):
            v, exp = v + skips.pop(), st.exp
        elif isinstance(st, Threshold):
            raise UnsupportedModel("alkaid flow: MultiThreshold stages are not traced; use the jsc-hw Verilog")
        else:
            raise UnsupportedModel(f"alkaid flow: stage {type(st).__name__} is not traced")
    return alk_trace(inp, v)


def simulate(comb, net: IntNet, codes: np.ndarray) -> np.ndarray:
    """alkaid's own emulation of the traced logic, as output codes (to compare with ``rtl.simulate``)."""
    out = np.asarray(comb.predict(codes.astype(np.float64) * 2.0 ** net.inp.exp, n_threads=1))
    return np.round(out.reshape(len(codes), -1) / 2.0 ** net.out_exp).astype(np.int64)


def _slices(kifs: np.ndarray) -> list[tuple[int, int, int]]:
    """(offset, width, fractional bits) of each element of an alkaid port, packed from bit 0 up."""
    out, offset = [], 0
    for k, i, f in np.asarray(kifs).T:
        width = int(k + i + f)
        out.append((offset, width, int(f)))
        offset += width
    return out


def _widen(bus: str, offset: int, width: int, gap: int, signed: bool, target: int) -> str:
    """The alkaid output element ``bus[offset +: width]`` (its LSB ``gap`` code bits up) as a ``target``-bit code."""
    port, msb = f"{bus}[{offset + width - 1}:{offset}]", f"{bus}[{offset + width - 1}]"
    if width + gap > target:
        raise UnsupportedModel(f"alkaid flow: an output of {width + gap} bits does not fit the {target}-bit code")
    parts = [port] + ([f"{gap}'b0"] if gap else [])
    if width + gap < target:
        parts.insert(0, f"{{{target - width - gap}{{{msb}}}}}" if signed else
                     f"{target - width - gap}'b0")
    return f"{{{', '.join(parts)}}}" if len(parts) > 1 else port


def core_sources(rtl_dir: Path) -> list[Path]:
    """The Verilog files of an alkaid ``RTLModel`` folder that make its core module (not the emulator's wrapper)."""
    src = Path(rtl_dir) / "src"
    return [p for p in [*sorted((src / "static").glob("*.v")), *sorted(src.glob("*.v"))]
            if not p.name.endswith("_wrapper.v")]


def write_verilog(net: IntNet, folder: str | Path, top: str = "jsc_net") -> Design:
    """alkaid's Verilog of ``net`` inside a ``top`` with jsc-hw's ports; checked by ``verilator.check`` as usual."""
    *_, rtl_model = _alkaid()
    folder = Path(folder)
    comb = trace(net)
    core = f"{top}_alkaid"
    rtl = rtl_model(comb, str(folder / "alkaid"), core, flavor="verilog", latency_cutoff=-1)
    rtl.write()
    ins, outs = _slices(comb.inp_kifs), _slices(comb.out_kifs)
    bi, n_out, out_exp = net.inp.bits, len(outs), net.out_exp
    gaps = [-out_exp - f for _, _, f in outs]  # the port LSB sits this many code bits up
    if min(gaps, default=0) < 0:
        raise UnsupportedModel("alkaid flow: an output finer than the network's output grid")
    if net.out_fmt is not None:
        bo, signed = net.out_fmt.bits, net.out_fmt.signed
    else:  # a raw accumulator (the reference MLP's logits): signed, as wide as the widest output needs
        bo, signed = max(w + g + (1 - int(k)) for (_, w, _), g, k in zip(outs, gaps, comb.out_kifs[0])), True
    in_bits, out_bits = sum(w for _, w, _ in ins), sum(w for _, w, _ in outs)
    lines = [f"// generated by jsc_hw.hardware.alkaid_rtl around alkaid's {core}: {net.n_in} x {bi} -> "
             f"{n_out} x {bo} bits, inputs and outputs registered (latency 2)",
             f"module {top} (input wire clk, input wire [{net.n_in * bi - 1}:0] x, "
             f"output reg [{n_out * bo - 1}:0] y);",
             f"  reg [{net.n_in * bi - 1}:0] xr;",
             f"  wire [{max(in_bits, 1) - 1}:0] core_in;",
             f"  wire [{max(out_bits, 1) - 1}:0] core_out;",
             f"  {core} core (.model_inp(core_in), .model_out(core_out));"]
    for i, (offset, width, f) in enumerate(ins):
        if width:  # alkaid drops inputs (and low bits) that no output depends on
            shift = -net.inp.exp - f  # LSBs of the code alkaid does not use
            lines.append(f"  assign core_in[{offset + width - 1}:{offset}] = xr[{i * bi + shift + width - 1}:"
                         f"{i * bi + shift}];")
    regs = []
    for j, ((offset, width, _), k, lsb_gap) in enumerate(zip(outs, comb.out_kifs[0], gaps)):
        if width == 0:  # a constant zero output
            regs.append(f"    y[{j * bo + bo - 1}:{j * bo}] <= {bo}'d0;")
            continue
        val = _widen("core_out", offset, width, lsb_gap, bool(k), bo)
        regs.append(f"    y[{j * bo + bo - 1}:{j * bo}] <= {val};")
    lines += ["  always @(posedge clk) begin", "    xr <= x;", *regs, "  end", "endmodule", ""]
    atomic_write(folder / f"{top}.v", "\n".join(lines))
    files = core_sources(folder / "alkaid")
    for p in files:  # lint pragmas naming warnings newer than Debian's Verilator 5.006 (comments to Yosys)
        atomic_write(folder / p.name, _NEW_LINT.sub("", p.read_text()))
    names = (f"{top}.v", *(p.name for p in files))
    log.info("alkaid: %s, cost %.0f", core, float(comb.cost))
    return Design(folder, top, names, net.n_in, n_out, bi, bo, signed, 2, "alkaid", len(files), len(files))
