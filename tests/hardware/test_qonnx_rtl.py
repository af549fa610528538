"""Integer lowering of QONNX graphs: equal to the QONNX executor, to the Brevitas-twin lowering, and in Verilator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import Q4, inputs, net_with_bn_stats
from jsc_hw import export, ingest
from jsc_hw.hardware import qonnx_rtl, rtl, verilator
from jsc_hw.config import QuantSpec
from jsc_hw.hardware.verilog import write_verilog
from qonnx_graphs import Q, qkeras_mlp, quantized_bits, quantized_relu, random_layers


@pytest.mark.parametrize("arch", ["jsc_tiny", "jsc_rs1923", "mlp_64_32_32"])
@pytest.mark.parametrize("q", [QuantSpec(), Q4], ids=["w8", "w4"])
def test_lowering_of_the_exported_graph_equals_the_executor_and_the_twin_lowering(arch, q, tmp_path):
    """BatchNorm tables, Conv1d, residual blocks, biases: the graph's integer network computes what the QONNX
    executor computes, and is the same network the Brevitas twin lowers to."""
    net = net_with_bn_stats(arch, q)
    twin = net.twin(0)
    g = ingest.prepare(export.to_qonnx(twin, net.input_shape, tmp_path / "m.onnx"))
    ints = qonnx_rtl.lower(g)
    x = inputs(1500).numpy()
    codes, ref = qonnx_rtl.reference(g, ints, x)
    assert np.all(ref == np.round(ref))
    assert np.array_equal(rtl.simulate(ints, codes), ref.astype(np.int64))
    from_twin = rtl.lower(twin, net.input_shape)
    assert [type(s) for s in ints.stages] == [type(s) for s in from_twin.stages]
    assert np.array_equal(codes, rtl.input_codes(twin, torch.from_numpy(x).reshape(len(x), *net.input_shape)))


@pytest.mark.parametrize("bits", [6, 4])
def test_qkeras_style_graph_lowers_exactly(bits):
    g = ingest.prepare(qkeras_mlp(random_layers((16, 64, 32, 32, 5), seed=bits), kernel=quantized_bits(bits, 0),
                                  bias=quantized_bits(bits, 0), act=quantized_relu(bits, 0)))
    ints = qonnx_rtl.lower(g)
    assert [type(s).__name__ for s in ints.stages] == ["MatVec", "Requant"] * 3 + ["MatVec"]
    assert ints.inp == ingest.DEFAULT_INPUT and ints.out_fmt is None and ints.out_exp == -bits - (bits - 1)
    codes, ref = qonnx_rtl.reference(g, ints, ingest.random_rows(g, 3000))
    got = rtl.simulate(ints, codes)
    assert np.array_equal(got, ref) and len(np.unique(got)) > 100


def test_relu_before_a_signed_quantiser_clamps_at_zero():
    """qonnx's older QKeras converter wrote quantized_relu as a *signed* Quant after the Relu: codes 0..hi."""
    g = ingest.prepare(qkeras_mlp(random_layers((16, 10, 5), seed=1), act=Q(2.0 ** -5, 6, 1, "ROUND")))
    ints = qonnx_rtl.lower(g)
    req = next(s for s in ints.stages if isinstance(s, rtl.Requant))
    assert (req.out.lo, req.out.hi, req.out.exp) == (0, 31, -5)
    codes, ref = qonnx_rtl.reference(g, ints, ingest.random_rows(g, 2000))
    assert np.array_equal(rtl.simulate(ints, codes), ref)


def test_what_has_no_integer_lowering_is_named():
    g = ingest.prepare(qkeras_mlp(random_layers((16, 8, 5)), act=quantized_relu(6, 0)))
    relu = next(n for n in g.model.graph.node if n.op_type == "Quant" and n.input[0].startswith("Relu"))
    g.model.graph.node.remove(relu)  # a Relu feeding the next MatMul directly
    nxt = next(n for n in g.model.graph.node if n.op_type == "MatMul" and n.input[0] == relu.output[0])
    nxt.input[0] = relu.input[0]
    with pytest.raises(ValueError, match="a Relu must be followed by a Quant node"):
        qonnx_rtl.lower(g)


def test_verilog_of_a_qkeras_graph_is_bit_exact_in_verilator_and_a_perturbed_weight_is_caught(tmp_path):
    g = ingest.prepare(qkeras_mlp(random_layers((16, 12, 5), seed=4)))
    ints = qonnx_rtl.lower(g)
    xi, ref = qonnx_rtl.reference(g, ints, ingest.random_rows(g, 800, seed=5))
    ok = verilator.check_codes(write_verilog(ints, tmp_path / "ok"), ints, xi, ref)
    assert ok.bit_exact and ok.vectors == 800 and ok.reference_mismatches == 0
    mv = ints.stages[0]
    w = mv.w.copy()
    w[np.unravel_index(np.argmax(np.abs(w)), w.shape)] *= -1
    wrong = replace(ints, stages=(replace(mv, w=w), *ints.stages[1:]))
    bad = verilator.check_codes(write_verilog(wrong, tmp_path / "bad"), ints, xi, ref)
    assert not bad.bit_exact and bad.mismatched_vectors > 0 and bad.reference_mismatches == 0


def test_multithreshold_graphs_lower_and_check_in_verilator_but_are_not_exported(tmp_path):
    """FINN's dialect: MultiThreshold activations, folded integer weights with power-of-two Mul scales.  hls4ml cannot
    read it (refused by name); the integer lowering computes what the QONNX executor computes, in numpy and in
    Verilator, and a threshold moved by one code is caught."""
    from qonnx_graphs import finn_style_mlp

    with pytest.raises(ingest.Refusal, match=r"MultiThreshold_0 \(MultiThreshold: a FINN op hls4ml does not read"):
        ingest.prepare(finn_style_mlp())
    g = ingest.prepare(finn_style_mlp(), target="rtl")
    ints = qonnx_rtl.lower(g)
    assert [type(s).__name__ for s in ints.stages] == ["MatVec", "Threshold", "MatVec"]
    xi, ref = qonnx_rtl.reference(g, ints, np.random.default_rng(3).normal(0, 2, (1500, 16)))
    assert np.array_equal(rtl.simulate(ints, xi), ref) and len(np.unique(ref)) > 50
    ok = verilator.check_codes(write_verilog(ints, tmp_path / "ok"), ints, xi, ref)
    assert ok.bit_exact and ok.vectors == 1500
    th = ints.stages[1]
    t = th.t.copy()
    t[np.unravel_index(np.argmin(np.abs(t)), t.shape)] += 1  # the threshold nearest 0: reached by many rows
    wrong = replace(ints, stages=(ints.stages[0], replace(th, t=t), ints.stages[2]))
    assert not verilator.check_codes(write_verilog(wrong, tmp_path / "bad"), ints, xi, ref).bit_exact
