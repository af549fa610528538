"""Brevitas -> QONNX -> cleaned QONNX, the fixed-point check, and ``jsc-hw export --fpga`` end to end."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from conftest import synthetic_jets, write_npz
from jsc_hw import export, ingest
from jsc_hw.hardware import report
from jsc_hw.cli import main
from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, TrainSpec, TrialConfig
from jsc_hw.data import load_splits
from jsc_hw.nets import BatchedNet
from jsc_hw.train import fit, save_checkpoint

pytestmark = pytest.mark.requires("export")


def test_float_model_is_refused_and_can_be_requantised(tmp_path):
    cfg = TrialConfig(model=ModelSpec(arch="jsc_tiny"), quant=QuantSpec(enabled=False, weight_bits=6))
    net = BatchedNet("jsc_tiny", cfg.quant, [0]).eval()
    with pytest.raises(ingest.Refusal, match="no quantisers.*--requantise"):
        ingest.prepare(export.to_qonnx(net.twin(), net.input_shape, tmp_path / "float.onnx"))
    cfg_q, net_q = export.requantise(cfg, net)
    assert cfg_q.quant.enabled and cfg_q.quant.weight_bits == 6
    for (k, a), (_, b) in zip(net.state_dict().items(), net_q.state_dict().items()):
        assert torch.equal(a, b), k
    x = np.random.default_rng(1).normal(0, 1, (200, 16)).astype(np.float32)
    batched = net_q(torch.from_numpy(x)[:, None, :]).detach().double().numpy()[:, 0]
    np.testing.assert_array_equal(export.forward(net_q.twin(), x, net_q.input_shape), batched)


# ---- the command line: run folder -> best trial -> project -> verification; and a check that can fail ---------
ROWS = 2000


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A two-trial run folder (1 vs 6 epochs of JSC-Tiny, 8 bits), exported with the CLI."""
    root = tmp_path_factory.mktemp("cli")
    x, y = synthetic_jets(n_per_class=2000, seed=5)
    data = DataSpec(path=str(write_npz(root / "jets.npz", x, y)), test_fraction=0.25)
    run = root / "runs" / "demo"
    for name, epochs in (("short", 1), ("long", 6)):
        cfg = TrialConfig(name=name, data=data, train=TrainSpec(epochs=epochs, lr=3e-3))
        splits = load_splits(data)
        net, results = fit(cfg, splits, [0])
        rel = f"weights/{name}__r0.pt"
        save_checkpoint(run / rel, cfg, net, 0, splits.scaler, {"val_acc_last_epoch": results[0].val_acc[-1]})
        (run / "records").mkdir(parents=True, exist_ok=True)
        (run / "records" / f"{name}__r0.json").write_text(json.dumps({
            "trial": name, "repeat": 0, "seed": 0, "val_acc": list(results[0].val_acc),
            "val_loss": list(results[0].val_loss), "val_acc_last_epoch": results[0].val_acc[-1],
            "train_acc_last_step": results[0].train_acc_last_step, "checkpoint": rel,
            "config": dataclasses.asdict(cfg), "seconds": results[0].seconds, "cost": {}}))
    out = root / "prj"
    assert main(["export", "--fpga", str(run), "--out", str(out), "--rows", str(ROWS),
                 "--save-model", str(root / "models" / "demo")]) == 0
    return out, root / "models" / "demo"


def test_cli_exports_the_best_trial_bit_exact(exported):
    out, model_dir = exported
    report = json.loads((out / "verification.json").read_text())
    assert report["bit_exact"] and report["rows_checked"] == ROWS and report["rows_bit_exact"] == ROWS
    assert report["argmax_agreement"] == 1.0 and report["acc_pytorch"] == report["acc_csim"] > 0.5
    assert "long" in report["source"] and report["backend"] == "vitis" and report["clock_ns"] == 5.0
    assert report["batchnorm"]["proven_exact"] and report["batchnorm"]["values_checked"] == 16 * 256
    assert report["reference"] == "pytorch" and report["agreements"]["qonnx"]["rows_bit_exact"] == ROWS
    assert report["origin"] == "jsc-hw" and report["input_type"] == "fixed<8,3,RND_CONV,SAT>"
    for name in ("model.qonnx.onnx", "README.md", "VERIFICATION.md", "build_prj.tcl", "tb_data/tb_input_features.dat"):
        assert (out / name).is_file(), name
    assert "vitis-run" in (out / "README.md").read_text()
    assert np.loadtxt(out / "tb_data" / "tb_input_features.dat").shape == (ROWS, 16)
    for name in ("checkpoint.pt", "config.yaml", "model.qonnx.onnx", "verification.json", "MODEL_CARD.md"):
        assert (model_dir / name).is_file(), name
    assert f"{ROWS}/{ROWS} rows bit-exact" in (model_dir / "MODEL_CARD.md").read_text()


