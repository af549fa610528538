"""Native training kernels (``_kernels.cc``): Conv1d forward and backward on (R, C, L, B) blocks, optionally fused
with the quantiser after it; the activation quantiser with its straight-through mask in one pass; the weight and
bias quantisers with their backward.

They serve the batched layers (:mod:`jsc_hw.layers`), which call them when the library is available and run their
torch path otherwise; both give the same forward values bit for bit (every quantised sum is exact in float32) and
the same gradients up to float summation order (tests/test_kernels.py).  The library is compiled on first use
(:mod:`jsc_hw.native`, ``-O3 -march=native``, a few seconds); when it cannot be built the layers fall back (logged
once).  ``JSC_HW_NATIVE=0`` turns the kernels off.  Each repeat is computed alone and single-threaded, so a repeat's
numbers never depend on its batch-mates.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import subprocess
from functools import cache
from pathlib import Path

import torch

from jsc_hw import native
from jsc_hw.errors import MissingError, ToolError

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_kernels.cc")
FLAGS = ("-O3", "-march=native", "-std=gnu++17")  # no -ffast-math: the rounding kernel relies on IEEE float32

_P, _I, _F = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
_SIGNATURES = {
    "jsc_conv_forward": ([_P] * 6 + [_I] * 8, None),
    "jsc_conv_backward": ([_P] * 7 + [_I] * 8, _I),
    "jsc_fake_quant": ([_P, _P, _P, ctypes.c_int64, _P], None),
    "jsc_masked_grad": ([_P, _P, _P, ctypes.c_int64], None),
    "jsc_fake_weight_bias": ([_P, _P, _P, _F] + [_I] * 5 + [_P, _P], None),
    "jsc_fake_weight_bias_backward": ([_P, _P, _P, _P, _F] + [_I] * 5 + [_P] * 4, None),
}
MAX_KERNEL = 5  #: the largest Conv1d kernel size the native kernels take
Quantiser = tuple[float, float, int, float, float, float, float]  #: lo, hi, mode, a, b, gmin, gmax (jsc_fake_quant)


def _cpu() -> str:
    """What ``-march=native`` depends on: the machine and its instruction-set flags."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"


@cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None (off by ``JSC_HW_NATIVE=0``, or they could not be built: logged once)."""
    if os.environ.get("JSC_HW_NATIVE", "1") == "0":
        return None
    try:
        return load(native.build(SOURCE, "jsckernels", FLAGS, key=_cpu()))
    except (MissingError, ToolError, OSError, subprocess.SubprocessError) as exc:
        log.warning("native training kernels unavailable (%s); the layers use their torch path (slower)", exc)
        return None


def load(path: Path) -> ctypes.CDLL:
    """A compiled ``_kernels.cc`` with its functions' signatures set."""
    lib = ctypes.CDLL(str(path))
    for name, (args, res) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


def dense(x: torch.Tensor) -> bool:
    """True if ``x`` fills its piece of storage exactly (some permutation of it is contiguous): then an
    elementwise kernel can run over the storage, and ``empty_like`` gives an output of the same strides."""
    order = sorted(range(x.dim()), key=lambda d: -x.stride(d))
    return x.dtype == torch.float32 and x.permute(order).is_contiguous()


