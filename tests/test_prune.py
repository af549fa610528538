"""Gradual magnitude pruning: the schedule, exact zeros in every kernel, the twin and the RTL computing what
the pruned network trained, repeats independent of each other, and the analytic cost of the kept weights."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from jsc_hw import prune
from jsc_hw.config import DataSpec, ModelSpec, PruneSpec, QuantSpec, TrainSpec, TrialConfig, from_dict
from jsc_hw.data import load_splits
from jsc_hw.errors import ConfigError
from jsc_hw.hardware import cost
from jsc_hw.nets import BatchedNet
from jsc_hw.train import feature_major, fit

Q4 = QuantSpec(weight_bits=4, act_bits=4, act_int_bits=2)
PRUNED = TrialConfig(data=DataSpec(max_rows=6000), model=ModelSpec(arch="mlp", hidden=(32, 16)), quant=Q4,
                     train=TrainSpec(epochs=3, batch_size=128, lr=3e-3), prune=PruneSpec(sparsity=0.7))


def test_the_schedule_is_a_cubic_ramp_to_the_final_sparsity() -> None:
    spec = PruneSpec(sparsity=0.8, start=0.0, end=0.5, updates=4)
    steps = prune.schedule(spec, 100)
    assert [s for s, _ in steps] == [12, 25, 38, 50]  # round(12.5) = 12, round(37.5) = 38
    assert [round(0.8 * v, 6) for _, v in steps] == [0.4625, 0.7, 0.7875, 0.8]  # 0.8 * (1 - (1 - k/4)**3)
    assert prune.target(spec, 0.9) == 1.0 and prune.target(replace(spec, start=0.2), 0.1) == 0.0
    assert prune.schedule(PruneSpec(), 100) == []
    # more updates than steps: one update a step, the last one reaching the final sparsity
    assert prune.schedule(replace(spec, updates=10), 4)[-1] == (2, 1.0)
    # per-layer final sparsities follow the same ramp; all-zero per-layer values prune nothing
    assert prune.schedule(PruneSpec(sparsity_per_layer=(0.0, 0.5)), 100) != []
    assert prune.schedule(PruneSpec(sparsity_per_layer=(0.0, 0.0)), 100) == []
    assert prune.final_sparsity(spec, 3) == (0.8, 0.8, 0.8)
    assert prune.final_sparsity(PruneSpec(sparsity_per_layer=(0.9, 0.5)), 2) == (0.9, 0.5)
    with pytest.raises(ConfigError, match="one per layer"):
        prune.final_sparsity(PruneSpec(sparsity_per_layer=(0.9, 0.5)), 3)
    with pytest.raises(ConfigError, match="sparsity_per_layer"):
        from_dict(PruneSpec, {"sparsity_per_layer": [0.5, 1.0]})


def test_per_layer_sparsity_prunes_each_kernel_to_its_own_fraction_and_costs_say_so() -> None:
    per = (0.8, 0.6, 0.0)  # the 32-16 MLP's three kernels: 16x32, 32x16, 16x5
    cfg = replace(PRUNED, train=replace(PRUNED.train, epochs=1), prune=PruneSpec(sparsity_per_layer=per))
    net, _ = fit(cfg, load_splits(cfg.data), [0])
    sizes = [layer.weight[0].numel() for layer in prune.kernels(net)]
    assert list(prune.zero_fraction(net).values()) == [math.floor(f * n) / n for f, n in zip(per, sizes)]
    kept = cost.estimate(cfg).weight_bits_total // 4  # 4-bit weights
    assert kept == sum(n - math.floor(f * n) for f, n in zip(per, sizes)) == 512 - 409 + 512 - 307 + 80


def test_masks_only_grow_and_masked_weights_are_zero() -> None:
    net = BatchedNet(ModelSpec(arch="mlp_64_32_32"), Q4, [0, 1])
    prune.update_masks(net, [0.5] * len(prune.kernels(net)))
    first = [layer.mask.clone() for layer in prune.kernels(net)]
    with torch.no_grad():  # an optimizer moves masked weights; they must stay masked
        for layer in prune.kernels(net):
            layer.weight.add_(torch.randn_like(layer.weight) * 10)
    prune.update_masks(net, [0.6] * len(prune.kernels(net)))
    for layer, old in zip(prune.kernels(net), first):
        assert torch.all(layer.mask <= old)
        n = layer.weight[0].numel()
        assert int((layer.mask[0] == 0).sum()) == math.floor(0.6 * n)
        assert torch.all(layer.weight[layer.mask == 0] == 0)


def test_pruned_training_leaves_exact_zeros_and_the_twin_computes_the_same() -> None:
    splits = load_splits(PRUNED.data)
    net, results = fit(PRUNED, splits, [0, 1])
    assert all(res.val_acc[-1] > 0.45 for res in results), results  # it still learns (5 classes: 0.2 by chance)
    for r in range(2):
        fractions = prune.zero_fraction(net, r)
        kernel_sizes = [layer.weight[r].numel() for layer in prune.kernels(net)]
        assert list(fractions.values()) == [math.floor(0.7 * n) / n for n in kernel_sizes]
    x = torch.from_numpy(splits.test.x[:3000])
    net.eval()
    with torch.no_grad():
        batched = net(feature_major(x, 2))
        for r in range(2):
            twin = net.twin(r)
            assert torch.equal(twin(x), batched[:, r])
            assert all(int((m.weight == 0).sum()) == math.floor(0.7 * m.weight.numel())
                       for m in twin.modules() if isinstance(m, torch.nn.Linear))
    # repeat 1 trained alongside repeat 0 is the repeat trained alone, masks included
    alone, res_alone = fit(PRUNED, splits, [1])
    assert res_alone[0].val_acc == results[1].val_acc
    assert all(torch.equal(a.weight[0], b.weight[1]) for a, b in zip(prune.kernels(alone), prune.kernels(net)))


def test_a_saved_pruned_model_loads_with_its_zeros(tmp_path) -> None:
    from jsc_hw.train import load_checkpoint, save_checkpoint

    splits = load_splits(PRUNED.data)
    net, _ = fit(replace(PRUNED, train=replace(PRUNED.train, epochs=1)), splits, [0])
    path = save_checkpoint(tmp_path / "c.pt", PRUNED, net, 0, splits.scaler, {})
    loaded = load_checkpoint(path).net
    assert prune.zero_fraction(loaded) == prune.zero_fraction(net)
    x = torch.from_numpy(splits.test.x[:500])
    assert torch.equal(loaded.twin()(x), net.eval().twin()(x))


def test_the_cost_counts_only_kept_weights() -> None:
    dense = TrialConfig(model=ModelSpec(arch="mlp_64_32_32"), quant=Q4)
    pruned = replace(dense, prune=PruneSpec(sparsity=0.75))
    d, p = cost.estimate(dense), cost.estimate(pruned)
    # layers (fan-in, outputs, input bits): 16->64 on the 8-bit input, then 64->32, 32->32, 32->5 on 4-bit ReLUs
    layers = [(16, 64, 8), (64, 32, 4), (32, 32, 4), (32, 5, 4)]
    kept = [n * m - math.floor(0.75 * n * m) for n, m, _ in layers]
    assert p.macs == sum(kept) == 1064 and d.macs == 4256
    growth = [math.ceil(math.log2(n)) for n, _, _ in layers]
    assert p.bops == sum(k * a * 4 + n * m * (a + 4 + g) for k, (n, m, a), g in zip(kept, layers, growth))
    assert d.bops == sum(n * m * (a * 4 + a + 4 + g) for (n, m, a), g in zip(layers, growth))
    assert p.weight_bits_total == 4 * sum(kept) and p.params == d.params == 4389


@pytest.mark.parametrize("section, why", [({"sparsity": 1.0}, "sparsity"), ({"sparsity": -0.1}, "sparsity"),
                                          ({"start": 0.5, "end": 0.5}, "start/end"), ({"updates": 0}, "updates")])
def test_impossible_pruning_is_refused_naming_the_key(section, why) -> None:
    with pytest.raises(ConfigError, match=f"prune.{why}"):
        from_dict(TrialConfig, {"prune": section})


@pytest.mark.requires("verilator")
def test_the_rtl_of_a_pruned_network_has_no_logic_for_zero_weights_and_is_bit_exact(tmp_path) -> None:
    from jsc_hw.hardware import rtl, verilator
    from jsc_hw.hardware.verilog import write_verilog

    splits = load_splits(PRUNED.data)
    net, _ = fit(PRUNED, splits, [0])
    twin = net.eval().twin()
    ints = rtl.lower(twin, net.input_shape)
    mats = [s for s in ints.stages if isinstance(s, rtl.MatVec)]
    assert all(int((m.w != 0).sum()) <= m.w.size - math.floor(0.7 * m.w.size) for m in mats)
    x = torch.from_numpy(splits.test.x)  # every test row
    design = write_verilog(ints, tmp_path / "pruned")
    res = verilator.check(twin, net.input_shape, x, design, ints)
    assert res.bit_exact and res.vectors == len(x) == 900
    # the Verilog names an input of a neuron only where its weight is not zero
    text = "".join(p.read_text() for p in (tmp_path / "pruned").glob("*.v"))
    dense = write_verilog(rtl.lower(BatchedNet(PRUNED.model, Q4, [0]).eval().twin(), net.input_shape),
                          tmp_path / "dense")
    dense_text = "".join(p.read_text() for p in (tmp_path / "dense").glob("*.v"))
    assert text.count("<<<") + text.count(" + ") < 0.5 * (dense_text.count("<<<") + dense_text.count(" + "))
    assert design.latency_cycles == dense.latency_cycles


def test_pruning_a_lut_native_layer_never_unmasks_its_fixed_fan_in_and_the_checkpoint_keeps_its_accuracy(tmp_path):
    """model.fan_in 3 of 16 inputs masks 81 % of the first kernel; pruning to 64 % must not give any of those weights
    back (it once did: the saved network was then trained denser than the mask a checkpoint re-draws, and lost its
    accuracy when loaded, 0.70 -> 0.32 validation accuracy); pruning past the fan-in's share masks more."""
    from jsc_hw.train import evaluate, load_checkpoint, save_checkpoint

    cfg = replace(PRUNED, model=ModelSpec(arch="mlp", hidden=(32, 16), fan_in=3), prune=PruneSpec(sparsity=0.64))
    splits = load_splits(cfg.data)
    net, results = fit(cfg, splits, [0])
    first = prune.kernels(net)[0]
    assert int((first.weight[0] != 0).sum(1).max()) <= 3  # at most 3 inputs a neuron, as the fan-in drew them
    assert prune.zero_fraction(net)[next(iter(prune.zero_fraction(net)))] >= 13 / 16
    path = save_checkpoint(tmp_path / "c.pt", cfg, net, 0, splits.scaler, {})
    loaded = load_checkpoint(path).net
    x, y = torch.from_numpy(splits.val.x), torch.from_numpy(splits.val.y)
    assert float(evaluate(loaded, x, y)[0][0]) == pytest.approx(results[0].val_acc[-1], abs=1e-9)
    more = BatchedNet(cfg.model, Q4, [0])
    prune.update_masks(more, [0.9] * len(prune.kernels(more)))
    assert int((prune.kernels(more)[0].mask[0] == 0).sum()) == math.floor(0.9 * 32 * 16)
