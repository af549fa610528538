import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from jsc_hw import kernels
from jsc_hw.cli import main
from jsc_hw.config import sweep_from_dict
from jsc_hw.errors import JscHwError
from jsc_hw.runfolder import SCHEMA, read_records, read_synth
from jsc_hw.sweep import pending_jobs, run_sweep
from conftest import record_files, sweep_spec_dict


def test_sweep_writes_records_table_and_plots_and_reruns_train_nothing(synthetic_npz, tmp_path):
    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz))
    run_dir = run_sweep(spec, tmp_path / "run", workers=2)
    records = read_records(run_dir)
    assert sorted((r.trial, r.repeat) for r in records) == [(t, k) for t in "abc" for k in (0, 1)]
    assert {r.seed for r in records} == {0, 1}
    for r in records:
        assert len(r.val_acc) == 2 and 0.2 < r.val_acc_last_epoch <= 1 and (run_dir / r.checkpoint).is_file()
        assert r.cost["params"] == 117 and r.schema == SCHEMA
        assert r.versions["torch"] and r.versions["brevitas"] and r.versions["jsc-hw"] and "git" in r.versions
        assert r.versions["training kernels"] == ("native" if kernels.library() is not None else "torch")
        assert r.config == next(t for t in spec.trials if t.name == r.trial)
    a0 = [r for r in records if r.trial == "a" and r.repeat == 0][0]
    assert a0.val_acc_last_epoch > 0.5
    table = (run_dir / "results.md").read_text()
    assert "| a |" in table and "val_acc_last_epoch_mean" in table
    assert (run_dir / "results.csv").read_text().count("\n") == 4
    assert (run_dir / "plots" / "val_acc_vs_batch_size.png").stat().st_size > 5000
    assert (run_dir / "spec.resolved.yaml").is_file()
    before = record_files(run_dir)
    assert pending_jobs(spec, run_dir) == []
    run_sweep(spec, run_dir, workers=2)
    assert record_files(run_dir) == before


def test_cli_rejects_a_bad_spec_naming_the_key(tmp_path, caplog):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": {"train": {"learning_rate": 0.1}}}))
    assert main(["sweep", str(bad)]) == 2
    assert "base.train.learning_rate" in caplog.text
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in caplog.text


@pytest.mark.requires("verilator", "yosys")
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
        assert "1.57x" in blob["figures"][0]["estimate_of"] and blob["schema"] == SCHEMA
    rows = {r["trial"]: r for r in csv.DictReader((run_dir / "results.csv").open())}
    for trial in "ab":
        blob = json.loads((run_dir / "synth" / f"{trial}__r0" / "synth.json").read_text())
        assert int(rows[trial]["lut_yosys"]) == blob["figures"][0]["lut"] > 50
        # + the BatchNorm tables' registers
        assert int(rows[trial]["ff_yosys"]) == blob["figures"][0]["ff"] > 16 * 4 + 5 * 4
        assert rows[trial]["rtl_check"] == "RTL bit-exact (450/450)"  # the whole test split of 3,000 rows
    assert (run_dir / "plots" / "val_acc_vs_lut_yosys.png").stat().st_size > 5000
    assert "6,796 LUT where Vivado reports 4,337" in (run_dir / "results.md").read_text()


@pytest.mark.requires("verilator")
def test_cli_synth_all_checks_every_repeat_of_a_run(synthetic_npz, tmp_path):
    """`jsc-hw synth RUN --all --check-only`: Verilog + Verilator check of every trial x repeat, no Yosys."""
    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=2)
    raw["base"]["quant"] = {"weight_bits": 4, "act_bits": 4, "input_bits": 4, "act_int_bits": 2}
    raw["trials"] = raw["trials"][:1]
    run_dir = run_sweep(sweep_from_dict(raw), tmp_path / "run", workers=1)
    assert main(["synth", str(run_dir), "--tool", "yosys", "--all", "--check-only", "--vectors", "100"]) == 0
    assert sorted(p.name for p in (run_dir / "synth").iterdir()) == ["a__r0", "a__r1"]
    for rec in ("a__r0", "a__r1"):
        blob = read_synth(run_dir / "synth" / rec / "synth.json")
        assert blob.rtl_check["bit_exact"] and blob.rtl_check["vectors"] == 100 and blob.figures == ()
        assert blob.checkpoint == str(run_dir / "weights" / f"{rec}.pt") and blob.verdict.bit_exact


