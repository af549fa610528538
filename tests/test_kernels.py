"""The native training kernels (jsc_hw/_kernels.cc) against the layers' torch path: the same forward values bit
for bit, the same straight-through masks exactly, the same gradients up to float summation order."""

from __future__ import annotations

import platform

import pytest
import torch

from jsc_hw import kernels, native
from jsc_hw.errors import ToolError
from jsc_hw.layers import Act, QuantAct, _FakeWeightBias, _NativeConv, _ShiftConv

if kernels.library() is None:
    pytest.skip("the native kernels could not be built here (no C++ compiler?)", allow_module_level=True)


def _both(monkeypatch, fn):
    """fn() with the native kernels, then with the torch path."""
    native_out = fn()
    with monkeypatch.context() as m:
        m.setattr(kernels, "library", lambda: None)
        torch_out = fn()
    return native_out, torch_out


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 2e-6) -> None:
    """Equal up to float rounding of sums: the largest difference within rtol of the largest magnitude."""
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= rtol * float(b.abs().max()) + 1e-30


CONV_SHAPES = [(3, 16, 16, 16, 256, 3, 1), (2, 1, 8, 16, 37, 3, 1), (2, 8, 16, 16, 7, 3, 1), (1, 5, 12, 9, 33, 5, 2),
               (2, 3, 5, 10, 16, 1, 0), (2, 4, 9, 12, 40, 3, 0), (2, 4, 9, 12, 19, 2, 1), (2, 16, 24, 16, 1, 3, 1)]


def _conv_operands(r, c_in, c_out, length, bsz, k, pad):
    g = torch.Generator().manual_seed(r * 1000 + c_in * 10 + bsz)
    x = torch.randint(0, 256, (r, c_in, length, bsz), generator=g).float() / 16  # on a fixed-point grid
    w = torch.randint(-127, 128, (r, c_out, c_in, k), generator=g).float() / 128
    b = torch.randint(-4096, 4096, (r, c_out), generator=g).float() / 2048
    gy = torch.randn(r, c_out, length + 2 * pad - k + 1, bsz, generator=g)
    return x, w, b, gy


def _conv_grads(conv, x, w, b, gy):
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    y = conv(*leaves)
    y.backward(gy)
    return y.detach(), *(t.grad for t in leaves)


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=str)
def test_conv_matches_torch_path(shape):
    x, w, b, gy = _conv_operands(*shape)
    pad = shape[-1]
    y, gx, gw, gb = _conv_grads(lambda *t: _NativeConv.apply(*t, pad, None), x, w, b, gy)
    y_ref, gx_ref, gw_ref, gb_ref = _conv_grads(lambda *t: _ShiftConv.apply(*t, pad), x, w, b, gy)
    assert y.shape == gy.shape
    assert torch.equal(y, y_ref)  # every sum is exact in float32
    _close(gx, gx_ref), _close(gw, gw_ref), _close(gb, gb_ref)


@pytest.mark.parametrize("quantiser", [(4, 2, False, False), (5, 3, True, False), (4, 1, False, True)], ids=str)
@pytest.mark.parametrize("shape", CONV_SHAPES[:3] + CONV_SHAPES[-1:], ids=str)
def test_conv_fused_with_its_quantiser_matches_conv_then_quantiser(monkeypatch, shape, quantiser):
    q = QuantAct(*quantiser[:3], floor=quantiser[3])
    x, w, b, gy = _conv_operands(*shape)
    pad = shape[-1]
    y, gx, gw, gb = _conv_grads(lambda *t: _NativeConv.apply(*t, pad, q.native), x, w, b, gy)

    def separate(*t):  # the torch path: conv, then the quantiser on the (B, R, C, L) view
        return q(Act(_ShiftConv.apply(*t, pad).permute(3, 0, 1, 2), None)).x.permute(1, 2, 3, 0)

    monkeypatch.setattr(kernels, "library", lambda: None)
    y_ref, gx_ref, gw_ref, gb_ref = _conv_grads(separate, x, w, b, gy)
    assert torch.equal(y, y_ref)
    assert 0 < int((y == 0).sum()) < y.numel() and int((y == q.clamp_bounds[1]).sum()) > 0  # clamped at both ends
    _close(gx, gx_ref), _close(gw, gw_ref), _close(gb, gb_ref)


@pytest.mark.parametrize("bits,int_bits,signed,floor", [(8, 3, False, False), (4, 1, True, False),
                                                        (6, 2, False, True), (24, 4, True, False)])
