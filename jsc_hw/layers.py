"""Layers with a leading *repeat* axis, so R independently initialised models train as one.

Activations flow as ``(B, R, ...)`` tensors together with their quantisation scale (``Act``), which biases
need (bias scale = input scale x weight scale).  Any memory layout works; the fast one, which the trainer
feeds, is *feature-major*: ``(B, R, F)`` as a view of an ``(R, F, B)`` block (batch innermost), in which
every layer is one gemm per repeat (``baddbmm``) or a vectorised elementwise kernel and needs no copies.

Every layer can produce its *twin*: the Brevitas (or plain torch) module holding repeat ``r``'s parameters,
which computes the same forward values and is what gets exported.  Each repeat draws its initial weights
from its own generator, so a repeat's result does not depend on which other repeats it was trained with.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import brevitas.nn as qnn
import numpy as np
import torch
import torch.nn.functional as F
from brevitas.quant_tensor import QuantTensor
from torch import nn

from jsc_hw.errors import UnsupportedModel
from jsc_hw import quant
from jsc_hw.config import QuantSpec


class Act(NamedTuple):
    x: torch.Tensor  #: (B, R, ...)
    scale: float | None  #: LSB of x when it lies on a fixed-point grid, else None


def plain(x: torch.Tensor | QuantTensor) -> torch.Tensor:
    return x.value if isinstance(x, QuantTensor) else x


class Layer(nn.Module):
    def reset(self, gens: list[torch.Generator]) -> None:
        """(Re-)initialise parameters, repeat r from gens[r]."""

    def twin(self, r: int) -> nn.Module:
        raise NotImplementedError


class _FakeQuant(torch.autograd.Function):
    """[ReLU +] fake quantiser to ``[u]fixed<bits, int_bits>``: four kernels forward, one backward.

    Forward values equal ``quant.fake_act`` (the scale is a power of two, so x * (1/scale) == x / scale).  The
    gradient is its straight-through one: passed where ReLU is active and ``lo <= round(t) <= hi`` with
    t = x / scale, i.e. (hi odd, lo even, round half to even) ``lo - 0.5 <= t < hi + 0.5``, which is
    ``hardtanh_backward``'s open interval (below, below) given below = the float32 just under lo - 0.5.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor, inv_scale: torch.Tensor, lo: int, hi: int,
                relu: bool) -> torch.Tensor:
        # scale, 1/scale: 0-dim float32 tensors (see _const)
        t = x * inv_scale
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(t)
            ctx.bounds = (0.0 if relu else _below(lo - 0.5), hi + 0.5)
        return torch.round(t).clamp_(0 if relu else lo, hi).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (t,) = ctx.saved_tensors
        return torch.ops.aten.hardtanh_backward(grad, t, *ctx.bounds), None, None, None, None, None


@functools.lru_cache(maxsize=None)
def _const(value: float) -> torch.Tensor:
    """A 0-dim float32 tensor (never written to): a Python number in an op is re-wrapped and cast every call."""
    return torch.tensor(float(value))


def _below(value: float) -> float:
    """The largest float32 smaller than ``value`` (a float32 itself)."""
    return float(np.nextafter(np.float32(value), np.float32(-np.inf)))


class QuantAct(Layer):
    """Activation quantiser ``[u]fixed<bits, int_bits>``; unsigned = ReLU + quantiser (QuantReLU)."""

    def __init__(self, bits: int, int_bits: int, signed: bool, enabled: bool = True) -> None:
        super().__init__()
        self.bits, self.int_bits, self.signed, self.enabled = bits, int_bits, signed, enabled
        self.scale = quant.act_scale(bits, int_bits)
        self.lo, self.hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
        self._scales = (_const(self.scale), _const(1.0 / self.scale))

    def forward(self, a: Act) -> Act:
        if not self.enabled:
            return Act(a.x if self.signed else torch.relu(a.x), None)
        return Act(_FakeQuant.apply(a.x, *self._scales, self.lo, self.hi, not self.signed), self.scale)

    def twin(self, r: int) -> nn.Module:
        if not self.enabled:
            return nn.Identity() if self.signed else nn.ReLU()
        kw = quant.brevitas_act_quant(self.bits, self.int_bits, self.signed)
        cls = qnn.QuantIdentity if self.signed else qnn.QuantReLU
        return cls(**kw, return_quant_tensor=True)


