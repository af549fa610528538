"""Analytic hardware cost of an architecture x quantisation: what the sweep puts beside every accuracy.

No synthesis, no training: the network is built once (random weights) and run on one dummy sample with
hooks that record, for every Linear/Conv1d, its fan-in ``n``, its number of outputs ``m`` (channels x
positions) and the bit widths of its input activations and weights.  From those:

* MACs = sum m * n
* BOPs (bit operations, Hawks et al. 2021, "Ps and Qs", Front. AI 4:676564, eq. 1)
  = sum m * n * ((1 - f_p) * b_a * b_w + b_a + b_w + log2 n), with log2 n rounded up (accumulator growth bits)
  and f_p the pruned fraction of the layer's weights (``prune.sparsity`` or its
  ``sparsity_per_layer`` entry: floor(f * weights) of each kernel).
  BatchNorm, ReLU and requantisers are not counted, as in that paper.  MACs and weight bits count kept weights.
* weight / bias storage bits.  A float network (``quant.enabled: false``) counts 32-bit weights/activations.

``estimate(cfg)`` returns one flat frozen ``Cost`` (ints only, so it drops straight into records and CSV);
``layer_costs(cfg)`` gives the per-layer breakdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from jsc_hw.config import ModelSpec, QuantSpec, TrialConfig
from jsc_hw.layers import Act, Conv1d, Linear, QuantAct
from jsc_hw.nets import BatchedNet
from jsc_hw.prune import final_sparsity

FLOAT_BITS = 32


@dataclass(frozen=True)
class LayerCost:
    name: str  #: module path inside BatchedNet, e.g. "layers.3"
    kind: str  #: "Linear" or "Conv1d"
    fan_in: int  #: n: inputs summed per output (c_in x kernel for a convolution)
    outputs: int  #: m: output values per inference (c_out x positions)
    act_bits: int  #: b_a: bit width of the input activations
    weight_bits: int  #: b_w
    weights: int
    biases: int

    @property
    def macs(self) -> int:
        return self.outputs * self.fan_in

    @property
    def bops(self) -> int:
        return self.pruned_bops(0.0)

    def kept(self, sparsity: float) -> int:
        """Weights left after pruning ``sparsity`` of them (jsc_hw.prune masks floor(sparsity * weights))."""
        return self.weights - math.floor(sparsity * self.weights)

    def kept_macs(self, sparsity: float) -> int:
        """Multiply-accumulates by a kept weight (each weight is used outputs * fan_in / weights times)."""
        return self.macs * self.kept(sparsity) // self.weights

    def pruned_bops(self, sparsity: float) -> int:
        growth = math.ceil(math.log2(self.fan_in)) if self.fan_in > 1 else 0
        return self.kept_macs(sparsity) * self.act_bits * self.weight_bits + \
            self.macs * (self.act_bits + self.weight_bits + growth)


@dataclass(frozen=True)
class Cost:
    bops: int  #: bit operations per inference (see module docstring)
    macs: int  #: multiply-accumulates per inference
    params: int  #: learnable parameters, BatchNorm included
    weight_bits_total: int  #: weights x weight bits (Linear/Conv1d kernels)
    bias_bits_total: int  #: biases x bias bits


def _bits(q: QuantSpec) -> tuple[int, int, int]:
    if not q.enabled:
        return FLOAT_BITS, FLOAT_BITS, FLOAT_BITS
    return q.weight_bits, q.bias_bits, q.input_bits


@lru_cache(maxsize=256)
def _layer_costs(model: ModelSpec, q: QuantSpec) -> tuple[tuple[LayerCost, ...], int]:
    net = BatchedNet(model, q, [0]).eval()
    _, _, in_bits = _bits(q)
    state = {"act_bits": in_bits}
    out: list[LayerCost] = []
    names = {m: n for n, m in net.named_modules()}

    def on_act(module: QuantAct, _inp: tuple, _out: Act) -> None:
        state["act_bits"] = module.bits if q.enabled else FLOAT_BITS

    def on_weighted(module: Linear | Conv1d, inp: tuple[Act], res: Act) -> None:
        sparse = getattr(module, "sparse_fan_in", 0)  # a sparse Linear's neurons have that many weights
        fan_in = sparse or math.prod(module.weight.shape[2:])
        outputs = math.prod(res.x.shape[2:])
        w_bits = _bits(module.q)[0]  # per layer: arch "mlp" may give each Linear its own width
        weights = module.weight.shape[1] * sparse if sparse else module.weight[0].numel()
        out.append(LayerCost(names[module], type(module).__name__, fan_in, outputs, state["act_bits"], w_bits,
                             weights, module.bias[0].numel()))

    hooks = [m.register_forward_hook(on_act) for m in net.modules() if isinstance(m, QuantAct)]
    hooks += [m.register_forward_hook(on_weighted) for m in net.modules() if isinstance(m, (Linear, Conv1d))]
    with torch.no_grad():
        net(torch.zeros(1, 1, *net.input_shape))
    for h in hooks:
        h.remove()
    masked = sum(int((m.mask[0] == 0).sum()) for m in net.modules() if isinstance(m, Linear) and m.mask is not None)
    # a sparse Linear's absent weights are not learned; a learnable mapping's weights only choose a LUT's wiring
    masked += sum(getattr(m, "training_only_parameters", 0) for m in net.modules())
    params = sum(p[0].numel() for p in net.parameters()) - masked
    return tuple(out), params


def model_bits(cfg: TrialConfig) -> tuple[int, int, int]:
    """Weight, activation and input bits a hardware record shows: a weightless network (arch dwn) has one-bit table
    entries and one-bit activations."""
    q = cfg.quant
    return (1, 1, q.input_bits) if cfg.model.arch == "dwn" else (q.weight_bits, q.act_bits, q.input_bits)


def layer_costs(cfg: TrialConfig) -> tuple[LayerCost, ...]:
    return _layer_costs(cfg.model, cfg.quant)[0]


def estimate(cfg: TrialConfig) -> Cost:
    """BOPs, MACs, parameters and storage bits of ``cfg``'s model (independent of the trained weights)."""
    layers, params = _layer_costs(cfg.model, cfg.quant)
    _, b_bits, _ = _bits(cfg.quant)
    per = list(zip(layers, final_sparsity(cfg.prune, len(layers))))
    return Cost(bops=sum(c.pruned_bops(s) for c, s in per), macs=sum(c.kept_macs(s) for c, s in per),
                params=params, weight_bits_total=sum(c.kept(s) * c.weight_bits for c, s in per),
                bias_bits_total=sum(c.biases for c in layers) * b_bits)


