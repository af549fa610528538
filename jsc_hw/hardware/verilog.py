"""Verilog of an integer network (``jsc_hw.hardware.rtl.IntNet``): fully parallel, pipelined, one module per neuron.

Like hls4ml ``io_parallel`` with ReuseFactor 1: every weight is a constant, every output is computed every clock
(II = 1). Each output of a ``MatVec`` (with its requantiser, when one follows) is its own module: a constant
multiplication is shift-and-add on canonical signed digits (``mult="csd"``) or ``*`` for DSP inference
(``mult="dsp"``), summed in a balanced tree of two-input adders; or, with ``mult="lut"``, a neuron whose inputs
take at most ``LUT_INPUT_BITS`` bits is the truth table of its output (requantiser included) over every input
word, computed with the integer network's own arithmetic, as LUT-native networks (LogicNets) are built.
Neurons with the same weights, bias and input ranges share one module -- the positions of a Conv1d unrolled over
its length do -- so Yosys synthesises each distinct neuron once and its cell counts are exact totals of the
instantiated hierarchy.

The top module holds the registers: one at the input, after every requantiser or table, and at the output; the
skip path of a residual block is delayed to stay aligned with the pipelined body.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jsc_hw.errors import ConfigError
from jsc_hw.files import atomic_write
from jsc_hw.fixed import FixedFormat
from jsc_hw.hardware.rtl import (AddSkip, Compare, IntNet, LutNodes, MatVec, PopCount, Push, Requant, Table, Threshold,
                                 matvec_range, requantise)

MULTS = ("csd", "dsp", "lut")
#: ``mult="lut"``: a neuron whose inputs take at most this many bits on its port is written as its truth table
LUT_INPUT_BITS = 12


def width(lo: int, hi: int) -> int:
    """Bits of a signed register holding every integer in [lo, hi]."""
    return 1 + max(hi.bit_length() if hi > 0 else 0, (-lo - 1).bit_length() if lo < 0 else 0)


def _lit(value: int, bits: int) -> str:
    return f"{bits}'sd{value}" if value >= 0 else f"-{bits}'sd{-value}"


def csd(w: int) -> list[tuple[int, int]]:
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
    """Verilog written for one IntNet: ``top`` has ports clk, x (n_in x in_bits), y (n_out x out_bits)."""

    folder: Path
    top: str
    files: tuple[str, ...]  #: names inside ``folder``
    n_in: int
    n_out: int
    in_bits: int
    out_bits: int
    out_signed: bool
    latency_cycles: int  #: clock edges from x captured at the input register to y at the output register
    mult: str  #: "csd" (shift-and-add), "dsp" (``*``, mapped to DSP blocks where the tool can) or "lut" (tables)
    modules: int  #: distinct neuron/table modules below the top
    instances: int  #: their instances
    logic: Logic | None = None  #: what the Verilog instantiates, counted as it is written (the LUT model's input)


@dataclass(frozen=True)
class Logic:
    """Sizes of the logic a design instantiates, summed over every instance: what LUTs are spent on.

    ``adder_bits``: the widths of all two-input adders (the neurons' trees, rounding, skip additions);
    ``table_luts``: truth tables and lookup stages as LUT6s (one per output bit and 64 input words).  (The
    requantisers' comparisons and the thresholds' comparators are not counted: they did not improve the fit.)"""

    adder_bits: int = 0
    table_luts: int = 0

    def __add__(self, other: Logic) -> Logic:
        return Logic(self.adder_bits + other.adder_bits, self.table_luts + other.table_luts)


def table_luts(in_bits: int, out_bits: int) -> int:
    """LUT6s of a truth table: each output bit of 2**in_bits words takes one LUT6 per 64 words."""
    return out_bits * 2 ** max(in_bits - 6, 0)


class _Body:
    """The lines of one module body, with fresh wire names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.n = 0
        self.logic = Logic()

    def count(self, adder_bits: int = 0, luts: int = 0) -> None:
        self.logic += Logic(adder_bits, luts)

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def wire(self, bits: int, expr: str, prefix: str = "w", keep: bool = False) -> str:
        d = self.name(prefix)
        self.lines.append(f"  {'(* keep *) ' if keep else ''}wire signed [{bits - 1}:0] {d} = {expr};")
        return d

    def reg(self, src: str, bits: int) -> str:
        d = self.name("r")
        self.lines += [f"  reg signed [{bits - 1}:0] {d};", f"  always @(posedge clk) {d} <= {src};"]
        return d

    def adder_tree(self, terms: list[tuple[bool, str]], bits: int) -> str:
        """Balanced tree of two-input adders (kept as separate cells so each maps to a carry chain)."""
        while len(terms) > 1:
            nxt = []
            for (na, a), (nb, b) in zip(terms[0::2], terms[1::2]):
                expr, neg = (f"{a} + {b}", na) if na == nb else ((f"{a} - {b}", False) if nb else (f"{b} - {a}", False))
                nxt.append((neg, self.wire(bits, expr, "n", keep=True)))
                self.count(adder_bits=bits)
            terms = nxt + ([terms[-1]] if len(terms) % 2 else [])
        neg, expr = terms[0]
        return self.wire(bits, f"{'-' if neg else ''}{expr}", "a")

    def requant(self, x: str, lo: int, hi: int, s: int, fmt: FixedFormat) -> str:
        """x * 2**-s rounded half to even (``up = rem[s-1] & (|rem[s-2:0] | floor[0])``; floor for TRN), clamped.

        An accumulator narrower than the shift (a pruned neuron's constant, a small range) is sign-extended first,
        so that every bit the rounding reads exists."""
        wa = width(lo, hi)
        if s + 1 > wa:
            wa, x = s + 1, self.wire(s + 1, x, "e")
        if s > 0 and fmt.rounding == "TRN":
            wr, r = wa, self.wire(wa, f"{x} >>> {s}", "f")
        elif s > 0:
            tail = f"(|{x}[{s - 2}:0]) | " if s > 1 else ""
            fl = self.wire(wa, f"{x} >>> {s}", "f")
            up = self.name("u")
            self.lines.append(f"  wire {up} = {x}[{s - 1}] & ({tail}{fl}[0]);")
            wr, r = wa + 1, self.wire(wa + 1, f"{fl} + $signed({{1'b0, {up}}})", "q")
            self.count(adder_bits=wr)
        else:
            wr, r = wa - s, self.wire(wa - s, f"{x} <<< {-s}", "q")
        w = width(fmt.lo, fmt.hi)
        # the bounds as literals wide enough for themselves and for r; a value of r narrower than the format is
        # sign-extended by the assignment (a small constant: a part-select past its width would read nothing)
        wl, sel = max(wr + 1, w), f"{r}[{w - 1}:0]" if wr >= w else r
        return self.wire(w, f"({r} < {_lit(fmt.lo, wl)}) ? {_lit(fmt.lo, w)} : "
                            f"({r} > {_lit(fmt.hi, wl)}) ? {_lit(fmt.hi, w)} : {sel}", "c")


def _port_bits(r: tuple[int, int]) -> int:
    """Bits an input in range r takes on a module port: a value never negative travels without its sign bit."""
    return max(width(*r) - 1, 1) if r[0] >= 0 else width(*r)


def _ports(ranges: list[tuple[int, int]]) -> tuple[_Body, list[str], int]:
    """A module body whose inputs i0, i1, ... are slices of one packed port ``x`` (i0 at the LSBs).

    Non-negative inputs are zero-extended inside, so the module knows their sign bit as it would flattened."""
    body, names, at = _Body(), [], 0
    for k, r in enumerate(ranges):
        w, p = width(*r), _port_bits(r)
        src = f"$signed({{1'b0, x[{at + p - 1}:{at}]}})" if r[0] >= 0 else f"$signed(x[{at + p - 1}:{at}])"
        body.lines.append(f"  wire signed [{w - 1}:0] i{k} = {src};")
        names.append(f"i{k}")
        at += p
    return body, names, at


def _slice(src: str, r: tuple[int, int]) -> str:
    return f"{src}[{_port_bits(r) - 1}:0]" if r[0] >= 0 else src


def _range(w: np.ndarray, b: int, ranges: list[tuple[int, int]]) -> tuple[int, int]:
    """Smallest and largest value of sum_i w[i] * x_i + b over the input ranges."""
    lo, hi = matvec_range(np.asarray(w)[None], np.array([b]), np.array([r[0] for r in ranges], dtype=object),
                          np.array([r[1] for r in ranges], dtype=object))
    return int(lo[0]), int(hi[0])


def _neuron(w: np.ndarray, b: int, ranges: list[tuple[int, int]], mult: str
            ) -> tuple[_Body, str, int, tuple[int, int]]:
    """Body of sum_i w[i] * i_k + b over the inputs with a nonzero weight; returns (body, result, bits, range)."""
    body, names, _ = _ports(ranges)
    rng = _range(w, b, ranges)
    bits = max(width(*rng), max((width(*r) for r in ranges), default=1) + 1)
    terms = [(b < 0, f"{bits}'sd{abs(b)}")] if b else []  # two's-complement sums: a wrapped partial sum is harmless
    for x, wi in zip(names, (int(v) for v in w)):
        if mult == "dsp":
            terms.append((wi < 0, f"({x} * {_lit(abs(wi), abs(wi).bit_length() + 1)})"))
        else:
            terms += [(s < 0, f"({x} <<< {k})" if k else x) for s, k in csd(wi)]
    return body, body.adder_tree(terms or [(False, f"{bits}'sd0")], bits), bits, rng


def _table_neuron(w: np.ndarray, b: int, ranges: list[tuple[int, int]], req: tuple[int, FixedFormat] | None
                  ) -> tuple[_Body, str, int, tuple[int, int]]:
    """Body of a neuron as its truth table: output (requantised when ``req``) for every word on its port ``x``."""
    ports = [_port_bits(r) for r in ranges]
    words = np.arange(2 ** sum(ports), dtype=np.int64)
    acc, at = np.full(len(words), b, dtype=np.int64), 0
    for wi, r, p in zip(w, ranges, ports):
        field = (words >> at) & ((1 << p) - 1)
        acc += int(wi) * (field if r[0] >= 0 else field - (((field >> (p - 1)) & 1) << p))  # sign-extend
        at += p
    out = acc if req is None else requantise(acc, req[0], req[1])
    rng = (int(out.min()), int(out.max()))
    bits = width(*rng)
    packed = sum((int(v) & ((1 << bits) - 1)) << (k * bits) for k, v in enumerate(out))
    body = _Body()
    body.count(luts=table_luts(sum(ports), bits))
    body.lines.append(f"  wire [{len(out) * bits - 1}:0] tab = {len(out) * bits}'h{packed:x};")
    return body, body.wire(bits, f"tab[x * {bits} +: {bits}]", "t"), bits, rng


class _Top:
    """The top module's lines plus the distinct sub-modules it instantiates (deduplicated by their text)."""

    def __init__(self, top: str, mult: str) -> None:
        self.top, self.mult, self.body = top, mult, _Body()
        self.modules: dict[str, str] = {}  # module text (name left as {name}) -> name
        self.instances = 0
        self.logic = Logic()  #: of the instances; the top's own adders are in self.body.logic

    def instance(self, body: _Body, result: str, bits: int, in_bits: int, srcs: list[str], clocked: bool) -> str:
        clk = "input wire clk, " if clocked else ""
        text = (f"module {{name}} ({clk}input wire [{max(in_bits, 1) - 1}:0] x, output wire [{bits - 1}:0] o);\n"
                + "\n".join(body.lines) + f"\n  assign o = {result};\nendmodule\n")
        name = self.modules.setdefault(text, f"{self.top}_m{len(self.modules)}")
        self.instances += 1
        self.logic += body.logic
        out = self.body.name("o")
        # a one-element concatenation {r} of a signed wire trips an assertion in Yosys 0.70's front end
        conn = "1'b0" if not srcs else srcs[0] if len(srcs) == 1 else "{" + ", ".join(reversed(srcs)) + "}"
        self.body.lines += [f"  wire signed [{bits - 1}:0] {out};",
                            f"  {name} u{out} ({'.clk(clk), ' if clocked else ''}.x({conn}), .o({out}));"]
        return out

    def matvec(self, st: MatVec, v: list[str], rng: list[tuple[int, int]], req: tuple[int, FixedFormat] | None):
        """One instance per output; ``req`` = (shift, format) of a requantiser fused into each neuron."""
        out, out_rng = [], []
        for j in range(st.w.shape[0]):
            used = np.flatnonzero(st.w[j])
            ranges = [rng[i] for i in used]
            in_bits = sum(_port_bits(r) for r in ranges)
            if self.mult == "lut" and 0 < in_bits <= LUT_INPUT_BITS:  # the requantiser is inside the table
                body, res, bits, (lo, hi) = _table_neuron(st.w[j, used], int(st.b[j]), ranges, req)
            else:
                body, res, bits, (lo, hi) = _neuron(st.w[j, used], int(st.b[j]), ranges,
                                                    "csd" if self.mult == "lut" else self.mult)
                if req is not None:
                    shift, fmt = req
                    res, bits, lo, hi = body.requant(res, lo, hi, shift, fmt), width(fmt.lo, fmt.hi), fmt.lo, fmt.hi
            out.append(self.instance(body, res, bits, in_bits, [_slice(v[i], rng[i]) for i in used], False))
            out_rng.append((lo, hi))
        return out, out_rng

    def requant(self, v: list[str], rng: list[tuple[int, int]], s: int, fmt: FixedFormat) -> list[str]:
        out = []
        for x, r in zip(v, rng):
            body, (i0,), in_bits = _ports([r])
            out.append(self.instance(body, body.requant(i0, *r, s, fmt), width(fmt.lo, fmt.hi), in_bits, [_slice(x, r)],
                                     False))
        return out

    def threshold(self, st: Threshold, v: list[str], rng: list[tuple[int, int]]) -> list[str]:
        """One comparator bank per element: bias + sum_k (x >= t_k), summed in an adder tree."""
        n = st.t.shape[1]
        w = width(min(st.bias, 0), st.bias + n)
        out = []
        for f, (x, r) in enumerate(zip(v, rng)):
            body, (i0,), in_bits = _ports([r])
            wc = max(width(*r), width(int(st.t[f].min()), int(st.t[f].max()))) + 1
            terms = [(False, f"$signed({{1'b0, ({i0} >= {_lit(int(t), wc)})}})") for t in st.t[f]]
            terms += [(st.bias < 0, f"{w}'sd{abs(st.bias)}")] if st.bias else []
            out.append(self.instance(body, body.adder_tree(terms or [(False, f"{w}'sd0")], w), w, in_bits,
                                     [_slice(x, r)], False))
        return out

    def table(self, st: Table, v: list[str]) -> list[str]:
        w_in, w = width(st.in_fmt.lo, st.in_fmt.hi), width(st.out.lo, st.out.hi)
        out = []
        for f, x in enumerate(v):
            r = (st.in_fmt.lo, st.in_fmt.hi)
            body, (i0,), in_bits = _ports([r])
            body.count(luts=table_luts(in_bits, w))
            body.lines += [f"  reg signed [{w - 1}:0] t;", f"  always @(posedge clk) case ({i0})"]
            body.lines += [f"    {_lit(code, w_in)}: t <= {_lit(int(st.table[f, code - st.in_fmt.lo]), w)};"
                           for code in range(st.in_fmt.lo, st.in_fmt.hi + 1)]
            body.lines.append(f"    default: t <= {_lit(0, w)};\n  endcase")
            out.append(self.instance(body, "t", w, in_bits, [_slice(x, r)], True))
        return out



    # ---- weightless networks: bits are unsigned 1-bit wires, written in the top (each is its own logic) ----
    def bit(self, expr: str, prefix: str, clocked: bool = False) -> str:
        b = self.body.name(prefix)
        self.body.lines += [f"  reg {b};", f"  always @(posedge clk) {b} <= {expr};"] if clocked else \
            [f"  wire {b} = {expr};"]
        return b

    def compare(self, st: Compare, v: list[str], rng: list[tuple[int, int]]) -> list[str]:
        """A thermometer bit = one comparison of an input code with a constant: a function of the input's bits,
        counted as their truth table (one LUT6 up to 6 bits)."""
        self.body.count(luts=sum(table_luts(width(*rng[f]), 1) for f in st.feature))
        return [self.bit(f"{v[f]} > {_lit(int(c), max(width(*rng[f]), width(int(c), int(c))))}", "b")
                for f, c in zip(st.feature, st.code)]

    def lut_nodes(self, st: LutNodes, bits: list[str]) -> list[str]:
        """Each node a constant of 2**n bits indexed by its n input bits (one LUT6 for n <= 6), registered."""
        size, n = st.tables.shape[1], st.inputs.shape[1]
        out = []
        for ins, row in zip(st.inputs, st.tables):
            packed = sum(int(b) << a for a, b in enumerate(row))
            table = self.body.name("t")
            self.body.lines.append(f"  wire [{size - 1}:0] {table} = {size}'h{packed:x};")
            self.body.count(luts=table_luts(n, 1))
            out.append(self.bit(f"{table}[{{{', '.join(bits[int(i)] for i in reversed(ins))}}}]", "r", clocked=True))
        return out

    def popcount(self, st: PopCount, bits: list[str]) -> tuple[list[str], list[tuple[int, int]]]:
        g = len(bits) // st.groups
        w = width(0, g)
        terms = [[(False, f"$signed({{{w - 1}'d0, {b}}})") for b in bits[k * g:(k + 1) * g]] for k in range(st.groups)]
        return [self.body.adder_tree(ts, w) for ts in terms], [(0, g)] * st.groups


def write_verilog(net: IntNet, folder: str | Path, top: str = "jsc_net", mult: str = "csd") -> Design:
    """Fully parallel, pipelined Verilog of ``net`` in ``folder/<top>.v``."""
    if mult not in MULTS:
        raise ConfigError(f"mult must be one of {MULTS}, got {mult!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "sim", ignore_errors=True)  # a simulator of an older design
    t, bi = _Top(top, mult), net.inp.bits
    x_in = [f"$signed(x[{i * bi + bi - 1}:{i * bi}])" if net.inp.signed
            else f"$signed({{1'b0, x[{i * bi + bi - 1}:{i * bi}]}})" for i in range(net.n_in)]
    rng = [(net.inp.lo, net.inp.hi)] * net.n_in
    v = [t.body.reg(x, width(*r)) for x, r in zip(x_in, rng)]
    exp, stages, skips, i = net.inp.exp, 1, [], 0
    while i < len(net.stages):
        st = net.stages[i]
        if isinstance(st, Table):
            v, exp = t.table(st, v), st.out.exp
            rng = [(int(row.min()), int(row.max())) for row in st.table]  # what the table can hold, not its format
            stages += 1
        elif isinstance(st, MatVec):
            nxt = net.stages[i + 1] if i + 1 < len(net.stages) else None
            req = (nxt.out.exp - st.exp, nxt.out) if isinstance(nxt, Requant) else None
            v, rng = t.matvec(st, v, rng, req)
            exp = st.exp
            if req is not None:
                v, exp, i = [t.body.reg(x, width(*r)) for x, r in zip(v, rng)], nxt.out.exp, i + 1
                stages += 1
        elif isinstance(st, Requant):
            v = [t.body.reg(x, width(st.out.lo, st.out.hi)) for x in t.requant(v, rng, st.out.exp - exp, st.out)]
            rng, exp = [(st.out.lo, st.out.hi)] * len(v), st.out.exp
            stages += 1
        elif isinstance(st, Threshold):
            r = (st.bias, st.bias + st.t.shape[1])
            v = [t.body.reg(x, width(*r)) for x in t.threshold(st, v, rng)]
            rng, exp = [r] * len(v), st.exp
            stages += 1
        elif isinstance(st, Compare):
            v, rng = t.compare(st, v, rng), [(0, 1)] * len(st.code)
        elif isinstance(st, LutNodes):
            v, rng = t.lut_nodes(st, v), [(0, 1)] * len(st.inputs)
            stages += 1
        elif isinstance(st, PopCount):
            (v, rng), exp = t.popcount(st, v), st.exp
        elif isinstance(st, Push):
            skips.append((v, rng, exp, stages))
        elif isinstance(st, AddSkip):
            s, s_rng, s_exp, s_stage = skips.pop()
            for _ in range(stages - s_stage):  # delay line: keep the skip aligned with the pipelined body
                s = [t.body.reg(x, width(*r)) for x, r in zip(s, s_rng)]
            sa, sb = exp - st.exp, s_exp - st.exp
            new_rng = [((a << sa) + (c << sb), (b << sa) + (d << sb)) for (a, b), (c, d) in zip(rng, s_rng)]
            v = [t.body.wire(width(*r), f"({x} <<< {sa}) + ({y} <<< {sb})", "s") for x, y, r in zip(v, s, new_rng)]
            t.body.count(adder_bits=sum(width(*r) for r in new_rng))
            rng, exp = new_rng, st.exp
        i += 1
    bo = net.out_fmt.bits if net.out_fmt else max(width(*r) for r in rng)
    if not isinstance(net.stages[-1], Requant | Table | Threshold):
        v = [t.body.reg(x, width(*r)) for x, r in zip(v, rng)]
        stages += 1
    assigns = "\n".join(f"  wire signed [{bo - 1}:0] y{j} = {x};\n  assign y[{j * bo + bo - 1}:{j * bo}] = y{j};"
                        for j, x in enumerate(v))
    modules = "".join(text.replace("{name}", name, 1) + "\n" for text, name in t.modules.items())
    text = (f"// generated by jsc_hw.hardware.verilog: {net.n_in} inputs x {bi} bits -> {len(v)} outputs x {bo} bits, "
            f"{stages} register stages, mult={mult}, {len(t.modules)} distinct modules, {t.instances} instances\n"
            f"{modules}module {top} (input wire clk, input wire [{net.n_in * bi - 1}:0] x, "
            f"output wire [{len(v) * bo - 1}:0] y);\n" + "\n".join(t.body.lines) + f"\n{assigns}\nendmodule\n")
    atomic_write(folder / f"{top}.v", text)
    return Design(folder, top, (f"{top}.v",), net.n_in, len(v), bi, bo,
                  net.out_fmt.signed if net.out_fmt else True, stages, mult, len(t.modules), t.instances,
                  t.logic + t.body.logic)
