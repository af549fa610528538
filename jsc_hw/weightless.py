"""Weightless (LUT) layers: a Differentiable Weightless Neural Network (DWN; Bacellar et al., ICML 2024).

A DWN has no weights and no arithmetic: every neuron *is* a LUT.  The input codes become thermometer bits
(``code > c`` for every code c of the input format: the comparisons an FPGA makes with one LUT each), each LUT node
reads ``n`` bits and looks up its output bit in a learned truth table of 2**n entries, and a class's score is the
number of ones among its group of last-layer bits (a popcount) times ``1 / tau``.

Training, as in the paper: the forward pass is the hardware's own (tables binarised at 0, every bit exact), the
backward pass is the *extended finite difference* (EFD): the gradient with respect to an input bit is the
difference of the table's entries with that bit set and cleared, summed over all addresses with weight
``alpha * beta**(Hamming distance)``; a table entry gets the gradient of the rows that addressed it.  The first
layer chooses its inputs (a *learnable mapping*: each LUT input reads the thermometer bit of largest weight, the
weights learn from ``(2 bit - 1) x gradient``, the bits' gradient flows back through a softmax); deeper layers read
a fixed random choice of the previous layer's bits, drawn per repeat.

All layers carry the leading repeat axis of ``jsc_hw.layers`` and produce twins (plain torch modules, one repeat)
with the same forward values; ``hardware/rtl.lower`` turns those twins into the integer stages the Verilog is written
from.
"""

from __future__ import annotations

import functools

import torch
from brevitas.quant_tensor import QuantTensor
from torch import nn

from jsc_hw.errors import ConfigError
from jsc_hw.layers import Act, Layer

MAPPING_TEMPERATURE = 1e-3  #: softmax temperature of the learnable mapping's backward pass (torch_dwn's default)


@functools.lru_cache(maxsize=None)
def efd_kernel(n: int) -> torch.Tensor:
    """(n, 2**n, 2**n) EFD weights: K[l, a2, a] = alpha beta**d(a, a2 without bit l) x (+1 if a2 has bit l else -1),
    alpha = 0.5 x 0.75**(n-1), beta = 1/3 (the paper's)."""
    alpha, beta, size = 0.5 * 0.75 ** (n - 1), 0.25 / 0.75, 2 ** n
    a = torch.arange(size)
    k = torch.empty(n, size, size)
    for bit in range(n):
        off = a & ~(1 << bit)
        dist = torch.tensor([[bin(int(p) ^ int(q)).count("1") for q in off] for p in off], dtype=torch.float32)
        sign = ((a >> bit) & 1).float() * 2 - 1
        k[bit] = alpha * beta ** dist * sign[:, None]
    return k


def addresses(bits: torch.Tensor, n: int) -> torch.Tensor:
    """(..., m * n) bits in {0, 1} -> (..., m) table addresses (input k of a node = address bit k)."""
    weights = 2 ** torch.arange(n, dtype=torch.int64)
    return (bits.unflatten(-1, (-1, n)).to(torch.int64) * weights).sum(-1)


