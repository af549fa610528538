"""The hardware-aware search on a small synthetic dataset: reproducible from the spec and seed, resumable
(also after a trial was interrupted mid-training), sweep-format records, a true Pareto front."""

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

optuna = pytest.importorskip("optuna", reason="the search is an optional extra: pip install 'jsc-hw[search]'")

from jsc_hw.hardware import cost  # noqa: E402
from jsc_hw.cli import main  # noqa: E402
from jsc_hw.search import _sampler, open_study, run_search, search_from_dict, suggest, trial_config  # noqa: E402
from jsc_hw.train import load_checkpoint  # noqa: E402


def spec_dict(data: Path, sampler: str = "tpe") -> dict:
    return {"name": "s", "seed": 3, "sampler": sampler, "startup": 3, "trials": 6, "cost": "bops",
            "base": {"data": {"path": str(data)}, "model": {"arch": "mlp"},
                     "quant": {"weight_bits": 6, "act_bits": 6}, "train": {"epochs": 2, "batch_size": 128}},
            "space": {"hidden_layers": [1, 2], "widths": [4, 8, 16], "weight_bits": [3, 4, 6],
                      "act_bits": [3, 4, 6], "params": {"train.lr": {"low": 3e-3, "high": 3e-2, "log": True}}},
            "references": [{"name": "tiny", "model.arch": "jsc_tiny"}]}


def history(run_dir: Path) -> list[tuple]:
    """(params, values, per-epoch val acc) of every trial, in order; training time excluded."""
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{run_dir / 'study.db'}")
    out = []
    for t in study.trials:
        rec = json.loads((run_dir / "records" / f"t{t.number:04d}__r0.json").read_text())
        out.append((t.state.name, sorted(t.params.items()), tuple(t.values), tuple(rec["val_acc"])))
    return out


def test_search_is_reproducible_and_continues_like_an_uninterrupted_run(synthetic_npz, tmp_path, capsys):
    spec = search_from_dict(spec_dict(synthetic_npz))
    straight = run_search(spec, tmp_path / "straight")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec_dict(synthetic_npz)))
    out = tmp_path / "resumed"
    assert main(["search", str(spec_path), "--trials", "3", "--out", str(out)]) == 0
    assert len(history(out)) == 3
    # a search killed after asking for trial 3 but before training it: the rerun trains it with its parameters
    study = open_study(spec, out)
    study.sampler = _sampler(spec, 3)
    suggest(study.ask(), spec)
    assert main(["search", str(spec_path), "--out", str(out)]) == 0
    assert "| ref_tiny | jsc_tiny |" in capsys.readouterr().out
    a, b = history(straight), history(out)
    assert [h[0] for h in a] == ["COMPLETE"] * 6
    assert a == b  # same parameters, objectives and learning curves, trial by trial
    assert len({str(h[1]) for h in a}) == 6  # and the sampler did explore
    assert sorted(p.name for p in (out / "records").glob("*.json")) == sorted(
        p.name for p in (straight / "records").glob("*.json"))


