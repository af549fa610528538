"""The alkaid flow: jsc-hw's integer network traced into alkaid and its adder-graph Verilog, wrapped in jsc-hw's
ports, bit-exact in alkaid's emulation and in Verilator; a wrong network is caught; synth records say who wrote
the RTL."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import Q4, biased_lowering, inputs, net_with_bn_stats
from test_verilog import two_layer_net

from jsc_hw.errors import ConfigError
from jsc_hw.hardware import rtl, verilator

pytest.importorskip("alkaid", reason="the alkaid flow needs alkaid (pip install 'jsc-hw[alkaid]')")
from jsc_hw.hardware import alkaid_rtl  # noqa: E402

ALL_CODES = np.stack(np.meshgrid(*[np.arange(-8, 8)] * 4, indexing="ij"), -1).reshape(-1, 4)


def test_formats_map_to_alkaid_kif() -> None:
    from jsc_hw.fixed import FixedFormat

    assert alkaid_rtl.kif(FixedFormat(8, True, -5)) == (1, 2, 5)  # fixed<8,3>: sign, 2 integer, 5 fraction bits
    assert alkaid_rtl.kif(FixedFormat(4, False, -2)) == (0, 2, 2)  # ufixed<4,2>


def test_every_input_code_of_a_small_net_in_alkaid_emulation() -> None:
    """The traced logic equals the integer network on all 65,536 inputs (raw signed accumulator outputs, an
    unsigned alkaid output widened into the signed code, a half-to-even requantiser)."""
    net = two_layer_net()
    comb = alkaid_rtl.trace(net)
    assert np.array_equal(alkaid_rtl.simulate(comb, net, ALL_CODES), rtl.simulate(net, ALL_CODES))


@pytest.mark.requires("verilator")
def test_every_input_code_of_a_small_net_in_verilator(tmp_path) -> None:
    net = two_layer_net()
    design = alkaid_rtl.write_verilog(net, tmp_path)
    assert design.mult == "alkaid" and design.latency_cycles == 2 and design.out_signed
    assert np.array_equal(verilator.verilate(design, ALL_CODES), rtl.simulate(net, ALL_CODES))


@pytest.mark.requires("verilator")
def test_jsc_tiny_tables_are_exact_and_a_wrong_network_is_caught(tmp_path) -> None:
    bn = net_with_bn_stats("jsc_tiny", Q4)
    twin, x = bn.twin(0), inputs(1000)
    ints = rtl.lower(twin, bn.input_shape)
    assert any(isinstance(s, rtl.Table) for s in ints.stages)
    res = verilator.check(twin, bn.input_shape, x, alkaid_rtl.write_verilog(ints, tmp_path / "ok"), ints)
    assert res.bit_exact and res.vectors == 1000 and res.reference_mismatches == 0
    wrong = biased_lowering(rtl.lower)(twin, bn.input_shape)
    bad = verilator.check(twin, bn.input_shape, x, alkaid_rtl.write_verilog(wrong, tmp_path / "bad"), ints)
    assert not bad.bit_exact and bad.mismatched_vectors > 0


def test_the_flow_is_chosen_from_a_table_and_bad_choices_are_one_line() -> None:
    from jsc_hw.hardware import synth

    assert sorted(synth.RTL_FLOWS) == ["alkaid", "jsc-hw", "lut"]
    with pytest.raises(ConfigError, match="--rtl 'vivado'"):
        synth.check_rtl_flow("vivado")
    with pytest.raises(ConfigError, match="drop --dsp"):
        synth.open_source(two_layer_net(), "/nonexistent", None, dsp=True, rtl_flow="alkaid")


@pytest.mark.slow
@pytest.mark.requires("verilator")
def test_synth_of_a_checkpoint_with_the_alkaid_flow(tmp_path) -> None:
    """jsc-hw synth --rtl alkaid on a trained JSC-Tiny: checked, synthesised, and named as alkaid's RTL."""
    from dataclasses import replace

    from jsc_hw.cli import main
    from jsc_hw.config import DataSpec, TrainSpec, TrialConfig
    from jsc_hw.data import load_splits
    from jsc_hw.train import fit, save_checkpoint

    cfg = TrialConfig(data=DataSpec(max_rows=3000), quant=Q4, train=TrainSpec(epochs=1))
    splits = load_splits(cfg.data)
    net, _ = fit(cfg, splits, [0])
    ckpt = save_checkpoint(tmp_path / "tiny.pt", replace(cfg, name="tiny"), net, 0, splits.scaler, {})
    assert main(["synth", str(ckpt), "--tool", "yosys", "--rtl", "alkaid", "--vectors", "450",
                 "--out", str(tmp_path / "s")]) == 0
    rec = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert rec["rtl"]["mult"] == "alkaid" and rec["rtl_check"]["bit_exact"] and rec["rtl_check"]["vectors"] == 450
    fig = rec["figures"][0]
    assert fig["tool"].endswith("alkaid RTL") and "alkaid 0.8.2" in fig["note"] and fig["lut"] > 0