def test_a_project_knows_its_model_for_the_report_and_the_open_source_flow(exported, capsys):
    """verification.json names the checkpoint, bit widths and cost; `jsc-hw synth PROJECT --tool yosys` finds the
    model there, and `jsc-hw report PROJECT` fills the bit widths, parameters and BOPs."""
    out, _ = exported
    ver = json.loads((out / "verification.json").read_text())
    assert ver["checkpoint"].endswith("weights/long__r0.pt") and (ver["weight_bits"], ver["act_bits"]) == (8, 8)
    assert (ver["params"], ver["bops"]) == (117, 6720)
    assert main(["synth", str(out), "--tool", "yosys", "--check-only", "--vectors", "200"]) == 0
    blob = json.loads((out / "synth" / "synth.json").read_text())
    assert blob["checkpoint"] == ver["checkpoint"] and blob["rtl_check"]["bit_exact"] and blob["figures"] == []
    assert "bit-exact" in capsys.readouterr().out
    row = next(r for r in report.table(report.collect([out])) if r["model"] == out.name)
    assert (row["bits w/a/in"], row["params"], row["BOPs"], row["acc C-sim"]) == ("8/8/8", 117, 6720, ver["acc_csim"])


def test_a_perturbed_weight_is_reported_as_a_mismatch(exported, tmp_path):
    prj = tmp_path / "perturbed"
    shutil.copytree(exported[0], prj)
    weights = next((prj / "firmware" / "weights").glob("w*.txt"))  # the Linear's weights (C-sim reads these)
    w = np.array(weights.read_text().split(","), dtype=float)
    w[np.argmax(np.abs(w))] *= -1  # one weight, sign flipped
    weights.write_text(", ".join(f"{v:.8f}" for v in w))
    v = export.reverify(prj)
    a = v.agreements["pytorch"]
    assert not v.bit_exact and v.agreements["qonnx"] == a
    assert a.rows_checked == ROWS and 0 < a.rows_bit_exact < ROWS and a.max_diff_lsb >= 1
    report = json.loads((prj / "verification.json").read_text())
    assert report["bit_exact"] is False and report["reverified"] is True
    assert "MISMATCH" in (prj / "VERIFICATION.md").read_text()


