"""Analytic cost: BOPs/MACs/storage computed by hand from the layer shapes."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from jsc_hw.hardware import cost
from jsc_hw.config import ModelSpec, QuantSpec, TrialConfig
from jsc_hw.nets import n_parameters


def cfg(arch: str, **q) -> TrialConfig:
    return TrialConfig(model=ModelSpec(arch=arch), quant=QuantSpec(**q))


def test_jsc_tiny_by_hand() -> None:
    # one Linear(16,5) fed by ReLU outputs (act_bits): m=5, n=16, log2 16 = 4
    c = cost.estimate(cfg("jsc_tiny"))
    assert c == cost.Cost(bops=5 * 16 * (8 * 8 + 8 + 8 + 4), macs=80, params=117,
                          weight_bits_total=80 * 8, bias_bits_total=5 * 16)
    assert c.bops == 6720
    c4 = cost.estimate(cfg("jsc_tiny", weight_bits=4, act_bits=4, input_bits=4))
    assert c4.bops == 80 * (4 * 4 + 4 + 4 + 4) == 2240
    assert c4.weight_bits_total == 320
    # mixed: BOPs use the *activation* width feeding the layer, not the input width
    assert cost.estimate(cfg("jsc_tiny", weight_bits=3, act_bits=6, input_bits=8)).bops == 80 * (18 + 6 + 3 + 4)


def test_float_counts_32_bits() -> None:
    c = cost.estimate(cfg("jsc_tiny", enabled=False))
    assert c.bops == 80 * (32 * 32 + 64 + 4)
    assert c.weight_bits_total == 80 * 32 and c.bias_bits_total == 5 * 32


def test_rs1923_by_hand() -> None:
    layers = cost.layer_costs(cfg("jsc_rs1923"))
    assert [(c.kind, c.fan_in, c.outputs, c.act_bits) for c in layers] == [
        ("Conv1d", 3, 128, 8), ("Conv1d", 24, 256, 8), ("Conv1d", 48, 256, 8), ("Conv1d", 48, 256, 8),
        ("Linear", 256, 5, 8)]
    expected = 384 * (80 + 2) + 6144 * (80 + 5) + 2 * 12288 * (80 + 6) + 1280 * (80 + 8)
    c = cost.estimate(cfg("jsc_rs1923"))
    assert c.bops == expected == 2_779_904
    assert c.macs == 32_384 and c.params == 3285
    # the first conv sees the *input* format
    assert cost.layer_costs(cfg("jsc_rs1923", input_bits=6))[0].act_bits == 6


def test_mlp_by_hand_and_table_ready() -> None:
    c = cost.estimate(cfg("mlp_64_32_32"))
    assert c.bops == 1024 * 84 + 2048 * 86 + 1024 * 85 + 160 * 85 == 362_784
    assert c.params == n_parameters("mlp_64_32_32") == 4389
    assert all(isinstance(v, int) for v in asdict(c).values())  # flat ints: records and CSV


@pytest.mark.parametrize("arch", ["jsc_tiny", "jsc_rs1923", "mlp_64_32_32"])
def test_fewer_bits_cost_less(arch: str) -> None:
    hi, lo = cost.estimate(cfg(arch)), cost.estimate(cfg(arch, weight_bits=4, act_bits=4, input_bits=4))
    assert lo.bops < hi.bops and lo.macs == hi.macs and lo.params == hi.params


@pytest.mark.parametrize("arch", ["jsc_tiny", "jsc_rs1923", "mlp_64_32_32"])
@pytest.mark.parametrize("q", [{}, {"weight_bits": 4, "act_bits": 4, "input_bits": 6}], ids=["w8", "w4"])
def test_the_cost_of_an_exported_graph_is_the_cost_of_its_config(arch, q, tmp_path) -> None:
    """A model brought as a QONNX file gets its BOPs, parameters and bit widths from the graph: for jsc-hw's own
    models they must equal the figures computed from the config."""
    from jsc_hw import export, ingest
    from jsc_hw.nets import BatchedNet

    c = cfg(arch, **q)
    net = BatchedNet(c.model, c.quant, [0]).eval()
    g = ingest.prepare(export.to_qonnx(net.twin(), net.input_shape, tmp_path / "m.onnx"))
    got, bits = cost.graph_estimate(g)
    want = cost.estimate(c)
    assert (got.bops, got.macs, got.params, got.weight_bits_total, got.bias_bits_total) == (
        want.bops, want.macs, want.params, want.weight_bits_total, want.bias_bits_total)
    assert (bits.weight_bits, bits.act_bits, bits.input_bits) == (c.quant.weight_bits, c.quant.act_bits,
                                                                    c.quant.input_bits)


def test_a_sparse_mlp_costs_its_fan_in_by_hand() -> None:
    """model.fan_in 3: every neuron sums 3 inputs, so MACs, BOPs, weight bits and learned parameters count 3 per
    neuron; the dense twin of the same widths counts every input."""
    q = QuantSpec(weight_bits=6, act_bits=2, act_int_bits=1, input_bits=2, input_int_bits=2)
    dense = TrialConfig(model=ModelSpec(arch="mlp", hidden=(24, 12)), quant=q)
    sparse = TrialConfig(model=ModelSpec(arch="mlp", hidden=(24, 12), fan_in=3), quant=q)
    layers = cost.layer_costs(sparse)
    assert [(c.fan_in, c.outputs, c.weights, c.act_bits) for c in layers] == [(3, 24, 72, 2), (3, 12, 36, 2),
                                                                             (3, 5, 15, 2)]
    c, d = cost.estimate(sparse), cost.estimate(dense)
    growth = 2  # ceil(log2 3)
    assert c.macs == 123 and c.bops == 123 * (2 * 6 + 2 + 6 + growth) == 2706
    assert c.weight_bits_total == 6 * 123 and c.bias_bits_total == d.bias_bits_total
    assert d.params - c.params == (16 * 24 + 24 * 12 + 12 * 5) - 123
