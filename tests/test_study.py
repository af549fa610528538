"""``jsc-hw study``: sweep -> best trial per model group -> hls4ml export and C-simulation (bit-exact gate) ->
Verilog, Verilator, Yosys -> report, in one command, and a rerun that redoes nothing."""

import json

import pytest
import yaml

from jsc_hw.cli import main
from jsc_hw.config import sweep_from_dict
from jsc_hw.runfolder import read_records, read_synth
from jsc_hw.study import StudyOptions, groups, run_study
from conftest import sweep_spec_dict

pytestmark = pytest.mark.requires("export", "verilator", "yosys")


def _spec(data) -> dict:
    raw = sweep_spec_dict(data, epochs=1, repeats=2)
    raw["base"]["quant"] = {"weight_bits": 4, "act_bits": 4, "act_int_bits": 2}
    raw["trials"] = [{"name": "a"}, {"name": "b", "train.lr": 3e-3},
                     {"name": "c8", "quant.weight_bits": 8, "quant.act_bits": 8, "quant.act_int_bits": 3}]
    return raw


def test_a_study_ends_in_the_accuracy_x_hardware_table_and_resumes_without_redoing(synthetic_npz, tmp_path):
    spec, out = sweep_from_dict(_spec(synthetic_npz)), tmp_path / "study"
    opt = StudyOptions(rows=400, vectors=300)
    rows = run_study(spec, out, opt, workers=1)
    assert groups(out, opt.group_by) == {"jsc_tiny_w4a4": {"a", "b"}, "jsc_tiny_w8a8": {"c8"}}
    assert [r.group for r in rows] == ["jsc_tiny_w4a4", "jsc_tiny_w8a8"]
    recs = read_records(out)
    means = {t: sum(r.val_acc_last_epoch for r in recs if r.trial == t) / 2 for t in "ab"}
    assert rows[0].choice.trial == max(sorted(means), key=means.get)  # chosen on validation accuracy
    for r in rows:
        assert r.csim["bit_exact"] and r.csim["rows_checked"] == r.csim["rows_bit_exact"] == 400
        rec = read_synth(r.synth)
        assert rec.rtl_check["bit_exact"] and rec.rtl_check["vectors"] == 300
        assert rec.model.acc_csim == r.csim["acc_csim"]  # the hardware row carries the C-simulated accuracy
        (xil,) = [f for f in rec.figures if f.part.startswith("Xilinx")]
        assert xil.lut > 50 and xil.latency_max_cycles == 3
    table = (out / "study.md").read_text()
    assert table.count("\n") == 4 and "400/400" in table and "bit-exact, 300 rows" in table
    assert {p.name for p in (out / "report").iterdir()} >= {"report.md", "report.csv", "report.html", "pareto.png"}
    assert json.loads((out / "study.json").read_text())["options"]["rows"] == 400
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".json", ".pt") and "report" not in
              p.parts}
    rerun = run_study(spec, out, opt, workers=1)
    assert [r.choice for r in rerun] == [r.choice for r in rows]
    changed = sorted(str(p.relative_to(out)) for p, t in stamps.items() if p.stat().st_mtime_ns != t)
    assert changed == ["study.json"]  # nothing trained, exported or synthesised again


def test_the_study_command_refuses_bad_options_before_training(synthetic_npz, tmp_path, caplog):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_spec(synthetic_npz)))
    for argv, said in ((["--family", "bogus"], "--family 'bogus'"), (["--rows", "0"], "--rows 0"),
                       (["--metric", "nope"], "--metric nope")):
        assert main(["study", str(path), "--out", str(tmp_path / "o"), *argv]) == 2
        assert said in caplog.records[-1].getMessage()
    assert not (tmp_path / "o").exists()


