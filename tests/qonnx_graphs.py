"""QONNX graphs in the layout qonnx's QKeras converter writes (``qonnx.converters.from_keras``, qonnx <= 0.4), written
with ``onnx.helper`` since QKeras/TensorFlow are not installed: tf2onnx names, batch 1, ``qonnx``-domain Quant nodes
on the kernel (``quantized_bits``: signed, HALF_EVEN) and bias initialisers and after each Relu
(``quantized_relu``: unsigned, ROUND), no input quantiser, a final Softmax."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from onnx import TensorProto, helper, numpy_helper


class Q(NamedTuple):
    """A QKeras quantiser as the converter writes it: a Quant node's inputs and attributes."""

    scale: float | np.ndarray
    bits: int
    signed: int
    rounding: str
    zeropt: float | np.ndarray = 0.0
    narrow: int = 0


def quantized_bits(bits: int, integer: int, keep_negative: bool = True) -> Q:
    """``qkeras.quantized_bits(bits, integer, keep_negative, alpha=1)``: scale 2**(integer - bits + keep_negative)."""
    return Q(2.0 ** (integer - bits + int(keep_negative)), bits, int(keep_negative), "HALF_EVEN")


def quantized_relu(bits: int, integer: int) -> Q:
    """``qkeras.quantized_relu(bits, integer)``: unsigned, scale 2**(integer - bits)."""
    return Q(2.0 ** (integer - bits), bits, 0, "ROUND")


def random_layers(widths: tuple[int, ...], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Float kernels (in, out) and biases, as Keras stores them (the Quant nodes quantise them)."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1.2 / np.sqrt(a), (a, b)).astype(np.float32), rng.normal(0, 0.2, b).astype(np.float32))
            for a, b in zip(widths[:-1], widths[1:])]


class _Writer:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def quant(self, name: str, src: str, q: Q | None) -> str:
        if q is None:
            return src
        params = [self.const(f"{name}_{k}", v) for k, v in (("scale", q.scale), ("zero_point", q.zeropt),
                                                           ("bit_width", float(q.bits)))]
        self.nodes.append(helper.make_node("Quant", [src, *params], [f"{name}:0"], name=name, domain="qonnx",
                                           signed=q.signed, narrow=q.narrow, rounding_mode=q.rounding))
        return f"{name}:0"

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [f"{name}:0"], name=name, **attrs))
        return f"{name}:0"


def qkeras_mlp(layers: list[tuple[np.ndarray, np.ndarray]], kernel: Q | list[Q] = quantized_bits(6, 0),
               bias: Q | None = quantized_bits(6, 0), act: Q = quantized_relu(6, 0), softmax: bool = True,
               activation: str = "Relu", input_quantizer: Q | None = None, batchnorm_after: int | None = None):
    """``Dense(kernel_quantizer, bias_quantizer) -> QActivation(quantized_relu)`` per hidden layer, a last Dense and a
    Softmax, as an ``onnx.ModelProto``.  The keyword arguments make the variants the refusal tests need."""
    kernels = kernel if isinstance(kernel, list) else [kernel] * len(layers)
    g = _Writer()
    x = g.quant("model/input_quant/Identity_activation_quantizer", "input_1", input_quantizer)
    for i, (w, b) in enumerate(layers):
        p = f"model/fc{i + 1}"
        wq = g.quant(f"{p}/MatMul_kernel_quantizer", g.const(f"{p}/MatMul/ReadVariableOp:0", w), kernels[i])
        x = g.node("MatMul", [x, wq], f"{p}/MatMul")
        bq = g.quant(f"{p}/BiasAdd_bias_quantizer", g.const(f"{p}/BiasAdd/ReadVariableOp:0", b), bias)
        x = g.node("Add", [x, bq], f"{p}/BiasAdd")
        if batchnorm_after == i:
            n = w.shape[1]
            names = [g.const(f"model/bn{i}/{k}:0", v) for k, v in (("gamma", np.full(n, 1.5)), ("beta", np.zeros(n)),
                                                                    ("mean", np.zeros(n)), ("var", np.ones(n)))]
            x = g.node("BatchNormalization", [x, *names], f"model/bn{i}/FusedBatchNormV3", epsilon=1e-3)
        if i < len(layers) - 1:
            x = g.node(activation, [x], f"model/relu{i + 1}/{activation}")
            x = g.quant(f"model/relu{i + 1}/{activation}_activation_quantizer", x, act)
    out = g.node("Softmax", [x], "model/softmax/Softmax", axis=-1) if softmax else x
    n_in, n_out = layers[0][0].shape[0], layers[-1][0].shape[1]
    graph = helper.make_graph(g.nodes, "qkeras_to_qonnx_converted",
                              [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, n_out])], initializer=g.inits)
    return helper.make_model(graph, producer_name="qkeras_to_qonnx", opset_imports=[helper.make_opsetid("", 13),
                                                                                   helper.make_opsetid("qonnx", 1)])


def finn_style_mlp(seed: int = 0, widths: tuple[int, int, int] = (16, 10, 5)):
    """A graph as FINN's QONNX -> FINN conversion leaves it: an 8-bit input Quant, weights folded into plain integer
    initialisers with a power-of-two ``Mul`` after each MatMul, a float bias, and a ``MultiThreshold`` activation
    (15 thresholds, out_scale 1/4, out_bias -2: a signed 4-bit activation)."""
    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = widths
    g = _Writer()
    x = g.quant("Quant_in", "global_in", Q(2.0 ** -4, 8, 1, "ROUND"))
    x = g.node("MatMul", [x, g.const("W0", rng.integers(-8, 8, (n_in, n_hid)))], "MatMul_0")
    x = g.node("Mul", [x, g.const("s0", 2.0 ** -3)], "Mul_0")
    x = g.node("Add", [x, g.const("b0", rng.integers(-64, 64, n_hid) * 2.0 ** -5)], "Add_0")
    thresholds = np.sort(rng.normal(0, 3, (n_hid, 15)), axis=1).round(3)
    g.nodes.append(helper.make_node("MultiThreshold", [x, g.const("T0", thresholds)], ["MultiThreshold_0:0"],
                                    name="MultiThreshold_0", domain="qonnx.custom_op.general", out_dtype="INT4",
                                    out_scale=0.25, out_bias=-2.0, data_layout="NC"))
    x = g.node("MatMul", ["MultiThreshold_0:0", g.const("W1", rng.integers(-8, 8, (n_hid, n_out)))], "MatMul_1")
    x = g.node("Mul", [x, g.const("s1", 2.0 ** -2)], "Mul_1")
    graph = helper.make_graph(g.nodes, "finn_style", [helper.make_tensor_value_info("global_in", TensorProto.FLOAT,
                                                                                     [1, n_in])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, n_out])], initializer=g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                   helper.make_opsetid("qonnx.custom_op.general", 1)])
