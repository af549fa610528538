"""Brevitas -> QONNX -> cleaned QONNX, the fixed-point check, and ``jsc-hw export --fpga`` end to end."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import synthetic_jets, write_npz
from jsc_hw import export, report
from jsc_hw.cli import main
from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, TrainSpec, TrialConfig
from jsc_hw.data import load_splits
from jsc_hw.nets import BatchedNet
from jsc_hw.train import fit, save_checkpoint

pytestmark = pytest.mark.requires("export")


def test_channels_last_terminates_on_conv1d_residual_and_keeps_the_function(tmp_path):
    """qonnx's own pass spins forever on Conv1d + residual Add; ours must end, bounded, with no Transpose left,
    and the cleaned graph must still compute the Brevitas outputs exactly (qonnx's executor)."""
    from qonnx.core.onnx_exec import execute_onnx

    net = BatchedNet("jsc_rs1923", QuantSpec(), [3]).eval()
    twin = net.twin()
    path = export.to_qonnx(twin, net.input_shape, tmp_path / "rs.onnx")
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(model=export.clean(path)), daemon=True)
    start = time.perf_counter()
    worker.start()
    worker.join(timeout=120)
    assert "model" in done, "channels-last conversion did not finish within 120 s"
    model = done["model"]
    log_s = time.perf_counter() - start
    ops = [n.op_type for n in model.graph.node]
    assert "Transpose" not in ops and ops.count("Conv") == 4 and "MatMul" in ops and "Gemm" not in ops, ops
    assert log_s < 60
    x = (np.random.default_rng(0).normal(0, 1.5, (24, 16))).astype(np.float32)
    ref = export.forward(twin, x, net.input_shape)
    x_cl = export.channels_last(x, net.input_shape)
    assert x_cl.shape == (24, 16, 1)
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    got = np.concatenate([execute_onnx(model, {name_in: x_cl[i:i + 1]})[name_out] for i in range(len(x))])
    np.testing.assert_array_equal(got.reshape(len(x), -1), ref)


def test_quant_formats_are_the_configured_fixed_point_types(tmp_path):
    q = QuantSpec(weight_bits=6, act_bits=5, act_int_bits=2, input_bits=7, input_int_bits=4, bias_bits=12)
    net = BatchedNet("jsc_tiny", q, [0])
    model = export.clean(export.to_qonnx(net.twin(), net.input_shape, tmp_path / "t.onnx"))
    formats = export.quant_formats(model)
    assert export.input_format(model, formats).ap_type == "fixed<7,4,RND_CONV,SAT>"
    types = sorted(f.ap_type for f in formats.values())
    assert types.count("ufixed<5,2,RND_CONV,SAT>") == 2  # the two ReLUs
    weight = next(f for f in formats.values() if f.narrow)
    w = net.layers[3].weight.detach().abs().max().item()  # scale 2**ceil(log2(max|w| / 2**(bits-1)))
    assert (weight.bits, weight.int_bits) == (6, 6 + int(np.ceil(np.log2(w / 32))))  # LSB 2**(int - bits) = scale
    assert any(f.bits == 12 and f.signed and not f.narrow for f in formats.values())  # the bias


def test_float_scale_quantisers_are_refused_with_an_explanation(tmp_path):
    import brevitas.nn as qnn  # default quantisers: float scales

    model = nn.Sequential(qnn.QuantIdentity(return_quant_tensor=True), qnn.QuantLinear(16, 5, bias=False))
    model.train()
    with torch.no_grad():  # let the runtime statistics settle on a non-power-of-two scale
        for _ in range(5):
            model(torch.randn(64, 16) * 1.7)
    cleaned = export.clean(export.to_qonnx(model.eval(), (16,), tmp_path / "f.onnx"))
    with pytest.raises(export.ExportError, match="not one power of two.*--requantise"):
        export.quant_formats(cleaned)


def test_float_model_is_refused_and_can_be_requantised(tmp_path):
    cfg = TrialConfig(model=ModelSpec(arch="jsc_tiny"), quant=QuantSpec(enabled=False, weight_bits=6))
    net = BatchedNet("jsc_tiny", cfg.quant, [0]).eval()
    model = export.clean(export.to_qonnx(net.twin(), net.input_shape, tmp_path / "float.onnx"))
    with pytest.raises(export.ExportError, match="no quantisers.*--requantise"):
        export.quant_formats(model)
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
    a = export.reverify(prj)
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
    from jsc_hw.cli.export import held_out_rows
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
