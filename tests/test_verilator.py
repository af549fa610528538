"""The generated Verilog simulated in Verilator: bit-exact with the PyTorch twin, and a wrong design is caught."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import Q4, inputs, net_with_bn_stats
from test_verilog import two_layer_net

from jsc_hw import rtl, verilator
from jsc_hw.config import QuantSpec
from jsc_hw.verilog import write_verilog

pytestmark = pytest.mark.requires("verilator")


def test_every_input_code_of_a_small_net(tmp_path) -> None:
    """All 65,536 inputs of a two-layer net: the Verilog equals the numpy integer model (shared modules,
    zero-extended ReLU inputs, half-to-even requantiser and raw signed outputs included)."""
    net = two_layer_net()
    x = np.stack(np.meshgrid(*[np.arange(-8, 8)] * 4, indexing="ij"), -1).reshape(-1, 4)
    design = write_verilog(net, tmp_path)
    assert np.array_equal(verilator.verilate(design, x), rtl.simulate(net, x))


def test_verilator_bit_exact_and_detects_a_wrong_design(tmp_path) -> None:
    net = net_with_bn_stats("jsc_tiny", Q4)
    twin, x = net.twin(0), inputs(1000)
    ints = rtl.lower(twin, net.input_shape)
    design = write_verilog(ints, tmp_path / "ok")
    assert design.latency_cycles == 3 and design.out_bits == 4 and not design.out_signed
    res = verilator.check(twin, net.input_shape, x, design, ints)
    assert res.bit_exact and res.mismatched_values == 0 and res.reference_mismatches == 0 and res.vectors == 1000
    # the same check must fail on a design with one bias off by one LSB
    mv = next(s for s in ints.stages if isinstance(s, rtl.MatVec))
    b = mv.b.copy()
    b[0] += 1
    wrong = replace(ints, stages=tuple(replace(s, b=b) if s is mv else s for s in ints.stages))
    bad = verilator.check(twin, net.input_shape, x, write_verilog(wrong, tmp_path / "bad"), ints)
    assert not bad.bit_exact and bad.mismatched_values > 0 and bad.max_abs_lsb == 1


@pytest.mark.slow
@pytest.mark.parametrize("arch,mult", [("mlp_64_32_32", "csd"), ("mlp_64_32_32", "dsp"), ("jsc_rs1923", "csd")])
def test_verilator_bit_exact_large(tmp_path, arch: str, mult: str) -> None:
    net = net_with_bn_stats(arch, QuantSpec())
    twin, x = net.twin(0), inputs(1000)
    ints = rtl.lower(twin, net.input_shape)
    res = verilator.check(twin, net.input_shape, x, write_verilog(ints, tmp_path, mult=mult), ints)
    assert res.bit_exact, res
