"""A sweep's results table (CSV + Markdown, mean and spread over repeats) and its plots.

Hardware columns come from ``synth/<trial>__r<k>/synth.json`` with the verdict of the RTL check behind them
(``rtl_check``): a LUT count of RTL that was not bit-exact, or never checked, is marked in the table and drawn
hollow, labelled as such, in the accuracy-vs-LUT plot.  Plots use matplotlib's object API (no global backend).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jsc_hw.config import SweepSpec, to_dict
from jsc_hw.figures import Verdict, estimate_of
from jsc_hw.files import atomic_savefig, atomic_write
from jsc_hw.runfolder import Record, read_synth
from jsc_hw.schema import TIE_RULE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSummary:
    trial: str
    settings: dict[str, object]  #: values of the spec's varied keys for this trial
    repeats: int
    val_acc_mean: float  #: validation accuracy at the last epoch, mean over repeats
    val_acc_std: float  #: sample standard deviation over repeats (0 for a single repeat)
    train_acc_last_step_mean: float
    train_acc_epoch_mean: float | None  #: last-epoch mean training accuracy, mean over repeats (None: older records)
    val_loss_mean: float
    seconds_mean: float
    cost: dict[str, float]
    curve: tuple[float, ...]  #: mean validation accuracy per epoch
    rtl: Verdict | None = None  #: the RTL check behind the hardware columns (None: not synthesised)


def _get(cfg: dict, dotted: str) -> object:
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


@dataclass(frozen=True)
class Hardware:
    """A trial's synthesised repeat: Yosys logic-synthesis LUT/FF and the verdict of its RTL check."""

    cost: dict[str, float]
    rtl: Verdict
    tool: str


def hardware_costs(run_dir: Path) -> dict[str, Hardware]:
    """Trial -> its synthesised repeat (``<run>/synth/<trial>__r<k>/synth.json``, written by ``jsc-hw sweep --synth``
    or ``jsc-hw synth RUN [--all]``; the lowest repeat when there are several)."""
    out: dict[str, Hardware] = {}
    paths = sorted(Path(run_dir).glob("synth/*__r*/synth.json"), key=lambda p: int(p.parent.name.rsplit("__r", 1)[1]))
    for path in paths:
        blob = read_synth(path)
        figs = [f for f in blob.figures if f.stage == "logic-synthesis"]
        trial = path.parent.name.rsplit("__r", 1)[0]
        if figs and trial not in out:
            out[trial] = Hardware({"lut_yosys": figs[0].lut, "ff_yosys": figs[0].ff}, blob.verdict, figs[0].tool)
    return out


def summarise(spec: SweepSpec, records: list[Record], hardware: dict[str, Hardware] | None = None
              ) -> list[TrialSummary]:
    by_trial: dict[str, list[Record]] = {}
    for rec in records:
        by_trial.setdefault(rec.trial, []).append(rec)
    rows = []
    for trial in spec.trials:
        recs = by_trial.get(trial.name, [])
        if not recs:
            continue
        acc = np.array([r.val_acc_last_epoch for r in recs])
        epoch_means = [r.train_acc_epoch_mean for r in recs if r.train_acc_epoch_mean is not None]
        hw = (hardware or {}).get(trial.name)
        rows.append(TrialSummary(
            trial=trial.name, settings={k: _get(to_dict(trial), k) for k in spec.varied}, repeats=len(recs),
            val_acc_mean=float(acc.mean()), val_acc_std=float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            train_acc_last_step_mean=float(np.mean([r.train_acc_last_step for r in recs])),
            train_acc_epoch_mean=float(np.mean(epoch_means)) if len(epoch_means) == len(recs) else None,
            val_loss_mean=float(np.mean([r.val_loss[-1] for r in recs])),
            seconds_mean=float(np.mean([r.seconds for r in recs])),
            cost={**recs[0].cost, **(hw.cost if hw else {})},
            curve=tuple(np.mean([r.val_acc for r in recs], axis=0).tolist()), rtl=hw.rtl if hw else None))
    return rows