# ---- models/: the shipped models are what their cards say ------------------------------------------------------
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
SHIPPED = sorted(p.parent.name for p in MODELS_DIR.glob("*/checkpoint.pt"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_its_card(name):
    """Checkpoint + embedded dataset reproduce the recorded PyTorch test accuracy exactly (no compile here)."""
    from jsc_hw.model_export import held_out_rows
    from jsc_hw.train import load_checkpoint

    folder = MODELS_DIR / name
    ckpt = load_checkpoint(folder / "checkpoint.pt")
    report = json.loads((folder / "verification.json").read_text())
    assert report["bit_exact"] and report["rows_bit_exact"] == report["rows_checked"]
    x, y, source = held_out_rows(ckpt, None)  # raises if the embedded dataset changed: rerun python models/build.py
    assert source == report["data"] and len(y) == report["rows_checked"]
    acc = float((export.forward(ckpt.net.twin(), x, ckpt.net.input_shape).argmax(1) == y).mean())
    assert acc == report["acc_pytorch"]
    assert (folder / "MODEL_CARD.md").read_text().count(f"{len(y)}/{len(y)} rows bit-exact") == 1


@pytest.mark.slow
def test_shipped_model_exports_bit_exact_from_a_fresh_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(MODELS_DIR.parent)
    assert main(["export", "--fpga", "jsc_rs1923_w8a8", "--io", "stream", "--out", str(tmp_path / "p")]) == 0
    card = json.loads((MODELS_DIR / "jsc_rs1923_w8a8" / "verification.json").read_text())
    report = json.loads((tmp_path / "p" / "verification.json").read_text())
    assert report["rows_bit_exact"] == report["rows_checked"] == card["rows_checked"]
    assert report["acc_csim"] == card["acc_pytorch"]


# ---- bring your own model: QONNX files in the layouts users bring, and Brevitas modules -----------------------
def _flip_largest_weight(prj: Path) -> None:
    weights = max((prj / "firmware" / "weights").glob("w*.txt"), key=lambda p: p.stat().st_size)
    w = np.array(weights.read_text().split(","), dtype=float)
    w[np.argmax(np.abs(w))] *= -1  # one weight, sign flipped
    weights.write_text(", ".join(f"{v:.8f}" for v in w))


def _qkeras_file(path: Path, widths: tuple[int, ...], bits: int, seed: int = 0) -> Path:
    from qonnx_graphs import qkeras_mlp, quantized_bits, quantized_relu, random_layers

    onnx.save(qkeras_mlp(random_layers(widths, seed), kernel=quantized_bits(bits, 0), bias=quantized_bits(bits, 0),
                         act=quantized_relu(bits, 0)), str(path))
    return path


@pytest.mark.parametrize("bits", [6, pytest.param(4, marks=pytest.mark.slow)])
def test_cli_exports_a_qkeras_style_qonnx_file_bit_exact_and_catches_a_perturbed_weight(bits, tmp_path, capsys):
    """MatMul + Add + Relu with Quant nodes on kernels, biases and activations, no input quantiser, a final Softmax:
    checked on the embedded JSC test split against the QONNX executor, logits before the softmax, every bit."""
    model = _qkeras_file(tmp_path / f"qk{bits}.onnx", (16, 24, 12, 5), bits)
    out = tmp_path / "prj"
    assert main(["export", "--fpga", str(model), "--rows", "1500", "--out", str(out)]) == 0
    ver = json.loads((out / "verification.json").read_text())
    assert ver["bit_exact"] and ver["reference"] == "qonnx" and list(ver["agreements"]) == ["qonnx"]
    assert (ver["rows_checked"], ver["rows_bit_exact"], ver["max_diff_lsb"], ver["argmax_agreement"]) == (1500, 1500, 0,
                                                                                                         1.0)
    assert ver["acc_pytorch"] == ver["acc_csim"] is not None and "embedded" in ver["data"]
    assert ver["input_type"] == "fixed<16,6,TRN,WRAP>" and "no input quantiser" in ver["input_source"]
    assert ver["softmax_removed"] == "Softmax_0" and "verified are the logits before it" in ver["notes"][0]
    assert (ver["weight_bits"], ver["act_bits"], ver["input_bits"], ver["params"]) == (bits, bits, 16, 16 * 24 + 24 * 12
                                                                                      + 12 * 5 + 24 + 12 + 5)
    assert (out / "model.input.onnx").is_file() and (out / "testset_qonnx_outputs.npy").is_file()
    assert "verified are the logits before it" in (out / "VERIFICATION.md").read_text()
    assert "BIT-EXACT" in capsys.readouterr().out
    if bits == 6:  # the same project through the open-source flow (QONNX graph -> RTL -> Verilator) and the report
        assert main(["synth", str(out), "--tool", "yosys", "--check-only", "--vectors", "400"]) == 0
        blob = json.loads((out / "synth" / "synth.json").read_text())
        assert blob["rtl_check"]["bit_exact"] and blob["rtl_check"]["vectors"] == 400 and blob["figures"] == []
        assert "QONNX executor" in blob["rtl_check"]["inputs"]
        assert blob["model"]["origin"] == f"QONNX file qk{bits}.onnx"
        assert "RTL vs the QONNX executor" in capsys.readouterr().out
        rows = report.table(report.collect([out]))
        assert {r["origin"] for r in rows} == {f"QONNX file qk{bits}.onnx"}
        assert {r["bits w/a/in"] for r in rows} == {"6/6/16"} and {r["acc C-sim"] for r in rows} == {ver["acc_csim"]}
    prj = tmp_path / "perturbed"
    shutil.copytree(out, prj)
    _flip_largest_weight(prj)
    assert main(["export", "--fpga", str(prj), "--reverify"]) == 3
    ver = json.loads((prj / "verification.json").read_text())
    assert ver["bit_exact"] is False and 0 < ver["rows_bit_exact"] < 1500 and ver["max_diff_lsb"] >= 1


def test_cli_refuses_in_one_line_and_writes_nothing(tmp_path, caplog):
    from qonnx_graphs import Q, qkeras_mlp, random_layers

    bad = tmp_path / "float_scale.onnx"
    onnx.save(qkeras_mlp(random_layers((16, 8, 5)), kernel=Q(0.04, 6, 1, "HALF_EVEN")), str(bad))
    assert main(["export", "--fpga", str(bad), "--out", str(tmp_path / "prj")]) == 2
    (msg,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "\n" not in msg and "is not a power of two" in msg and "Use power-of-two scales" in msg
    assert not (tmp_path / "prj").exists()
    assert main(["export", "--fpga", str(_qkeras_file(tmp_path / "ok.onnx", (16, 8, 5), 6)),
                 "--input-format", "fixed<16,6"]) == 2  # a malformed type is a user error too
    assert "is not a fixed-point type" in caplog.records[-1].getMessage()


def _brevitas_mlp(bits: int = 6, conv: bool = False) -> nn.Module:
    """A Brevitas model as a user's own training code builds it (not jsc-hw's layer table): power-of-two quantisers
    (the jsc_hw.quant recipes), a QuantIdentity input, optionally a Conv1d front end."""
    import brevitas.nn as qnn

    from jsc_hw import quant

    w, b = quant.brevitas_weight_quant(bits), quant.brevitas_bias_quant(16)
    act = quant.brevitas_act_quant(bits, 2, signed=False)
    layers: list[nn.Module] = [qnn.QuantIdentity(**quant.brevitas_act_quant(8, 3, signed=True),
                                                 return_quant_tensor=True)]
    if conv:
        layers += [qnn.QuantConv1d(1, 4, 3, padding=1, **w, **b, return_quant_tensor=True),
                   qnn.QuantReLU(**act, return_quant_tensor=True), nn.Flatten()]
        n = 4 * 16
    else:
        n = 16
    layers += [qnn.QuantLinear(n, 20, **w, **b, return_quant_tensor=True),
               qnn.QuantReLU(**act, return_quant_tensor=True), qnn.QuantLinear(20, 5, **w, **b)]
    torch.manual_seed(0)
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (qnn.QuantLinear, qnn.QuantConv1d)):
                m.weight.normal_(0, 0.6), m.bias.normal_(0, 0.3)
    return model.eval()


@pytest.mark.parametrize("conv", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["mlp", "conv1d"])
def test_python_api_exports_a_brevitas_module_bit_exact_against_pytorch_and_qonnx(conv, tmp_path):
    import jsc_hw

    model = _brevitas_mlp(conv=conv)
    x = np.random.default_rng(2).normal(0, 1.5, (800, 1, 16) if conv else (800, 16)).astype(np.float32)
    result = jsc_hw.export_fpga(model, x, out_dir=tmp_path / "prj")
    v = result.verification
    assert result.bit_exact and set(v.agreements) == {"pytorch", "qonnx"}
    for a in v.agreements.values():
        assert (a.rows_checked, a.rows_bit_exact, a.max_abs_diff) == (800, 800, 0.0)
    assert len(np.unique(np.load(tmp_path / "prj" / "testset_pytorch_outputs.npy"))) > 20  # not a saturated model
    ver = json.loads((tmp_path / "prj" / "verification.json").read_text())
    assert ver["origin"] == "Brevitas module" and ver["reference"] == "pytorch" and ver["input_type"].startswith(
        "fixed<8,3,RND_CONV")
    if conv:
        assert "Conv1D" in json.dumps(ver["layer_types"]) or "conv" in json.dumps(ver["layer_types"]).lower()


@pytest.mark.slow
def test_headline_qkeras_mlp_64_32_32_w6_exports_and_its_rtl_checks_on_every_test_row(tmp_path, capsys):
    """16 inputs, 64-32-32 hidden, 6-bit Quant nodes on kernels, biases and activations, a Softmax output, no input
    quantiser: the whole embedded test split bit-exact in C-simulation (logits before the softmax), the RTL bit-exact
    in Verilator against the QONNX executor, and a report row beside jsc-hw's own models (Yosys figures of this
    model: docs/hardware.md, measured with the same commands)."""
    model = _qkeras_file(tmp_path / "qkeras_mlp.onnx", (16, 64, 32, 32, 5), 6, seed=1)
    out = tmp_path / "prj"
    assert main(["export", "--fpga", str(model), "--out", str(out)]) == 0
    ver = json.loads((out / "verification.json").read_text())
    assert ver["rows_checked"] == ver["rows_bit_exact"] == 16500 and ver["argmax_agreement"] == 1.0
    assert ver["softmax_removed"] and ver["input_type"] == "fixed<16,6,TRN,WRAP>"
    assert main(["synth", str(out), "--tool", "yosys", "--check-only", "--vectors", "16500"]) == 0
    blob = json.loads((out / "synth" / "synth.json").read_text())
    assert blob["rtl_check"]["bit_exact"] and blob["rtl_check"]["vectors"] == 16500
    rows = report.table(report.collect([out / "synth", MODELS_DIR]))
    assert {r["origin"] for r in rows} >= {"jsc-hw", "QONNX file qkeras_mlp.onnx"}
    assert "RTL vs the QONNX executor" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--rows", "0"], ["--rows", "-5"], ["--clock-ns", "nan"], ["--clock-ns", "inf"],
                                  ["--clock-ns", "-1"], ["--reuse", "0"]])
