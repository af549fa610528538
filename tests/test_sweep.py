import csv
import json
import os
import signal
import subprocess
import sys
import time

import yaml

from jsc_hw.cli import main
from jsc_hw.config import sweep_from_dict
from jsc_hw.sweep import load_records, pending_jobs, run_sweep
from conftest import record_files, sweep_spec_dict


def test_sweep_writes_records_table_and_plots_and_reruns_train_nothing(synthetic_npz, tmp_path):
    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz))
    run_dir = run_sweep(spec, tmp_path / "run", workers=2)
    records = load_records(run_dir)
    assert sorted((r["trial"], r["repeat"]) for r in records) == [(t, k) for t in "abc" for k in (0, 1)]
    assert {r["seed"] for r in records} == {0, 1}
    for r in records:
        assert len(r["val_acc"]) == 2 and 0.2 < r["val_acc_last_epoch"] <= 1 and (run_dir / r["checkpoint"]).is_file()
        assert r["cost"]["params"] == 117
    a0 = [r for r in records if r["trial"] == "a" and r["repeat"] == 0][0]
    assert a0["val_acc_last_epoch"] > 0.5
    table = (run_dir / "results.md").read_text()
    assert "| a |" in table and "val_acc_last_epoch_mean" in table
    assert (run_dir / "results.csv").read_text().count("\n") == 4
    assert (run_dir / "plots" / "val_acc_vs_batch_size.png").stat().st_size > 5000
    assert (run_dir / "spec.resolved.yaml").is_file()
    before = record_files(run_dir)
    assert pending_jobs(spec, run_dir) == []
    run_sweep(spec, run_dir, workers=2)
    assert record_files(run_dir) == before


def test_killed_sweep_resumes_without_losing_or_repeating(synthetic_npz, tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(sweep_spec_dict(synthetic_npz, epochs=25)))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "jsc_hw.cli", "sweep", str(spec_path), "--out", str(run_dir), "--workers", "1"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(list((run_dir / "records").glob("*.json"))) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep finished before it could be interrupted"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # driver and its worker processes, mid-run
    proc.wait()
    survived = record_files(run_dir)
    assert 2 <= len(survived) < 6
    assert not list((run_dir / "records").glob(".*tmp"))  # no half-written record
    subprocess.run(cmd, check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = record_files(run_dir)
    assert sorted(after) == sorted(f"{t}__r{k}.json" for t in "abc" for k in (0, 1))  # none lost, none duplicated
    assert all(after[name] == content for name, content in survived.items())  # finished work was not redone
    assert len({(json.loads(v)["trial"], json.loads(v)["repeat"]) for v in after.values()}) == 6


def test_cli_rejects_a_bad_spec_naming_the_key(tmp_path, caplog):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": {"train": {"learning_rate": 0.1}}}))
    assert main(["sweep", str(bad)]) == 2
    assert "base.train.learning_rate" in caplog.text
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in caplog.text


def test_sweep_with_synth_adds_luts_to_the_table_and_a_cost_plot(synthetic_npz, tmp_path):
    """Two 4-bit JSC-Tiny trials (4-bit inputs: small tables), synthesised by Yosys after training."""
    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=2)
    raw["base"]["quant"] = {"weight_bits": 4, "act_bits": 4, "input_bits": 4, "act_int_bits": 2}
    raw["trials"] = raw["trials"][:2]
    run_dir = run_sweep(sweep_from_dict(raw), tmp_path / "run", workers=1, synth=True)
    assert sorted(p.name for p in (run_dir / "synth").iterdir()) == ["a__r0", "b__r0"]  # one repeat per trial
    for trial in "ab":
        blob = json.loads((run_dir / "synth" / f"{trial}__r0" / "synth.json").read_text())
        assert blob["rtl_check"]["bit_exact"] and blob["figures"][0]["stage"] == "logic-synthesis"
    rows = {r["trial"]: r for r in csv.DictReader((run_dir / "results.csv").open())}
    for trial in "ab":
        blob = json.loads((run_dir / "synth" / f"{trial}__r0" / "synth.json").read_text())
        assert int(rows[trial]["lut_yosys"]) == blob["figures"][0]["lut"] > 50
        assert int(rows[trial]["ff_yosys"]) == blob["figures"][0]["ff"] > 16 * 4 + 5 * 4  # + the BatchNorm tables' registers
    assert (run_dir / "plots" / "val_acc_vs_lut_yosys.png").stat().st_size > 5000


def test_cli_synth_all_checks_every_repeat_of_a_run(synthetic_npz, tmp_path):
    """`jsc-hw synth RUN --all --check-only`: Verilog + Verilator check of every trial x repeat, no Yosys."""
    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=2)
    raw["base"]["quant"] = {"weight_bits": 4, "act_bits": 4, "input_bits": 4, "act_int_bits": 2}
    raw["trials"] = raw["trials"][:1]
    run_dir = run_sweep(sweep_from_dict(raw), tmp_path / "run", workers=1)
    assert main(["synth", str(run_dir), "--tool", "yosys", "--all", "--check-only", "--vectors", "100"]) == 0
    assert sorted(p.name for p in (run_dir / "synth").iterdir()) == ["a__r0", "a__r1"]
    for rec in ("a__r0", "a__r1"):
        blob = json.loads((run_dir / "synth" / rec / "synth.json").read_text())
        assert blob["rtl_check"]["bit_exact"] and blob["rtl_check"]["vectors"] == 100 and blob["figures"] == []
        assert blob["checkpoint"] == str(run_dir / "weights" / f"{rec}.pt")
