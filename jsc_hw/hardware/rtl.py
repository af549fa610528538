"""Integer form of a quantised network: the lowering of a Brevitas twin that the RTL is written from.

With power-of-two scales the twin is exact integer arithmetic: every tensor is ``int * 2**exp``.  ``lower``
turns a twin into an ``IntNet``: a list of integer stages

* ``Table``    a float layer (BatchNorm) followed by its quantiser, on a quantised input of at most 10 bits,
               becomes one lookup table per feature, filled by running the twin's own modules on every input
               code (exact by construction);
* ``MatVec``   Linear or Conv1d (unrolled to a matrix over the flattened ``(C, L)`` vector) with integer
               weights and bias (bias scale = input scale x weight scale);
* ``Requant``  a quantiser: shift right with rounding **half to even** (as Brevitas/torch.round; or floor for a
               ``TRN`` format), clamp;
* ``Push``/``AddSkip``  a residual connection (aligned by shifts);
* ``Threshold`` a MultiThreshold (QONNX/FINN graphs only, ``qonnx_rtl``): comparisons with integer thresholds.

``simulate`` is its numpy forward. ``verilog`` writes the Verilog of an ``IntNet``, ``verilator``
checks that Verilog against the PyTorch twin, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import brevitas.nn as qnn
import numpy as np
import torch
from torch import nn

from jsc_hw.errors import UnsupportedModel
from jsc_hw.fixed import FixedFormat, power_of_two_exp
from jsc_hw.layers import TwinNet, _ResidualTwin, plain
from jsc_hw.quant import rounds_down
from jsc_hw.weightless import GroupSumTwin, LutTwin, ThermometerTwin

MAX_TABLE_BITS = 10


@dataclass(frozen=True, eq=False)
class Table:
    table: np.ndarray  #: (features, 2**in.bits) output codes, column = input code - in.lo
    in_fmt: FixedFormat
    out: FixedFormat


@dataclass(frozen=True, eq=False)
class MatVec:
    w: np.ndarray  #: (out, in) int64
    b: np.ndarray  #: (out,) int64
    exp: int  #: exponent of the accumulator


@dataclass(frozen=True)
class Requant:
    out: FixedFormat


@dataclass(frozen=True)
class Push:
    pass


@dataclass(frozen=True)
class AddSkip:
    exp: int  #: exponent of the sum (the finer of the two operands)


@dataclass(frozen=True, eq=False)
class Threshold:
    """A QONNX/FINN MultiThreshold: output code = bias + the number of thresholds t[f] the input code reaches."""

    t: np.ndarray  #: (features, T) int64 input codes: x >= t[f, k] counts one
    bias: int  #: output code when no threshold is reached
    exp: int  #: output value = code * 2**exp


@dataclass(frozen=True, eq=False)
class Compare:
    """The thermometer bits a weightless network uses: bit k = (x[feature[k]] > code[k]), one comparator each."""

    feature: np.ndarray  #: (K,) int64 input element
    code: np.ndarray  #: (K,) int64 input code it is compared with


@dataclass(frozen=True, eq=False)
class LutNodes:
    """A layer of LUT nodes on bits: node j outputs tables[j, address], address bit k = bit inputs[j, k]."""

    inputs: np.ndarray  #: (m, n) int64 indices into the previous stage's bits
    tables: np.ndarray  #: (m, 2**n) int64 in {0, 1}


@dataclass(frozen=True)
class PopCount:
    """Class scores of a weightless network: the number of ones in each of ``groups`` equal runs of bits."""

    groups: int
    exp: int  #: score value = count * 2**exp


Stage = Table | MatVec | Requant | Push | AddSkip | Threshold | Compare | LutNodes | PopCount


@dataclass(frozen=True, eq=False)
class IntNet:
    inp: FixedFormat
    n_in: int
    stages: tuple[Stage, ...]
    out_exp: int  #: outputs are int * 2**out_exp
    out_fmt: FixedFormat | None  #: None when the last stage is a MatVec (raw accumulator)


def _shift_round(acc: np.ndarray, s: int) -> np.ndarray:
    """acc * 2**-s rounded half to even (s <= 0: exact left shift)."""
    if s <= 0:
        return acc << -s
    fl = acc >> s
    rem, half = acc - (fl << s), 1 << (s - 1)
    return fl + ((rem > half) | ((rem == half) & (fl & 1 == 1)))


def requantise(acc: np.ndarray, s: int, out: FixedFormat) -> np.ndarray:
    """acc * 2**-s rounded as ``out`` rounds (half to even, or floor for TRN), clamped to its code range."""
    v = _shift_round(acc, s) if out.rounding == "RND_CONV" or s <= 0 else acc >> s
    if out.rounding not in ("RND_CONV", "TRN"):
        raise UnsupportedModel(f"rtl: rounding {out.rounding} has no integer lowering (RND_CONV and TRN do)")
    return np.clip(v, out.lo, out.hi)


def _act_fmt(m: nn.Module) -> FixedFormat:
    scale = float(m.act_quant.scale().detach())
    return FixedFormat(int(m.act_quant.bit_width()), not isinstance(m, qnn.QuantReLU), power_of_two_exp(scale),
                       rounding="TRN" if rounds_down(m) else "RND_CONV")


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
    def __init__(self, inp: FixedFormat, shape: tuple[int, ...]) -> None:
        self.exp, self.shape, self.stages = inp.exp, shape, []
        self.fmt: FixedFormat | None = inp
        self.pending: list[nn.Module] = []  # float layers waiting for their quantiser
        self.thermometer: tuple[int, int] | None = None  # (lo, hi) codes of a thermometer waiting for its LUTs

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
            w, w_exp = qw.int().to(torch.int64).numpy(), power_of_two_exp(float(qw.scale.detach()))
            exp = self.exp + w_exp
            b_bits = int(m.bias_quant.tensor_quant.msb_clamp_bit_width_impl())  # Int16Bias: QuantSpec.bias_bits
            b_fmt = FixedFormat(b_bits, True, exp)  # on the product grid, as Brevitas Int16Bias
            b = torch.clamp(torch.round(m.bias.detach() / 2.0 ** exp), b_fmt.lo, b_fmt.hi)
            if isinstance(m, qnn.QuantConv1d):
                if m.stride[0] != 1 or m.dilation[0] != 1 or m.groups != 1:
                    raise UnsupportedModel("rtl: only stride-1, undilated, ungrouped Conv1d is supported")
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
        elif isinstance(m, ThermometerTwin):
            self.thermometer, self.fmt = (m.lo, m.hi), None
        elif isinstance(m, LutTwin):
            self._lut_nodes(m)
        elif isinstance(m, GroupSumTwin):
            self.exp = -power_of_two_exp(m.tau)  # scores = popcounts * 2**-k, tau = 2**k
            self.stages.append(PopCount(m.classes, self.exp))
        else:
            raise UnsupportedModel(f"rtl: no integer lowering for {type(m).__name__}; supported: QuantLinear, "
                                   "QuantConv1d, QuantReLU, QuantIdentity, BatchNorm1d (before a quantiser), Flatten, "
                                   "residual blocks, weightless (thermometer, LUT, group-sum) layers")

    def _lut_nodes(self, m: LutTwin) -> None:
        inputs = m.inputs.numpy().astype(np.int64)
        if self.thermometer is not None:  # the first layer: only the thermometer bits it reads are built
            lo, hi = self.thermometer
            used, inputs = np.unique(inputs, return_inverse=True)
            self.stages.append(Compare(used // (hi - lo), lo + used % (hi - lo)))
            inputs, self.thermometer = inputs.reshape(m.inputs.shape), None
        self.stages.append(LutNodes(inputs, m.tables.numpy().astype(np.int64)))

    def _table(self, out: FixedFormat, quantiser: nn.Module) -> None:
        inp = self.fmt
        if inp is None or inp.bits > MAX_TABLE_BITS:
            raise UnsupportedModel("rtl: a float layer (BatchNorm) needs a quantised input of at most "
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
        raise UnsupportedModel("rtl: the twin must start with an input quantiser (QuantSpec.enabled: true)")
    inp = _act_fmt(mods[0])
    lw = _Lowering(inp, input_shape)
    for m in mods[1:]:
        lw.module(m)
    last = lw.stages[-1]
    return IntNet(inp, int(np.prod(input_shape)), tuple(lw.stages), lw.exp,
                  None if isinstance(last, MatVec) else lw.fmt)


def matvec_range(w: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value of each output of ``w @ x + b`` over inputs with lo <= x <= hi (exact integers)."""
    w, lo, hi = (np.asarray(a, dtype=object) for a in (w, lo, hi))  # Python ints: no overflow
    pos, neg = np.where(w > 0, w, 0), np.where(w < 0, w, 0)
    b = np.asarray(b, dtype=object)
    return b + pos.dot(lo) + neg.dot(hi), b + pos.dot(hi) + neg.dot(lo)


