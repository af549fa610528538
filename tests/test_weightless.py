"""Weightless networks (arch dwn): the EFD gradients against their definition, twins, training, the lowering."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, TrainSpec, TrialConfig, validate
from jsc_hw.errors import ConfigError
from jsc_hw.data import load_splits
from jsc_hw.hardware import rtl
from jsc_hw.hardware.cost import estimate
from jsc_hw.nets import BatchedNet
from jsc_hw.train import fit
from jsc_hw.weightless import _EFD, _LearnedSelect, efd_kernel

Q6 = QuantSpec(input_bits=6, input_int_bits=3)


def test_efd_gradients_follow_their_definition():
    """dL/dbit_l of a node = sum over all addresses a2 of alpha beta**d x (+T[a2] if bit l of a2 else -T[a2]),
    d = Hamming distance of a2 and the row's address with bit l ignored; a table entry gets the gradient of
    the rows that addressed it (Bacellar et al. 2024, eq. 6-7; torch_dwn's kernel)."""
    n, m, r, b = 3, 4, 2, 9
    g = torch.Generator().manual_seed(0)
    tables = torch.randn(r, m, 2 ** n, generator=g, requires_grad=True)
    bits = (torch.rand(b, r, m * n, generator=g) > 0.5).float().requires_grad_()
    up = torch.randn(b, r, m, generator=g)
    out = _EFD.apply(bits, tables)
    (out * up).sum().backward()
    alpha, beta = 0.5 * 0.75 ** (n - 1), 1 / 3
    t_bin = (tables.detach() > 0).float()
    want_bits, want_tables = torch.zeros_like(bits), torch.zeros_like(tables)
    for i, k, j in itertools.product(range(b), range(r), range(m)):
        node = bits[i, k, j * n:(j + 1) * n].detach().long()
        addr = int(sum(int(v) << p for p, v in enumerate(node)))
        assert out[i, k, j] == t_bin[k, j, addr]  # the forward is the binarised table's entry
        want_tables[k, j, addr] += up[i, k, j]
        for bit in range(n):
            total = 0.0
            for a2 in range(2 ** n):
                d = bin((addr & ~(1 << bit)) ^ (a2 & ~(1 << bit))).count("1")
                total += float(t_bin[k, j, a2]) * alpha * beta ** d * (1 if a2 >> bit & 1 else -1)
            want_bits[i, k, j * n + bit] = total * up[i, k, j]
    torch.testing.assert_close(tables.grad, want_tables)
    torch.testing.assert_close(bits.grad, want_bits, rtol=1e-5, atol=1e-6)
    assert efd_kernel(n).shape == (n, 8, 8)


def test_learnable_mapping_reads_the_largest_weight_and_learns_from_signed_bits():
    g = torch.Generator().manual_seed(1)
    bits = (torch.rand(5, 2, 7, generator=g) > 0.5).float()
    w = torch.randn(2, 3, 7, generator=g, requires_grad=True)
    up = torch.randn(5, 2, 3, generator=g)
    out = _LearnedSelect.apply(bits, w)
    assert torch.equal(out, torch.gather(bits, 2, w.argmax(2).unsqueeze(0).expand(5, -1, -1)))
    (out * up).sum().backward()
    torch.testing.assert_close(w.grad, torch.einsum("bri,brk->rki", 2 * bits - 1, up))


def test_twins_compute_the_batched_forward_and_repeats_are_independent():
    net = BatchedNet(ModelSpec(arch="dwn", hidden=(20, 10), tau=2.0), Q6, seeds=[3, 4]).eval()
    x = torch.randn(64, 2, 16) * 1.5
    out = net(x)
    assert out.shape == (64, 2, 5) and torch.all(out * 2 == torch.round(out * 2))  # popcounts x 1/tau
    assert out.max() <= 2 / 2.0
    for r in range(2):
        assert torch.equal(net.twin(r)(x[:, r]), out[:, r])
    alone = BatchedNet(ModelSpec(arch="dwn", hidden=(20, 10), tau=2.0), Q6, seeds=[4])
    for k, v in alone.state_dict().items():
        assert torch.equal(v[0], net.state_dict()[k][1]), k


def test_the_design_parameters_are_the_truth_tables_not_the_mapping_weights():
    cfg = TrialConfig(name="d", model=ModelSpec(arch="dwn", hidden=(25, 10)), quant=Q6)
    assert estimate(cfg).params == 25 * 64 + 10 * 64


@pytest.mark.parametrize("model, why", [
    (ModelSpec(arch="dwn", hidden=(12,)), "multiple of 5"),
    (ModelSpec(arch="jsc_tiny", tau=2.0), "model.tau apply"),
    (ModelSpec(arch="mlp", tau=2.0), "model.tau applies to arch 'dwn' only"),
])
def test_bad_weightless_specs_are_refused(model, why):
    with pytest.raises(ConfigError, match=why):
        BatchedNet(model, Q6, seeds=[0])


def test_tau_must_be_a_power_of_two():
    with pytest.raises(ConfigError, match="tau: a power of two"):
        validate(ModelSpec(arch="dwn", tau=3.0))


def test_a_weightless_network_trains_on_a_seeded_subset():
    cfg = TrialConfig(name="d", model=ModelSpec(arch="dwn", hidden=(25,)), quant=Q6,
                      train=TrainSpec(epochs=2, batch_size=256, lr=1e-2, lr_schedule="cosine"),
                      data=DataSpec(max_rows=20000))
    splits = load_splits(cfg.data)
    net, res = fit(cfg, splits, [0, 1])
    accs = [r.val_acc[-1] for r in res]
    # chance is 0.2; 25 LUTs reach ~0.68 on the full set
    assert all(0.55 < a < 0.75 for a in accs), accs
    assert accs[0] != accs[1]  # two repeats, two models


def test_the_lowering_is_the_twin_in_integers():
    net = BatchedNet(ModelSpec(arch="dwn", hidden=(30, 15), tau=0.5), Q6, seeds=[7]).eval()
    twin = net.twin(0)
    ints = rtl.lower(twin, net.input_shape)
    kinds = [type(s).__name__ for s in ints.stages]
    assert kinds == ["Compare", "LutNodes", "LutNodes", "PopCount"] and ints.out_exp == 1
    first = twin.layers[2]
    assert len(ints.stages[0].code) == len(np.unique(first.inputs.numpy()))  # only the bits the LUTs read
    x = torch.randn(3000, 16) * 2
    ref = (twin(x) / 2.0 ** ints.out_exp).numpy()
    assert np.array_equal(rtl.simulate(ints, rtl.input_codes(twin, x)), ref)


def test_hls4ml_export_of_a_weightless_network_says_what_to_do_instead(tmp_path):
    from jsc_hw.errors import UnsupportedModel
    from jsc_hw.model_export import ModelSource, export_checkpoint
    from jsc_hw.data import Scaler
    from jsc_hw.train import save_checkpoint

    cfg = TrialConfig(name="d", model=ModelSpec(arch="dwn", hidden=(10,)), quant=Q6)
    net = BatchedNet(cfg.model, cfg.quant, seeds=[0])
    ckpt = save_checkpoint(tmp_path / "d.pt", cfg, net, 0, Scaler((0.0,) * 16, (1.0,) * 16), {})
    with pytest.raises(UnsupportedModel, match="no hls4ml export for arch 'dwn'.*jsc-hw synth"):
        export_checkpoint(ModelSource("d", ckpt, "test"), tmp_path / "hls")
