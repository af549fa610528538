"""The generated Verilog simulated in Verilator: bit-exact with the PyTorch twin, and a wrong design is caught."""

from __future__ import annotations

from dataclasses import replace
import re

import numpy as np
import torch
import pytest

from conftest import Q4, inputs, net_with_bn_stats
from test_verilog import two_layer_net

from jsc_hw.hardware import rtl, verilator
from jsc_hw.config import ModelSpec, QuantSpec
from jsc_hw.nets import BatchedNet
from jsc_hw.fixed import FixedFormat
from jsc_hw.hardware.verilog import write_verilog

pytestmark = pytest.mark.requires("verilator")


def test_every_input_code_of_a_small_net(tmp_path) -> None:
    """All 65,536 inputs of a two-layer net: the Verilog equals the numpy integer model (shared modules,
    zero-extended ReLU inputs, half-to-even requantiser and raw signed outputs included)."""
    net = two_layer_net()
    x = np.stack(np.meshgrid(*[np.arange(-8, 8)] * 4, indexing="ij"), -1).reshape(-1, 4)
    design = write_verilog(net, tmp_path)
    assert np.array_equal(verilator.verilate(design, x), rtl.simulate(net, x))


def test_pruned_neurons_narrower_than_the_requantiser_shift(tmp_path) -> None:
    """A fully pruned neuron (constant 0 or bias only) and one with a single small weight have accumulators of 1-4
    bits, narrower than the requantiser's shift of 4: every bit its rounding reads must exist (a 6-bit-input MLP
    pruned to 90 % once gave 63 instead of 0 on such a neuron), on every input code."""
    w = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, -1, 0], [0, 3, 2]])
    relu6 = FixedFormat(6, False, -3)
    net = rtl.IntNet(FixedFormat(6, True, -3), 3, (rtl.MatVec(w, np.array([0, 9, 0, 8, -1]), -7), rtl.Requant(relu6)),
                     -3, relu6)
    x = np.stack(np.meshgrid(*[np.arange(-32, 32)] * 3, indexing="ij"), -1).reshape(-1, 3)
    y = verilator.verilate(write_verilog(net, tmp_path), x)
    assert np.array_equal(y, rtl.simulate(net, x))
    # 9 / 16 rounds to 1; the largest of row 3, (32 + 8) / 16 = 2.5, to even
    assert set(y[:, 0]) == {0} and set(y[:, 1]) == {1} and y[:, 3].max() == 2


@pytest.mark.parametrize("rounding", ["RND_CONV", pytest.param("TRN", marks=pytest.mark.slow)])
def test_constant_neurons_narrower_than_their_output_format(tmp_path, rounding) -> None:
    """A neuron pruned to its bias alone, with a small constant (-4..4: a 2-4-bit accumulator) and a shift of 0-3,
    into formats wider than it (ufixed<4>, fixed<6>): the clamp's bounds must be compared at their own width (a
    JSC 16-32-16-5 w3a4 once gave 15 for a bias of -1, its bound 15 read as the 4-bit -1) and the value extended."""
    biases = np.arange(-4, 5)
    u4, s6 = FixedFormat(4, False, 0, rounding=rounding), FixedFormat(6, True, 0, rounding=rounding)
    stages = [rtl.IntNet(FixedFormat(4, True, 0), 2, (rtl.MatVec(np.zeros((9, 2), dtype=np.int64), biases, -shift),
                                                      rtl.Requant(fmt)), 0, fmt)
              for fmt, shift in ((u4, 0), (u4, 1), (s6, 3))]
    x = np.array([[0, 0], [7, -8], [-8, 7]])
    for k, ints in enumerate(stages):
        y = verilator.verilate(write_verilog(ints, tmp_path / str(k)), x)
        assert np.array_equal(y, rtl.simulate(ints, x)), (k, y[0], rtl.simulate(ints, x)[0])


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