# ---- bad input: refused in the driver, before anything is written ---------------------------------------------
def test_set_name_or_a_varied_key_is_refused(synthetic_npz):
    from jsc_hw.sweep import with_overrides

    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz))
    with pytest.raises(ValueError, match="--set name: trial names come from the spec"):
        with_overrides(spec, {"name": "x"})
    with pytest.raises(ValueError, match="--set train.batch_size: the spec varies this key"):
        with_overrides(spec, {"train.batch_size": 32})
    grid = sweep_from_dict({"base": {"data": {"path": str(synthetic_npz)}},
                            "grid": {"quant.weight_bits,quant.act_bits": [4, 8]}})
    with pytest.raises(ValueError, match="--set quant.act_bits: the spec varies"):  # a tied key is varied too
        with_overrides(grid, {"quant.act_bits": 6})
    with pytest.raises(ValueError, match="--repeats: must be at least 1, got 0"):
        with_overrides(spec, {}, repeats=0)
    assert with_overrides(spec, {"train.epochs": 1}).trials[1].train.batch_size == 128


@pytest.mark.parametrize("change, message", [
    ({"model.arch": "jsc_tinny"}, "trial b: unknown model.arch 'jsc_tinny'"),
    ({"data.path": "/nonexistent/jets.npz"}, "trial b: /nonexistent/jets.npz: no such file or folder"),
    ({"model.hidden": [8]}, "trial b: model.hidden, model.fan_in and model.tau apply to archs 'mlp' and 'dwn' only"),
    ({"data.max_rows": 22, "data.val_fraction": 0.01}, "trial b: 22 rows are too few"),
])
def test_a_typo_fails_in_the_driver_and_leaves_nothing_behind(synthetic_npz, tmp_path, change, message):
    """What used to fail inside a worker left a spec.resolved.yaml that blocked the corrected rerun."""
    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=1)
    raw["trials"][1].update(change)
    with pytest.raises(JscHwError, match=message):
        run_sweep(sweep_from_dict(raw), tmp_path / "run", workers=1)
    assert not (tmp_path / "run").exists()


def test_a_folder_without_resolved_spec_compares_each_records_config(synthetic_npz, tmp_path):
    from dataclasses import replace

    from jsc_hw.runfolder import Record, write_record
    from jsc_hw.sweep import prepare_run

    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz))
    old = replace(spec.trials[2], train=replace(spec.trials[2].train, lr=0.5))  # trained before with another lr
    write_record(tmp_path, Record(trial="c", repeat=0, seed=0, config=old, val_acc=(0.5,), val_loss=(1.0,),
                                  val_acc_last_epoch=0.5, train_acc_last_step=0.5, seconds=1.0, cost={},
                                  checkpoint="weights/c__r0.pt"))
    assert not (tmp_path / "spec.resolved.yaml").exists()
    with pytest.raises(ValueError, match=r"c__r0.json holds results of a different config \(train.lr: 0.5 there, "
                                         r"0.001 in the spec\); choose another --out"):
        prepare_run(spec, tmp_path)
    assert not (tmp_path / "spec.resolved.yaml").exists()


def test_a_record_without_its_weights_is_retrained(synthetic_npz, tmp_path):
    """So `rerun the sweep` (the advice when a checkpoint is missing) really retrains it."""
    from jsc_hw.runfolder import Record, write_record

    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz, repeats=1))
    for t in spec.trials:
        write_record(tmp_path, Record(trial=t.name, repeat=0, seed=0, config=t, val_acc=(0.5,), val_loss=(1.0,),
                                      val_acc_last_epoch=0.5, train_acc_last_step=0.5, seconds=1.0, cost={},
                                      checkpoint=f"weights/{t.name}__r0.pt"))
        if t.name != "b":
            (tmp_path / "weights").mkdir(exist_ok=True)
            (tmp_path / "weights" / f"{t.name}__r0.pt").write_bytes(b"x")
    assert [(j.trial.name, j.repeats) for j in pending_jobs(spec, tmp_path)] == [("b", (0,))]


