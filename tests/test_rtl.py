"""Integer lowering of Brevitas twins and the generated Verilog, checked in Verilator against PyTorch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from jsc_hw import rtl
from jsc_hw.config import QuantSpec
from jsc_hw.nets import BatchedNet

Q4 = QuantSpec(weight_bits=4, act_bits=4, input_bits=4)


def net_with_bn_stats(arch: str, q: QuantSpec, seed: int = 0) -> BatchedNet:
    """A model whose BatchNorm is far from identity (as after training), so its lookup tables are real logic."""
    torch.manual_seed(seed)
    net = BatchedNet(arch, q, [seed])
    for m in net.modules():
        if hasattr(m, "running_var"):
            m.running_mean.normal_(0, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 2.0), m.bias.data.normal_(0, 0.5)
    return net


def inputs(n: int, seed: int = 1) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 1.5, (n, 16)).astype(np.float32))


def test_shift_round_is_half_to_even() -> None:
    acc = np.array([5, 6, 7, -5, -6, -7, 3, -3, 12, 10, 14])
    assert rtl._shift_round(acc, 1).tolist() == [2, 3, 4, -2, -3, -4, 2, -2, 6, 5, 7]
    assert rtl._shift_round(acc, 2).tolist() == [1, 2, 2, -1, -2, -2, 1, -1, 3, 2, 4]  # 10/4 = 2.5 -> 2, 14/4 -> 4
    assert rtl._shift_round(np.array([3, -3]), -2).tolist() == [12, -12]


def test_csd_digits_rebuild_the_weight() -> None:
    for w in range(-127, 128):
        assert sum(s << k for s, k in rtl._csd(w)) == w
    assert len(rtl._csd(7)) == 2 and len(rtl._csd(-127)) == 2  # 8 - 1, -128 + 1


@pytest.mark.parametrize("arch", ["jsc_tiny", "jsc_rs1923", "mlp_64_32_32"])
@pytest.mark.parametrize("q", [QuantSpec(), Q4], ids=["w8", "w4"])
def test_integer_model_equals_twin(arch: str, q: QuantSpec) -> None:
    net = net_with_bn_stats(arch, q)
    twin = net.twin(0)
    x = inputs(1500)
    ints = rtl.lower(twin, net.input_shape)
    with torch.no_grad():
        ref = (twin(x.reshape(len(x), *net.input_shape)).reshape(len(x), -1) / 2.0 ** ints.out_exp).numpy()
    assert np.all(ref == np.round(ref))  # the twin's outputs lie on the integer grid
    got = rtl.simulate(ints, rtl.input_codes(twin, x.reshape(len(x), *net.input_shape)))
    assert np.array_equal(got, ref.astype(np.int64))


def test_ties_occur_and_half_up_would_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The requantisers see exact ties on real-looking data: rounding half up (da4ml's RND) would change outputs."""
    net = net_with_bn_stats("mlp_64_32_32", Q4)
    ints = rtl.lower(net.twin(0), net.input_shape)
    x = rtl.input_codes(net.twin(0), inputs(2000))
    even = rtl.simulate(ints, x)
    monkeypatch.setattr(rtl, "_shift_round", lambda acc, s: (acc + (1 << (s - 1))) >> s if s > 0 else acc << -s)
    assert (rtl.simulate(ints, x) != even).any()


def test_verilator_bit_exact_and_detects_a_wrong_design(tmp_path) -> None:
    net = net_with_bn_stats("jsc_tiny", Q4)
    twin, x = net.twin(0), inputs(1000)
    ints = rtl.lower(twin, net.input_shape)
    design = rtl.write_verilog(ints, tmp_path / "ok")
    assert design.latency_cycles == 3 and design.out_bits == 4 and not design.out_signed
    res = rtl.check(twin, net.input_shape, x, design, ints)
    assert res.bit_exact and res.mismatched_values == 0 and res.reference_mismatches == 0 and res.vectors == 1000
    # the same check must fail on a design with one bias off by one LSB
    mv = next(s for s in ints.stages if isinstance(s, rtl.MatVec))
    b = mv.b.copy()
    b[0] += 1
    wrong = replace(ints, stages=tuple(replace(s, b=b) if s is mv else s for s in ints.stages))
    bad = rtl.check(twin, net.input_shape, x, rtl.write_verilog(wrong, tmp_path / "bad"), ints)
    assert not bad.bit_exact and bad.mismatched_values > 0 and bad.max_abs_lsb == 1


@pytest.mark.slow
@pytest.mark.parametrize("arch,mult", [("mlp_64_32_32", "csd"), ("mlp_64_32_32", "dsp"), ("jsc_rs1923", "csd")])
def test_verilator_bit_exact_large(tmp_path, arch: str, mult: str) -> None:
    net = net_with_bn_stats(arch, QuantSpec())
    twin, x = net.twin(0), inputs(1000)
    ints = rtl.lower(twin, net.input_shape)
    res = rtl.check(twin, net.input_shape, x, rtl.write_verilog(ints, tmp_path, mult=mult), ints)
    assert res.bit_exact, res


def test_narrow_bias_is_clamped_like_brevitas() -> None:
    """bias_bits from the QuantSpec: a 6-bit bias saturates, in the twin and in the integer model alike."""
    net = net_with_bn_stats("mlp_64_32_32", QuantSpec(bias_bits=6))
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "bias") and m.bias is not None and m.bias.dim() == 2 and not hasattr(m, "running_var"):
                m.bias.mul_(20)
    twin, x = net.twin(0), inputs(500)
    ints = rtl.lower(twin, net.input_shape)
    assert max(int(abs(s.b).max()) for s in ints.stages if isinstance(s, rtl.MatVec)) == 32
    with torch.no_grad():
        ref = (twin(x) / 2.0 ** ints.out_exp).numpy()
    assert np.array_equal(rtl.simulate(ints, rtl.input_codes(twin, x)), ref.astype(np.int64))
