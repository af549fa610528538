"""Batched layers: fused quantisers against quant.py's torch face and Brevitas, Conv1d against torch's conv1d,
and every repeat's Brevitas twin against the batched forward, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from jsc_hw import quant
from jsc_hw.config import QuantSpec
from jsc_hw.layers import Act, Conv1d, Linear, QuantAct
from jsc_hw.nets import ARCHITECTURES, BatchedNet

SPECS = {"8bit": QuantSpec(), "4bit": QuantSpec(weight_bits=4, act_bits=4, input_bits=4),
         "4bit_floor": QuantSpec(weight_bits=4, act_bits=4, input_bits=4, act_rounding="floor")}


def _boundaries(lo: int, hi: int) -> torch.Tensor:
    """x / scale values on and next to every rounding/clamping edge, as float32."""
    f32 = np.float32
    edges = [lo - 0.5, hi + 0.5, 0.0, -0.0, 0.5, -0.5, 1.5, 2.5, hi, lo, 1e-6, -1e-6, hi + 1, lo - 1, 1.0, -1.0]
    near = [np.nextafter(f32(e), f32(d)) for e in (lo - 0.5, hi + 0.5, 0.5, 0.0, lo, hi + 1, 1.0)
            for d in (-np.inf, np.inf)]
    return torch.tensor(np.array(edges + near, dtype=np.float32))


@pytest.mark.parametrize("floor", [False, True], ids=["round", "floor"])
@pytest.mark.parametrize("bits,int_bits,signed", [(8, 3, True), (8, 3, False), (4, 3, False), (4, 1, True),
                                                   (2, 1, True), (6, 0, False), (20, 8, True), (20, 9, False),
                                                   (24, 12, True), (24, 4, False)])  # 24: the wide-format path
def test_fused_activation_quantiser_equals_quant_fake_act(bits, int_bits, signed, floor):
    scale = quant.act_scale(bits, int_bits)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    g = torch.Generator().manual_seed(bits * 10 + int_bits)
    t = torch.cat([_boundaries(lo, hi), torch.randn(3000, generator=g) * (hi - lo) / 2])
    x = (t * scale).view(-1, 1, 1).requires_grad_()  # (B, R=1, 1)
    ref_x = x.detach().clone().requires_grad_()
    out = QuantAct(bits, int_bits, signed, floor=floor)(Act(x, None))
    ref = quant.fake_act(ref_x if signed else torch.relu(ref_x), bits, int_bits, signed, floor=floor)
    assert out.scale == scale
    assert torch.equal(out.x, ref)
    grad = torch.randn(ref.shape, generator=g)
    out.x.backward(grad), ref.backward(grad)
    assert torch.equal(x.grad, ref_x.grad)
    assert 0 < int((x.grad != 0).sum()) < len(t)  # some gradients pass, the clamped/negative ones do not


def test_weight_and_bias_quantisers_equal_quant_py_and_brevitas_gradients():
    """Values = quant.fake_weight/fake_bias; gradients = a Brevitas QuantLinear's (weight clamp with STE)."""
    torch.manual_seed(0)
    lin = Linear(16, 5, 3, QuantSpec(weight_bits=4))
    lin.reset([torch.Generator().manual_seed(s) for s in (1, 2, 3)])
    w, b, _ = lin.quantised(2.0 ** -5)
    ref_w, w_scale = quant.fake_weight(lin.weight, 4)
    assert torch.equal(w, ref_w)
    assert torch.equal(b, quant.fake_bias(lin.bias, (w_scale * 2.0 ** -5).view(-1, 1), 16))
    x = torch.randint(-64, 64, (32, 16)).float() * 2.0 ** -5  # on the fixed<8,3> input grid
    to_quant_tensor = QuantAct(8, 3, signed=True).twin(0)  # Brevitas QuantIdentity: hands on the input scale
    for r in range(3):
        twin = lin.twin(r)
        twin(to_quant_tensor(x)).value.square().sum().backward()
        lin.zero_grad()
        wq, bq, _ = lin.quantised(2.0 ** -5)
        (x @ wq[r].T + bq[r]).square().sum().backward()
        torch.testing.assert_close(lin.weight.grad[r], twin.weight.grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(lin.bias.grad[r], twin.bias.grad, rtol=1e-5, atol=1e-6)
    # the largest |w| gets the scale's gradient on top of its own: check that path is exercised
    assert lin.weight.grad.abs().amax() > 0


@pytest.mark.parametrize("kernel,padding", [(3, 1), (3, 0), (5, 2), (1, 0), (3, 2)])
def test_conv1d_equals_torch_conv1d_per_repeat(kernel, padding):
    conv = Conv1d(4, 6, kernel, padding, 2, QuantSpec(enabled=False))
    conv.reset([torch.Generator().manual_seed(s) for s in (0, 1)])
    x = torch.randn(7, 2, 4, 16, generator=torch.Generator().manual_seed(2), requires_grad=True)
    y = conv(Act(x, None)).x
    ref = torch.stack([F.conv1d(x[:, r], conv.weight[r], conv.bias[r], padding=padding) for r in range(2)], 1)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(3))
    ours = torch.autograd.grad(y, [x, conv.weight, conv.bias], grad)
    theirs = torch.autograd.grad(ref, [x, conv.weight, conv.bias], grad)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("floor", [False, True], ids=["round", "floor"])