def test_out_pointing_at_a_file_is_one_line(synthetic_npz, tmp_path, caplog):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(sweep_spec_dict(synthetic_npz, epochs=1, repeats=1)))
    (tmp_path / "afile").write_text("x")
    assert main(["sweep", str(spec_path), "--out", str(tmp_path / "afile")]) == 2
    assert "afile is a file, not a folder" in caplog.text
    assert main(["sweep", str(spec_path), "--out", str(tmp_path / "afile" / "run")]) == 2
    assert main(["sweep", str(spec_path), "--set", "train.lr=[1", "--out", str(tmp_path / "r")]) == 2
    assert "--set train.lr=[1: invalid YAML" in caplog.text
    assert main(["sweep", str(spec_path), "--repeats", "0", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def test_drop_invalid_works_for_sweeps_and_progress_is_one_line_off_a_terminal(tmp_path, caplog, capsys):
    from conftest import synthetic_jets, write_npz

    x, y = synthetic_jets(n_per_class=120)
    x[[3, 50, 51], 2] = float("nan")
    data = write_npz(tmp_path / "nan.npz", x, y)
    raw = sweep_spec_dict(data, epochs=1, repeats=1)
    raw["trials"] = raw["trials"][:1]
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    assert main(["sweep", str(spec_path), "--out", str(out)]) == 2
    assert "3 rows hold NaN/inf values" in caplog.text and "set data.drop_invalid: true" in caplog.text
    assert not out.exists()
    caplog.clear()
    caplog.set_level(logging.INFO)
    assert main(["sweep", str(spec_path), "--out", str(out), "--set", "data.drop_invalid=true", "--workers", "1"]) == 0
    assert "dropping 3 rows with NaN/inf values" in caplog.text
    (rec,) = read_records(out)
    assert rec.config.data.drop_invalid
    assert "sweep run: trials 1/1 (100 %), epochs 1/1 (100 %), " in caplog.text  # stderr is not a terminal here
    assert "\r" not in capsys.readouterr().err  # no tqdm bar redrawn into a log


def test_a_trial_whose_training_fails_writes_no_record_and_is_named_in_one_line(synthetic_npz, tmp_path):
    """Trial b fails inside its worker (its data file is gone: the driver's check is bypassed here); a still
    trains and is written, b writes nothing, and the error names b."""
    from jsc_hw.errors import TrainingError
    from jsc_hw.local_executor import run_local

    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=2)
    raw["trials"] = [{"name": "a"}, {"name": "b", "data.path": str(tmp_path / "gone.npz")}]
    spec = sweep_from_dict(raw)
    with pytest.raises(TrainingError, match=r"1 trial\(s\) failed and have no records: b: .*gone.npz: no such file"):
        run_local(pending_jobs(spec, tmp_path), tmp_path, workers=2)
    assert sorted(record_files(tmp_path)) == ["a__r0.json", "a__r1.json"]
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["a__r0.pt", "a__r1.pt"]


# ---- Ctrl-C, SIGTERM, kill -9 ---------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    """Worker processes of ``pid`` (spawned multiprocessing children, not its resource tracker)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _as_from_a_terminal() -> None:
    """The driver starts as a shell starts it: SIGINT/SIGTERM at their defaults and not blocked, whatever signal
    state earlier tests left in this pytest process (a sweep started from an ignoring parent would ignore Ctrl-C)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _start_sweep(synthetic_npz, tmp_path) -> tuple[subprocess.Popen, Path, list[str]]:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(sweep_spec_dict(synthetic_npz, epochs=40)))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "jsc_hw.cli", "sweep", str(spec_path), "--out", str(run_dir), "--workers", "2"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_as_from_a_terminal)
    deadline = time.monotonic() + 240
    while not (list((run_dir / "records").glob("*.json")) and len(_children(proc.pid)) == 2):
        assert proc.poll() is None, "the sweep finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return proc, run_dir, cmd


def _only_complete_records(run_dir: Path, killed: bool = False) -> dict[str, bytes]:
    """Every record parses (none half-written) and has its weights; no temporary file is left, except after a
    SIGKILL (``killed``), which can land between a worker's write of a temporary file and its rename."""
    records = read_records(run_dir)
    assert all((run_dir / r.checkpoint).is_file() for r in records)
    assert killed or not list(run_dir.rglob(".*.tmp"))
    return record_files(run_dir)


@pytest.mark.parametrize("how", ["ctrl-c", pytest.param("sigterm", marks=pytest.mark.slow)])
def test_ctrl_c_or_sigterm_stops_the_sweep_and_its_workers_within_seconds(synthetic_npz, tmp_path, how):
    proc, run_dir, cmd = _start_sweep(synthetic_npz, tmp_path)
    workers = _children(proc.pid)
    t0 = time.monotonic()
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends: the driver and every worker
    else:
        proc.send_signal(signal.SIGTERM)  # the driver only
    err = proc.communicate(timeout=30)[1].decode()
    stopped = time.monotonic() - t0
    assert proc.returncode == 130 and stopped < 10, (proc.returncode, stopped, err[-2000:])
    assert "Traceback" not in err and "interrupted: finished work is kept" in err
    time.sleep(0.5)
    assert not [w for w in workers if _alive(w)]  # queued trials never started, running ones ended
    survived = _only_complete_records(run_dir)
    assert 2 <= len(survived) < 6
    time.sleep(3)
    assert record_files(run_dir) == survived  # nothing kept training and writing


def test_workers_die_with_a_killed_driver_and_the_rerun_resumes(synthetic_npz, tmp_path):
    """kill -9 of the driver alone (its workers are not signalled): no orphan keeps training and writing records;
    the same command then trains exactly what is missing (none lost, finished work not redone)."""
    proc, run_dir, cmd = _start_sweep(synthetic_npz, tmp_path)
    workers = _children(proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while [w for w in workers if _alive(w)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if _alive(w)]
    survived = _only_complete_records(run_dir, killed=True)
    time.sleep(3)
    assert record_files(run_dir) == survived
    subprocess.run(cmd, check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert len(record_files(run_dir)) == 6 and all(record_files(run_dir)[k] == v for k, v in survived.items())
    assert not list(run_dir.rglob(".*.tmp"))  # the rerun removed what the killed workers left
