"""The accuracy-vs-cost report: inputs (synth.json, hls4ml projects, sweep runs), table files and the plot."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from jsc_hw.hardware import report, vendor
from jsc_hw.cli import main
from jsc_hw.config import QuantSpec, TrialConfig
from jsc_hw.figures import Figures, Verdict, figures_dict
from jsc_hw.runfolder import Record, write_record

REPORTS = Path(__file__).parents[1] / "data" / "reports" / "vivado_hls_2020.1"


def test_anchors_are_labelled_by_dataset() -> None:
    a = report.anchors()
    assert len(a) == 24
    assert {x.dataset for x in a} == {"CERNBox", "OpenML 42468"}
    s = next(x for x in a if x.design == "LogicNets JSC-S")
    assert (s.lut, s.accuracy_pct, s.level) == (232, 68.8, "P")
    assert all(x.level in "PSU" and x.source for x in a)


def test_pareto_front() -> None:
    pts = [(100, 70.0), (50, 71.0), (200, 75.0), (300, 74.0), (50, 69.0), (400, 75.0)]
    assert report.pareto_front(pts) == [(50, 71.0), (200, 75.0)]


def model(name: str, acc: float) -> report.Model:
    return report.Model(name, "jsc_tiny", 8, 8, 8, 117, 6720, acc, None, "test split", True)


CSIM_OK, RTL_OK = (Verdict("C-sim", 500, 500),), (Verdict("RTL", 2000, 2000),)


def rows() -> list[report.Row]:
    hls = vendor.parse_csynth_xml(REPORTS / "myproject_csynth.xml", "Vivado HLS")
    viv = vendor.parse_vivado_utilization(REPORTS / "vivado_synth.rpt")
    ys = Figures("Yosys synth_xilinx", "Yosys 0.70", "Xilinx xc7 (family)", "logic-synthesis", lut=1933,
                 ff=295, dsp=0, carry=543, latency_min_cycles=3, latency_max_cycles=3, logic_depth=28)
    return [report.Row(model("a", 0.52), hls, CSIM_OK), report.Row(model("a", 0.52), viv, CSIM_OK),
            report.Row(model("b", 0.61), ys, RTL_OK)]


def test_write_all_formats(tmp_path: Path) -> None:
    out = report.write(rows(), tmp_path)
    table = list(csv.DictReader(open(out["csv"])))
    assert [r["stage"] for r in table] == ["hls-estimate", "logic-synthesis", "logic-synthesis"]
    assert [r["LUT"] for r in table] == ["2532", "1526", "1933"]
    assert table[0]["latency ns"] == "40.49" and table[0]["tool"] == "Vivado HLS" and table[1]["version"] == "2020.1"
    md = out["md"].read_text()
    assert "| a | jsc_tiny | 8/8/8 | 117 | 6,720 | 0.5200 |" in md and "Yosys 0.70" in md
    assert "C-sim bit-exact (500/500)" in md and "✗" not in md.split("\n\n")[1]  # every row verified: unmarked
    assert "ties favour g" in md  # the tie rule, where the accuracies are printed
    assert "6,796 LUT where Vivado reports 4,337 after routing (1.57x" in md  # the bias of the Yosys figures
    page = out["html"].read_text()
    assert "data:image/png;base64," in page and page.count("<tr>") == 4
    assert out["png"].stat().st_size > 20_000


def test_collect_synth_json_project_and_run(tmp_path: Path) -> None:
    blob = {"model": {"name": "m", "arch": "jsc_tiny", "weight_bits": 4, "act_bits": 4, "input_bits": 4,
                      "params": 117, "bops": 2240, "acc_pytorch": 0.5, "acc_csim": None, "acc_source": "test",
                      "rtl_bit_exact": True}, "checkpoint": "m.pt",
            "rtl_check": {"vectors": 300, "mismatched_vectors": 0, "bit_exact": True},
            "figures": [figures_dict(rows()[2].figures)]}
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "synth.json").write_text(json.dumps(blob))
    proj = tmp_path / "p" / "proj"
    (proj / "myproject_prj" / "solution1" / "syn" / "report").mkdir(parents=True)
    shutil.copy(REPORTS / "myproject_csynth.xml", proj / "myproject_prj" / "solution1" / "syn" / "report")
    (proj / "verification.json").write_text(json.dumps({"arch": "jsc_tiny", "acc_pytorch": 0.7, "acc_csim": 0.7,
                                                        "rows_checked": 500, "rows_bit_exact": 500}))
    run = tmp_path / "run"
    cfg = TrialConfig(name="t", quant=QuantSpec(weight_bits=6, act_bits=6, input_bits=6))
    write_record(run, Record(trial="t", repeat=0, seed=0, config=cfg, val_acc=(0.6,), val_loss=(1.0,),
                             val_acc_last_epoch=0.6, train_acc_last_step=0.6, seconds=1.0,
                             cost={"bops": 200000, "params": 4389}, checkpoint="weights/t__r0.pt"))
    got = report.collect([tmp_path / "s" / "synth.json", tmp_path / "p", run])
    assert [(r.model.name, r.figures.stage if r.figures else None) for r in got] == [
        ("m", "logic-synthesis"), ("proj", "hls-estimate"), ("t__r0", None)]
    assert got[1].model.acc_csim == 0.7 and got[2].model.bops == 200000
    assert [r.verdict for r in got] == ["RTL bit-exact (300/300)", "C-sim bit-exact (500/500)", "–"]
    (run / "synth" / "t__r0").mkdir(parents=True)  # `jsc-hw synth run --all` output replaces the cost-only row
    shutil.copy(tmp_path / "s" / "synth.json", run / "synth" / "t__r0")
    assert [r.figures.lut for r in report.collect([run])] == [1933]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="jsc-hw synth"):
        report.collect([tmp_path / "empty"])


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    blob = {"model": {"name": "m", "arch": "jsc_tiny", "weight_bits": 8, "act_bits": 8, "input_bits": 8,
                      "params": 117, "bops": 6720, "acc_pytorch": 0.52, "acc_csim": None, "acc_source": "test",
                      "rtl_bit_exact": True}, "figures": [figures_dict(rows()[2].figures)],
            "rtl_check": {"vectors": 300, "mismatched_vectors": 0, "bit_exact": True}}
    (tmp_path / "in" / "synth.json").write_text(json.dumps(blob))
    assert main(["report", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    assert "1,933" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.md", "report.csv", "report.html", "pareto.png"}
    assert main(["report", str(tmp_path / "nope")]) == 2  # a clear one-line error, no traceback


def test_models_brought_as_qonnx_are_marked_with_their_origin(tmp_path: Path) -> None:
    own = {"model": {"name": "qk", "arch": "qonnx", "weight_bits": 6, "act_bits": 6, "input_bits": 16, "params": 100,
                     "bops": 9000, "acc_pytorch": 0.6, "acc_csim": 0.6, "acc_source": "test", "rtl_bit_exact": True,
                     "origin": "QONNX file qk.onnx"}, "figures": [figures_dict(rows()[2].figures)]}
    (tmp_path / "qk").mkdir()
    (tmp_path / "qk" / "synth.json").write_text(json.dumps(own))
    got = report.collect([tmp_path / "qk" / "synth.json"]) + rows()
    table = report.table(got)
    assert [r["origin"] for r in table] == ["QONNX file qk.onnx", "jsc-hw", "jsc-hw", "jsc-hw"]
    assert report._label(got[0].model) == "qk [QONNX file qk.onnx]" and report._label(got[1].model) == "a"
    out = report.write(got, tmp_path / "out")
    assert "| QONNX file qk.onnx |" in out["md"].read_text()


def _project(root: Path, name: str, checked: int, exact: int, acc_csim: float) -> Path:
    proj = root / name
    (proj / "myproject_prj" / "solution1" / "syn" / "report").mkdir(parents=True)
    shutil.copy(REPORTS / "myproject_csynth.xml", proj / "myproject_prj" / "solution1" / "syn" / "report")
    (proj / "verification.json").write_text(json.dumps({
        "arch": "jsc_tiny", "weight_bits": 8, "act_bits": 8, "input_bits": 8, "acc_pytorch": 0.70,
        "acc_csim": acc_csim, "rows_checked": checked, "rows_bit_exact": exact}))
    return proj


def test_a_project_whose_csim_is_not_bit_exact_is_marked_and_kept_off_the_front(tmp_path: Path) -> None:
    """481/500 rows matched: the row says so, its model name carries the mark, and no front passes through it."""
    _project(tmp_path / "in", "exact", 500, 500, 0.70)
    _project(tmp_path / "in", "mismatch", 500, 481, 0.69)
    got = {r.model.name: r for r in report.collect([tmp_path / "in"])}
    assert got["exact"].verified and got["exact"].verdict == "C-sim bit-exact (500/500)"
    assert not got["mismatch"].verified and got["mismatch"].verdict == "C-sim NOT bit-exact (481/500)"
    md = report.markdown(list(got.values()))
    assert "| ✗ mismatch |" in md and "| exact |" in md and "C-sim NOT bit-exact (481/500)" in md
    out = report.write(list(got.values()), tmp_path / "out")
    page = out["html"].read_text()
    assert page.count("<tr class='unverified'>") == 1
    assert {r["model"] for r in csv.DictReader(open(out["csv"]))} == {"exact", "✗ mismatch"}


def test_figures_of_rtl_that_was_never_checked_are_marked(tmp_path: Path) -> None:
    blob = {"model": {"name": "m", "arch": "jsc_tiny", "weight_bits": 4, "act_bits": 4, "input_bits": 4,
                      "params": 117, "bops": 2240, "acc_pytorch": 0.5, "acc_csim": None, "acc_source": "test"},
            "rtl_check": None, "figures": [figures_dict(rows()[2].figures)]}
    (tmp_path / "synth.json").write_text(json.dumps(blob))
    (row,) = report.collect([tmp_path / "synth.json"])
    assert not row.verified and row.verdict == "RTL not checked" and row.figures.lut == 1933
    assert "| ✗ m |" in report.markdown([row])


def test_a_synth_json_with_missing_keys_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "synth.json").write_text(json.dumps({"model": {"name": "m"}, "figures": []}))
    assert main(["report", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 2
    assert "synth.json 'model' section: missing key(s) ['arch'," in caplog.text
    (tmp_path / "in" / "synth.json").write_text("{not json")
    assert main(["report", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 2
    assert "not a readable JSON file" in caplog.text and "Traceback" not in caplog.text
