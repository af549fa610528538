"""Reading and checking QONNX graphs: clean-up, formats, the QONNX executor, channels-last, and every refusal."""

from __future__ import annotations

import threading
import time

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from jsc_hw import export, ingest
from jsc_hw.config import QuantSpec
from jsc_hw.fixed import FixedFormat
from jsc_hw.nets import BatchedNet
from qonnx_graphs import Q, qkeras_mlp, quantized_bits, random_layers

LAYERS = random_layers((16, 12, 8, 5), seed=3)


def test_qkeras_layout_is_read_with_its_formats_and_the_softmax_left_out():
    g = ingest.prepare(qkeras_mlp(LAYERS))
    ops = [n.op_type for n in g.model.graph.node]
    assert ops.count("Quant") == 8 and "Softmax" not in ops and g.softmax == "Softmax_0"
    assert (g.input, g.input_quantiser, g.input_shape, g.n_out) == (ingest.DEFAULT_INPUT, None, (16,), 5)
    assert g.input.ap_type == "fixed<16,6,TRN,WRAP>" and "hls4ml's default" in g.input_note
    kinds = sorted({f.ap_type for f in g.formats.values()})
    assert kinds == ["fixed<6,1,RND_CONV,SAT>", "ufixed<6,0,RND_CONV,SAT>"]  # HALF_EVEN is ROUND (np.round)
    x = ingest.random_rows(g, 300)
    assert np.array_equal(x, g.input.quantise(x)) and x.std() > 0.5  # on the input grid, standardised-looking
    # the executor: numpy reference of MatMul + Add + Relu + Quant on the quantised weights, float64
    ref = x.astype(np.float64)
    for i, (w, b) in enumerate(LAYERS):
        q = FixedFormat(6, True, -5, rounding="RND_CONV")
        ref = ref @ q.quantise(w) + q.quantise(b)
        if i < 2:
            ref = FixedFormat(6, False, -6).quantise(np.maximum(ref, 0))
    assert np.array_equal(ingest.execute(g.model, x, batch=128), ref)


def test_an_input_format_can_be_given_and_must_not_contradict_an_input_quantiser():
    fmt = FixedFormat.parse("fixed<10,4,RND_CONV,SAT>")
    g = ingest.prepare(qkeras_mlp(LAYERS), fmt)
    assert g.input == fmt and g.input_note.endswith("--input-format")
    quantised = qkeras_mlp(LAYERS, input_quantizer=quantized_bits(8, 3))
    g = ingest.prepare(quantised)
    assert g.input.ap_type == "fixed<8,4,RND_CONV,SAT>" and g.input_quantiser == "Quant_0"
    with pytest.raises(ingest.Refusal, match="quantises its input itself.*leave --input-format out"):
        ingest.prepare(quantised, fmt)


def test_formats_of_a_jsc_hw_model_are_its_configured_types(tmp_path):
    q = QuantSpec(weight_bits=6, act_bits=5, act_int_bits=2, input_bits=7, input_int_bits=4, bias_bits=12)
    net = BatchedNet("jsc_tiny", q, [0])
    g = ingest.prepare(export.to_qonnx(net.twin(), net.input_shape, tmp_path / "t.onnx"))
    assert g.input.ap_type == "fixed<7,4,RND_CONV,SAT>" and g.input_quantiser is not None
    types = sorted(f.ap_type for f in g.formats.values())
    assert types.count("ufixed<5,2,RND_CONV,SAT>") == 2  # the two ReLUs
    weight = next(f for f in g.formats.values() if f.narrow)
    w = net.layers[3].weight.detach().abs().max().item()  # scale 2**ceil(log2(max|w| / 2**(bits-1)))
    assert (weight.bits, weight.int_bits) == (6, 6 + int(np.ceil(np.log2(w / 32))))  # LSB 2**(int - bits) = scale
    assert weight.ap_type.endswith("SAT_SYM>") and weight.lo == -31
    assert any(f.bits == 12 and f.signed and not f.narrow for f in g.formats.values())  # the bias


def test_channels_last_terminates_on_conv1d_residual_and_keeps_the_function(tmp_path):
    """qonnx's own pass spins forever on Conv1d + residual Add; ours must end, bounded, with no Transpose left,
    and both graphs must compute the Brevitas outputs exactly (qonnx's executor)."""
    net = BatchedNet("jsc_rs1923", QuantSpec(), [3]).eval()
    twin = net.twin()
    g = ingest.prepare(export.to_qonnx(twin, net.input_shape, tmp_path / "rs.onnx"))
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(model=ingest.for_hls(g)), daemon=True)
    start = time.perf_counter()
    worker.start()
    worker.join(timeout=120)
    assert "model" in done, "channels-last conversion did not finish within 120 s"
    model = done["model"]
    assert time.perf_counter() - start < 60
    ops = [n.op_type for n in model.graph.node]
    assert "Transpose" not in ops and ops.count("Conv") == 4 and "MatMul" in ops and "Gemm" not in ops, ops
    x = (np.random.default_rng(0).normal(0, 1.5, (24, 16))).astype(np.float32).reshape(24, *g.input_shape)
    ref = export.forward(twin, x, net.input_shape)
    x_cl = ingest.channels_last(x)
    assert x_cl.shape == (24, 16, 1)
    np.testing.assert_array_equal(ingest.execute(model, x_cl), ref)
    np.testing.assert_array_equal(ingest.execute(g.model, x), ref)