def input_quant(q: QuantSpec) -> QuantAct:
    return QuantAct(q.input_bits, q.input_int_bits, signed=True, enabled=q.enabled)


def relu(q: QuantSpec) -> QuantAct:
    return QuantAct(q.act_bits, q.act_int_bits, signed=False, enabled=q.enabled)


class BatchNorm(Layer):
    """BatchNorm1d over features (B, R, C): torch's own kernel on (1, R*C, B), batch innermost.

    In the feature-major layout that input is a free view and the kernel's reductions are contiguous (half the
    time of the twin's (B, C) layout, whose per-channel sums stride over C).  Eval mode (running statistics)
    equals the twin exactly; in training the batch mean/variance are summed in another order than the twin's,
    a float rounding difference (tests/test_train.py states the tolerance).  Per channel the order does not
    depend on R, so a repeat's numbers stay independent of its batch-mates.
    """

    def __init__(self, channels: int, repeats: int) -> None:
        super().__init__()
        self.c, self.r = channels, repeats
        self.weight = nn.Parameter(torch.ones(repeats, channels))
        self.bias = nn.Parameter(torch.zeros(repeats, channels))
        self.register_buffer("running_mean", torch.zeros(repeats, channels))
        self.register_buffer("running_var", torch.ones(repeats, channels))

    def forward(self, a: Act) -> Act:
        b = a.x.shape[0]
        x = a.x.permute(1, 2, 0).reshape(1, self.r * self.c, b)  # a view in the feature-major layout
        y = F.batch_norm(x, self.running_mean.view(-1), self.running_var.view(-1), self.weight.view(-1),
                         self.bias.view(-1), self.training, 0.1, 1e-5)
        return Act(y.view(self.r, self.c, b).permute(2, 0, 1), None)

    def twin(self, r: int) -> nn.Module:
        bn = nn.BatchNorm1d(self.c)
        with torch.no_grad():
            bn.weight.copy_(self.weight[r]), bn.bias.copy_(self.bias[r])
            bn.running_mean.copy_(self.running_mean[r]), bn.running_var.copy_(self.running_var[r])
        return bn


