"""Integer lowering of a cleaned QONNX graph (``jsc_hw.ingest.Graph``) to the ``jsc_hw.hardware.rtl.IntNet`` that
``jsc_hw.hardware.verilog`` writes as Verilog: the open-source hardware flow for models brought from elsewhere.

With power-of-two scales every tensor is ``int * 2**exp``; the graph is walked from its input along its one path
(a fork whose one branch rejoins at an ``Add`` is a residual block):

* ``MatMul`` / ``Conv`` (1-D, stride 1, symmetric padding; unrolled to a matrix over the flattened (C, L) vector)
  with the integer codes of their Quant'd weights -> ``MatVec``; a following bias ``Add`` (or Conv's bias) joins it,
  on the finer of the two grids;
* ``Quant`` -> ``Requant`` (after a ``Relu``: clamped at 0 too);
* ``BatchNormalization`` [-> ``Relu``] -> ``Quant`` on the input -> ``Table``, one lookup table per feature filled
  by the QONNX executor itself on every input code (exact by construction);
* ``Add`` of the fork's two branches -> ``Push`` / ``AddSkip``; ``Flatten`` / ``Reshape`` change nothing;
* ``MultiThreshold`` (QONNX/FINN activations) -> ``Threshold`` (integer comparisons); a power-of-two scalar ``Mul``
  moves the grid; plain initialisers (FINN's folded weights) are taken on the coarsest power-of-two grid they lie on.

``reference`` gives the inputs and outputs as integer codes: the QONNX executor's outputs divided by the output LSB,
which the Verilator check compares with the RTL bit for bit (``jsc_hw.hardware.verilator.check_codes``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from jsc_hw.errors import UnsupportedModel
from jsc_hw import ingest
from jsc_hw.fixed import FixedFormat, power_of_two_exp
from jsc_hw.ingest import Graph
from jsc_hw.hardware.rtl import (MAX_TABLE_BITS, AddSkip, IntNet, MatVec, Push, Requant, Stage, Table, Threshold,
                                  _conv_matrix)


def _codes(value: np.ndarray, exp: int, what: str) -> np.ndarray:
    codes = np.asarray(value, np.float64) / 2.0 ** exp
    if not np.all(codes == np.round(codes)):
        raise UnsupportedModel(f"rtl: {what} is not on its 2**{exp} grid")
    return np.round(codes).astype(np.int64)


class _Walk:
    def __init__(self, graph: Graph) -> None:
        self.g, self.m = graph, graph.model
        self.exp, self.fmt = graph.input.exp, graph.input
        self.shape: tuple[int, ...] = graph.input_shape
        self.stages: list[Stage] = []
        self.relu = False  # a Relu seen since the last stage: the next Quant clamps at 0
        self.pending: list = []  # a float BatchNorm waiting for its quantiser
        self.skips: list[tuple[str, int]] = []  # (tensor, exp) of open residual forks

    def is_param(self, tensor: str) -> bool:
        """A weight, bias or scale: an initialiser, or a Quant node on one."""
        q = self.m.find_producer(tensor)
        if q is not None and q.op_type == "Quant":
            return self.m.get_initializer(q.input[0]) is not None
        return self.m.get_initializer(tensor) is not None

    def const(self, tensor: str) -> tuple[np.ndarray, int]:
        """A constant's values and the exponent of its grid: its Quant node's, or for a plain initialiser (FINN folds
        weight quantisers into them) the coarsest power-of-two grid its values lie on."""
        q = self.m.find_producer(tensor)
        if q is not None and q.op_type == "Quant":
            return np.asarray(self.m.get_initializer(q.input[0]), np.float64), self.g.formats[q.name].exp
        value = self.m.get_initializer(tensor)
        if value is None:
            raise UnsupportedModel(f"rtl: {tensor} is not a constant")
        value = np.asarray(value, np.float64)
        exp = next((e for e in range(40, -64, -1) if np.all(np.mod(value, 2.0 ** e) == 0)), None)
        if exp is None:
            raise UnsupportedModel(f"rtl: constant {tensor} is not on a power-of-two grid (float weights have no "
                                   "integer form)")
        return value, exp

    def bias(self, tensor: str, out: int) -> None:
        """Fold a bias into the MatVec just written, on the finer of the accumulator's and the bias's grids."""
        last = self.stages[-1] if self.stages else None
        if not isinstance(last, MatVec) or self.fmt is not None or np.any(last.b):
            raise UnsupportedModel("rtl: a bias Add must follow a MatMul/Conv directly")
        value, b_exp = self.const(tensor)
        exp = min(self.exp, b_exp)
        b = np.broadcast_to(value.reshape(-1), (out,)) if value.size == 1 else value.reshape(-1)
        b = np.repeat(b, last.w.shape[0] // len(b))  # a Conv bias: once per position, channel-major
        self.stages[-1] = MatVec(last.w << (self.exp - exp), _codes(b, exp, f"bias {tensor}"), exp)
        self.exp = exp

    def matvec(self, w: np.ndarray, w_exp: int, shape: tuple[int, ...]) -> None:
        if self.pending or self.relu:
            raise UnsupportedModel("rtl: a float BatchNorm or a Relu must be followed by a Quant node before a layer")
        self.exp += w_exp
        self.stages.append(MatVec(w, np.zeros(w.shape[0], np.int64), self.exp))
        self.shape, self.fmt = shape, None

    def node(self, n) -> None:
        op = n.op_type
        if op == "Quant":
            self.quant(n)
        elif op == "MatMul":
            if len(self.shape) != 1:
                raise UnsupportedModel(f"rtl: {n.name} reads a {self.shape} tensor; flatten it first")
            value, w_exp = self.const(n.input[1])
            self.matvec(_codes(value, w_exp, f"{n.name} weights").T.copy(), w_exp, (value.shape[1],))
        elif op == "Conv":
            self.conv(n)
        elif op == "Add":
            other = next(i for i in n.input if i != self.cur)
            if self.is_param(other):
                self.bias(other, int(np.prod(self.shape)))
            else:
                self.join(n, other)
        elif op == "Relu":
            self.relu = True
        elif op == "BatchNormalization":
            if self.fmt is None or self.fmt.bits > MAX_TABLE_BITS:
                raise UnsupportedModel(f"rtl: {n.name} needs a quantised input of at most {MAX_TABLE_BITS} bits to "
                                       f"become a lookup table (it reads "
                                       f"{self.fmt.ap_type if self.fmt else 'an accumulator'})")
            self.pending.append(n)
        elif op == "Mul":
            value, _ = self.const(next(i for i in n.input if i != self.cur))
            last = self.stages[-1] if self.stages else None
            if value.size != 1 or self.relu or self.pending or not isinstance(last, MatVec | Threshold):
                raise UnsupportedModel(f"rtl: {n.name}: only a scalar Mul right after a MatMul/Conv or "
                                       "MultiThreshold has a lowering")
            self.exp += power_of_two_exp(float(value.flat[0]))  # the codes stay, their grid moves
            self.stages[-1] = replace(last, exp=self.exp)
        elif op == "MultiThreshold":
            self.threshold(n)
        elif op in ("Flatten", "Reshape"):
            self.shape = (int(np.prod(self.shape)),)
        else:
            raise UnsupportedModel(f"rtl: no integer lowering for {n.name} ({op}); supported: MatMul, Conv (1-D), Add, "
                                   "Relu, Quant, BatchNormalization (on the input), Flatten, Reshape")

    def quant(self, n) -> None:
        out = self.g.formats[n.name]
        if self.relu and out.signed:  # Relu then a signed quantiser: codes 0..hi
            out = FixedFormat(out.bits - 1, False, out.exp, rounding=out.rounding)
        if self.pending:
            self.table(n, out)
        else:
            self.stages.append(Requant(out))
        self.exp, self.fmt, self.relu = out.exp, out, False

    def threshold(self, n) -> None:
        """MultiThreshold: x >= t is code >= ceil(t / 2**exp) on integer codes; out = out_scale * count + out_bias."""
        from qonnx.custom_op.registry import getCustomOp

        if len(self.shape) != 1 or self.relu or self.pending:
            raise UnsupportedModel(f"rtl: {n.name}: MultiThreshold is lowered on (batch, features) tensors only")
        t = np.asarray(self.m.get_initializer(n.input[1]), np.float64)
        t = np.broadcast_to(t, (self.shape[0], t.shape[1])) if t.shape[0] == 1 else t
        op = getCustomOp(n)
        scale, bias = float(op.get_nodeattr("out_scale")), float(op.get_nodeattr("out_bias"))
        exp = power_of_two_exp(scale)
        if bias / scale != round(bias / scale):
            raise UnsupportedModel(f"rtl: {n.name}: out_bias {bias} is not a multiple of out_scale {scale}")
        codes = np.ceil(t / 2.0 ** self.exp).astype(np.int64)
        self.stages.append(Threshold(codes, int(round(bias / scale)), exp))
        self.exp, self.fmt = exp, None

    def table(self, n, out: FixedFormat) -> None:
        """The BatchNorm [+ Relu] + Quant as lookup tables, filled by the QONNX executor on every input code."""
        inp = self.fmt
        codes = np.arange(inp.lo, inp.hi + 1)
        x = np.repeat(codes[:, None] * inp.lsb, int(np.prod(self.g.input_shape)), axis=1)
        y = ingest.execute(self.m, x.reshape(len(codes), *self.g.input_shape), tensor=n.output[0])
        self.stages.append(Table(_codes(y, out.exp, f"{n.name} outputs").T.copy(), inp, out))
        self.pending = []

    def conv(self, n) -> None:
        attrs = {a.name: list(a.ints) if a.ints else a.i for a in n.attribute}
        value, w_exp = self.const(n.input[1])
        if value.ndim != 3 or len(self.shape) != 2:
            raise UnsupportedModel(f"rtl: {n.name}: only 1-D convolutions are lowered (weights {value.shape})")
        pads = attrs.get("pads", [0, 0])
        unit = set(attrs.get("strides", [1])) == set(attrs.get("dilations", [1])) == {1}
        if attrs.get("group", 1) != 1 or not unit or pads[0] != pads[-1]:
            raise UnsupportedModel(f"rtl: {n.name}: only stride-1, undilated, ungrouped, symmetrically padded Conv is "
                                   "lowered")
        length = self.shape[1]
        w = _conv_matrix(_codes(value, w_exp, f"{n.name} weights"), length, int(pads[0]))
        self.matvec(w, w_exp, (value.shape[0], length + 2 * int(pads[0]) - value.shape[2] + 1))
        if len(n.input) > 2:
            self.bias(n.input[2], w.shape[0])

    def join(self, n, other: str) -> None:
        if not self.skips or self.skips[-1][0] != other:
            raise UnsupportedModel(f"rtl: {n.name} adds two tensors that are not a residual block's branches")
        _, skip_exp = self.skips.pop()
        self.exp = min(self.exp, skip_exp)
        self.stages.append(AddSkip(self.exp))
        self.fmt = None

    def run(self) -> IntNet:
        self.cur = self.m.graph.input[0].name
        out = self.m.graph.output[0].name
        if self.g.input_quantiser is not None:
            self.cur = self.m.get_node_from_name(self.g.input_quantiser).output[0]
        while self.cur != out:
            users = self.m.find_consumers(self.cur)
            if len(users) == 2:  # a residual fork: the Add is where the skip rejoins, the other user the body
                body = [u for u in users if u.op_type != "Add"]
                if len(body) == 1:
                    self.skips.append((self.cur, self.exp))
                    self.stages.append(Push())
                    users = body
            if len(users) != 1:
                raise UnsupportedModel(f"rtl: {self.cur} feeds {len(users)} nodes; only chains and residual blocks "
                                       "lower")
            self.node(users[0])
            self.cur = users[0].output[0]
        if self.relu or self.pending or self.skips:
            raise UnsupportedModel("rtl: the graph ends in a Relu, BatchNorm or open residual block without a Quant "
                                   "node")
        return IntNet(self.g.input, int(np.prod(self.g.input_shape)), tuple(self.stages), self.exp, self.fmt)


def lower(graph: Graph) -> IntNet:
    """The integer network of a cleaned QONNX graph; ValueError names what has no lowering."""
    return _Walk(graph).run()


def reference(graph: Graph, net: IntNet, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``x`` (N, ..., floats; quantised to the input format when the graph has no input quantiser) as input codes
    (N, n_in) and the QONNX executor's outputs in output LSBs (N, n_out, float64: off the integer grid = mismatch)."""
    x = ingest.as_input(graph, x)
    codes = graph.input.codes(x).reshape(len(x), -1)
    return codes, ingest.execute(graph.model, x) / 2.0 ** net.out_exp
