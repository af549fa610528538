"""Gradual magnitude pruning of a batched network during training (a trial's ``prune:`` section, ``PruneSpec``).

Each Linear/Conv1d kernel of each repeat gets a 0/1 mask; the layer trains ``weight * mask`` (the quantiser's
scale too is taken over the kept weights).  At each update the kernel's smallest-magnitude weights are masked
until the scheduled fraction is zero (weights masked before stay masked), and masked weights are set to zero, so
the saved checkpoint, its Brevitas twin, the hls4ml project and the RTL all hold exact zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from jsc_hw.config import PruneSpec
from jsc_hw.errors import ConfigError
from jsc_hw.layers import Conv1d, Linear


def target(spec: PruneSpec, p: float) -> float:
    """The scheduled fraction of each kernel's final sparsity after a fraction ``p`` of the training steps (cubic
    ramp from 0 at ``start`` to 1 at ``end``)."""
    if p <= spec.start:
        return 0.0
    ramp = min(1.0, (p - spec.start) / (spec.end - spec.start))
    return 1.0 - (1.0 - ramp) ** 3


def schedule(spec: PruneSpec, total_steps: int) -> list[tuple[int, float]]:
    """``(step, ramp)`` of every mask update: after that many optimizer steps, prune every kernel to ``ramp`` times
    its final sparsity (``final_sparsity``)."""
    if not spec.prunes:
        return []
    out: dict[int, float] = {}
    for k in range(1, spec.updates + 1):
        p = spec.start + (spec.end - spec.start) * k / spec.updates
        out[max(1, min(total_steps, round(p * total_steps)))] = target(spec, p)  # a later update wins a step
    return sorted(out.items())


def final_sparsity(spec: PruneSpec, n_kernels: int) -> tuple[float, ...]:
    """Each kernel's final fraction of zero weights: ``sparsity_per_layer`` where given, else ``sparsity``."""
    if not spec.sparsity_per_layer:
        return (spec.sparsity,) * n_kernels
    if len(spec.sparsity_per_layer) != n_kernels:
        raise ConfigError(f"prune.sparsity_per_layer: {len(spec.sparsity_per_layer)} values for a network of "
                          f"{n_kernels} Linear/Conv1d layers; give one per layer, input side first")
    return spec.sparsity_per_layer


def kernels(net: nn.Module) -> list[Linear | Conv1d]:
    return [m for m in net.modules() if isinstance(m, (Linear, Conv1d))]


@torch.no_grad()
def update_masks(net: nn.Module, fractions: Sequence[float]) -> None:
    """Mask ``floor(f * n)`` of each repeat's n kernel weights (one fraction f per kernel, in ``kernels``
    order), the smallest |w| first (those masked before first of all, then ties in index
    order), and zero them.  Weights masked before stay masked: a kernel whose mask already holds more zeros (the
    fixed fan-in of a LUT-native layer) keeps them all."""
    for layer, sparsity in zip(kernels(net), fractions, strict=True):
        w = layer.weight.view(layer.weight.shape[0], -1)  # (R, n)
        old = torch.ones_like(w) if layer.mask is None else layer.mask.view_as(w)
        k = math.floor(sparsity * w.shape[1])
        key = torch.where(old > 0, w.abs(), -1.0)
        order = torch.argsort(key, dim=1, stable=True)[:, :k]
        mask = torch.ones_like(w).scatter_(1, order, 0.0) * old  # a masked weight stays masked, even when fewer
        layer.mask = mask.view_as(layer.weight)  # than it were masked before (LUT-native fan-in masks)
        layer.weight.mul_(layer.mask)


@torch.no_grad()
def finalise(net: nn.Module) -> None:
    """Zero every masked weight (Adam may have moved them since the last update): what is saved is what ran."""
    for layer in kernels(net):
        if layer.mask is not None:
            layer.weight.mul_(layer.mask)


def zero_fraction(net: nn.Module, r: int = 0) -> dict[str, float]:
    """Fraction of exactly-zero weights of each kernel of repeat ``r``, by module path."""
    names = {m: n for n, m in net.named_modules()}
    return {names[m]: float((m.weight[r] == 0).double().mean()) for m in kernels(net)}