def test_fake_quant_matches_torch_path_values_and_masks(monkeypatch, bits, int_bits, signed, floor):
    q = QuantAct(bits, int_bits, signed, floor=floor)
    g = torch.Generator().manual_seed(bits)
    steps = torch.arange(-2 ** bits - 4, 2 ** bits + 4, 0.25)  # every rounding / clamping edge, and past them
    t = torch.cat([steps, torch.randn(20_000, generator=g) * 2 ** bits])
    block = (t * q.scale)[: 5 * 7 * (len(t) // 35)].view(5, 7, -1)  # (R, F, B): the feature-major block
    grad = torch.randn(block.shape, generator=g).permute(2, 0, 1)

    def run():
        x = block.clone().requires_grad_()
        y = q(Act(x.permute(2, 0, 1), None)).x  # a dense, permuted view, as the layers pass it
        y.backward(grad)
        return y.detach(), x.grad

    (y, gx), (y_ref, gx_ref) = _both(monkeypatch, run)
    assert torch.equal(y, y_ref)
    assert torch.equal(gx, gx_ref)
    assert 0 < int((gx != 0).sum()) < gx.numel()


def test_fake_quant_takes_the_torch_path_for_a_strided_input():
    q = QuantAct(8, 3, signed=True)
    x = torch.randn(16, 3, 40)[:, :, 5:30]  # a slice of columns: not dense
    assert not kernels.dense(x) and kernels.dense(torch.randn(3, 5, 7).permute(2, 0, 1))
    assert torch.equal(q(Act(x, None)).x, q(Act(x.contiguous(), None)).x)


@pytest.mark.parametrize("shape,bits,bias_bits", [((3, 16, 16, 3), 8, 16), ((2, 5, 32), 4, 8), ((1, 8, 1, 3), 3, 4)])
def test_weight_bias_quantiser_matches_torch_path(monkeypatch, shape, bits, bias_bits):
    g = torch.Generator().manual_seed(bits)
    w = torch.randn(shape, generator=g) * 0.3
    w.view(shape[0], -1)[:, :2] = w.view(shape[0], -1).abs().amax(1, keepdim=True)  # ties at the maximum
    w.view(shape[0], -1)[:, 2] *= -1
    b = torch.randn(shape[:2], generator=g) * 2.0 ** (bias_bits - 5)
    b.view(-1)[::2] *= 2.0 ** -12  # every other bias on the grid's range, the others clamp
    g_w, g_b = torch.randn(w.shape, generator=g), torch.randn(b.shape, generator=g)

    def run():
        lw, lb = w.clone().requires_grad_(), b.clone().requires_grad_()
        qw, qb = _FakeWeightBias.apply(lw, lb, bits, bias_bits, 2.0 ** -5)
        torch.autograd.backward([qw, qb], [g_w, g_b])
        return qw.detach(), qb.detach(), lw.grad, lb.grad

    (qw, qb, gw, gb), (qw_ref, qb_ref, gw_ref, gb_ref) = _both(monkeypatch, run)
    assert torch.equal(qw, qw_ref) and torch.equal(qb, qb_ref)
    assert torch.equal(gb, gb_ref)  # the bias gradient is g or 0
    _close(gw, gw_ref, rtol=1e-5)
    assert 0 < int((gb == 0).sum()) < gb.numel()  # some biases clamped (no gradient), some not


def test_portable_build_matches_the_native_one(monkeypatch):
    """Built for any x86-64 / other target (no -march: SSE2 vectors, no FMA, no AVX-512 mask instructions), the
    kernels give the same values and masks, and gradients equal up to the FMA's rounding."""
    portable = kernels.load(native.build(kernels.SOURCE, "jsckernels-portable", ("-O3", "-std=gnu++17", "-Wno-psabi")))
    q = QuantAct(4, 2, signed=False)
    x, w, b, gy = _conv_operands(2, 8, 16, 16, 37, 3, 1)

    def run():
        y, m = kernels.conv_forward(x, w, b, 1, q.native, mask=True)
        return (y, m, *kernels.conv_backward(x, w, gy, m, 1, True), *kernels.fake_quant(gy, q.native, mask=True))

    here = run()
    monkeypatch.setattr(kernels, "library", lambda: portable)
    there = run()
    for k in (0, 1, 5, 6):  # quantised values and masks
        assert torch.equal(here[k], there[k])
    for k in (2, 3, 4):  # gradients
        _close(here[k], there[k])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_is_accepted_by_glibc():
    assert native.keep_freed_memory()


def test_without_a_compiler_the_layers_fall_back_with_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("JSC_HW_CACHE", str(tmp_path))  # nothing built there yet
    monkeypatch.setenv("CXX", "no-such-compiler")
    assert kernels.library.__wrapped__() is None
    assert "native training kernels unavailable" in caplog.text and "no C++ compiler" in caplog.text
    monkeypatch.setenv("JSC_HW_NATIVE", "0")
    monkeypatch.delenv("CXX")
    assert kernels.library.__wrapped__() is None  # turned off: nothing is built
    assert not list(tmp_path.iterdir())


def test_a_compiler_error_is_a_tool_error_naming_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("JSC_HW_CACHE", str(tmp_path))
    bad = tmp_path / "bad.cc"
    bad.write_text("int f( {\n")
    with pytest.raises(ToolError, match="could not build bad.cc"):
        native.build(bad, "bad", ("-O0",))