def test_outputs_wider_than_the_harness_are_refused(tmp_path) -> None:
    """The C++ harness passes 32-bit ints: a 40-bit raw accumulator output would be cut, so it is refused."""
    from jsc_hw.fixed import FixedFormat

    wide = rtl.IntNet(FixedFormat(16, True, -10), 2, (rtl.MatVec(np.array([[2 ** 23, -(2 ** 23)]]), np.array([0]),
                                                                 -10),), -10, None)
    design = write_verilog(wide, tmp_path)
    assert design.out_bits > 32
    with pytest.raises(ValueError, match="do not fit the Verilator harness's 32-bit ports"):
        verilator.verilate(design, np.zeros((3, 2), dtype=np.int64))


def random_net(seed: int):
    """A random quantised network: JSC-Tiny or an MLP of random depth and widths, random bit widths per layer
    and formats, BatchNorm statistics and weights far from their initialisation."""
    import torch

    from jsc_hw.config import ModelSpec
    from jsc_hw.nets import BatchedNet

    rng = np.random.default_rng(seed)
    arch = "jsc_tiny" if seed % 3 == 0 else "mlp"
    hidden = tuple(int(w) for w in rng.integers(1, 9, rng.integers(1, 3))) if arch == "mlp" else ()
    in_bits, act_bits = int(rng.integers(3, 7)), int(rng.integers(2, 7))
    q = QuantSpec(weight_bits=int(rng.integers(2, 7)), act_bits=act_bits, input_bits=in_bits,
                  input_int_bits=int(rng.integers(1, in_bits + 2)), act_int_bits=int(rng.integers(1, act_bits + 2)),
                  bias_bits=int(rng.integers(6, 17)),
                  weight_bits_per_layer=tuple(int(b) for b in rng.integers(2, 8, len(hidden) + 1)) if hidden else (),
                  act_bits_per_layer=tuple(int(b) for b in rng.integers(act_bits, 8, len(hidden))) if hidden else (),
                  act_rounding="floor" if seed % 4 in (1, 2) else "round")
    torch.manual_seed(seed)
    net = BatchedNet(ModelSpec(arch=arch, hidden=hidden), q, [seed])
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(float(rng.uniform(0.5, 4.0)))  # weights of every scale: many power-of-two formats
        if seed % 2 == 0:  # pruned: most weights zero and a whole neuron of every layer (a constant)
            for name, p in net.named_parameters():
                if name.endswith("weight") and p.dim() == 3:
                    p.mul_(torch.from_numpy(rng.random(p.shape) > 0.6).float())
                    p[0, 0].zero_()
    for m in net.modules():
        if hasattr(m, "running_var"):
            m.running_mean.normal_(0, 0.5), m.running_var.uniform_(0.3, 3.0)
    return net, (arch, hidden, q)


@pytest.mark.parametrize("seed", [0, 1, *(pytest.param(s, marks=pytest.mark.slow) for s in range(2, 12))])
def test_random_integer_networks_are_bit_exact_in_verilator(tmp_path, seed: int) -> None:
    """Fuzz: random architectures, bit widths, formats, activation roundings (seeds 1, 2, 5, 6, 9, 10 truncate) and
    weights, lowered, written as Verilog and simulated on
    random inputs of every scale; the RTL must equal PyTorch on every output code, and the numpy model too."""
    net, what = random_net(seed)
    twin = net.twin(0)
    x = torch.from_numpy(np.random.default_rng(100 + seed).normal(0, 2.0, (400, 16)).astype(np.float32))
    ints = rtl.lower(twin, net.input_shape)
    res = verilator.check(twin, net.input_shape, x, write_verilog(ints, tmp_path), ints)
    assert res.bit_exact and res.reference_mismatches == 0 and res.vectors == 400, (what, res)