@pytest.mark.parametrize("bits,int_bits,signed", [(8, 3, True), (4, 2, False), (3, 1, False), (5, 2, True)])
def test_activation_quantiser_equals_its_brevitas_twin_values_and_gradients(bits, int_bits, signed, floor):
    """The fused quantiser against the Brevitas QuantIdentity/QuantReLU it exports as: same values and the same
    straight-through gradient, on every rounding, truncation and clamping edge."""
    scale = quant.act_scale(bits, int_bits)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    g = torch.Generator().manual_seed(bits + 100 * floor)
    t = torch.cat([_boundaries(lo, hi), torch.randn(2000, generator=g) * (hi - lo) / 2])
    x = (t * scale).view(-1, 1, 1).requires_grad_()
    twin_x = x.detach().view(-1, 1).clone().requires_grad_()
    q = QuantAct(bits, int_bits, signed, floor=floor)
    out = q(Act(x, None)).x
    ref = q.twin(0)(twin_x).value
    assert torch.equal(out.view(-1, 1), ref)
    grad = torch.randn(ref.shape, generator=g)
    out.view(-1, 1).backward(grad), ref.backward(grad)
    assert torch.equal(x.grad.view(-1, 1), twin_x.grad)
    assert quant.rounds_down(q.twin(0)) == floor


def feature_major(x: torch.Tensor, repeats: int) -> torch.Tensor:
    return x.T.contiguous().expand(repeats, -1, -1).contiguous().permute(2, 0, 1)


@pytest.mark.parametrize("spec", sorted(SPECS))
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_twin_equals_batched_forward_exactly(arch, spec):
    """After a few training steps (BatchNorm statistics move too), repeat r's Brevitas twin in eval mode
    computes exactly net(x)[:, r], for the plain (B, R, F) layout and the trainer's feature-major one."""
    torch.manual_seed(0)
    net = BatchedNet(arch, SPECS[spec], [3, 4, 5]).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(4):
        loss = F.cross_entropy(net(torch.randn(64, 3, 16) * 2).permute(0, 2, 1), torch.randint(0, 5, (64, 3)))
        opt.zero_grad(), loss.backward(), opt.step()
    net.eval()
    x = torch.randn(300, 16) * 2
    with torch.no_grad():
        plain_layout = net(x[:, None].expand(-1, 3, -1).contiguous())
        fast_layout = net(feature_major(x, 3))
        for r in range(3):
            twin = net.twin(r)(x.view(-1, *net.input_shape))
            assert torch.equal(twin, plain_layout[:, r]), f"{arch} {spec} repeat {r}"
            assert torch.equal(twin, fast_layout[:, r]), f"{arch} {spec} repeat {r} (feature-major)"