def accumulator_bound(net: IntNet) -> int:
    """The largest |value| any accumulator (a MatVec output or a residual sum) can reach, in its own LSBs, over every
    input: float32 arithmetic (PyTorch, the QONNX executor) computes it exactly only below 2**24."""
    lo, hi = np.full(net.n_in, net.inp.lo, dtype=object), np.full(net.n_in, net.inp.hi, dtype=object)
    exp, skips, bound = net.inp.exp, [], 0
    for st in net.stages:
        if isinstance(st, Table):
            lo, hi, exp = st.table.min(1).astype(object), st.table.max(1).astype(object), st.out.exp
        elif isinstance(st, MatVec):
            lo, hi = matvec_range(st.w, st.b, lo, hi)
            exp, bound = st.exp, max(bound, *np.abs(lo), *np.abs(hi))
        elif isinstance(st, Requant):
            lo, hi = np.full(len(lo), st.out.lo, dtype=object), np.full(len(lo), st.out.hi, dtype=object)
            exp = st.out.exp
        elif isinstance(st, Push):
            skips.append((lo, hi, exp))
        elif isinstance(st, Threshold):
            lo = np.full(len(lo), st.bias, dtype=object)
            hi, exp = lo + st.t.shape[1], st.exp
        elif isinstance(st, (Compare, LutNodes)):
            n = len(st.code) if isinstance(st, Compare) else len(st.inputs)
            lo, hi = np.zeros(n, dtype=object), np.ones(n, dtype=object)
        elif isinstance(st, PopCount):
            lo, hi = np.zeros(st.groups, dtype=object), np.full(st.groups, len(lo) // st.groups, dtype=object)
            exp = st.exp
        elif isinstance(st, AddSkip):
            s_lo, s_hi, s_exp = skips.pop()
            sa, sb = 2 ** (exp - st.exp), 2 ** (s_exp - st.exp)
            lo, hi, exp = lo * sa + s_lo * sb, hi * sa + s_hi * sb, st.exp
            bound = max(bound, *np.abs(lo), *np.abs(hi))
    return int(bound)


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
            v, exp = requantise(v, st.out.exp - exp, st.out), st.out.exp
        elif isinstance(st, Threshold):
            v, exp = st.bias + (v[:, :, None] >= st.t[None]).sum(-1), st.exp
        elif isinstance(st, Compare):
            v = (v[:, st.feature] > st.code).astype(np.int64)
        elif isinstance(st, LutNodes):
            addr = (v[:, st.inputs] << np.arange(st.inputs.shape[1])).sum(-1)  # (N, m)
            v = st.tables[np.arange(len(st.tables)), addr]
        elif isinstance(st, PopCount):
            v, exp = v.reshape(len(v), st.groups, -1).sum(-1), st.exp
        elif isinstance(st, Push):
            skips.append((v, exp))
        elif isinstance(st, AddSkip):
            s, s_exp = skips.pop()
            v, exp = (v << (exp - st.exp)) + (s << (s_exp - st.exp)), st.exp
    return v


def input_codes(twin: TwinNet, x: torch.Tensor) -> np.ndarray:
    """What the FPGA receives: the twin's input quantiser applied to standardised features, as integers."""
    with torch.no_grad():
        q = twin.layers[0](x)
    return torch.round(q.value / q.scale).to(torch.int64).reshape(len(x), -1).numpy()
