import pytest
import torch

from jsc_hw.config import ModelSpec, QuantSpec
from jsc_hw.nets import ARCHITECTURES, BatchedNet, n_parameters

EXPECTED_PARAMETERS = {"jsc_tiny": 117, "jsc_rs1923": 3285, "mlp_64_32_32": 4389}


def test_parameter_counts():
    assert set(EXPECTED_PARAMETERS) <= set(ARCHITECTURES)
    for arch, count in EXPECTED_PARAMETERS.items():
        assert n_parameters(arch) == count
        # quantisation adds no learnable parameters (power-of-two scales are derived or constant)
        net = BatchedNet(arch, QuantSpec(weight_bits=4, act_bits=4, input_bits=4), seeds=[0, 1, 2])
        assert sum(p.numel() for p in net.parameters()) == 3 * count
        twin = net.twin(1)
        assert sum(p.numel() for p in twin.parameters()) == count


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_maps_features_to_class_logits(arch):
    net = BatchedNet(arch, QuantSpec(), seeds=[3, 4])
    out = net(torch.randn(7, 2, 16))
    assert out.shape == (7, 2, 5)
    assert net.twin(0)(torch.randn(7, *net.input_shape)).shape == (7, 5)


def test_repeats_are_seeded_independently():
    a = BatchedNet("jsc_tiny", QuantSpec(), seeds=[5, 9])
    b = BatchedNet("jsc_tiny", QuantSpec(), seeds=[9])
    assert torch.equal(a.repeat_state(1)["layers.3.weight"], b.repeat_state(0)["layers.3.weight"])
    assert not torch.equal(a.repeat_state(0)["layers.3.weight"], a.repeat_state(1)["layers.3.weight"])


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="unknown model.arch 'resnet'"):
        BatchedNet("resnet", QuantSpec(), seeds=[0])


def test_hidden_widths_shape_the_mlp_and_are_refused_elsewhere():
    net = BatchedNet(ModelSpec(arch="mlp", hidden=(8, 4)), QuantSpec(), seeds=[0])
    assert sum(p.numel() for p in net.parameters()) == (16 * 8 + 8) + (8 * 4 + 4) + (4 * 5 + 5)
    n = sum(p.numel() for p in BatchedNet("mlp", QuantSpec(), [0]).parameters())
    assert n == 16 * 32 + 32 + 32 * 16 + 16 + 16 * 5 + 5
    with pytest.raises(ValueError, match="model.hidden, model.fan_in and model.tau apply to archs 'mlp' and 'dwn' "
                                         "only; remove them for 'jsc_tiny'"):
        BatchedNet(ModelSpec(arch="jsc_tiny", hidden=(8,)), QuantSpec(), seeds=[0])
    with pytest.raises(ValueError, match="apply to archs 'mlp' and 'dwn' only"):
        BatchedNet(ModelSpec(arch="jsc_tiny", fan_in=3), QuantSpec(), seeds=[0])


def test_sparse_neurons_have_their_fan_in_per_repeat_and_a_repeat_does_not_depend_on_its_batch_mates():
    model = ModelSpec(arch="mlp", hidden=(12, 6), fan_in=3)
    net = BatchedNet(model, QuantSpec(), seeds=[0, 1, 2])
    linears = [m for m in net.layers if hasattr(m, "sparse_fan_in")]
    assert [m.sparse_fan_in for m in linears] == [3, 3, 3]
    for m in linears:
        assert torch.equal((m.weight != 0).sum(-1), torch.full(m.weight.shape[:2], 3))  # exactly 3 inputs each
        assert torch.equal(m.mask, (m.weight != 0).float())
        assert not torch.equal(m.mask[0], m.mask[1])  # each repeat draws its own connections
    alone = BatchedNet(model, QuantSpec(), seeds=[1])
    assert all(torch.equal(a.weight[0], b.weight[1]) and torch.equal(a.bias[0], b.bias[1])
               for a, b in zip([m for m in alone.layers if hasattr(m, "mask")], linears))
    # fan_in >= the layer's inputs is a dense layer; dense draws are unchanged by the option
    dense, wide = BatchedNet("mlp", QuantSpec(), [0]), BatchedNet(ModelSpec(arch="mlp", fan_in=64), QuantSpec(), [0])
    assert all(torch.equal(a, b) for a, b in zip(dense.parameters(), wide.parameters()))


def test_a_sparse_mlp_trains_keeping_its_fan_in_and_its_checkpoint_keeps_the_zeros(tmp_path):
    from jsc_hw.config import DataSpec, TrainSpec, TrialConfig
    from jsc_hw.data import load_splits
    from jsc_hw.train import fit, load_checkpoint, save_checkpoint

    cfg = TrialConfig(data=DataSpec(max_rows=6000), model=ModelSpec(arch="mlp", hidden=(32, 16), fan_in=4),
                      quant=QuantSpec(weight_bits=6, act_bits=3, act_int_bits=2, input_bits=3, input_int_bits=2),
                      train=TrainSpec(epochs=6, batch_size=128, lr=1e-2))
    splits = load_splits(cfg.data)
    net, results = fit(cfg, splits, [0, 1])
    assert all(res.val_acc[-1] > 0.55 for res in results), results  # it learns (0.2 by chance; 0.66 and 0.61 here)
    for m in [m for m in net.layers if hasattr(m, "sparse_fan_in")]:
        assert torch.all((m.weight != 0).sum(-1) <= 4) and torch.all(m.weight[m.mask == 0] == 0)
        assert (m.weight != 0).sum() > 0.9 * m.mask.sum()  # the kept connections did train away from 0
    loaded = load_checkpoint(save_checkpoint(tmp_path / "c.pt", cfg, net, 1, splits.scaler, {})).net
    x = torch.from_numpy(splits.test.x[:500])
    assert torch.equal(loaded.twin()(x), net.eval().twin(1)(x))
