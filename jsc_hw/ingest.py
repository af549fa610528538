"""A QONNX graph made exportable: read, cleaned, checked, its fixed-point formats, and the QONNX executor.

Any QONNX file (Brevitas ``export_qonnx``, QKeras through qonnx's converter, the QONNX model zoo) or a ``ModelWrapper``
becomes a ``Graph``: qonnx clean-up (batch 1), Gemm -> MatMul, Quant nodes on constants applied to their
initialisers (so ``HALF_EVEN`` and ``ROUND`` are one mode), a final Softmax removed (its argmax is the logits'
argmax; hls4ml's table-based softmax is not bit-exact), and every tensor's format taken from its Quant node.

What cannot be reproduced bit for bit is refused (``Refusal``, one line: why and what to change), never exported as
"close": float (non power-of-two) scales, Quant nodes hls4ml maps to an ApplyAlpha rescale computed in a guessed
precision (per-channel scales, zero-points), unquantised weights or biases, ops outside ``OPS``, a float BatchNorm
anywhere but on the input, a Softmax before the output.  A graph without an input quantiser takes its inputs in
``DEFAULT_INPUT`` (hls4ml's default ``ap_fixed<16,6>``) unless told otherwise; the caller quantises the rows onto it.

``for_hls`` converts the graph to channels-last for hls4ml (bounded: qonnx 1.0.0's own pass never terminates on
Conv1d + residual Add, see ``to_channels_last``); ``execute`` runs the QONNX executor (``execute_onnx``) in batches.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jsc_hw.errors import MissingError, ToolError, UnsupportedModel
from jsc_hw.fixed import FixedFormat

log = logging.getLogger(__name__)

DEFAULT_INPUT = FixedFormat.parse("fixed<16,6>")  #: hls4ml's default precision (TRN, WRAP)

#: op type -> what jsc-hw accepts of it (anything else is refused by name)
OPS: dict[str, str] = {
    "Quant": "power-of-two per-tensor scale, zero-point 0",
    "MatMul": "weights from a Quant node (Gemm is rewritten to MatMul)",
    "Conv": "weights and bias from Quant nodes",
    "Add": "a bias from a Quant node, or the sum of two tensors (residual)",
    "Relu": "",
    "BatchNormalization": "float, on the (quantised) input only",
    "Flatten": "",
    "Reshape": "to (batch, features)",
}
#: what the integer lowering (``jsc-hw synth``, ``hardware.qonnx_rtl``) takes beyond OPS; its constants may also be
#: plain initialisers on a power-of-two grid (FINN folds weight quantisers into them)
RTL_OPS: dict[str, str] = {**OPS, "MultiThreshold": "thresholds (QONNX/FINN activations)",
                           "Mul": "by a power-of-two scalar constant"}
TARGETS: dict[str, dict[str, str]] = {"hls": OPS, "rtl": RTL_OPS}
#: why some ops are refused
WHY: dict[str, str] = {
    "Sigmoid": "hls4ml computes it with a lookup table, not bit-exact",
    "Tanh": "hls4ml computes it with a lookup table, not bit-exact",
    "Softmax": "only a final Softmax can be left out (its argmax is the logits' argmax)",
    "LogSoftmax": "only a final LogSoftmax can be left out (its argmax is the logits' argmax)",
    "Mul": "hls4ml rescales with a guessed precision",
    "Div": "hls4ml rescales with a guessed precision",
    "MultiThreshold": "a FINN op hls4ml does not read; export the QONNX graph from before FINN's conversion "
                      "(jsc-hw synth lowers it to RTL)",
    "BipolarQuant": "binary quantisers are not supported",
    "Trunc": "Trunc (average-pool rescaling) is not supported",
    "FloatQuant": "minifloat quantisers are not fixed point",
}
SOFTMAX_OPS = ("Softmax", "LogSoftmax")


class ExportError(ToolError):
    """An export step failed; the message names the step and what to do."""


class Refusal(UnsupportedModel):
    """The model cannot be exported bit for bit; the one-line message says why and what to change."""


@dataclass(frozen=True, eq=False)
class Graph:
    model: Any  #: qonnx ModelWrapper, batch 1, standard (channels-first) layout, final Softmax removed
    formats: dict[str, FixedFormat]  #: Quant node name -> its format
    input: FixedFormat  #: what the first layer takes
    input_quantiser: str | None  #: the Quant node on the graph input; None: rows are quantised to ``input`` first
    input_shape: tuple[int, ...]  #: one row, as the graph takes it
    n_out: int
    softmax: str | None  #: the final Softmax/LogSoftmax node that was removed
    input_note: str  #: where ``input`` came from


def read(src: Any):
    """A qonnx ModelWrapper (a copy) of a path, an onnx ModelProto or a ModelWrapper."""
    from qonnx.core.modelwrapper import ModelWrapper

    if isinstance(src, (str, Path)):
        if not Path(src).is_file():
            raise MissingError(f"{src}: no such QONNX file")
        return ModelWrapper(str(src))
    return ModelWrapper(copy.deepcopy(getattr(src, "model", src)))


def _strip_softmax(model) -> str | None:
    from onnx import TensorProto, helper

    out = model.graph.output[0]
    node = model.find_producer(out.name)
    if node is None or node.op_type not in SOFTMAX_OPS:
        return None
    src = node.input[0]
    shape = model.get_tensor_shape(src)
    for vi in [v for v in model.graph.value_info if v.name == src]:
        model.graph.value_info.remove(vi)
    model.graph.node.remove(node)
    model.graph.output.remove(out)
    model.graph.output.append(helper.make_tensor_value_info(src, TensorProto.FLOAT, shape))
    return node.name


def _const(model, name: str) -> np.ndarray | None:
    v = model.get_initializer(name)
    return None if v is None else np.asarray(v, np.float64)


def _apply_constant_quants(model) -> None:
    """Quant nodes on initialisers: store the quantised values (so any rounding mode is exact), mode ROUND."""
    from qonnx.custom_op.general.quant import quant
    from qonnx.custom_op.registry import getCustomOp

    for node in model.get_nodes_by_op_type("Quant"):
        value = model.get_initializer(node.input[0])
        params = [_const(model, n) for n in node.input[1:4]]
        if value is None or any(p is None for p in params):
            continue
        op = getCustomOp(node)
        q = quant(np.asarray(value, np.float64), *params, op.get_nodeattr("signed"), op.get_nodeattr("narrow"),
                  op.get_nodeattr("rounding_mode"))
        model.set_initializer(node.input[0], q.astype(np.float32))
        op.set_nodeattr("rounding_mode", "ROUND")


def _value_info_for_constants(model):
    """hls4ml's ONNX reader looks every input shape up in value_info: give initialisers one (Brevitas exports and
    qonnx's QKeras converter do, other writers need not)."""
    from onnx import helper

    known = {v.name for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    for init in model.graph.initializer:
        if init.name not in known:
            model.graph.value_info.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return model


def clean(src: Any):
    """qonnx clean-up with batch 1, Gemm -> MatMul, constant Quants applied, HALF_EVEN spelt ROUND."""
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = read(src)
    inits = {i.name for i in model.graph.initializer}
    n_in = sum(i.name not in inits for i in model.graph.input)
    if n_in != 1 or len(model.graph.output) != 1:
        raise Refusal(f"the graph has {n_in} inputs and {len(model.graph.output)} outputs: jsc-hw exports "
                      "single-input, single-output networks")
    model = cleanup_model(model, override_inpsize=1)
    model = cleanup_model(model.transform(GemmToMatMul()))
    _apply_constant_quants(model)
    for node in model.get_nodes_by_op_type("Quant"):
        op = getCustomOp(node)
        if op.get_nodeattr("rounding_mode").upper() == "HALF_EVEN":  # the same function in QONNX (np.round)
            op.set_nodeattr("rounding_mode", "ROUND")
    return _value_info_for_constants(model)


def quant_formats(model, need_quantisers: bool = True) -> dict[str, FixedFormat]:
    """Every Quant node as a fixed-point format, keyed by node name; refuses what hls4ml would not compute exactly."""
    from qonnx.custom_op.registry import getCustomOp

    formats: dict[str, FixedFormat] = {}
    for node in model.get_nodes_by_op_type("Quant"):
        params = [_const(model, n) for n in node.input[1:4]]
        if any(p is None for p in params):
            raise Refusal(f"{node.name}: its scale, zero-point or bit width is not a constant; only static "
                          "quantisers can be exported")
        scale, zero, bits = params
        mant, exp = np.frexp(scale)
        if not np.all(mant == 0.5):  # a negative or zero scale included
            raise Refusal(
                f"{node.name}: quantiser scale {scale.flatten()[:4]} is not a power of two. Float-scale quantisers "
                "cannot be reproduced bit for bit in ap_fixed arithmetic (measured: 0.3 % argmax agreement at 8 "
                "bits). Use power-of-two scales: Brevitas *FixedPoint quantisers (jsc_hw.quant), QKeras "
                "quantized_bits with alpha=1; for a float jsc-hw model pass --requantise to quantise it post-training.")
        if not np.all(exp == exp.flat[0]) or np.any(zero != 0):
            what = "per-channel scales" if np.all(zero == 0) else f"zero-point {zero.flatten()[:4]}"
            raise Refusal(f"{node.name}: {what}: hls4ml maps this Quant node to an ApplyAlpha rescale computed in a "
                          "guessed precision, which is not bit-exact. Use one power-of-two scale per tensor and "
                          "zero-point 0 (Brevitas *PerTensorFixedPoint quantisers, QKeras quantized_bits, alpha=1)")
        op = getCustomOp(node)
        mode, signed, narrow = (op.get_nodeattr(a) for a in ("rounding_mode", "signed", "narrow"))
        constant = model.get_initializer(node.input[0]) is not None
        if mode.upper() not in ("ROUND", "HALF_EVEN", "FLOOR") and not constant:
            raise Refusal(f"{node.name}: rounding mode {mode}: hls4ml implements only ROUND (half to even) and FLOOR "
                          "for activations; quantise with one of those")
        if narrow and not signed:
            raise Refusal(f"{node.name}: a narrow unsigned quantiser (codes 0..2^b-2) has no ap_fixed type; use "
                          "narrow=0 for unsigned tensors")
        formats[node.name] = FixedFormat.from_quant(float(scale.flat[0]), float(bits.flat[0]), bool(signed),
                                                    bool(narrow), "ROUND" if constant else mode)
    if not formats and need_quantisers:
        raise Refusal("the model has no quantisers (a float model, e.g. quant.enabled=false): hls4ml would compute "
                      "it in a guessed fixed<16,6> precision, which is not bit-exact. Quantise it (retrain with "
                      "quant.enabled=true), or pass --requantise to quantise a jsc-hw model's weights post-training.")
    return formats


def _quantised_const(model, name: str) -> bool:
    prod = model.find_producer(name)
    return prod is not None and prod.op_type == "Quant" and model.get_initializer(prod.input[0]) is not None


def check_ops(model, input_tensor: str, target: str = "hls") -> None:
    """Refuse ops outside the target's table (all named), unquantised weights/biases (hls4ml) and a float BatchNorm
    not on the input."""
    ops = TARGETS[target]
    bad = [f"{n.name} ({n.op_type}{': ' + WHY[n.op_type] if n.op_type in WHY else ''})"
           for n in model.graph.node if n.op_type not in ops]
    if bad:
        raise Refusal(f"not supported for bit-exact {'export' if target == 'hls' else 'RTL'}: {', '.join(bad)}. "
                      f"jsc-hw {'exports' if target == 'hls' else 'lowers'} networks of {', '.join(ops)}; replace or "
                      "remove these ops")
    for n in model.graph.node:
        params = {"MatMul": n.input[1:2], "Conv": n.input[1:3]}.get(n.op_type, ())
        if n.op_type == "Add":
            params = [i for i in n.input if model.get_initializer(i) is not None or _quantised_const(model, i)]
        for name in params if target == "hls" else ():
            if not _quantised_const(model, name):
                raise Refusal(f"{n.name} ({n.op_type}): its constant {name} has no Quant node, so hls4ml would store "
                              "it in its default fixed<16,6> (rounded). Quantise every weight and bias (Brevitas "
                              "weight_quant/bias_quant, QKeras kernel_quantizer/bias_quantizer)")
        if n.op_type == "MatMul" and model.get_initializer(n.input[0]) is not None:
            raise Refusal(f"{n.name}: a constant left operand is not a layer; only x @ W is supported")
        if n.op_type == "BatchNormalization":
            prod = model.find_producer(n.input[0])
            on_input = n.input[0] == input_tensor or (prod is not None and prod.op_type == "Quant"
                                                      and prod.input[0] == input_tensor)
            nxt = model.find_consumers(n.output[0])
            while len(nxt) == 1 and nxt[0].op_type == "Relu":
                nxt = model.find_consumers(nxt[0].output[0])
            if not on_input or len(nxt) != 1 or nxt[0].op_type != "Quant":
                raise Refusal(f"{n.name}: a float BatchNormalization is exported exactly only between the input "
                              "(quantiser) and a Quant node; elsewhere hls4ml folds it in a guessed precision. Fold it "
                              "into the neighbouring layer's weights before quantisation (e.g. QKeras "
                              "QDenseBatchnorm, Brevitas merge_bn) and export again")


def _input_format(model, formats: dict[str, FixedFormat], override: FixedFormat | None
                  ) -> tuple[FixedFormat, str | None, str]:
    name = model.graph.input[0].name
    quantisers = [n for n in model.find_consumers(name) if n.op_type == "Quant"]
    if quantisers and len(model.find_consumers(name)) == 1:
        fmt = formats[quantisers[0].name]
        if override is not None and override != fmt:
            raise Refusal(f"--input-format {override.ap_type}: the graph quantises its input itself "
                          f"({quantisers[0].name}: {fmt.ap_type}); leave --input-format out")
        return fmt, quantisers[0].name, f"the graph's input quantiser {quantisers[0].name}"
    if override is not None:
        return override, None, "no input quantiser in the graph: --input-format"
    return DEFAULT_INPUT, None, ("no input quantiser in the graph: hls4ml's default ap_fixed<16,6> (set another "
                                 "with --input-format)")


def prepare(src: Any, input_format: FixedFormat | None = None, target: str = "hls") -> Graph:
    """Read, clean and check a QONNX graph (path, ModelProto or ModelWrapper) for hls4ml (``target="hls"``) or for
    the integer lowering alone (``"rtl"``: MultiThreshold and power-of-two Mul too)."""
    model = clean(src)
    softmax = _strip_softmax(model)
    if softmax is not None:
        from qonnx.util.cleanup import cleanup_model

        model = _value_info_for_constants(cleanup_model(model))
        log.debug("final %s removed: verifying the logits before it (argmax unchanged)", softmax)
    formats = quant_formats(model, need_quantisers=target == "hls")
    check_ops(model, model.graph.input[0].name, target)
    fmt, quantiser, note = _input_format(model, formats, input_format)
    shape = tuple(int(d) for d in model.get_tensor_shape(model.graph.input[0].name)[1:])
    n_out = int(np.prod(model.get_tensor_shape(model.graph.output[0].name)[1:]))
    return Graph(model, formats, fmt, quantiser, shape, n_out, softmax, note)


def as_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Rows (N, ...) in the graph's input shape, float32; on the input format's grid when the graph has no input
    quantiser (the hardware input is that format: the reference and the C-simulation both see these values)."""
    x = np.asarray(x, np.float32).reshape(len(x), *graph.input_shape)
    return graph.input.quantise(x).astype(np.float32) if graph.input_quantiser is None else x


def random_rows(graph: Graph, n: int, seed: int = 0) -> np.ndarray:
    """Seeded N(0, 1) rows (what standardised features look like) on the grid of the graph's input format."""
    x = np.random.default_rng(seed).normal(0.0, 1.0, (n, *graph.input_shape))
    return graph.input.quantise(x).astype(np.float32)


def n_transposes(model) -> int:
    return sum(n.op_type == "Transpose" for n in model.graph.node)


def to_channels_last(model, max_steps: int = 50):
    """qonnx's channels-last conversion made terminating for Conv1d + residual graphs.

    qonnx 1.0.0's ``ConvertToChannelsLastAndClean`` never terminates on Conv1d + residual Add: in 3-D the
    to-channels-first and to-channels-last permutations are both (0, 2, 1), so ``MoveChanFirstDownstream`` keeps
    pushing the inverse transposes it inserts on the Add's other input.  This runs the same sub-passes one
    downstream move at a time, cancels transpose pairs after each, and stops after ``max_steps``."""
    from qonnx.transformation.channels_last import (AbsorbChanFirstIntoMatMul, InsertChannelsLastDomainsAndTrafos,
                                                    MakeInputChannelsLast, MoveChanFirstDownstream,
                                                    MoveChanLastUpstream, MoveTransposePastFork,
                                                    RemoveConsecutiveChanFirstAndChanLastTrafos)
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    cancel = RemoveConsecutiveChanFirstAndChanLastTrafos
    model = model.transform(InsertChannelsLastDomainsAndTrafos())
    for _ in range(3):
        for t in (cancel(), MoveChanLastUpstream(), FoldTransposeIntoQuantInit(), cancel()):
            model = model.transform(t)
    for _ in range(max_steps):
        model = model.transform(MoveTransposePastFork()).transform(cancel())
        model, changed = MoveChanFirstDownstream().apply(model)  # one move, then cancel the pairs it made
        model = model.transform(cancel()).transform(InferShapes())
        if not changed:
            break
    else:
        raise ExportError(f"channels-last conversion: no fixed point after {max_steps} steps "
                          f"({n_transposes(model)} Transpose nodes left); report this model's QONNX file")
    for t in (MoveTransposePastFork(), cancel(), AbsorbChanFirstIntoMatMul(), MakeInputChannelsLast(), cancel(),
              InferShapes(), FoldConstants()):
        model = model.transform(t)
    if n_transposes(model):
        raise ExportError(f"channels-last conversion left {n_transposes(model)} Transpose nodes, which hls4ml "
                          "cannot place; report this model's QONNX file")
    return model


def for_hls(graph: Graph):
    """The graph as hls4ml's ONNX frontend takes it: channels-last (bounded) when it has convolutions."""
    from qonnx.util.cleanup import cleanup_model

    model = copy.deepcopy(graph.model)
    if any(n.op_type == "Conv" for n in model.graph.node):
        model = cleanup_model(to_channels_last(model))
    return _value_info_for_constants(model)


def channels_last(x: np.ndarray) -> np.ndarray:
    """Rows (N, C, L...) as the channels-last graph takes them, (N, L..., C); (N, F) rows stay as they are."""
    x = np.asarray(x)
    return np.ascontiguousarray(np.moveaxis(x, 1, -1) if x.ndim > 2 else x)


def _batched(model, n: int):
    """A copy of a batch-1 graph taking n rows: the leading 1 of every activation shape (and of constant Reshape
    targets) becomes n.  Unlike qonnx's ChangeBatchSize this needs no shape inference, which fails on
    channels-last custom ops."""
    m = copy.deepcopy(model)
    inits = {i.name for i in m.graph.initializer}
    for vi in [*m.graph.input, *m.graph.output, *m.graph.value_info]:
        dims = vi.type.tensor_type.shape.dim
        if vi.name not in inits and dims and dims[0].dim_value == 1:
            dims[0].dim_value = n
    for node in m.get_nodes_by_op_type("Reshape"):
        shape = m.get_initializer(node.input[1])
        if shape is not None and shape.size and shape[0] == 1:
            m.set_initializer(node.input[1], np.concatenate([[n], shape[1:]]).astype(shape.dtype))
    return m


def execute(model, x: np.ndarray, batch: int = 4096, tensor: str | None = None) -> np.ndarray:
    """The QONNX executor (qonnx ``execute_onnx``: onnxruntime per node, numpy for Quant) on rows ``x`` of shape
    (N, *input shape), in batches: float64 (N, n_out) of its float32 graph outputs, or of ``tensor``."""
    from qonnx.core.onnx_exec import execute_onnx

    x = np.asarray(x, np.float32)
    sized: dict[int, Any] = {}
    outs = []
    for at in range(0, len(x), batch):
        chunk = x[at:at + batch]
        if len(chunk) not in sized:
            sized[len(chunk)] = _batched(model, len(chunk))
        m = sized[len(chunk)]
        res = execute_onnx(m, {m.graph.input[0].name: np.ascontiguousarray(chunk)}, return_full_exec_context=True)
        outs.append(np.asarray(res[tensor or m.graph.output[0].name], np.float64).reshape(len(chunk), -1))
    return np.concatenate(outs)
