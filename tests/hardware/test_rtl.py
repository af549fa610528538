"""Integer lowering of Brevitas twins: the numpy integer model equals the twin, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import Q4, inputs, net_with_bn_stats
from jsc_hw.hardware import rtl
from jsc_hw.config import QuantSpec


def test_shift_round_is_half_to_even() -> None:
    acc = np.array([5, 6, 7, -5, -6, -7, 3, -3, 12, 10, 14])
    assert rtl._shift_round(acc, 1).tolist() == [2, 3, 4, -2, -3, -4, 2, -2, 6, 5, 7]
    assert rtl._shift_round(acc, 2).tolist() == [1, 2, 2, -1, -2, -2, 1, -1, 3, 2, 4]  # 10/4 = 2.5 -> 2, 14/4 -> 4
    assert rtl._shift_round(np.array([3, -3]), -2).tolist() == [12, -12]


@pytest.mark.parametrize("arch", ["jsc_tiny", "jsc_rs1923", "mlp_64_32_32"])
@pytest.mark.parametrize("q", [QuantSpec(), Q4], ids=["w8", "w4"])
def test_integer_model_equals_twin(arch: str, q: QuantSpec) -> None:
    net = net_with_bn_stats(arch, q)
    twin = net.twin(0)
    x = inputs(1500)
    ints = rtl.lower(twin, net.input_shape)
    with torch.no_grad():
        ref = (twin(x.reshape(len(x), *net.input_shape)).reshape(len(x), -1) / 2.0 ** ints.out_exp).numpy()
    assert np.all(ref == np.round(ref))  # the twin's outputs lie on the integer grid
    got = rtl.simulate(ints, rtl.input_codes(twin, x.reshape(len(x), *net.input_shape)))
    assert np.array_equal(got, ref.astype(np.int64))


def test_ties_occur_and_half_up_would_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The requantisers see exact ties on real-looking data: rounding half up (da4ml's RND) would change outputs."""
    net = net_with_bn_stats("mlp_64_32_32", Q4)
    ints = rtl.lower(net.twin(0), net.input_shape)
    x = rtl.input_codes(net.twin(0), inputs(2000))
    even = rtl.simulate(ints, x)
    monkeypatch.setattr(rtl, "_shift_round", lambda acc, s: (acc + (1 << (s - 1))) >> s if s > 0 else acc << -s)
    assert (rtl.simulate(ints, x) != even).any()


def test_narrow_bias_is_clamped_like_brevitas() -> None:
    """bias_bits from the QuantSpec: a 6-bit bias saturates, in the twin and in the integer model alike."""
    net = net_with_bn_stats("mlp_64_32_32", QuantSpec(bias_bits=6))
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "bias") and m.bias is not None and m.bias.dim() == 2 and not hasattr(m, "running_var"):
                m.bias.mul_(20)
    twin, x = net.twin(0), inputs(500)
    ints = rtl.lower(twin, net.input_shape)
    assert max(int(abs(s.b).max()) for s in ints.stages if isinstance(s, rtl.MatVec)) == 32
    with torch.no_grad():
        ref = (twin(x) / 2.0 ** ints.out_exp).numpy()
    assert np.array_equal(rtl.simulate(ints, rtl.input_codes(twin, x)), ref.astype(np.int64))


def test_accumulator_bound_is_the_largest_reachable_value() -> None:
    """Over every input of a one-layer net the bound is attained; with a second layer it is an upper bound."""
    from itertools import product

    from jsc_hw.fixed import FixedFormat

    w = np.array([[3, -5, 7, 0], [-1, 2, 6, -7]])
    one = rtl.IntNet(FixedFormat(4, True, -1), 4, (rtl.MatVec(w, np.array([5, -3]), -4),), -4, None)
    x = np.array(list(product(range(-8, 8), repeat=4)))
    assert rtl.accumulator_bound(one) == int(np.abs(x @ w.T + [5, -3]).max()) == 16 * 8 - 5  # row 1 at -8/+7
    two = rtl.IntNet(one.inp, 4, (*one.stages, rtl.Requant(FixedFormat(4, False, -2)),
                                  rtl.MatVec(np.array([[100, -100]]), np.array([0]), -6)), -6, None)
    assert rtl.accumulator_bound(two) == 100 * 15  # ReLU outputs 0..15 into +-100


def test_float32_exactness_is_checked_against_the_integer_model() -> None:
    """A 16-bit input (QKeras' default fixed<16,6>) can drive the first accumulator past 2**24 LSBs, where float32
    (PyTorch, the QONNX executor) could round: the export says so and counts the rows the exact integer model
    confirms; 8-bit inputs stay far below."""
    from qonnx_graphs import qkeras_mlp, quantized_bits, random_layers

    from jsc_hw import export, ingest

    layers = random_layers((16, 8, 5), seed=2)
    layers[0] = (-np.ones_like(layers[0][0]), -np.ones_like(layers[0][1]))  # the extreme kernel: every code -32
    for fmt, exceeds in ((None, True), (quantized_bits(8, 3), False)):
        g = ingest.prepare(qkeras_mlp(layers, input_quantizer=fmt))
        rows = ingest.random_rows(g, 400)
        info, note = export._float32_check(g, rows, ingest.execute(g.model, rows))
        assert (not info["exact_in_float32"]) == exceeds and info["integer_model_rows_equal_qonnx"] == 400
        assert (note is not None) == exceeds
        if exceeds:
            assert info["accumulator_bound_lsb"] > 2 ** 24 and "beyond float32's 24-bit significand" in note
