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
from typing import NamedTuple, Sequence

import brevitas.nn as qnn
import numpy as np
import torch
import torch.nn.functional as F
from brevitas.quant_tensor import QuantTensor
from torch import nn

from jsc_hw.errors import UnsupportedModel
from jsc_hw import kernels, quant
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


MAGIC_ROUNDING_BITS = 20
MAGIC, FLOOR, ROUND = 0, 1, 2  #: how a quantiser rounds (jsc_fake_quant's modes): (y + M) - M, floor, round


class _FakeQuant(torch.autograd.Function):
    """[ReLU +] fake quantiser to ``[u]fixed<bits, int_bits>``: three kernels forward, one backward.

    Forward values equal ``quant.fake_act`` = clamp(round(x / s), lo, hi) * s, computed as
    round_s(clamp(x, lo*s, hi*s)) (clamping to integer multiples of s first changes nothing), where rounding to
    a multiple of the power-of-two s, half to even, is float32's own: (y + M) - M with M = 1.5 * 2**23 * s, exact
    for |y| < 2**22 s (formats of up to ``MAGIC_ROUNDING_BITS`` bits; wider ones scale, round and scale back).
    The gradient is the straight-through one: passed where ReLU is active and
    ``lo <= round(x / s) <= hi``, i.e. (hi odd, lo even, round half to even) ``(lo - 0.5) s <= x < (hi + 0.5) s``,
    which is ``hardtanh_backward``'s open interval (below, (hi + 0.5) s) with below = the float32 just under
    (lo - 0.5) s (0 for ReLU).  A truncating quantiser (``floor``) computes floor(clamp(x) / s) * s, and its
    gradient passes where ``lo <= floor(x / s) <= hi``: ``lo s <= x < (hi + 1) s``.  With the native kernels
    (``kernels.fake_quant``, on a dense input) the same values and mask come from one pass, the mask kept as bytes.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, q: "QuantAct") -> torch.Tensor:
        ctx.native = kernels.library() is not None and kernels.dense(x)
        if ctx.native:  # one pass, which also writes the straight-through mask
            y, mask = kernels.fake_quant(x, q.native, mask=ctx.needs_input_grad[0])
            if mask is not None:
                ctx.save_for_backward(mask)
            return y
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x)
            ctx.bounds = q.grad_bounds
        y = torch.clamp(x, *q.clamp_bounds)
        if q.rounding == FLOOR:
            return y.mul_(q.inv_scale).floor_().mul_(q.scale_t)
        if q.rounding == MAGIC:
            return y.add_(q.magic).sub_(q.magic)
        return y.mul_(q.inv_scale).round_().mul_(q.scale_t)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if ctx.native:
            return kernels.masked_grad(grad, ctx.saved_tensors[0]), None
        (x,) = ctx.saved_tensors
        return torch.ops.aten.hardtanh_backward(grad, x, *ctx.bounds), None


@functools.lru_cache(maxsize=None)
def _const(value: float) -> torch.Tensor:
    """A 0-dim float32 tensor (never written to): a Python number in an op is re-wrapped and cast every call."""
    return torch.tensor(float(value))


def _below(value: float) -> float:
    """The largest float32 smaller than ``value`` (a float32 itself)."""
    return float(np.nextafter(np.float32(value), np.float32(-np.inf)))


class QuantAct(Layer):
    """Activation quantiser ``[u]fixed<bits, int_bits>``; unsigned = ReLU + quantiser (QuantReLU); rounding half
    to even, or down (``floor``)."""

    def __init__(self, bits: int, int_bits: int, signed: bool, enabled: bool = True, floor: bool = False) -> None:
        super().__init__()
        self.bits, self.int_bits, self.signed, self.enabled, self.floor = bits, int_bits, signed, enabled, floor
        self.scale = quant.act_scale(bits, int_bits)
        self.lo, self.hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
        s, low = self.scale, self.lo if signed else 0
        self.clamp_bounds = (low * s, self.hi * s)
        half = 0.0 if floor else 0.5  # the code's lower edge: lo - 0.5 rounded, lo truncated
        self.grad_bounds = (_below(self.lo - half) * s if signed else 0.0, (self.hi + 1.0 - half) * s)
        self.magic = _const(1.5 * 2.0 ** 23 * s)  #: adding and subtracting it rounds to a multiple of s
        self.scale_t, self.inv_scale = _const(s), _const(1.0 / s)
        self.rounding = FLOOR if floor else MAGIC if bits <= MAGIC_ROUNDING_BITS else ROUND
        a = float(self.magic) if self.rounding == MAGIC else 1.0 / s
        self.native = (*self.clamp_bounds, self.rounding, a, s, *self.grad_bounds)  #: the same, for kernels.fake_quant

    def forward(self, a: Act) -> Act:
        if not self.enabled:
            return Act(a.x if self.signed else torch.relu(a.x), None)
        return Act(_FakeQuant.apply(a.x, self), self.scale)

    def twin(self, r: int) -> nn.Module:
        if not self.enabled:
            return nn.Identity() if self.signed else nn.ReLU()
        kw = quant.brevitas_act_quant(self.bits, self.int_bits, self.signed, self.floor)
        cls = qnn.QuantIdentity if self.signed else qnn.QuantReLU
        return cls(**kw, return_quant_tensor=True)


def input_quant(q: QuantSpec) -> QuantAct:
    return QuantAct(q.input_bits, q.input_int_bits, signed=True, enabled=q.enabled)


def hidden_act(q: QuantSpec, bits: int, int_bits: int, signed: bool) -> QuantAct:
    """A quantiser inside the network (not the input's): it rounds as ``quant.act_rounding`` says."""
    return QuantAct(bits, int_bits, signed, enabled=q.enabled, floor=q.act_rounding == "floor")


def relu(q: QuantSpec) -> QuantAct:
    return hidden_act(q, q.act_bits, q.act_int_bits, signed=False)


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
        ctx.in_scale, ctx.native = in_scale, kernels.library() is not None
        if ctx.native:  # the same values in one call; its backward recomputes what it needs
            ctx.save_for_backward(w, b, maxabs, scale)
            ctx.bits = bits, bias_bits
            return kernels.fake_weight_bias(w, b, scale, in_scale, bits, bias_bits)
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
        return qw * scale, qb * b_scale

    @staticmethod
    def backward(ctx, g_w: torch.Tensor, g_b: torch.Tensor):
        if ctx.native:
            w, b, maxabs, scale = ctx.saved_tensors
            grads = kernels.fake_weight_bias_backward(w, b, scale, maxabs, ctx.in_scale, *ctx.bits, g_w, g_b)
            return (*grads, None, None, None)
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
    """``sparse_fan_in`` > 0: each neuron of each repeat sees that many inputs, drawn at random (after the weights,
    from the repeat's generator); the others are masked like pruned weights, so they stay exact zeros."""

    def __init__(self, n_in: int, n_out: int, repeats: int, q: QuantSpec, sparse_fan_in: int = 0) -> None:
        super().__init__((n_out, n_in), repeats, q)
        self.sparse_fan_in = sparse_fan_in if 0 < sparse_fan_in < n_in else 0

    def reset(self, gens: list[torch.Generator]) -> None:
        if not self.sparse_fan_in:
            return super().reset(gens)
        n_out, n_in = self.weight.shape[1:]
        bound = 1.0 / math.sqrt(self.sparse_fan_in)  # torch's default init for the inputs a neuron has
        mask = torch.zeros_like(self.weight)
        with torch.no_grad():
            for r, g in enumerate(gens):
                self.weight[r].uniform_(-bound, bound, generator=g)
                self.bias[r].uniform_(-bound, bound, generator=g)
                for j in range(n_out):
                    mask[r, j, torch.randperm(n_in, generator=g)[:self.sparse_fan_in]] = 1.0
            self.weight.mul_(mask)
        self.mask = mask

    def forward(self, a: Act) -> Act:
        w, b, scale = self.quantised(a.scale)
        y = _gemm(w, a.x.permute(1, 2, 0), b.unsqueeze(2))  # (R, out, B): one gemm per repeat
        return Act(y.permute(2, 0, 1), scale)

    def twin(self, r: int) -> nn.Module:
        n_out, n_in = self.weight.shape[1:]
        cls = qnn.QuantLinear if self.q.enabled else nn.Linear
        return self._load(cls(n_in, n_out, bias=True, **self._twin_kwargs()), r)


class _ShiftConv(torch.autograd.Function):
    """Conv1d on (R, C_in, L, B) blocks as gemms on shifted column ranges, forward and backward by hand.

    With batch innermost, moving one position along L is moving B columns of the (R, C, L*B) matrix, so tap j
    (offset d = j - padding) adds ``W[:, :, :, j] @ x[columns shifted by d*B]`` to the output columns it reaches:
    no im2col copy and no per-tap intermediate.  The tap with d = 0 writes the whole output (bias included)
    with one gemm, the others accumulate into their ranges in place; the backward pass is the same three
    gemms transposed.  Quantised operands lie on fixed-point grids, so every forward sum is exact in float32.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: int) -> torch.Tensor:
        r, c_in, length, bsz = x.shape
        c_out, k = w.shape[1], w.shape[3]
        l_out = length + 2 * padding - k + 1
        taps = w.permute(3, 0, 1, 2).contiguous()  # (k, R, C_out, C_in)
        cols = x.reshape(r, c_in, length * bsz)
        spans = [(j, lo * bsz, hi * bsz, (lo + j - padding) * bsz)
                 for j in range(k) for lo, hi in [(max(0, padding - j), min(l_out, length + padding - j))] if lo < hi]
        whole = [s for s in spans if s[3] == s[1] == 0 and s[2] == l_out * bsz == length * bsz][:1]
        if whole:
            y = _gemm(taps[whole[0][0]], cols, b.unsqueeze(2))
        else:
            y = b.unsqueeze(2).expand(r, c_out, l_out * bsz).clone()
        for j, lo, hi, at in spans:
            if [(j, lo, hi, at)] != whole:
                y[:, :, lo:hi].baddbmm_(taps[j], cols[:, :, at:at + hi - lo])
        ctx.save_for_backward(cols, taps)
        ctx.spans, ctx.whole, ctx.x_shape = spans, whole, x.shape
        return y.view(r, c_out, l_out, bsz)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cols, taps = ctx.saved_tensors
        r, c_out = grad.shape[:2]
        gy = grad.reshape(r, c_out, -1)
        g_x = None
        if ctx.needs_input_grad[0]:
            g_cols = _gemm(taps[ctx.whole[0][0]].transpose(1, 2), gy) if ctx.whole else torch.zeros_like(cols)
            for j, lo, hi, at in ctx.spans:
                if [(j, lo, hi, at)] != ctx.whole:
                    g_cols[:, :, at:at + hi - lo].baddbmm_(taps[j].transpose(1, 2), gy[:, :, lo:hi])
            g_x = g_cols.view(ctx.x_shape)
        g_taps = torch.zeros_like(taps)
        for j, lo, hi, at in ctx.spans:
            g_taps[j] = _gemm(gy[:, :, lo:hi], cols[:, :, at:at + hi - lo].transpose(1, 2))
        return g_x, g_taps.permute(1, 2, 3, 0), gy.sum(2), None


class _NativeConv(torch.autograd.Function):
    """Conv1d on (R, C_in, L, B) blocks by the native kernels, optionally fused with the quantiser after it: the
    output is quantised on the way out and only its straight-through mask is kept; the backward pass masks the
    incoming gradient per repeat while it is in cache.  Same forward values as ``_ShiftConv`` + ``_FakeQuant``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: int,
                quantiser: kernels.Quantiser | None) -> torch.Tensor:
        y, mask = kernels.conv_forward(x, w, b, padding, quantiser, mask=any(ctx.needs_input_grad))
        ctx.save_for_backward(x, w, mask)
        ctx.padding = padding
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w, mask = ctx.saved_tensors
        return (*kernels.conv_backward(x, w, grad, mask, ctx.padding, ctx.needs_input_grad[0]), None, None)


