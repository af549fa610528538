"""Vendor report parsers on real Vivado HLS / Vivado output, and the open-source Yosys flow on small designs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from jsc_hw import rtl, synth
from jsc_hw.verilog import Design, write_verilog

REPORTS = Path(__file__).parent / "data" / "reports" / "vivado_hls_2020.1"


def test_csynth_xml() -> None:
    f = synth.parse_csynth_xml(REPORTS / "myproject_csynth.xml", "Vivado HLS")
    assert (f.tool, f.version, f.part, f.stage) == ("Vivado HLS", "2020.1", "xc7z020-clg400-1", "hls-estimate")
    assert (f.lut, f.ff, f.dsp, f.bram_18k) == (2532, 7969, 73, 0)
    assert (f.latency_min_cycles, f.latency_max_cycles, f.ii) == (10, 10, 8)
    assert f.target_clock_ns == 5.0 and f.clock_ns == pytest.approx(4.049)
    assert f.latency_ns == pytest.approx(40.49) and f.fmax_mhz == pytest.approx(246.97, abs=0.01)


def test_csynth_rpt_matches_xml() -> None:
    r = synth.parse_csynth_rpt(REPORTS / "myproject_csynth.rpt")
    x = synth.parse_csynth_xml(REPORTS / "myproject_csynth.xml", "Vivado HLS")
    assert r.tool == "Vivado HLS" and r.version == "2020.1"
    for k in ("part", "lut", "ff", "dsp", "bram_18k", "latency_min_cycles", "latency_max_cycles", "ii",
              "target_clock_ns", "clock_ns"):
        assert getattr(r, k) == getattr(x, k), k


def test_vivado_utilisation() -> None:
    f = synth.parse_vivado_utilization(REPORTS / "vivado_synth.rpt")
    assert (f.tool, f.version, f.part, f.stage) == ("Vivado", "2020.1", "7z020clg400-1", "logic-synthesis")
    assert (f.lut, f.ff, f.dsp, f.bram_18k, f.carry) == (1526, 2428, 66, 0, 295)


def test_parsers_reject_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.rpt").write_text("nothing here\n")
    with pytest.raises(ValueError, match="not a Vivado utilisation report"):
        synth.parse_vivado_utilization(tmp_path / "x.rpt")
    with pytest.raises(ValueError, match="not a Vivado/Vitis HLS"):
        synth.parse_csynth_rpt(tmp_path / "x.rpt")


def hls_project(tmp_path: Path) -> Path:
    """The layout hls4ml leaves after ``build(synth=True, vsynth=True)``."""
    rep = tmp_path / "proj" / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    shutil.copy(REPORTS / "myproject_csynth.xml", rep)
    shutil.copy(REPORTS / "myproject_csynth.rpt", rep)
    shutil.copy(REPORTS / "vivado_synth.rpt", tmp_path / "proj")
    (tmp_path / "proj" / "build_prj.tcl").write_text("# hls4ml build script\n")
    return tmp_path / "proj"


def test_vendor_figures_of_a_project(tmp_path: Path) -> None:
    figs = synth.vendor_figures(hls_project(tmp_path))
    assert [f.stage for f in figs] == ["hls-estimate", "logic-synthesis"]
    assert [f.lut for f in figs] == [2532, 1526]


@pytest.mark.skipif(synth.vendor_available("vivado") or synth.vendor_available("vitis"),
                    reason="a vendor tool is installed: the missing-tool message cannot be observed")
def test_vendor_flow_without_the_tool_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--tool yosys"):
        synth.run_vendor(hls_project(tmp_path), "vitis")
    with pytest.raises(FileNotFoundError, match="build_prj.tcl"):
        synth.run_vendor(tmp_path, "vivado")


def small_design(tmp_path: Path, w: np.ndarray | None = None, b: np.ndarray | None = None, name: str = "rtl") -> Design:
    """4 signed 4-bit inputs -> one output per row of w, ReLU-requantised to 4 bits: seconds in Yosys."""
    w = np.array([[3, -5, 7, 0], [-1, 2, 6, -7], [4, 4, -3, 1]]) if w is None else w
    net = rtl.IntNet(rtl.Fmt(4, True, -1), 4, (rtl.MatVec(w, np.array([5, -3, 0]) if b is None else b, -4),
                                                rtl.Requant(rtl.Fmt(4, False, -2))), -2, rtl.Fmt(4, False, -2))
    return write_verilog(net, tmp_path / name, mult="csd")


def test_yosys_xilinx_small(tmp_path: Path) -> None:
    d = small_design(tmp_path)
    f = synth.yosys_xilinx(d, tmp_path / "ys", "xc7", dsp=False, timeout=600)
    assert f.stage == "logic-synthesis" and f.part == "Xilinx xc7 (family)" and f.version.startswith("Yosys")
    assert f.ff == 4 * 4 + 3 * 4  # input and output registers, nothing else
    assert f.dsp == 0 and 10 <= f.lut <= 200 and f.latency_max_cycles == 2 and f.logic_depth > 0
    assert "3 distinct modules synthesised once each" in f.note
    flat = synth.yosys_xilinx(d, tmp_path / "flat", "xc7", dsp=False, timeout=600, flatten=True)
    assert flat.ff == f.ff and 0.7 * f.lut <= flat.lut <= f.lut and "flattened" in flat.note


def test_yosys_counts_every_instance_of_a_shared_module(tmp_path: Path) -> None:
    """Six equal neurons are one module synthesised once; the figures must still count six of them."""
    row = np.array([[3, -5, 7, 2]])
    one = synth.yosys_xilinx(small_design(tmp_path, row, np.array([-1]), "one"), tmp_path / "ys1", dsp=False,
                             timeout=600)
    d6 = small_design(tmp_path, np.repeat(row, 6, 0), np.full(6, -1), "six")
    six = synth.yosys_xilinx(d6, tmp_path / "ys6", dsp=False, timeout=600)
    assert (d6.modules, d6.instances) == (1, 6)
    assert six.ff == 16 + 6 * 4 and one.ff == 16 + 4
    assert six.lut == 6 * one.lut and six.carry == 6 * one.carry


@pytest.mark.slow
def test_nextpnr_ecp5_small(tmp_path: Path) -> None:
    f = synth.nextpnr_ecp5(small_design(tmp_path), tmp_path / "pnr", timeout=1200)
    assert f.stage == "place-and-route" and f.ff == 28 and f.lut > 0 and f.fmax_mhz > 50


@pytest.mark.slow
def test_cli_synth_end_to_end(tmp_path: Path, synthetic_npz: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Train JSC-Tiny (4 bits) briefly, then `jsc-hw synth ckpt`: Verilator-checked RTL + Yosys figures."""
    import json

    from jsc_hw.cli import main
    from jsc_hw.config import DataSpec, QuantSpec, TrainSpec, TrialConfig
    from jsc_hw.data import load_splits
    from jsc_hw.train import fit, save_checkpoint

    cfg = TrialConfig(name="tiny4", data=DataSpec(path=str(synthetic_npz)), train=TrainSpec(epochs=2),
                      quant=QuantSpec(weight_bits=4, act_bits=4, input_bits=4))
    splits = load_splits(cfg.data)
    net, res = fit(cfg, splits, [0])
    ckpt = save_checkpoint(tmp_path / "tiny4.pt", cfg, net, 0, splits.scaler, {"val_acc_last_epoch": res[0].val_acc[-1]})
    assert main(["synth", str(ckpt), "--tool", "yosys", "--vectors", "300", "--out", str(tmp_path / "s")]) == 0
    blob = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert blob["rtl_check"]["bit_exact"] and blob["rtl_check"]["vectors"] == 300
    assert blob["model"]["bops"] == 2240 and blob["figures"][0]["stage"] == "logic-synthesis"
    assert "bit-exact" in capsys.readouterr().out
