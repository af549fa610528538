"""A sweep's results table (CSV + Markdown, mean and spread over repeats) and its plots."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jsc_hw.config import SweepSpec, to_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSummary:
    trial: str
    settings: dict[str, object]  #: values of the spec's varied keys for this trial
    repeats: int
    val_acc_mean: float  #: validation accuracy at the last epoch, mean over repeats
    val_acc_std: float  #: sample standard deviation over repeats (0 for a single repeat)
    train_acc_last_step_mean: float
    val_loss_mean: float
    seconds_mean: float
    cost: dict[str, float]
    curve: tuple[float, ...]  #: mean validation accuracy per epoch


def _get(cfg: dict, dotted: str) -> object:
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def hardware_costs(run_dir: Path) -> dict[str, dict[str, float]]:
    """Trial -> Yosys logic-synthesis LUT/FF of its synthesised repeat (``<run>/synth/<trial>__r<k>/synth.json``,
    written by ``jsc-hw sweep --synth`` or ``jsc-hw synth RUN --all``; the lowest repeat when there are several)."""
    out: dict[str, dict[str, float]] = {}
    paths = sorted(Path(run_dir).glob("synth/*__r*/synth.json"), key=lambda p: int(p.parent.name.rsplit("__r", 1)[1]))
    for path in paths:
        figs = [f for f in json.loads(path.read_text())["figures"] if f["stage"] == "logic-synthesis"]
        if figs:
            out.setdefault(path.parent.name.rsplit("__r", 1)[0], {"lut_yosys": figs[0]["lut"], "ff_yosys": figs[0]["ff"]})
    return out


def summarise(spec: SweepSpec, records: list[dict], hardware: dict[str, dict[str, float]] | None = None
              ) -> list[TrialSummary]:
    by_trial: dict[str, list[dict]] = {}
    for rec in records:
        by_trial.setdefault(rec["trial"], []).append(rec)
    rows = []
    for trial in spec.trials:
        recs = by_trial.get(trial.name, [])
        if not recs:
            continue
        acc = np.array([r["val_acc_last_epoch"] for r in recs])
        rows.append(TrialSummary(
            trial=trial.name, settings={k: _get(to_dict(trial), k) for k in spec.varied}, repeats=len(recs),
            val_acc_mean=float(acc.mean()), val_acc_std=float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            train_acc_last_step_mean=float(np.mean([r["train_acc_last_step"] for r in recs])),
            val_loss_mean=float(np.mean([r["val_loss"][-1] for r in recs])),
            seconds_mean=float(np.mean([r["seconds"] for r in recs])),
            cost={**(recs[0].get("cost") or {}), **(hardware or {}).get(trial.name, {})},
            curve=tuple(np.mean([r["val_acc"] for r in recs], axis=0).tolist())))
    return rows


def _columns(rows: list[TrialSummary]) -> list[str]:
    cost_keys = sorted({k for r in rows for k in r.cost})
    settings = list(rows[0].settings) if rows else []
    return (["trial", *settings, "repeats", "val_acc_last_epoch_mean", "val_acc_last_epoch_std",
             "train_acc_last_step_mean", "val_loss_last_epoch_mean", "seconds_per_repeat", *cost_keys])


def _values(row: TrialSummary, columns: list[str]) -> dict[str, object]:
    base = {"trial": row.trial, **row.settings, "repeats": row.repeats, "val_acc_last_epoch_mean": row.val_acc_mean,
            "val_acc_last_epoch_std": row.val_acc_std, "train_acc_last_step_mean": row.train_acc_last_step_mean,
            "val_loss_last_epoch_mean": row.val_loss_mean, "seconds_per_repeat": row.seconds_mean, **row.cost}
    return {c: base.get(c, "") for c in columns}


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if (abs(v) < 1e-3 or abs(v) >= 1e4) and v != 0 else f"{v:.4f}"
    return str(v)


def write_tables(rows: list[TrialSummary], run_dir: Path) -> tuple[Path, Path]:
    columns = _columns(rows)
    csv_path, md_path = run_dir / "results.csv", run_dir / "results.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(_values(r, columns) for r in rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in _values(r, columns).values()) + " |" for r in rows]
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def _axis_rows(spec: SweepSpec, rows: list[TrialSummary], key: str) -> list[TrialSummary]:
    """Trials that differ from the base only in ``key`` (one-factor-at-a-time slices of the spec)."""
    base = to_dict(spec.base)
    others = [k for k in spec.varied if k != key]
    picked = [r for r in rows if all(r.settings[k] == _get(base, k) for k in others)]
    return sorted(picked, key=lambda r: r.settings[key])


#: cost column -> axis label of its accuracy-vs-cost plot
COST_AXES: dict[str, str] = {
    "bops": "bit operations per inference (BOPs)",
    "lut_yosys": "LUTs (Yosys synth_xilinx xc7, logic synthesis, one repeat)",
}


def write_plots(spec: SweepSpec, rows: list[TrialSummary], run_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    paths = []
    for key in spec.varied:
        picked = _axis_rows(spec, rows, key)
        if len(picked) < 2 or not all(isinstance(r.settings[key], (int, float)) for r in picked):
            continue
        fig, ax = plt.subplots(figsize=(5, 3.6))
        x = [r.settings[key] for r in picked]
        ax.errorbar(x, [r.val_acc_mean for r in picked], yerr=[r.val_acc_std for r in picked], marker="o",
                    capsize=3, label="val accuracy (last epoch)")
        ax.plot(x, [r.train_acc_last_step_mean for r in picked], "s--", alpha=0.6, label="train accuracy (last step)")
        if key.endswith("lr") or (min(x) > 0 and max(x) / min(x) >= 16):
            ax.set_xscale("log", base=10 if key.endswith("lr") else 2)
        ax.set_xlabel(key), ax.set_ylabel("accuracy"), ax.grid(alpha=0.3), ax.legend(fontsize=8)
        ax.set_title(f"{spec.name}: {picked[0].repeats} repeats, mean ± std", fontsize=9)
        paths.append(out / f"val_acc_vs_{key.split('.')[-1]}.png")
        fig.tight_layout(), fig.savefig(paths[-1], dpi=120), plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.plot(range(1, len(r.curve) + 1), r.curve, label=r.trial)
    ax.set_xlabel("epoch"), ax.set_ylabel("val accuracy (mean over repeats)"), ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    paths.append(out / "val_acc_curves.png")
    fig.tight_layout(), fig.savefig(paths[-1], dpi=120), plt.close(fig)
    for key, label in COST_AXES.items():
        have = [r for r in rows if key in r.cost]
        if not have:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.errorbar([r.cost[key] for r in have], [r.val_acc_mean for r in have],
                    yerr=[r.val_acc_std for r in have], fmt="o", capsize=3)
        for r in have:
            ax.annotate(r.trial, (r.cost[key], r.val_acc_mean), fontsize=6)
        ax.set_xscale("log"), ax.set_xlabel(label), ax.set_ylabel("val accuracy"), ax.grid(alpha=0.3)
        paths.append(out / f"val_acc_vs_{key}.png")
        fig.tight_layout(), fig.savefig(paths[-1], dpi=120), plt.close(fig)
    return paths


def write_results(spec: SweepSpec, run_dir: Path, records: list[dict]) -> list[TrialSummary]:
    rows = summarise(spec, records, hardware_costs(run_dir))
    if not rows:
        log.warning("%s: no records yet", run_dir)
        return rows
    csv_path, md_path = write_tables(rows, run_dir)
    plots = write_plots(spec, rows, run_dir)
    log.info("results: %s, %s; plots: %s", csv_path, md_path, ", ".join(str(p) for p in plots))
    return rows