class Conv1d(_Weighted):
    """Conv1d on (B, R, C, L) in the feature-major layout: the native kernels (``_NativeConv``) when they are
    available, else a few gemms per repeat (``_ShiftConv``).

    On CPU the gemms are several times faster than a grouped convolution over R*C channels, and 1.7-2.7x faster
    than one gemm over all taps followed by a tap sum; the native kernels 1.5-2.4x faster again (R = 10, B = 256);
    the forward values equal the twin's (quantised operands lie on fixed-point grids, so every sum is exact in
    float32).  ``post``: the quantiser that follows, run fused with the convolution by the native kernels.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int, repeats: int, q: QuantSpec) -> None:
        super().__init__((c_out, c_in, kernel), repeats, q)
        self.padding = padding

    def forward(self, a: Act, post: "QuantAct | None" = None) -> Act:
        w, b, scale = self.quantised(a.scale)
        x = a.x.permute(1, 2, 3, 0)  # (R, C, L, B): contiguous in the feature-major layout
        if kernels.library() is not None and w.shape[3] <= kernels.MAX_KERNEL and x.dtype == torch.float32:
            fuse = post is not None and post.enabled
            y = _NativeConv.apply(x, w, b, self.padding, post.native if fuse else None)
            out = Act(y.permute(3, 0, 1, 2), post.scale if fuse else scale)  # (B, R, out, L_out) view
            return out if fuse or post is None else post(out)
        out = Act(_ShiftConv.apply(x, w, b, self.padding).permute(3, 0, 1, 2), scale)
        return out if post is None else post(out)

    def twin(self, r: int) -> nn.Module:
        c_out, c_in, k = self.weight.shape[1:]
        cls = qnn.QuantConv1d if self.q.enabled else nn.Conv1d
        return self._load(cls(c_in, c_out, k, padding=self.padding, bias=True, **self._twin_kwargs()), r)


def run(layers: Sequence[nn.Module], a: Act) -> Act:
    """Apply ``layers`` in order; a Conv1d followed by a quantiser runs as one fused step (unless the quantiser has
    hooks, which must see it run)."""
    i = 0
    while i < len(layers):
        layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, Conv1d) and isinstance(after, QuantAct) and not after._forward_hooks:
            a, i = layer(a, after), i + 2
        else:
            a, i = layer(a), i + 1
    return a


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
        z = run(self.body, a)
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