@cache
def _floats(values: Quantiser) -> ctypes.Array:
    return (ctypes.c_float * len(values))(*values)


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def conv_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: int, quantiser: Quantiser | None = None,
                 mask: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(y, m)``: y (R, C_out, L_out, B) = conv1d of x (R, C_in, L, B) with w (R, C_out, C_in, k) and bias b
    (R, C_out), quantised by ``quantiser`` if given (``layers.QuantAct.native``); m its straight-through mask
    (uint8, like y) when asked."""
    x, w, b = x.contiguous(), w.contiguous(), b.contiguous()
    r, c_in, length, bsz = x.shape
    c_out, k = w.shape[1], w.shape[3]
    l_out = length + 2 * padding - k + 1
    y = torch.empty((r, c_out, l_out, bsz))
    m = torch.empty(y.shape, dtype=torch.uint8) if mask and quantiser is not None else None
    library().jsc_conv_forward(x.data_ptr(), w.data_ptr(), b.data_ptr(), y.data_ptr(), _ptr(m),
                               None if quantiser is None else _floats(quantiser), r, c_in, c_out, k, length, l_out,
                               padding, bsz)
    return y, m


def conv_backward(x: torch.Tensor, w: torch.Tensor, g: torch.Tensor, m: torch.Tensor | None, padding: int,
                  input_grad: bool) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Gradients (x or None, w, bias) of ``conv_forward`` from the output's gradient g (R, C_out, L_out, B),
    masked by the fused quantiser's mask m when there is one."""
    x, w, g = x.contiguous(), w.contiguous(), g.contiguous()
    r, c_in, length, bsz = x.shape
    c_out, k = w.shape[1], w.shape[3]
    g_x = torch.empty_like(x) if input_grad else None
    g_w, g_b = torch.empty_like(w), torch.empty((r, c_out))
    if not library().jsc_conv_backward(x.data_ptr(), w.data_ptr(), g.data_ptr(), _ptr(m), _ptr(g_x), g_w.data_ptr(),
                                       g_b.data_ptr(), r, c_in, c_out, k, length, g.shape[2], padding, bsz):
        raise MissingError(f"the native Conv1d kernel takes kernel sizes 1-{MAX_KERNEL}, not {k}: set JSC_HW_NATIVE=0")
    return g_x, g_w, g_b


def fake_quant(x: torch.Tensor, quantiser: Quantiser, mask: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(y, m)``: y = the quantiser's value of the dense tensor x, m its straight-through mask (uint8) if asked."""
    y = torch.empty_like(x)
    m = torch.empty_like(x, dtype=torch.uint8) if mask else None
    library().jsc_fake_quant(x.data_ptr(), y.data_ptr(), _ptr(m), x.numel(), _floats(quantiser))
    return y, m


def masked_grad(g: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """g where the mask is set, else 0 (the straight-through gradient), laid out like the mask."""
    if g.stride() != m.stride() or g.dtype != torch.float32:
        g = torch.empty_like(m, dtype=torch.float32).copy_(g)
    out = torch.empty_like(g)
    library().jsc_masked_grad(g.data_ptr(), m.data_ptr(), out.data_ptr(), g.numel())
    return out


def fake_weight_bias(w: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, in_scale: float, bits: int,
                     bias_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The quantised weights (R, ...) and biases (R, out) of ``layers._FakeWeightBias`` given the (R, 1, ...)
    power-of-two weight scales."""
    w, b, scale = w.contiguous(), b.contiguous(), scale.contiguous()
    out_w, out_b = torch.empty_like(w), torch.empty_like(b)
    r = w.shape[0]
    library().jsc_fake_weight_bias(w.data_ptr(), b.data_ptr(), scale.data_ptr(), in_scale, r, w.numel() // r,
                                   b.numel() // r, bits, bias_bits, out_w.data_ptr(), out_b.data_ptr())
    return out_w, out_b


def fake_weight_bias_backward(w: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, maxabs: torch.Tensor,
                              in_scale: float, bits: int, bias_bits: int, g_w: torch.Tensor, g_b: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients (weights, biases) of ``fake_weight_bias``, the scale's included."""
    w, b, g_w, g_b = w.contiguous(), b.contiguous(), g_w.contiguous(), g_b.contiguous()
    out_w, out_b = torch.empty_like(w), torch.empty_like(b)
    r = w.shape[0]
    library().jsc_fake_weight_bias_backward(w.data_ptr(), b.data_ptr(), scale.contiguous().data_ptr(),
                                            maxabs.contiguous().data_ptr(), in_scale, r, w.numel() // r,
                                            b.numel() // r, bits, bias_bits, g_w.data_ptr(), g_b.data_ptr(),
                                            out_w.data_ptr(), out_b.data_ptr())
    return out_w, out_b

