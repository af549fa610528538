"""The model zoo.  Adding a model = one builder function + one line in ``ARCHITECTURES``.

A builder takes the model spec (its ``arch`` and, for ``mlp``, the ``hidden`` widths), the quantisation spec
and the number of repeats, and returns the layer list and the input shape of one sample.  ``tests/test_nets.py`` runs
over the whole table (parameter counts, twin equality).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from jsc_hw.config import ModelSpec, QuantSpec, TrialConfig
from jsc_hw.errors import ConfigError
from jsc_hw.layers import Act, BatchNorm, Conv1d, Flatten, Layer, Linear, Residual, TwinNet
from jsc_hw.layers import hidden_act, input_quant, relu, run
from jsc_hw.schema import N_CLASSES, N_FEATURES
from jsc_hw.weightless import GroupSum, LutLayer, Thermometer


@dataclass(frozen=True)
class Arch:
    layers: list[Layer]
    input_shape: tuple[int, ...]  #: shape of one sample as the exported model takes it


Builder = Callable[[ModelSpec, QuantSpec, int], Arch]


def _fixed(m: ModelSpec) -> None:
    """A fixed architecture has no widths, fan-in or tau to set."""
    if m.hidden or m.fan_in or m.tau != 1.0:
        raise ConfigError(f"model.hidden, model.fan_in and model.tau apply to archs 'mlp' and 'dwn' only; remove them "
                          f"for {m.arch!r}")


def jsc_tiny(m: ModelSpec, q: QuantSpec, repeats: int) -> Arch:
    """BatchNorm1d(16) -> ReLU -> Linear(16,5) -> ReLU: 117 parameters (the course lab's JSC-Tiny)."""
    _fixed(m)
    return Arch([input_quant(q), BatchNorm(N_FEATURES, repeats), relu(q), Linear(N_FEATURES, N_CLASSES, repeats, q),
                 relu(q)], (N_FEATURES,))


def jsc_rs1923(m: ModelSpec, q: QuantSpec, repeats: int) -> Arch:
    """Conv1d 1-8-16, a residual block of two 16-channel convs, Linear(256,5): 3,285 parameters."""
    _fixed(m)
    def conv(c_in: int, c_out: int) -> Conv1d:
        return Conv1d(c_in, c_out, 3, 1, repeats, q)

    # the block's sum needs one more (signed) bit than the ReLU outputs it is added to
    requant = hidden_act(q, q.act_bits + 1, q.act_int_bits + 1, signed=True)
    block = Residual([conv(16, 16), relu(q), conv(16, 16), requant], post=relu(q))
    return Arch([input_quant(q), conv(1, 8), relu(q), conv(8, 16), relu(q), block, Flatten(),
                 Linear(16 * N_FEATURES, N_CLASSES, repeats, q), relu(q)], (1, N_FEATURES))


def mlp_64_32_32(m: ModelSpec, q: QuantSpec, repeats: int) -> Arch:
    """The hls4ml tutorial's reference MLP 16-64-32-32-5 (ReLU; softmax left to the loss): 4,389 parameters."""
    _fixed(m)
    widths = (N_FEATURES, 64, 32, 32)
    layers: list[Layer] = [input_quant(q)]
    for n_in, n_out in zip(widths, widths[1:]):
        layers += [Linear(n_in, n_out, repeats, q), relu(q)]
    return Arch(layers + [Linear(widths[-1], N_CLASSES, repeats, q)], (N_FEATURES,))


def mlp(m: ModelSpec, q: QuantSpec, repeats: int) -> Arch:
    """16 -> hidden... -> 5 ReLU MLP with widths ``model.hidden`` (default 32, 16), optional per-layer bit widths
    (``quant.weight_bits_per_layer``: one per Linear; ``quant.act_bits_per_layer``: one per hidden ReLU) and
    optional sparse neurons (``model.fan_in`` inputs each, the LUT-native layers of the LogicNets family)."""
    if m.tau != 1.0:
        raise ConfigError("model.tau applies to arch 'dwn' only (its popcount scores); remove it for 'mlp'")
    hidden = tuple(m.hidden) or (32, 16)
    widths = (N_FEATURES, *hidden, N_CLASSES)
    w_bits = q.weight_bits_per_layer or (q.weight_bits,) * (len(widths) - 1)
    a_bits = q.act_bits_per_layer or (q.act_bits,) * len(hidden)
    if len(w_bits) != len(widths) - 1 or len(a_bits) != len(hidden):
        raise ConfigError(f"model.hidden {list(hidden)} needs {len(widths) - 1} quant.weight_bits_per_layer and "
                         f"{len(hidden)} quant.act_bits_per_layer, got {list(w_bits)} and {list(a_bits)}")
    layers: list[Layer] = [input_quant(q)]
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(Linear(n_in, n_out, repeats, replace(q, weight_bits=w_bits[i]), m.fan_in))
        if i < len(hidden):
            layers.append(relu(replace(q, act_bits=a_bits[i])))
    return Arch(layers, (N_FEATURES,))


def dwn(m: ModelSpec, q: QuantSpec, repeats: int) -> Arch:
    """A weightless network (``jsc_hw.weightless``): thermometer bits of the quantised input (every code of
    ``fixed<input_bits, input_int_bits>``), LUT layers of ``model.hidden`` nodes (default 50) with ``model.fan_in``
    inputs each (default 6: one LUT6), the first choosing its inputs; class scores = popcounts / ``model.tau``."""
    hidden, n = tuple(m.hidden) or (50,), m.fan_in or 6
    if hidden[-1] % N_CLASSES or not q.enabled:
        raise ConfigError(f"arch 'dwn': the last LUT layer's width must be a multiple of {N_CLASSES} (one group of "
                          f"bits a class), got {hidden[-1]}, and quant.enabled must be true (the input is codes)")
    if q.input_bits > 10:
        raise ConfigError(f"arch 'dwn': quant.input_bits {q.input_bits} gives {2 ** q.input_bits - 1} thermometer "
                          "bits a feature; use at most 10")
    inp = input_quant(q)
    layers: list[Layer] = [inp, Thermometer(inp.lo, inp.hi)]
    width = N_FEATURES * (inp.hi - inp.lo)
    for i, nodes in enumerate(hidden):
        layers.append(LutLayer(width, nodes, n, repeats, learned=i == 0))
        width = nodes
    return Arch(layers + [GroupSum(N_CLASSES, m.tau)], (N_FEATURES,))


ARCHITECTURES: dict[str, Builder] = {
    "jsc_tiny": jsc_tiny,
    "jsc_rs1923": jsc_rs1923,
    "mlp_64_32_32": mlp_64_32_32,
    "mlp": mlp,  #: widths from model.hidden, per-layer bits from quant.*_per_layer
    "dwn": dwn,  #: LUT nodes from model.hidden, their inputs from model.fan_in, score scale model.tau
}


class BatchedNet(nn.Module):
    """R independent copies of one architecture; forward maps (B, R, 16) features to (B, R, 5) logits."""

    def __init__(self, model: ModelSpec | str, q: QuantSpec, seeds: Sequence[int]) -> None:
        super().__init__()
        model = ModelSpec(arch=model) if isinstance(model, str) else model
        if model.arch not in ARCHITECTURES:
            raise ConfigError(f"unknown model.arch {model.arch!r}; available: {sorted(ARCHITECTURES)}")
        built = ARCHITECTURES[model.arch](model, q, len(seeds))
        self.arch, self.model, self.quant, self.seeds = model.arch, model, q, tuple(seeds)
        self.input_shape = built.input_shape
        self.layers = nn.ModuleList(built.layers)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        for layer in self.layers:
            layer.reset(gens)

    @property
    def repeats(self) -> int:
        return len(self.seeds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run(self.layers, Act(x.view(x.shape[0], x.shape[1], *self.input_shape), None)).x

    @torch.no_grad()
    def widest_activation(self) -> int:
        """Elements per row and repeat of the widest layer output (from a forward of one zero row in eval mode)."""
        was_training = self.training
        self.eval()
        a, widest = Act(torch.zeros(1, self.repeats, *self.input_shape), None), 1
        for layer in self.layers:
            a = layer(a)
            widest = max(widest, a.x[0, 0].numel())
        self.train(was_training)
        return widest

    def twin(self, r: int = 0) -> TwinNet:
        """Repeat r as a standalone Brevitas model (eval mode) with the same forward values."""
        return TwinNet([layer.twin(r) for layer in self.layers]).eval()

    def repeat_state(self, r: int) -> dict[str, torch.Tensor]:
        """Repeat r's parameters and buffers, loadable into a BatchedNet with one seed."""
        return {k: v[r:r + 1].clone() for k, v in self.state_dict().items()}


def build(cfg: TrialConfig, seeds: Sequence[int]) -> BatchedNet:
    return BatchedNet(cfg.model, cfg.quant, seeds)


def n_parameters(arch: str) -> int:
    """Learnable parameters of one (float) model."""
    net = BatchedNet(arch, QuantSpec(enabled=False), [0])
    return sum(p.numel() for p in net.parameters())