# ---- the same figures for a QONNX graph (a model brought from elsewhere) -------------------------------------
@dataclass(frozen=True)
class GraphBits:
    weight_bits: int | None  #: widest weight quantiser
    act_bits: int | None  #: widest activation quantiser after a Relu (else any but the input's)
    input_bits: int


def _input_bits(graph, tensor: str) -> int:
    """Bits of the format a layer's input tensor is in (through Flatten/Reshape); FLOAT_BITS when unquantised."""
    model = graph.model
    while True:
        if tensor == model.graph.input[0].name:
            return graph.input.bits
        prod = model.find_producer(tensor)
        if prod is None:
            return FLOAT_BITS
        if prod.op_type == "Quant":
            return graph.formats[prod.name].bits
        if prod.op_type not in ("Flatten", "Reshape", "Relu"):
            return FLOAT_BITS
        tensor = prod.input[0]


def _quantised_size(model, tensor: str) -> int:
    """Size of a constant behind a Quant node (a weight or bias); 0 for any other tensor."""
    prod = model.find_producer(tensor)
    value = None if prod is None or prod.op_type != "Quant" else model.get_initializer(prod.input[0])
    return 0 if value is None else int(value.size)


def graph_layers(graph) -> tuple[LayerCost, ...]:
    """Every MatMul/Conv of a cleaned QONNX graph (``jsc_hw.ingest.Graph``) as a ``LayerCost``."""
    model, out = graph.model, []
    for n in model.graph.node:
        if n.op_type not in ("MatMul", "Conv"):
            continue
        wq = model.find_producer(n.input[1])
        w = model.get_initializer(wq.input[0])
        if n.op_type == "MatMul":
            fan_in, outputs = int(w.shape[0]), int(w.shape[1])
            add = model.find_consumer(n.output[0])
            biases = sum(_quantised_size(model, i) for i in add.input) if add and add.op_type == "Add" else 0
        else:
            fan_in = int(math.prod(w.shape[1:]))
            outputs = int(math.prod(model.get_tensor_shape(n.output[0])[1:]))
            biases = int(w.shape[0]) if len(n.input) > 2 else 0
        out.append(LayerCost(n.name, n.op_type, fan_in, outputs, _input_bits(graph, n.input[0]),
                             graph.formats[wq.name].bits, int(w.size), biases))
    return tuple(out)


def graph_estimate(graph) -> tuple[Cost, GraphBits]:
    """BOPs, MACs, parameters (weights, biases, BatchNorm) and bit widths of a cleaned QONNX graph."""
    layers = graph_layers(graph)
    model = graph.model
    weights = {model.find_producer(n.input[1]).name for n in model.graph.node if n.op_type in ("MatMul", "Conv")}
    const = {q.name for q in model.get_nodes_by_op_type("Quant") if model.get_initializer(q.input[0]) is not None}
    acts = [q for q in model.get_nodes_by_op_type("Quant") if q.name not in const and q.name != graph.input_quantiser]
    relu = [q for q in acts if getattr(model.find_producer(q.input[0]), "op_type", "") == "Relu"]
    acts = [graph.formats[q.name].bits for q in relu or acts]  # "activations": after a Relu, where there are any
    bn = sum(int(model.get_initializer(i).size) for n in model.get_nodes_by_op_type("BatchNormalization")
             for i in n.input[1:3])
    bias_bits = sum(graph.formats[q.name].bits * _quantised_size(model, q.output[0])
                    for q in model.get_nodes_by_op_type("Quant") if q.name in const - weights)
    cost = Cost(bops=sum(c.bops for c in layers), macs=sum(c.macs for c in layers),
                params=sum(c.weights + c.biases for c in layers) + bn,
                weight_bits_total=sum(c.weights * c.weight_bits for c in layers), bias_bits_total=bias_bits)
    bits = GraphBits(max((graph.formats[w].bits for w in weights), default=None), max(acts, default=None),
                     graph.input.bits)
    return cost, bits