def _gemm(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Batched matrix product (+ broadcast bias) over the repeat axis.

    torch sends a batch of one matrix down its single-gemm path, which sums in another order than its batched
    one; R = 1 therefore runs as a batch of two (the copy's output and gradient are discarded), so that a
    repeat's numbers are bit-identical whatever the number of repeats trained with it.
    """
    if a.shape[0] == 1:
        a, b = a.expand(2, -1, -1), b.expand(2, -1, -1)
        bias = None if bias is None else bias.expand(2, -1, -1)
        return (torch.bmm(a, b) if bias is None else torch.baddbmm(bias, a, b))[:1]
    return torch.bmm(a, b) if bias is None else torch.baddbmm(bias, a, b)


class _FakeWeightBias(torch.autograd.Function):
    """Per-repeat power-of-two weight quantiser and the bias quantiser on grid (input scale x weight scale), in
    one node with a hand-written backward (autograd's graph of ~60 small nodes cost ~0.25 ms a step).

    Forward: the same kernels as ``quant.fake_weight`` / ``quant.fake_bias``, so the same values.  Backward:
    Brevitas' straight-through gradients, including the scale's: weights clamp *with* STE (TensorClampSte),
    biases without (TensorClamp), and the scale 2**ceil(log2(max|w| / 2**(bits-1))) passes d/ds = s/max|w|
    to the largest |w| (shared evenly between ties, as torch's amax backward does).
    """

    @staticmethod
    def forward(ctx, w: torch.Tensor, b: torch.Tensor, bits: int, bias_bits: int, in_scale: float):
        dims = tuple(range(1, w.dim()))
        absw = w.abs()
        maxabs = absw.amax(dim=dims, keepdim=True).clamp_min_(1e-10)
        scale = torch.exp2(torch.ceil(torch.log2(maxabs / _const(2.0 ** (bits - 1)))))  # (R, 1, ..., 1)
        hi_w = 2 ** (bits - 1) - 1
        t = w / scale
        qw = torch.round(t).clamp_(-hi_w, hi_w)
        b_scale = (scale * _const(in_scale)).view(-1, 1)
        u = b / b_scale
        lo_b, hi_b = -(2 ** (bias_bits - 1)), 2 ** (bias_bits - 1) - 1
        qb = torch.round(u)
        keep_b = (qb >= _const(lo_b)) & (qb <= _const(hi_b))
        qb.clamp_(lo_b, hi_b)
        ctx.save_for_backward(w, absw, maxabs, scale, t, qw, u, qb, keep_b)
        ctx.in_scale = in_scale
        return qw * scale, qb * b_scale

    @staticmethod
    def backward(ctx, g_w: torch.Tensor, g_b: torch.Tensor):
        w, absw, maxabs, scale, t, qw, u, qb, keep_b = ctx.saved_tensors
        dims = tuple(range(1, w.dim()))
        # d(q*s)/ds with q = round_ste(x/s): q - x/s; a clamped bias's q does not move: q
        g_scale = (g_w * (qw - t)).sum(dim=dims, keepdim=True)
        g_scale += (g_b * (qb - u * keep_b)).sum(dim=1).view_as(g_scale) * _const(ctx.in_scale)
        at_max = absw == maxabs
        g_max = g_scale * scale / maxabs / at_max.sum(dim=dims, keepdim=True)
        return g_w + torch.where(at_max, g_max * torch.sign(w), 0.0), g_b * keep_b, None, None, None


class _Weighted(Layer):
    """Shared parts of Linear and Conv1d: (R, out, ...) weights, (R, out) bias, torch's default init."""

    def __init__(self, weight_shape: tuple[int, ...], repeats: int, q: QuantSpec) -> None:
        super().__init__()
        self.q = q
        self.weight = nn.Parameter(torch.empty(repeats, *weight_shape))
        self.bias = nn.Parameter(torch.empty(repeats, weight_shape[0]))
        self.fan_in = math.prod(weight_shape[1:])
        #: 0/1 pruning mask like ``weight`` (jsc_hw.prune) or None; not saved: pruned weights are saved as zeros
        self.register_buffer("mask", None, persistent=False)

    def reset(self, gens: list[torch.Generator]) -> None:
        bound = 1.0 / math.sqrt(self.fan_in)  # = kaiming_uniform(a=sqrt(5)), torch's Linear/Conv default
        with torch.no_grad():
            for r, g in enumerate(gens):
                self.weight[r].uniform_(-bound, bound, generator=g)
                self.bias[r].uniform_(-bound, bound, generator=g)

    def quantised(self, in_scale: float | None) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        weight = self.weight if self.mask is None else self.weight * self.mask
        if not self.q.enabled:
            return weight, self.bias, None
        if in_scale is None:
            raise UnsupportedModel(f"{type(self).__name__}: a quantised layer needs a quantised input")
        w, b = _FakeWeightBias.apply(weight, self.bias, self.q.weight_bits, self.q.bias_bits, in_scale)
        return w, b, None

    def _load(self, module: nn.Module, r: int) -> nn.Module:
        with torch.no_grad():
            weight = self.weight[r] if self.mask is None else self.weight[r] * self.mask[r]
            module.weight.copy_(weight), module.bias.copy_(self.bias[r])
        return module

    def _twin_kwargs(self) -> dict:
        if not self.q.enabled:
            return {}
        return {**quant.brevitas_weight_quant(self.q.weight_bits), **quant.brevitas_bias_quant(self.q.bias_bits),
                "return_quant_tensor": True}


class Linear(_Weighted):
    def __init__(self, n_in: int, n_out: int, repeats: int, q: QuantSpec) -> None:
        super().__init__((n_out, n_in), repeats, q)

    def forward(self, a: Act) -> Act:
        w, b, scale = self.quantised(a.scale)
        y = _gemm(w, a.x.permute(1, 2, 0), b.unsqueeze(2))  # (R, out, B): one gemm per repeat
        return Act(y.permute(2, 0, 1), scale)

    def twin(self, r: int) -> nn.Module:
        n_out, n_in = self.weight.shape[1:]
        cls = qnn.QuantLinear if self.q.enabled else nn.Linear
        return self._load(cls(n_in, n_out, bias=True, **self._twin_kwargs()), r)


class _TapSum(torch.autograd.Function):
    """y[:, o, l] = bias[o] + sum_j z[:, j, o, l + j - padding] over the in-range positions, for (R, k, O, L, B) z.

    Written out because autograd's slice/select backward would zero-fill a full copy of z once per tap.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, bias: torch.Tensor, padding: int, l_out: int) -> torch.Tensor:
        r, k, c_out, length, bsz = z.shape
        ctx.spans = [(j, max(0, padding - j), min(l_out, length + padding - j)) for j in range(k)]
        ctx.padding, ctx.z_shape = padding, z.shape
        y = bias[:, :, None, None].expand(r, c_out, l_out, bsz).clone()
        for j, lo, hi in ctx.spans:
            y[:, :, lo:hi] += z[:, j, :, lo + j - padding:hi + j - padding]
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        gz, p = grad.new_empty(ctx.z_shape), ctx.padding
        for j, lo, hi in ctx.spans:
            gz[:, j, :, :lo + j - p].zero_(), gz[:, j, :, hi + j - p:].zero_()
            gz[:, j, :, lo + j - p:hi + j - p].copy_(grad[:, :, lo:hi])
        return gz, grad.sum((2, 3)), None, None


class Conv1d(_Weighted):
    """Conv1d on (B, R, C, L) as ONE gemm per repeat in the feature-major layout, with no im2col copy.

    All k taps are computed at once, z[j] = W[:, :, j] @ x over every position, and output position l adds
    z[j] at input position l + j - padding (zero padding = skipping the positions that fall outside).  On CPU
    this is several times faster than a grouped convolution over R*C channels; the forward values equal the
    twin's (quantised operands lie on fixed-point grids, so every sum is exact in float32).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int, repeats: int, q: QuantSpec) -> None:
        super().__init__((c_out, c_in, kernel), repeats, q)
        self.padding = padding

    def forward(self, a: Act) -> Act:
        w, b, scale = self.quantised(a.scale)
        r, c_out, c_in, k = w.shape
        x = a.x.permute(1, 2, 3, 0)  # (R, C, L, B): contiguous in the feature-major layout
        length, bsz, p = x.shape[2], x.shape[3], self.padding
        l_out = length + 2 * p - k + 1
        z = _gemm(w.permute(0, 3, 1, 2).reshape(r, k * c_out, c_in), x.reshape(r, c_in, length * bsz))
        y = _TapSum.apply(z.view(r, k, c_out, length, bsz), b, p, l_out)
        return Act(y.permute(3, 0, 1, 2), scale)  # (B, R, out, L_out) view

    def twin(self, r: int) -> nn.Module:
        c_out, c_in, k = self.weight.shape[1:]
        cls = qnn.QuantConv1d if self.q.enabled else nn.Conv1d
        return self._load(cls(c_in, c_out, k, padding=self.padding, bias=True, **self._twin_kwargs()), r)


class Flatten(Layer):
    def forward(self, a: Act) -> Act:
        return Act(a.x.flatten(2), a.scale)

    def twin(self, r: int) -> nn.Module:
        return nn.Flatten()


class _ResidualTwin(nn.Module):
    def __init__(self, body: nn.Module, post: nn.Module) -> None:
        super().__init__()
        self.body, self.post = body, post

    def forward(self, x):
        # Brevitas refuses QuantTensor + QuantTensor with different scales; both are on power-of-two grids,
        # so adding the dequantised values is exact (and hls4ml's fixed-point Merge infers the same sum).
        return self.post(plain(self.body(x)) + plain(x))


class Residual(Layer):
    """``post(body(x) + x)``; the body should end in a requantiser so the sum lies on a fixed-point grid."""

    def __init__(self, body: list[Layer], post: Layer) -> None:
        super().__init__()
        self.body, self.post = nn.ModuleList(body), post

    def reset(self, gens: list[torch.Generator]) -> None:
        for layer in (*self.body, self.post):
            layer.reset(gens)

    def forward(self, a: Act) -> Act:
        z = a
        for layer in self.body:
            z = layer(z)
        return self.post(Act(z.x + a.x, None))

    def twin(self, r: int) -> nn.Module:
        return _ResidualTwin(nn.Sequential(*(m.twin(r) for m in self.body)), self.post.twin(r))


class TwinNet(nn.Module):
    """Repeat r of a batched network as an ordinary (Brevitas) model taking (N, *input_shape)."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return plain(self.layers(x))