# ---- refusals: what cannot be bit-exact is refused, with why and what to change ----------------------------------
def _refused(model, match: str, **kw) -> None:
    with pytest.raises(ingest.Refusal, match=match):
        ingest.prepare(model, **kw)


def test_refuses_float_scales():
    _refused(qkeras_mlp(LAYERS, kernel=Q(0.03, 6, 1, "HALF_EVEN")),
             r"Quant_\d+: quantiser scale \[0.03\] is not a power of two.*Use power-of-two scales")


def test_refuses_brevitas_float_scale_quantisers(tmp_path):
    import brevitas.nn as qnn  # default quantisers: float scales

    model = nn.Sequential(qnn.QuantIdentity(return_quant_tensor=True), qnn.QuantLinear(16, 5, bias=False))
    model.train()
    with torch.no_grad():  # let the runtime statistics settle on a non-power-of-two scale
        for _ in range(5):
            model(torch.randn(64, 16) * 1.7)
    _refused(export.to_qonnx(model.eval(), (16,), tmp_path / "f.onnx"), "not a power of two.*--requantise")


def test_refuses_quant_nodes_hls4ml_maps_to_a_rescale():
    per_channel = Q(np.array([2.0 ** -5] * 6 + [2.0 ** -4] * 6, np.float32), 6, 1, "HALF_EVEN")
    _refused(qkeras_mlp(LAYERS, kernel=[per_channel, quantized_bits(6, 0), quantized_bits(6, 0)]),
             "per-channel scales: hls4ml maps this Quant node to an ApplyAlpha rescale computed in a guessed "
             "precision.*one power-of-two scale per tensor")
    _refused(qkeras_mlp(LAYERS, act=Q(2.0 ** -6, 6, 0, "ROUND", zeropt=3.0)), r"zero-point \[3.\].*ApplyAlpha rescale")


def test_refuses_unsupported_ops_by_name():
    _refused(qkeras_mlp(LAYERS, activation="Sigmoid"),
             r"not supported for bit-exact export: Sigmoid_0 \(Sigmoid: hls4ml computes it with a lookup table, not "
             r"bit-exact\), Sigmoid_1 \(Sigmoid.*jsc-hw exports networks of Quant, MatMul")
    _refused(qkeras_mlp(LAYERS, activation="Softmax"), r"Softmax_0 \(Softmax: only a final Softmax can be left out")


def test_refuses_unquantised_weights_biases_and_a_misplaced_batchnorm():
    _refused(qkeras_mlp(LAYERS, bias=None), r"Add_0 \(Add\): its constant .* has no Quant node, so hls4ml would "
                                            r"store it in its default fixed<16,6>.*bias_quantizer")
    _refused(qkeras_mlp(LAYERS, batchnorm_after=0), "BatchNormalization_0: a float BatchNormalization is exported "
                                                    "exactly only between the input.*QDenseBatchnorm")
    _refused(qkeras_mlp(LAYERS, act=Q(2.0 ** -6, 6, 0, "CEIL")), "rounding mode CEIL: hls4ml implements only ROUND")


def test_refuses_what_has_no_single_input_and_output():
    model = qkeras_mlp(LAYERS, softmax=False)
    model.graph.output.append(onnx.helper.make_tensor_value_info("model/fc1/MatMul:0", onnx.TensorProto.FLOAT, [1, 12]))
    _refused(model, "1 inputs and 2 outputs: jsc-hw exports single-input, single-output networks")


def test_a_path_a_model_proto_and_a_model_wrapper_are_the_same_graph(tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper

    proto = qkeras_mlp(LAYERS)
    onnx.save(proto, str(tmp_path / "m.onnx"))
    wrapper = ModelWrapper(str(tmp_path / "m.onnx"))
    before = wrapper.model.SerializeToString()
    graphs = [ingest.prepare(src) for src in (tmp_path / "m.onnx", str(tmp_path / "m.onnx"), proto, wrapper)]
    assert wrapper.model.SerializeToString() == before  # the caller's model is not changed
    x = ingest.random_rows(graphs[0], 200)
    outs = [ingest.execute(g.model, x) for g in graphs]
    assert all(g.formats == graphs[0].formats for g in graphs) and all(np.array_equal(o, outs[0]) for o in outs)
    with pytest.raises(FileNotFoundError, match="no such QONNX file"):
        ingest.prepare(tmp_path / "missing.onnx")
