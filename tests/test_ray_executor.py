"""The Ray executor against a real local Ray instance (no mocks): a sweep whose driver is killed midway resumes
without losing or repeating a trial-repeat (default run, ~50 s), and the driver writes exactly what local
training computes (slow)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from jsc_hw.config import sweep_from_dict
from jsc_hw.jobs import Job, train_repeats
from jsc_hw.runfolder import read_records
from jsc_hw.sweep import pending_jobs, run_sweep
from conftest import record_files, sweep_spec_dict

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'jsc-hw[ray]'")

# a private, unauthenticated instance on this machine only; nothing is written to ~/.ray
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.mark.slow
def test_ray_sweep_records_and_weights_equal_in_process_training(synthetic_npz, tmp_path, monkeypatch):
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz, epochs=2))
    run_dir = run_sweep(spec, tmp_path / "run", workers=2, executor="ray")
    assert not ray.is_initialized()  # the instance this sweep started is shut down
    records = {(r.trial, r.repeat): r for r in read_records(run_dir)}
    assert sorted(records) == [(t, k) for t in "abc" for k in (0, 1)]
    assert pending_jobs(spec, run_dir) == []
    assert not list(run_dir.rglob(".*.tmp"))
    # the driver wrote exactly what a local worker computes: same curves, byte-identical checkpoints
    for trained in train_repeats(Job(spec.trials[0], (0, 1))):
        got = records[("a", trained.record.repeat)].to_json()
        expected = json.loads(json.dumps(trained.record.to_json()))
        assert {k: v for k, v in got.items() if k != "seconds"} == {k: v for k, v in expected.items() if k != "seconds"}
        assert (run_dir / got["checkpoint"]).read_bytes() == trained.checkpoint
    assert 0.5 < records[("a", 0)].val_acc_last_epoch <= 1


def test_address_is_rejected_for_the_local_executor(synthetic_npz, tmp_path):
    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz, epochs=1, repeats=1))
    with pytest.raises(ValueError, match="--executor ray"):
        run_sweep(spec, tmp_path / "run", executor="local", address="127.0.0.1:6379")


def test_missing_ray_names_the_extra(synthetic_npz, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does where Ray is not installed
    spec = sweep_from_dict(sweep_spec_dict(synthetic_npz, epochs=1, repeats=1))
    with pytest.raises(ValueError, match=r"pip install 'jsc-hw\[ray\]'"):
        run_sweep(spec, tmp_path / "run", executor="ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path_factory):
    """`ray start --head --block` with 2 CPUs in its own process group; killed (whole group) afterwards."""
    port = _free_port()
    temp = Path(os.path.realpath("/tmp")) / f"jsc-ray-{os.getpid()}-{port}"  # short: Ray's socket paths
    env = {**os.environ, **RAY_ENV}
    log = tmp_path_factory.mktemp("ray") / "head.log"
    cmd = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--port", str(port),
           "--num-cpus", "2", "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
           "--temp-dir", str(temp), "--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
    with log.open("w") as out:
        head = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", env
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        time.sleep(3)
        try:
            os.killpg(head.pid, signal.SIGKILL)  # gcs_server and raylet ignore the first signal for a while
        except ProcessLookupError:
            pass
        head.wait()
        subprocess.run(["rm", "-rf", str(temp)], check=False, timeout=60)


def test_killed_ray_sweep_resumes_without_losing_or_repeating(synthetic_npz, tmp_path, ray_head):
    address, env = ray_head
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(sweep_spec_dict(synthetic_npz, epochs=25)))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "jsc_hw.cli", "sweep", str(spec_path), "--out", str(run_dir),
           "--executor", "ray", "--address", address, "--workers", "2"]
    driver = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(list((run_dir / "records").glob("*.json"))) < 2 and time.monotonic() < deadline:
        assert driver.poll() is None, "the sweep finished before it could be interrupted"
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver, mid-run; its Ray tasks die with its job
    driver.wait()
    survived = record_files(run_dir)
    assert 2 <= len(survived) < 6
    assert not list((run_dir / "records").glob(".*tmp"))  # no half-written record
    assert all((run_dir / json.loads(v)["checkpoint"]).is_file() for v in survived.values())
    subprocess.run(cmd, env=env, check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = record_files(run_dir)
    assert sorted(after) == sorted(f"{t}__r{k}.json" for t in "abc" for k in (0, 1))  # none lost, none duplicated
    assert all(after[name] == content for name, content in survived.items())  # finished work was not redone
    assert (run_dir / "results.csv").read_text().count("\n") == 4


@pytest.mark.slow
def test_ray_data_generation_equals_local_generation(tmp_path, monkeypatch):
    pytest.importorskip("pythia8mc", reason="jet generation needs the data extra: pip install 'jsc-hw[data]'")
    import numpy as np

    from jsc_hw.jetgen.generate import GenSettings, generate

    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    s = GenSettings(seed=5, chunk_jets=1)
    remote = generate(5, tmp_path / "ray", s, workers=2, executor="ray")
    local = generate(5, tmp_path / "local", s, workers=1)
    assert not ray.is_initialized()
    with np.load(remote) as a, np.load(local) as b:
        assert a["features"].shape == (5, 16)
        np.testing.assert_array_equal(a["features"], b["features"])  # chunk seeds, not the executor, decide
        assert a["label"].tolist() == b["label"].tolist() == [0, 1, 2, 3, 4]
    assert not list((tmp_path / "ray" / "chunks").glob(".*"))


def test_a_ray_trial_that_fails_is_named_in_one_line_and_the_others_are_written(synthetic_npz, tmp_path,
                                                                               monkeypatch):
    """Trial b raises inside its Ray task (its data file is gone: the driver's check is bypassed); a is written,
    b writes nothing, and the error is the task's own line, not Ray's wrapped traceback."""
    from jsc_hw.errors import TrainingError
    from jsc_hw.ray_executor import run_ray

    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=1)
    raw["trials"] = [{"name": "a"}, {"name": "b", "data.path": str(tmp_path / "gone.npz")}]
    spec = sweep_from_dict(raw)
    with pytest.raises(TrainingError) as caught:
        run_ray(pending_jobs(spec, tmp_path), tmp_path, workers=2)
    message = str(caught.value)
    assert message.startswith("1 trial(s) failed and have no records: b: ") and "gone.npz: no such file" in message
    assert "\n" not in message and "RayTaskError" not in message and "Traceback" not in message
    assert sorted(record_files(tmp_path)) == ["a__r0.json"]
    assert not ray.is_initialized()
