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
    with pytest.raises(ValueError, match="model.hidden applies to arch 'mlp' only; remove it for 'jsc_tiny'"):
        BatchedNet(ModelSpec(arch="jsc_tiny", hidden=(8,)), QuantSpec(), seeds=[0])
