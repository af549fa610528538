"""Vendor report parsers on real Vivado HLS / Vivado output, and the vendor flow without the tools installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jsc_hw.hardware import vendor

REPORTS = Path(__file__).parents[1] / "data" / "reports" / "vivado_hls_2020.1"


def test_csynth_xml() -> None:
    f = vendor.parse_csynth_xml(REPORTS / "myproject_csynth.xml", "Vivado HLS")
    assert (f.tool, f.version, f.part, f.stage) == ("Vivado HLS", "2020.1", "xc7z020-clg400-1", "hls-estimate")
    assert (f.lut, f.ff, f.dsp, f.bram_18k) == (2532, 7969, 73, 0)
    assert (f.latency_min_cycles, f.latency_max_cycles, f.ii) == (10, 10, 8)
    assert f.target_clock_ns == 5.0 and f.clock_ns == pytest.approx(4.049)
    assert f.latency_ns == pytest.approx(40.49) and f.fmax_mhz == pytest.approx(246.97, abs=0.01)


def test_csynth_rpt_matches_xml() -> None:
    r = vendor.parse_csynth_rpt(REPORTS / "myproject_csynth.rpt")
    x = vendor.parse_csynth_xml(REPORTS / "myproject_csynth.xml", "Vivado HLS")
    assert r.tool == "Vivado HLS" and r.version == "2020.1"
    for k in ("part", "lut", "ff", "dsp", "bram_18k", "latency_min_cycles", "latency_max_cycles", "ii",
              "target_clock_ns", "clock_ns"):
        assert getattr(r, k) == getattr(x, k), k


def test_vivado_utilisation() -> None:
    f = vendor.parse_vivado_utilization(REPORTS / "vivado_synth.rpt")
    assert (f.tool, f.version, f.part, f.stage) == ("Vivado", "2020.1", "7z020clg400-1", "logic-synthesis")
    assert (f.lut, f.ff, f.dsp, f.bram_18k, f.carry) == (1526, 2428, 66, 0, 295)


def test_parsers_reject_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.rpt").write_text("nothing here\n")
    with pytest.raises(ValueError, match="not a Vivado utilisation report"):
        vendor.parse_vivado_utilization(tmp_path / "x.rpt")
    with pytest.raises(ValueError, match="not a Vivado/Vitis HLS"):
        vendor.parse_csynth_rpt(tmp_path / "x.rpt")


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
    figs = vendor.vendor_figures(hls_project(tmp_path))
    assert [f.stage for f in figs] == ["hls-estimate", "logic-synthesis"]
    assert [f.lut for f in figs] == [2532, 1526]


@pytest.mark.skipif(vendor.vendor_available("vivado") or vendor.vendor_available("vitis"),
                    reason="a vendor tool is installed: the missing-tool message cannot be observed")
def test_vendor_flow_without_the_tool_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--tool yosys"):
        vendor.run_vendor(hls_project(tmp_path), "vitis")
    with pytest.raises(FileNotFoundError, match="build_prj.tcl"):
        vendor.run_vendor(tmp_path, "vivado")


def test_vivado_utilisation_with_rows_missing(tmp_path: Path) -> None:
    """A report without the register and DSP rows (e.g. cut by hand): those figures are absent, not a crash."""
    text = (REPORTS / "vivado_synth.rpt").read_text().splitlines(keepends=True)
    kept = [ln for ln in text if not ln.startswith(("| Slice Registers", "| DSPs"))]
    assert len(kept) < len(text)
    (tmp_path / "cut.rpt").write_text("".join(kept))
    f = vendor.parse_vivado_utilization(tmp_path / "cut.rpt")
    assert (f.lut, f.ff, f.dsp, f.carry) == (1526, None, None, 295)