def test_front_is_non_dominated_and_points_are_exportable_sweep_records(synthetic_npz, tmp_path):
    spec = search_from_dict(spec_dict(synthetic_npz, sampler="nsga2"))
    run_dir = run_search(spec, tmp_path / "run")
    study = open_study(spec, run_dir)
    trials = [t for t in study.trials if t.values]
    assert len(trials) == 6
    front = {t.number for t in study.best_trials}
    for t in trials:  # a trial is on the front exactly when no other trial is at least as good in both
        dominated = any(u.values[0] >= t.values[0] and u.values[1] <= t.values[1] and u.values != t.values
                        for u in trials)
        assert (t.number in front) == (not dominated)
    lines = [ln for ln in (run_dir / "front.md").read_text().splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + len(front) + 1  # header, front rows, the reference
    assert "ties favour g" in (run_dir / "front.md").read_text()
    for t in trials:
        rec = json.loads((run_dir / "records" / f"t{t.number:04d}__r0.json").read_text())
        assert {"trial", "repeat", "seed", "config", "val_acc", "val_loss", "val_acc_last_epoch",
                "train_acc_last_step", "seconds", "checkpoint"} <= set(rec)
        cfg = trial_config(spec, t.number, t.params)
        assert rec["cost"]["bops"] == cost.estimate(cfg).bops == t.values[1]
        assert rec["val_acc_last_epoch"] == t.values[0]
        assert len(cfg.quant.weight_bits_per_layer) == len(cfg.model.hidden) + 1
    # any point loads as a checkpoint whose Brevitas twin computes the trained network's outputs exactly
    best = max(trials, key=lambda t: t.values[0])
    ckpt = load_checkpoint(run_dir / "weights" / f"t{best.number:04d}__r0.pt")
    assert ckpt.config == trial_config(spec, best.number, best.params)
    x = torch.randn(256, 16) * 2
    assert torch.equal(ckpt.net.twin()(x), ckpt.net(x[:, None, :])[:, 0])
    assert (run_dir / "plots" / "pareto.png").stat().st_size > 10_000
    assert (run_dir / "results.csv").read_text().count("\n") == 6 + 1 + 1  # trials, reference, header


def test_spec_errors_name_the_key(synthetic_npz):
    good = spec_dict(synthetic_npz)
    for change, message in [({"samplr": "tpe"}, "samplr"), ({"sampler": "grid"}, "sampler"),
                            ({"cost": "watts"}, "cost"),
                            ({"base": {"model": {"arch": "jsc_tiny"}}}, "base.model.arch: mlp"),
                            ({"space": {"widths": [4], "depth": [1, 2]}}, "depth"),
                            ({"space": {"params": {"train.lr": {"low": 1e-3}}}}, "train.lr"),
                            ({"space": {"params": {"train.learning_rate": [0.1]}}}, "train.learning_rate"),
                            ({"space": {"params": {"train.batch_size": [0.5]}}}, "train.batch_size")]:
        with pytest.raises(ValueError, match=message):
            search_from_dict(good | change)


@pytest.mark.slow
@pytest.mark.requires("verilator", "yosys")
def test_lut_cost_comes_from_open_source_synthesis(synthetic_npz, tmp_path):
    raw = spec_dict(synthetic_npz) | {"cost": "lut", "trials": 2, "startup": 2, "references": []}
    raw["space"] = raw["space"] | {"hidden_layers": [1, 1], "widths": [2, 4]}
    spec = search_from_dict(raw)
    run_dir = run_search(spec, tmp_path / "run")
    study = open_study(spec, run_dir)
    for t in study.trials:
        synth = json.loads((run_dir / "synth" / f"t{t.number:04d}__r0" / "synth.json").read_text())
        luts = synth["figures"][0]["lut"]
        assert t.values[1] == luts > 10  # Yosys synth_xilinx LUT count of the trial's own Verilog
        assert synth["rtl_check"]["vectors"] == 200 and synth["rtl_check"]["bit_exact"]  # checked before it counts
    assert "| lut |" in (run_dir / "front.md").read_text().splitlines()[0]


def test_lut_model_cost_is_the_calibrated_prediction_without_synthesis(synthetic_npz, tmp_path):
    """cost: lut_model ranks trials by the LUT model's prediction for their own checkpoint; nothing is synthesised."""
    from jsc_hw.hardware import lut_model

    raw = spec_dict(synthetic_npz) | {"cost": "lut_model", "trials": 2, "startup": 2, "references": []}
    raw["space"] = raw["space"] | {"params": {"prune.sparsity": {"low": 0.0, "high": 0.8}}}
    spec = search_from_dict(raw)
    run_dir = run_search(spec, tmp_path / "run")
    model = lut_model.default_model()
    for t in open_study(spec, run_dir).trials:
        logic = lut_model.checkpoint_logic(run_dir / "weights" / f"t{t.number:04d}__r0.pt")
        assert t.values[1] == model.predict(logic) > 10 and "prune.sparsity" in t.params
    assert not (run_dir / "synth").exists()


@pytest.mark.requires("verilator", "yosys")
def test_confirm_front_synthesises_bit_exact_rtl_of_every_front_point(synthetic_npz, tmp_path, capsys):
    """jsc-hw search --confirm: each front point's repeat 0 through Verilator and Yosys, beside its predicted cost."""
    raw = spec_dict(synthetic_npz) | {"cost": "lut_model", "trials": 1, "startup": 1, "references": []}
    raw["space"] = raw["space"] | {"hidden_layers": [1, 1], "widths": [2]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    assert main(["search", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "run"), "--confirm",
                 "--vectors", "300"]) == 0
    run_dir = tmp_path / "run"
    synth = json.loads((run_dir / "synth" / "t0000__r0" / "synth.json").read_text())
    assert synth["rtl_check"]["vectors"] == 300 and synth["rtl_check"]["bit_exact"]
    (row,) = [ln for ln in (run_dir / "front_confirmed.md").read_text().splitlines() if ln.startswith("| t0000")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    (t,) = open_study(search_from_dict(raw), run_dir).trials
    lut = synth["figures"][0]["lut"]
    assert cells[-4:] == ["RTL bit-exact (300/300)", f"{lut:,}", f"{synth['figures'][0]['ff']:,}",
                          f"{lut / t.values[1]:.2f}"]
    assert float(cells[-7]) == pytest.approx(t.values[0], abs=1e-4) and 0.3 < float(cells[-6]) <= 1  # val, test
    assert "confirmed front" in capsys.readouterr().out


@pytest.mark.requires("verilator", "yosys")
def test_a_searched_fan_in_is_costed_by_the_truth_table_flow(synthetic_npz, tmp_path):
    """model.fan_in in the space: a LUT-native trial's LUTs are those of its truth-table Verilog (--rtl lut)."""
    raw = spec_dict(synthetic_npz) | {"cost": "lut", "trials": 1, "startup": 1, "references": []}
    raw["base"]["quant"] = {"weight_bits": 6, "act_bits": 2, "act_int_bits": 1, "input_bits": 3, "input_int_bits": 2}
    raw["space"] = {"hidden_layers": [1, 1], "widths": [8], "params": {"model.fan_in": [3]}}
    spec = search_from_dict(raw)
    run_dir = run_search(spec, tmp_path / "run")
    (t,) = open_study(spec, run_dir).trials
    assert t.params["model.fan_in"] == 3
    synth = json.loads((run_dir / "synth" / "t0000__r0" / "synth.json").read_text())
    assert synth["rtl"]["mult"] == "lut" and synth["rtl_check"]["bit_exact"]
    assert t.values[1] == synth["figures"][0]["lut"] and synth["figures"][0]["carry"] == 0  # tables, no adders


def test_bad_budgets_and_overrides_are_refused(synthetic_npz, tmp_path, caplog):
    from jsc_hw.search import with_overrides

    spec = search_from_dict(spec_dict(synthetic_npz))
    for change, message in [({"trials": 0}, "trials: must be at least 1, got 0"),
                            ({"repeats": 0}, "repeats: must be at least 1, got 0"),
                            ({"name": ".."}, "name: '..' is not usable")]:
        with pytest.raises(ValueError, match=message):
            search_from_dict(spec_dict(synthetic_npz) | change)
    with pytest.raises(ValueError, match="--set train.lr: the search sets this key itself"):
        with_overrides(spec, {"train.lr": 0.1})
    with pytest.raises(ValueError, match="--set model.hidden: the search sets"):
        with_overrides(spec, {"model.hidden": [4]})
    with pytest.raises(ValueError, match="--trials: must be at least 1, got 0"):
        run_search(spec, tmp_path / "run", trials=0)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec_dict(synthetic_npz)))
    for args, message in [(["--trials", "0"], "trials: must be at least 1, got 0"),
                          (["--repeats", "0"], "repeats: must be at least 1, got 0"),
                          (["--cost", "watts"], "--cost: 'watts' unknown")]:
        assert main(["search", str(spec_path), "--out", str(tmp_path / "r"), *args]) == 2
        assert message in caplog.text
    assert not (tmp_path / "r").exists() and not (tmp_path / "run").exists()