def thermometer(codes: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """(..., F) integer codes (as floats) -> (..., F (hi - lo)) bits ``code > c``, c = lo .. hi - 1, feature-major."""
    levels = torch.arange(lo, hi, dtype=codes.dtype)
    return (codes.unsqueeze(-1) > levels).to(codes.dtype).flatten(-2)


def group_sum(bits: torch.Tensor, classes: int, tau: float) -> torch.Tensor:
    """(..., m) bits -> (..., classes) popcounts of consecutive groups of m / classes bits, / tau."""
    return bits.unflatten(-1, (classes, -1)).sum(-1) / tau


class _EFD(torch.autograd.Function):
    """(B, R, m n) bits, (R, m, 2**n) real tables -> (B, R, m) bits: the tables binarised at 0, looked up."""

    @staticmethod
    def forward(ctx, bits: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
        r, m, size = tables.shape
        addr = addresses(bits, size.bit_length() - 1)  # (B, R, m)
        row = (addr + _node_offsets(r, m, size))  # index into the (R m 2**n) flattened tables
        binary = (tables > 0).to(bits.dtype)
        ctx.save_for_backward(addr, row, binary)
        return binary.view(-1)[row]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        addr, row, binary = ctx.saved_tensors
        r, m, size = binary.shape
        n = size.bit_length() - 1
        g_tables = torch.zeros(r * m * size).index_add_(0, row.reshape(-1), grad.reshape(-1)).view(r, m, size)
        g_bits = None
        if ctx.needs_input_grad[0]:
            slope = torch.einsum("rjk,lka->rjal", binary, efd_kernel(n)).reshape(-1, n)  # (R m 2**n, n)
            g_bits = (slope[row] * grad[..., None]).flatten(2)  # (B, R, m n)
        return g_bits, g_tables


def _node_offsets(r: int, m: int, size: int) -> torch.Tensor:
    """(R, m) start of each node's table in the flattened (R, m, 2**n) tables."""
    return (torch.arange(r)[:, None] * m + torch.arange(m)) * size


class _LearnedSelect(torch.autograd.Function):
    """(B, R, I) bits, (R, k, I) weights -> (B, R, k): bit argmax_i w[:, j, i] for input j of the nodes."""

    @staticmethod
    def forward(ctx, bits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(bits, weights)
        idx = weights.argmax(2)  # (R, k)
        return torch.gather(bits, 2, idx.unsqueeze(0).expand(bits.shape[0], -1, -1))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        bits, weights = ctx.saved_tensors
        g = grad.transpose(0, 1)  # (R, B, k)
        g_w = torch.bmm(g.transpose(1, 2), (2 * bits - 1).transpose(0, 1))  # (R, k, I)
        g_bits = None
        if ctx.needs_input_grad[0]:
            g_bits = torch.bmm(g, torch.softmax(weights / MAPPING_TEMPERATURE, 2)).transpose(0, 1)
        return g_bits, g_w


class Thermometer(Layer):
    """Input codes (a quantised Act) -> thermometer bits ``code > c`` for every code c in [lo, hi) of each feature:
    (B, R, F) -> (B, R, F (hi - lo)), feature-major (feature f's bits are f (hi-lo) ... (f+1) (hi-lo) - 1)."""

    def __init__(self, lo: int, hi: int) -> None:
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, a: Act) -> Act:
        if a.scale is None:
            raise ConfigError("a thermometer needs quantised input codes: set quant.enabled: true")
        return Act(thermometer(torch.round(a.x / a.scale), self.lo, self.hi), None)

    def twin(self, r: int) -> nn.Module:
        return ThermometerTwin(self.lo, self.hi)


class ThermometerTwin(nn.Module):
    def __init__(self, lo: int, hi: int) -> None:
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, x: QuantTensor) -> torch.Tensor:
        return thermometer(torch.round(x.value / x.scale), self.lo, self.hi)


class LutLayer(Layer):
    """m LUT nodes of n inputs each over the previous layer's bits; ``learned``: the inputs are chosen by a learnable
    mapping (the first layer), else drawn at random per node and repeat."""

    def __init__(self, n_in: int, m: int, n: int, repeats: int, learned: bool) -> None:
        super().__init__()
        self.n_in, self.m, self.n, self.learned = n_in, m, n, learned
        self.tables = nn.Parameter(torch.empty(repeats, m, 2 ** n))
        if learned:
            self.weights = nn.Parameter(torch.empty(repeats, m * n, n_in))
        self.register_buffer("mapping", torch.zeros(repeats, m * n, dtype=torch.int64))

    @property
    def training_only_parameters(self) -> int:
        """The learnable mapping's weights (one repeat): they choose the wiring and are not part of the design."""
        return self.n_in * self.m * self.n if self.learned else 0

    def reset(self, gens: list[torch.Generator]) -> None:
        with torch.no_grad():
            for r, g in enumerate(gens):
                self.tables[r].copy_(torch.rand(self.m, 2 ** self.n, generator=g) * 2 - 1)
                if self.learned:
                    self.weights[r].copy_(torch.rand(self.m * self.n, self.n_in, generator=g))
                else:
                    self.mapping[r].copy_(torch.stack([torch.randperm(self.n_in, generator=g)[:self.n]
                                                       for _ in range(self.m)]).flatten())

    def inputs(self, r: int) -> torch.Tensor:
        """(m, n) indices of the bits node j reads (input k = address bit k) for repeat r."""
        idx = self.weights[r].argmax(1) if self.learned else self.mapping[r]
        return idx.detach().view(self.m, self.n).clone()

    def forward(self, a: Act) -> Act:
        bits = a.x
        if self.learned:
            picked = _LearnedSelect.apply(bits, self.weights)
        else:
            picked = torch.gather(bits, 2, self.mapping.unsqueeze(0).expand(bits.shape[0], -1, -1))
        return Act(_EFD.apply(picked, self.tables), None)

    def twin(self, r: int) -> nn.Module:
        return LutTwin(self.inputs(r), (self.tables[r].detach() > 0).clone())


class LutTwin(nn.Module):
    def __init__(self, inputs: torch.Tensor, tables: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("inputs", inputs)  #: (m, n) bit indices
        self.register_buffer("tables", tables)  #: (m, 2**n) bool

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        addr = addresses(bits[:, self.inputs.flatten()], self.inputs.shape[1])  # (N, m)
        return self.tables.gather(1, addr.T).T.to(bits.dtype)


class GroupSum(Layer):
    """(B, R, m) bits -> (B, R, classes) scores: popcount of each class's m / classes consecutive bits, / tau."""

    def __init__(self, classes: int, tau: float) -> None:
        super().__init__()
        self.classes, self.tau = classes, tau

    def forward(self, a: Act) -> Act:
        return Act(group_sum(a.x, self.classes, self.tau), 1.0 / self.tau)

    def twin(self, r: int) -> nn.Module:
        return GroupSumTwin(self.classes, self.tau)


class GroupSumTwin(nn.Module):
    def __init__(self, classes: int, tau: float) -> None:
        super().__init__()
        self.classes, self.tau = classes, tau

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        return group_sum(bits, self.classes, self.tau)