def _columns(rows: list[TrialSummary]) -> list[str]:
    cost_keys = sorted({k for r in rows for k in r.cost})
    settings = list(rows[0].settings) if rows else []
    epoch_mean = ["train_acc_epoch_mean"] if any(r.train_acc_epoch_mean is not None for r in rows) else []
    rtl = ["rtl_check"] if any(r.rtl is not None for r in rows) else []
    return (["trial", *settings, "repeats", "val_acc_last_epoch_mean", "val_acc_last_epoch_std",
             "train_acc_last_step_mean", *epoch_mean, "val_loss_last_epoch_mean", "seconds_per_repeat", *cost_keys,
             *rtl])


def _values(row: TrialSummary, columns: list[str]) -> dict[str, object]:
    base = {"trial": row.trial, **row.settings, "repeats": row.repeats, "val_acc_last_epoch_mean": row.val_acc_mean,
            "val_acc_last_epoch_std": row.val_acc_std, "train_acc_last_step_mean": row.train_acc_last_step_mean,
            "train_acc_epoch_mean": row.train_acc_epoch_mean, "val_loss_last_epoch_mean": row.val_loss_mean,
            "seconds_per_repeat": row.seconds_mean, **row.cost, "rtl_check": row.rtl.label if row.rtl else None}
    return {c: "" if base.get(c) is None else base[c] for c in columns}


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if (abs(v) < 1e-3 or abs(v) >= 1e4) and v != 0 else f"{v:.4f}"
    return str(v)


def notes(rows: list[TrialSummary]) -> list[str]:
    """What the table's figures mean: the tie rule of every accuracy, the bias of the LUT figures."""
    out = [f"Accuracies: {TIE_RULE}. train_acc_last_step: accuracy of the last training batch only; "
           "train_acc_epoch_mean: mean over the last epoch's batches."]
    if any(r.rtl for r in rows):
        out.append("lut_yosys / ff_yosys: Yosys synth_xilinx logic synthesis of one repeat; Yosys "
                   f"{estimate_of('Yosys synth_xilinx')}. rtl_check: the Verilator check of that RTL against "
                   "PyTorch; a figure whose check is not bit-exact is not a figure of the trained model.")
    return out


def write_tables(rows: list[TrialSummary], run_dir: Path) -> tuple[Path, Path]:
    columns = _columns(rows)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(_values(r, columns) for r in rows)
    csv_path = atomic_write(run_dir / "results.csv", buf.getvalue())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in _values(r, columns).values()) + " |" for r in rows]
    md_path = atomic_write(run_dir / "results.md", "\n".join(lines + [""] + notes(rows)) + "\n")
    return csv_path, md_path


def _axis_rows(spec: SweepSpec, rows: list[TrialSummary], key: str) -> list[TrialSummary]:
    """Trials that differ from the base only in ``key`` (one-factor-at-a-time slices of the spec)."""
    base = to_dict(spec.base)
    others = [k for k in spec.varied if k != key]
    picked = [r for r in rows if all(r.settings[k] == _get(base, k) for k in others)]
    # None (an unset optional key, e.g. no distill.teacher) first; values of one key are otherwise of one type
    return sorted(picked, key=lambda r: (r.settings[key] is not None, r.settings[key]))


#: cost column -> axis label of its accuracy-vs-cost plot
COST_AXES: dict[str, str] = {
    "bops": "bit operations per inference (BOPs)",
    "lut_yosys": "LUTs (Yosys synth_xilinx xc7, logic synthesis, one repeat; over-estimates Vivado ~1.6x)",
}