def test_bad_export_options_are_refused_in_one_line_before_anything_is_written(args, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(MODELS_DIR.parent)
    out = tmp_path / "prj"
    assert main(["export", "--fpga", "jsc_tiny_w4a4", "--out", str(out), *args]) == 2
    (msg,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "\n" not in msg and args[0] in msg
    assert not out.exists()


def test_negative_synth_vectors_are_refused(tmp_path, caplog):
    assert main(["synth", str(MODELS_DIR / "jsc_tiny_w4a4"), "--tool", "yosys", "--vectors", "-5",
                 "--out", str(tmp_path / "s")]) == 2
    msg = caplog.records[-1].getMessage()
    assert "--vectors: 0 (no check) or more rows, got -5" in msg and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_a_failed_batchnorm_proof_fails_the_export(tmp_path, monkeypatch):
    """Every row may agree, yet a BatchNorm value that differs for one input code makes the export NOT bit-exact."""
    from conftest import inputs, net_with_bn_stats

    from jsc_hw import hls

    net = net_with_bn_stats("jsc_tiny", QuantSpec())
    real = hls.trace

    def one_code_off(hm, x):  # the compiled project's BatchNorm output for one (feature, code) pair, 1 LSB off
        traced = real(hm, x)
        for t in traced.values():
            t[7, 3] += 2.0 ** -5
        return traced

    monkeypatch.setattr(hls, "trace", one_code_off)
    result = export.export_fpga(net.twin(0), inputs(300).numpy(), None, tmp_path / "prj", input_shape=net.input_shape)
    assert all(a.bit_exact for a in result.verification.agreements.values())
    assert result.batchnorm["values_exact"] == result.batchnorm["values_checked"] - 1 == 16 * 256 - 1
    assert not result.bit_exact
    assert json.loads((tmp_path / "prj" / "verification.json").read_text())["bit_exact"] is False
    assert "NOT exact" in (tmp_path / "prj" / "VERIFICATION.md").read_text()


def test_the_batchnorm_proof_checks_its_precondition(tmp_path):
    """The proof enumerates input codes, which covers every BatchNorm input only when the BatchNorm reads the input
    quantiser: a graph where it does not is an error, not a proof."""
    from dataclasses import replace

    net = BatchedNet("jsc_tiny", QuantSpec(), [0]).eval()
    g = ingest.prepare(export.to_qonnx(net.twin(), net.input_shape, tmp_path / "t.onnx"))
    assert export._bn_probe(g, g.model)[1].startswith("Quant")
    with pytest.raises(export.ExportError, match="must read the graph input or its input quantiser"):
        export._bn_probe(replace(g, input_quantiser=None), g.model)


def test_rows_a_qonnx_model_is_checked_on(tmp_path, synthetic_npz):
    """A JSC-shaped model (16 -> 5) on the JSC test split (the given dataset and scaler); any other on seeded rows on
    its input grid; --data for a model that is not a JSC model is refused."""
    from qonnx_graphs import qkeras_mlp, random_layers

    from jsc_hw.cli.export import qonnx_rows
    from jsc_hw.data import held_out_split

    jsc = ingest.prepare(qkeras_mlp(random_layers((16, 8, 5))))
    x, y, source = qonnx_rows(jsc, str(synthetic_npz), None, 100)
    split, _ = held_out_split(DataSpec(path=str(synthetic_npz)))
    assert np.array_equal(x, split.x[:100]) and np.array_equal(y, split.y[:100]) and "training split" in source
    np.savez(tmp_path / "s.npz", mean=np.zeros(16), std=np.full(16, 4.0))
    x4, _, source = qonnx_rows(jsc, str(synthetic_npz), tmp_path / "s.npz", 100)
    assert not np.allclose(x4, x) and "given scaler" in source
    other = ingest.prepare(qkeras_mlp(random_layers((10, 8, 3))))
    x, y, source = qonnx_rows(other, None, None, 50)
    assert x.shape == (50, 10) and y is None and np.array_equal(x, other.input.quantise(x)) and "seeded" in source
    with pytest.raises(ValueError, match="not the 16 JSC features and 5 classes"):
        qonnx_rows(other, str(synthetic_npz), None, 50)


@pytest.mark.requires("verilator")
def test_a_truncating_mlp_is_bit_exact_in_csim_and_rtl_and_its_rtl_has_no_rounding_adders(tmp_path):
    """quant.act_rounding: floor -> Brevitas FLOOR quantisers -> QONNX Quant(rounding_mode=FLOOR) -> hls4ml AP_TRN,
    C-simulated bit for bit; the RTL's requantisers are plain shifts (no rounding adder), checked in Verilator."""
    from jsc_hw.hardware import rtl, verilator
    from jsc_hw.hardware.verilog import write_verilog

    x, y = synthetic_jets(n_per_class=1500, seed=8)
    data = DataSpec(path=str(write_npz(tmp_path / "jets.npz", x, y)), test_fraction=0.25)
    cfgs = {r: TrialConfig(name=r, data=data, model=ModelSpec(arch="mlp", hidden=(16, 8)),
                           quant=QuantSpec(weight_bits=5, act_bits=4, act_int_bits=2, act_rounding=r),
                           train=TrainSpec(epochs=3, lr=5e-3)) for r in ("round", "floor")}
    splits = load_splits(data)
    net, _ = fit(cfgs["floor"], splits, [0])
    twin = net.twin(0).eval()
    rows = splits.test.x[:600]
    result = export.export_fpga(twin, rows, out_dir=tmp_path / "prj")
    assert result.bit_exact and result.verification.agreements["qonnx"].rows_bit_exact == 600
    graph = onnx.load(tmp_path / "prj" / "model.qonnx.onnx").graph
    modes = {a.s.decode() for n in graph.node if n.op_type == "Quant" for a in n.attribute if a.name == "rounding_mode"}
    assert "FLOOR" in modes  # the activations truncate (the input quantiser rounds)
    ints = rtl.lower(twin, net.input_shape)
    design = write_verilog(ints, tmp_path / "rtl")
    assert verilator.check(twin, net.input_shape, torch.from_numpy(rows), design, ints).bit_exact
    assert "$signed({1'b0, u" not in (tmp_path / "rtl" / "jsc_net.v").read_text()  # no round-half-to-even adder
    # the same network rounding half to even has one rounding adder per requantised neuron
    rounding = BatchedNet(cfgs["round"].model, cfgs["round"].quant, [0]).twin(0).eval()
    design = write_verilog(rtl.lower(rounding, net.input_shape), tmp_path / "rtl_round")
    text = (design.folder / "jsc_net.v").read_text()
    assert text.count("$signed({1'b0, u") == 16 + 8