def test_the_table_says_why_a_group_has_no_hardware_figures(tmp_path):
    """RTL that is not bit-exact is not synthesised, and the table says that, not the size limit."""
    from jsc_hw.select import Choice
    from jsc_hw.study import StudyRow, markdown

    model = {"name": "g", "arch": "mlp_64_32_32", "weight_bits": 6, "act_bits": 6, "input_bits": 6, "params": 4389,
             "bops": 88748, "acc_pytorch": 0.7, "acc_csim": 0.7, "acc_source": "test", "rtl_bit_exact": False,
             "csim_rows_checked": 10, "csim_rows_bit_exact": 10, "origin": "jsc-hw"}
    check = {"vectors": 100, "mismatched_values": 30, "mismatched_vectors": 22, "max_abs_lsb": 63,
             "reference_mismatches": 0, "bit_exact": False, "argmax_agreement": 0.99}
    csim = {"acc_pytorch": 0.7, "acc_csim": 0.7, "rows_bit_exact": 10, "rows_checked": 10}
    rows = []
    for name, chk in (("bad_rtl", check), ("too_big", None)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"schema": 1, "versions": {}, "model": model, "checkpoint": "c.pt",
                                    "rtl_check": chk, "rtl": None, "figures": []}))
        rows.append(StudyRow(name, Choice(tmp_path, name, 0, "val_acc", 0.7, 0.7, 2, tmp_path / "c.pt"), csim, path))
    table = markdown(rows).splitlines()
    assert "NOT bit-exact (22/100 rows) | not synthesised (RTL not bit-exact)" in table[2]
    assert "| – | not synthesised (synth_max_params)" in table[3]


def test_default_group_names_say_how_a_group_is_pruned() -> None:
    from jsc_hw.study import DEFAULT_GROUP_BY, group_name

    assert group_name(("mlp", 6, 6, 0.0, ()), DEFAULT_GROUP_BY) == "mlp_w6a6"
    assert group_name(("mlp", 6, 6, 0.7, ()), DEFAULT_GROUP_BY) == "mlp_w6a6_p70"
    assert group_name(("mlp", 6, 6, 0.0, (0.88, 0.88, 0.5)), DEFAULT_GROUP_BY) == "mlp_w6a6_p88-88-50"


def test_a_weightless_network_goes_through_the_study_without_hls4ml_gated_by_its_rtl_check(synthetic_npz, tmp_path):
    """arch dwn has no hls4ml layers: its model folder holds the PyTorch test accuracy and no C-simulation, the RTL
    is checked in Verilator and synthesised, the tables say "n/a", and a rerun redoes nothing."""
    raw = sweep_spec_dict(synthetic_npz, epochs=1, repeats=1)
    raw["base"]["model"] = {"arch": "dwn", "hidden": [20]}
    raw["base"]["quant"] = {"input_bits": 5, "input_int_bits": 3}
    raw["trials"] = [{"name": "dwn20"}]
    spec, out = sweep_from_dict(raw), tmp_path / "study"
    opt = StudyOptions(rows=400, vectors=400, group_by=("name",))
    (row,) = run_study(spec, out, opt, workers=1)
    assert row.csim["acc_csim"] is None and row.csim["bit_exact"] is None and row.csim["test_rows"] == 400
    assert not (out / "hls" / row.group).exists()
    rec = read_synth(row.synth)
    assert rec.rtl_check["bit_exact"] and rec.rtl_check["vectors"] == 400
    assert rec.model.acc_pytorch == row.csim["acc_pytorch"] and rec.model.acc_csim is None
    assert rec.model.weight_bits == rec.model.act_bits == 1 and rec.model.params == 20 * 64
    assert "no C-simulation" in rec.model.acc_source
    (xil,) = [f for f in rec.figures if f.part.startswith("Xilinx")]
    assert 20 <= xil.lut <= 200 and xil.latency_max_cycles == 3
    assert "| n/a | none (no hls4ml) | bit-exact, 400 rows |" in (out / "study.md").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".json", ".pt") and "report" not in
              p.parts}
    run_study(spec, out, opt, workers=1)
    assert sorted(str(p.relative_to(out)) for p, t in stamps.items() if p.stat().st_mtime_ns != t) == ["study.json"]