def test_opening_a_study_leaves_optunas_global_verbosity_alone(synthetic_npz, tmp_path):
    before = optuna.logging.get_verbosity()
    open_study(search_from_dict(spec_dict(synthetic_npz)), tmp_path)
    assert optuna.logging.get_verbosity() == before


def test_missing_optuna_names_the_extra(synthetic_npz, tmp_path, monkeypatch):
    spec = search_from_dict(spec_dict(synthetic_npz))
    monkeypatch.setitem(sys.modules, "optuna", None)  # what `import optuna` does where Optuna is not installed
    with pytest.raises(ValueError, match=r"pip install 'jsc-hw\[search\]'"):
        run_search(spec, tmp_path / "run")


@pytest.mark.slow
def test_search_killed_mid_run_resumes_like_an_uninterrupted_run(synthetic_npz, tmp_path):
    import os
    import signal
    import subprocess
    import time

    raw = spec_dict(synthetic_npz) | {"trials": 8}
    raw["base"]["train"]["epochs"] = 8
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "jsc_hw.cli", "search", str(spec_path), "--out", str(out)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(list((out / "records").glob("t*.json"))) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, "the search finished before it could be interrupted"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= len(list((out / "records").glob("t*.json"))) < 8
    subprocess.run(cmd, check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    straight = run_search(search_from_dict(raw), tmp_path / "straight")
    assert history(out) == history(straight)
    assert len(history(out)) == 8


@pytest.mark.requires("verilator")
def test_the_lut_objective_refuses_rtl_that_is_not_bit_exact(synthetic_npz, tmp_path, monkeypatch):
    """The LUT cost runs a short Verilator check first; with a wrong bias in the lowering, no LUT count comes out."""
    from conftest import biased_lowering
    from jsc_hw import search
    from jsc_hw.hardware import rtl, synth
    from jsc_hw.config import DataSpec, QuantSpec, TrainSpec, TrialConfig
    from jsc_hw.errors import NotBitExact
    from jsc_hw.jobs import Job, train_repeats, write_trained

    cfg = TrialConfig(name="t0000", data=DataSpec(path=str(synthetic_npz)), train=TrainSpec(epochs=1),
                      quant=QuantSpec(weight_bits=4, act_bits=4, input_bits=4))
    (rec,) = write_trained(tmp_path, train_repeats(Job(cfg, (0,))))
    real = rtl.lower
    monkeypatch.setattr(synth.rtl, "lower", biased_lowering(real))
    with pytest.raises(NotBitExact, match=r"t0000__r0: its RTL is RTL NOT bit-exact \(\d+/200\) against PyTorch"):
        search.COSTS["lut"](tmp_path, rec)
    assert not (tmp_path / "synth" / "t0000__r0" / "yosys_xc7").exists()


def test_a_saved_search_continues_after_a_config_field_was_added_but_a_changed_one_is_refused(synthetic_npz, tmp_path):
    """search.resolved.yaml is compared as a spec: a field jsc-hw added since (absent from the file) takes its
    default, so an older run folder continues; a spec that differs in a value is refused in one line."""
    from jsc_hw.errors import RunFolderError

    raw = spec_dict(synthetic_npz) | {"trials": 1, "startup": 1, "references": []}
    spec = search_from_dict(raw)
    run_dir = run_search(spec, tmp_path / "run")
    saved = yaml.safe_load((run_dir / "search.resolved.yaml").read_text())
    del saved["base"]["quant"]["act_rounding"], saved["base"]["prune"]["sparsity_per_layer"]  # as an older jsc-hw
    (run_dir / "search.resolved.yaml").write_text(yaml.safe_dump(saved))
    run_search(search_from_dict(raw | {"trials": 2}), run_dir)  # continues: 2 trials, the first one kept
    assert len(open_study(spec, run_dir).trials) == 2
    raw["base"]["train"]["epochs"] = 3
    with pytest.raises(RunFolderError, match="holds a different search"):
        run_search(search_from_dict(raw), run_dir)
