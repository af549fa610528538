"""Fixed-point quantisers: the only module that imports ``brevitas.quant``.

Each format has two faces that compute the same forward values, bit for bit:
* a Brevitas quantiser (used by the exportable model, the one that goes to QONNX and hls4ml), and
* a plain-torch fake-quantiser with the same rounding (half to even, or down for activations that truncate),
  clamping and straight-through gradient,
  used by the fast trainer, which trains several repeats at once as one batched model.
``tests/test_layers.py`` checks the two faces against each other.

Scales are powers of two, so every quantised tensor is an ap_fixed type in hls4ml (no ApplyAlpha layers):
weights ``fixed<b, i>`` with ``i`` from the weight statistics; activations/input constant formats.
"""

from __future__ import annotations

import torch
from brevitas.inject.enum import FloatToIntImplType, ScalingImplType
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int16Bias
from brevitas.quant import Uint8ActPerTensorFixedPoint

from jsc_hw.fixed import FixedFormat


# ---- Brevitas face -------------------------------------------------------------------------------------
def brevitas_weight_quant(bits: int) -> dict:
    """kwargs for QuantLinear/QuantConv1d weights: per-tensor PoT scale from max|w| (narrow signed range)."""
    return {"weight_quant": Int8WeightPerTensorFixedPoint, "weight_bit_width": bits}


def brevitas_bias_quant(bits: int) -> dict:
    """kwargs for biases: scale = input scale x weight scale, ``bits`` signed."""
    return {"bias_quant": Int16Bias, "bias_bit_width": bits}


def brevitas_act_quant(bits: int, int_bits: int, signed: bool, floor: bool = False) -> dict:
    """kwargs for QuantIdentity/QuantReLU: constant format ``[u]fixed<bits, int_bits>``, rounding half to even
    (or down, ``floor``)."""
    base = Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
    # Brevitas divides a constant range by 2**(bits-1) (signed) or 2**bits (unsigned) for PoT formats
    threshold = 2.0 ** (int_bits - 1) if signed else 2.0 ** int_bits
    quant = base.let(scaling_impl_type=ScalingImplType.CONST, scaling_init=threshold,
                     float_to_int_impl_type=FloatToIntImplType.FLOOR if floor else FloatToIntImplType.ROUND)
    return {"act_quant": quant, "bit_width": bits}


def rounds_down(act_module: torch.nn.Module) -> bool:
    """Whether a Brevitas activation quantiser (QuantIdentity/QuantReLU) truncates (FLOOR) instead of rounding."""
    from brevitas.core.function_wrapper.ops_ste import FloorSte

    impl = act_module.act_quant.fused_activation_quant_proxy.tensor_quant.int_quant.float_to_int_impl
    return isinstance(impl, FloorSte)


# ---- torch face (same forward values) -------------------------------------------------------------------
def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()  # torch.round = round half to even, as Brevitas


def _floor_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.floor(x) - x).detach()


def _ceil_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.ceil(x) - x).detach()


def act_scale(bits: int, int_bits: int) -> float:
    """LSB of ``fixed<bits, int_bits>`` (signed: sign bit counted in int_bits) or ``ufixed<bits, int_bits>``."""
    return 2.0 ** (int_bits - bits)


def fake_act(x: torch.Tensor, bits: int, int_bits: int, signed: bool, floor: bool = False) -> torch.Tensor:
    f = FixedFormat(bits, signed, int_bits - bits)
    return torch.clamp((_floor_ste if floor else _round_ste)(x / f.lsb), f.lo, f.hi) * f.lsb


def weight_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-repeat PoT scale of a weight tensor with a leading repeat axis: shape (R, 1, ..., 1)."""
    maxabs = w.abs().flatten(1).amax(dim=1).clamp_min(1e-10)
    scale = 2.0 ** _ceil_ste(torch.log2(maxabs / 2.0 ** (bits - 1)))
    return scale.view(-1, *([1] * (w.dim() - 1)))


def fake_weight(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantised weights (leading repeat axis) and their per-repeat scale."""
    scale = weight_scale(w, bits)
    hi = FixedFormat(bits, True, 0, narrow=True).hi
    v = _round_ste(w / scale)
    # Brevitas clamps weights with TensorClampSte: the gradient passes the clamp unchanged
    return (v + (torch.clamp(v, -hi, hi) - v).detach()) * scale, scale


def fake_bias(b: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Bias (R, out) on the grid ``scale`` (R, 1): input scale x weight scale."""
    f = FixedFormat(bits, True, 0)
    return torch.clamp(_round_ste(b / scale), f.lo, f.hi) * scale