def _figure(size: tuple[float, float]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots()


def write_plots(spec: SweepSpec, rows: list[TrialSummary], run_dir: Path) -> list[Path]:
    out = run_dir / "plots"
    paths = []
    for key in spec.varied:
        picked = _axis_rows(spec, rows, key)
        if len(picked) < 2 or not all(isinstance(r.settings[key], (int, float)) for r in picked):
            continue
        fig, ax = _figure((5, 3.6))
        x = [r.settings[key] for r in picked]
        ax.errorbar(x, [r.val_acc_mean for r in picked], yerr=[r.val_acc_std for r in picked], marker="o",
                    capsize=3, label="val accuracy (last epoch)")
        if all(r.train_acc_epoch_mean is not None for r in picked):
            ax.plot(x, [r.train_acc_epoch_mean for r in picked], "s-", alpha=0.8, label="train accuracy (epoch mean)")
        ax.plot(x, [r.train_acc_last_step_mean for r in picked], "x:", alpha=0.5, label="train accuracy (last step)")
        if key.endswith("lr") or (min(x) > 0 and max(x) / min(x) >= 16):
            ax.set_xscale("log", base=10 if key.endswith("lr") else 2)
        ax.set_xlabel(key), ax.set_ylabel("accuracy (ties count as g)"), ax.grid(alpha=0.3), ax.legend(fontsize=8)
        ax.set_title(f"{spec.name}: {picked[0].repeats} repeats, mean ± std", fontsize=9)
        fig.set_layout_engine("tight")
        paths.append(atomic_savefig(fig, out / f"val_acc_vs_{key.split('.')[-1]}.png", dpi=120))
    fig, ax = _figure((6, 4))
    for r in rows:
        ax.plot(range(1, len(r.curve) + 1), r.curve, label=r.trial)
    ax.set_xlabel("epoch"), ax.set_ylabel("val accuracy (mean over repeats)"), ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.set_layout_engine("tight")
    paths.append(atomic_savefig(fig, out / "val_acc_curves.png", dpi=120))
    for key, label in COST_AXES.items():
        have = [r for r in rows if key in r.cost]
        if not have:
            continue
        fig, ax = _figure((5, 3.6))
        checked = [r for r in have if key != "lut_yosys" or (r.rtl is not None and r.rtl.bit_exact)]
        unchecked = [r for r in have if r not in checked]
        ax.errorbar([r.cost[key] for r in checked], [r.val_acc_mean for r in checked],
                    yerr=[r.val_acc_std for r in checked], fmt="o", capsize=3,
                    label="RTL bit-exact vs PyTorch" if key == "lut_yosys" else None)
        if unchecked:
            ax.errorbar([r.cost[key] for r in unchecked], [r.val_acc_mean for r in unchecked],
                        yerr=[r.val_acc_std for r in unchecked], fmt="o", mfc="none", color="tab:red", capsize=3,
                        label="RTL NOT bit-exact or not checked: not a figure of the model")
        for r in have:
            ax.annotate(r.trial, (r.cost[key], r.val_acc_mean), fontsize=6)
        ax.set_xscale("log"), ax.set_xlabel(label, fontsize=8), ax.set_ylabel("val accuracy"), ax.grid(alpha=0.3)
        if key == "lut_yosys":
            ax.legend(fontsize=6)
        fig.set_layout_engine("tight")
        paths.append(atomic_savefig(fig, out / f"val_acc_vs_{key}.png", dpi=120))
    return paths


def write_results(spec: SweepSpec, run_dir: Path, records: list[Record]) -> list[TrialSummary]:
    hardware = hardware_costs(run_dir)
    rows = summarise(spec, records, hardware)
    if not rows:
        log.warning("%s: no records yet", run_dir)
        return rows
    for r in rows:
        if r.rtl is not None and not r.rtl.bit_exact:
            log.warning("%s: hardware figures of RTL that is %s (marked in the table and plot)", r.trial, r.rtl.label)
    csv_path, md_path = write_tables(rows, run_dir)
    plots = write_plots(spec, rows, run_dir)
    log.info("results: %s, %s; plots: %s", csv_path, md_path, ", ".join(str(p) for p in plots))
    return rows
