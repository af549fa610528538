"""Verilog writer: constant multiplications, one module per distinct neuron, ports and pipeline depth."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import Q4, net_with_bn_stats

from jsc_hw.hardware import rtl
from jsc_hw.fixed import FixedFormat
from jsc_hw.config import QuantSpec
from jsc_hw.hardware.verilog import csd, write_verilog


def two_layer_net() -> rtl.IntNet:
    """4 signed 4-bit inputs -> 3 neurons (rows 0 and 2 equal) -> ReLU to unsigned 4 bits -> 2 raw outputs."""
    w1 = np.array([[3, -5, 7, 0], [-1, 2, 6, -7], [3, -5, 7, 0]])
    w2 = np.array([[1, -2, 3], [-4, 5, 6]])
    return rtl.IntNet(FixedFormat(4, True, -1), 4,
                      (rtl.MatVec(w1, np.array([5, -3, 5]), -4), rtl.Requant(FixedFormat(4, False, -2)),
                       rtl.MatVec(w2, np.array([0, 7]), -6)), -6, None)


def test_csd_digits_rebuild_the_weight() -> None:
    for w in range(-127, 128):
        assert sum(s << k for s, k in csd(w)) == w
    assert len(csd(7)) == 2 and len(csd(-127)) == 2  # 8 - 1, -128 + 1


def test_equal_neurons_share_a_module_and_unsigned_inputs_drop_their_sign_bit(tmp_path) -> None:
    d = write_verilog(two_layer_net(), tmp_path)
    text = (tmp_path / "jsc_net.v").read_text()
    assert (d.modules, d.instances, d.latency_cycles) == (4, 5, 3)  # rows 0 and 2 of layer 1 are one module
    heads = re.findall(r"^module (\w+) \((.*)\);$", text, re.M)
    assert [h[0] for h in heads] == [f"jsc_net_m{k}" for k in range(4)] + ["jsc_net"]
    # layer 1 sees 3 signed inputs of 4 bits (weight 0 drops an input), layer 2 three ReLU outputs of 4 bits + 0 sign
    assert [re.search(r"\[(\d+):0\] x", h[1]).group(1) for h in heads[:4]] == ["11", "15", "11", "11"]
    assert "$signed({1'b0, x[3:0]})" in text and text.count(" jsc_net_m0 u") == 2


def test_conv_positions_share_modules_and_pipeline_depths(tmp_path) -> None:
    for arch, q, stages in [("jsc_tiny", QuantSpec(), 3), ("mlp_64_32_32", Q4, 5), ("jsc_rs1923", Q4, 7)]:
        net = net_with_bn_stats(arch, q)
        ints = rtl.lower(net.twin(0), net.input_shape)
        d = write_verilog(ints, tmp_path / arch)
        neurons = sum(st.w.shape[0] for st in ints.stages if isinstance(st, rtl.MatVec))
        tables = sum(st.table.shape[0] for st in ints.stages if isinstance(st, rtl.Table))
        assert d.latency_cycles == stages
        if arch == "jsc_rs1923":  # Conv1d over 16 positions: interior positions of a channel are one module
            assert d.instances == neurons + 16 * 16 and d.modules < d.instances / 6  # + the post-skip ReLUs
        else:
            assert d.instances == d.modules == neurons + tables


def test_bad_mult_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="mult must be one of"):
        write_verilog(two_layer_net(), tmp_path, mult="lookup")


def _instantiated(text: str, top: str = "jsc_net") -> list[tuple[str, int]]:
    """(module text, number of instances) of each module below the top, read back from the Verilog."""
    mods = {m.group(1): m.group(0) for m in re.finditer(r"^module (\w+) .*?^endmodule$", text, re.M | re.S)}
    body = mods.pop(top)
    return [(t, len(re.findall(rf"^  {name} u", body, re.M))) for name, t in mods.items()]


@pytest.mark.parametrize("mult", ["csd", "lut"])
def test_logic_counts_are_the_adders_and_tables_in_the_written_text(tmp_path, mult) -> None:
    """Design.logic (the LUT model's input) = the widths of every two-input adder and the LUT6s of every table, as
    read back from the Verilog text, times each module's instances."""
    d = write_verilog(two_layer_net(), tmp_path, mult=mult)
    adders = tables = 0
    for t, k in _instantiated((tmp_path / "jsc_net.v").read_text()):
        widths = [int(b) + 1 for b in re.findall(r"wire signed \[(\d+):0\] [nq]\d+ = .* [-+] ", t)]
        tabs = [(int(n) + 1, int(b)) for n, b in re.findall(r"wire \[(\d+):0\] tab = .*\n.*tab\[x \* (\d+) ", t)]
        adders += k * sum(widths)
        tables += k * sum(b * max(n // b // 64, 1) for n, b in tabs)
    assert d.logic.adder_bits == adders > 0 and d.logic.table_luts == tables
    if mult == "csd":
        assert tables == 0
    else:  # 12-bit ports become tables of 4,096 words = 64 LUT6s a bit: layer 1's rows 0 and 2
        # (3 inputs x 4 bits, requantised to 4 bits) and layer 2's two 9-bit outputs; row 1 (16 bits) keeps adders
        assert tables == (2 * 4 + 2 * 9) * 64