def test_truth_table_neurons_on_every_input_code(tmp_path) -> None:
    """``mult="lut"``: neurons of at most 12 port bits are truth tables (with the requantiser folded in, or raw
    outputs), a wider one keeps its adder tree; on all 65,536 inputs the Verilog equals the integer model, and a
    table built from a bias one LSB off is caught."""
    net = two_layer_net()  # layer 1 rows 0 and 2: 3 inputs x 4 bits = 12; row 1: 16 bits; layer 2: 3 x 4 bits
    x = np.stack(np.meshgrid(*[np.arange(-8, 8)] * 4, indexing="ij"), -1).reshape(-1, 4)
    design = write_verilog(net, tmp_path / "lut", mult="lut")
    text = (tmp_path / "lut" / "jsc_net.v").read_text()
    tables = re.findall(r"tab\[x \* (\d+) \+: \d+\]", text)
    assert len(tables) == 3  # rows 0/2 share one module; row 1 is shift-and-add; the 2 outputs are tables
    assert np.array_equal(verilator.verilate(design, x), rtl.simulate(net, x))
    mv = net.stages[2]
    wrong = replace(net, stages=(*net.stages[:2], replace(mv, b=mv.b + np.array([0, 1]))))
    y = verilator.verilate(write_verilog(wrong, tmp_path / "bad", mult="lut"), x)
    assert not np.array_equal(y, rtl.simulate(net, x)) and np.abs(y - rtl.simulate(net, x)).max() == 1


def test_a_sparse_low_bit_mlp_as_truth_tables_is_bit_exact(tmp_path) -> None:
    """A LogicNets-like MLP (fan-in 3, 2-bit inputs and activations, BatchNorm far from identity): every neuron is a
    table of at most 6 input bits, and the RTL equals PyTorch on every row."""
    q = QuantSpec(weight_bits=6, act_bits=2, act_int_bits=1, input_bits=2, input_int_bits=2)
    net = net_with_bn_stats(ModelSpec(arch="mlp", hidden=(24, 12), fan_in=3), q)
    twin, x = net.twin(0), inputs(2000)
    ints = rtl.lower(twin, net.input_shape)
    design = write_verilog(ints, tmp_path, mult="lut")
    text = (tmp_path / "jsc_net.v").read_text()
    assert "<<<" not in text and text.count("tab[x * ") == design.modules and design.instances == 24 + 12 + 5
    res = verilator.check(twin, net.input_shape, x, design, ints)
    assert res.bit_exact and res.reference_mismatches == 0 and res.vectors == 2000, res


def test_a_weightless_network_is_bit_exact_and_a_flipped_table_bit_is_caught(tmp_path) -> None:
    """arch dwn: comparators of the input codes, two LUT layers, popcounts; the RTL equals the twin on every row,
    and the check fails when one table entry of one node is flipped."""
    net = BatchedNet(ModelSpec(arch="dwn", hidden=(40, 20), tau=2.0), QuantSpec(input_bits=6, input_int_bits=3),
                     seeds=[5]).eval()
    twin, x = net.twin(0), inputs(3000)
    ints = rtl.lower(twin, net.input_shape)
    design = write_verilog(ints, tmp_path / "ok")
    assert design.latency_cycles == 4  # input register, two LUT layers, output register
    res = verilator.check(twin, net.input_shape, x, design, ints)
    assert res.bit_exact and res.reference_mismatches == 0 and res.vectors == 3000
    lut = next(s for s in ints.stages if isinstance(s, rtl.LutNodes))
    addr = (rtl.simulate(replace(ints, stages=ints.stages[:1]), rtl.input_codes(twin, x))[:, lut.inputs[0]]
            << np.arange(6)).sum(1)
    tables = lut.tables.copy()
    tables[0, addr[0]] ^= 1  # an entry the first row reads
    wrong = replace(ints, stages=tuple(replace(s, tables=tables) if s is lut else s for s in ints.stages))
    bad = verilator.check(twin, net.input_shape, x, write_verilog(wrong, tmp_path / "bad"), ints)
    assert not bad.bit_exact and bad.mismatched_vectors >= 1
