"""The one fixed-point format: ap_fixed strings, QONNX Quant nodes, code ranges and the ap_fixed cast."""

from __future__ import annotations

import numpy as np
import pytest

from jsc_hw.fixed import FixedFormat, power_of_two_exp


@pytest.mark.parametrize(("text", "fmt", "ap"), [
    ("fixed<16,6>", FixedFormat(16, True, -10, rounding="TRN", overflow="WRAP"), "fixed<16,6,TRN,WRAP>"),
    ("ap_ufixed<8,3,RND_CONV,SAT>", FixedFormat(8, False, -5), "ufixed<8,3,RND_CONV,SAT>"),
    ("fixed<6,1,RND_CONV,SAT_SYM>", FixedFormat(6, True, -5, narrow=True), "fixed<6,1,RND_CONV,SAT_SYM>"),
    ("fixed<18,9,TRN,WRAP,0>", FixedFormat(18, True, -9, rounding="TRN", overflow="WRAP"), "fixed<18,9,TRN,WRAP>"),
    ("ufixed<4,6>", FixedFormat(4, False, 2, rounding="TRN", overflow="WRAP"), "ufixed<4,6,TRN,WRAP>"),
])
def test_parse_and_ap_type(text, fmt, ap):
    assert FixedFormat.parse(text) == fmt and fmt.ap_type == ap and FixedFormat.parse(fmt.ap_type) == fmt


@pytest.mark.parametrize("bad", ["float", "fixed<16>", "fixed<16,6,RND_ZERO>", "fixed<8,3,RND,SAT,2>"])
def test_parse_refuses_what_it_does_not_know(bad):
    with pytest.raises(ValueError, match="fixed"):
        FixedFormat.parse(bad)


def test_code_ranges_and_the_ap_fixed_cast():
    s, u, n = FixedFormat(4, True, -1), FixedFormat(4, False, -2), FixedFormat(4, True, -1, narrow=True)
    assert (s.lo, s.hi, u.lo, u.hi, n.lo, n.hi, s.int_bits, u.lsb) == (-8, 7, 0, 15, -7, 7, 3, 0.25)
    x = np.array([0.25, 0.75, -0.25, -0.75, 1.26, 3.7, 4.2, -4.6, -100.0])
    assert s.codes(x).tolist() == [0, 2, 0, -2, 3, 7, 7, -8, -8]  # half to even, saturate
    assert FixedFormat(4, True, -1, rounding="RND").codes(x).tolist() == [1, 2, 0, -1, 3, 7, 7, -8, -8]  # half up
    wrap = FixedFormat(4, True, -1, rounding="TRN", overflow="WRAP")
    assert wrap.codes(x).tolist() == [0, 1, -1, -2, 2, 7, -8, 6, -8]  # floor, then two's-complement wrap
    assert n.codes(np.array([-9.0])).tolist() == [-7]
    assert np.array_equal(s.quantise(x), s.codes(x) * 0.5)


def test_from_a_qonnx_quant_node():
    assert FixedFormat.from_quant(2.0 ** -5, 6.0, True, True, "ROUND") == FixedFormat(6, True, -5, narrow=True)
    assert FixedFormat.from_quant(0.25, 8, False, False, "HALF_EVEN").ap_type == "ufixed<8,6,RND_CONV,SAT>"
    assert FixedFormat.from_quant(1.0, 3, True, False, "FLOOR").rounding == "TRN"
    assert power_of_two_exp(0.125) == -3
    with pytest.raises(ValueError, match="not a power of two"):
        power_of_two_exp(0.3)


def test_the_rtl_lowering_asserts_power_of_two_scales():
    """A Brevitas quantiser with a float scale has no integer form: the lowering refuses it instead of rounding
    log2(scale) to the nearest integer as it once did."""
    import brevitas.nn as qnn
    import torch

    from jsc_hw.hardware import rtl

    q = qnn.QuantIdentity(return_quant_tensor=True)  # Brevitas' default: a float (runtime statistics) scale
    q.train()
    with torch.no_grad():
        q(torch.randn(256, 16) * 1.7)
    q.eval()
    assert np.frexp(float(q.act_quant.scale()))[0] != 0.5
    with pytest.raises(ValueError, match="not a power of two"):
        rtl._act_fmt(q)
