"""The closing comparison of docs/search.md: the search's Pareto front against the hand-designed models.

The front's configurations and the references are retrained as one sweep with more seeds (the search ranked
them on the mean of 2). Each trained repeat is then evaluated on the untouched test split. Optionally, repeat
0 of each goes through the open-source flow for Yosys LUTs.

    python docs/search_compare.py runs/search_mlp --repeats 5 [--luts] [--executor ray]

Writes <run>/compare/{compare.md, compare.json, compare.png}.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from jsc_hw.config import SweepSpec
from jsc_hw.data import load_splits
from jsc_hw.runfolder import Record, read_records, read_synth, synth_dir
from jsc_hw.search import LUT_CHECK_VECTORS, open_study, points, saved_spec
from jsc_hw.sweep import run_sweep
from jsc_hw.train import evaluate, load_checkpoint


def test_accuracy(run_dir: Path, rec: Record) -> float:
    ckpt = load_checkpoint(run_dir / rec.checkpoint)
    test = load_splits(ckpt.config.data).test
    acc, _ = evaluate(ckpt.net, torch.from_numpy(test.x), torch.from_numpy(test.y))
    return float(acc[0])


def luts(run_dir: Path, rec: Record, timeout: float) -> int | None:
    """Yosys LUTs of Verilator-checked RTL (as the search's LUT objective); None when it fails or is not bit-exact."""
    from jsc_hw.hardware import synth

    out = synth_dir(run_dir, rec.trial, rec.repeat)
    path = out / "synth.json"
    try:
        if not path.exists() or not read_synth(path).verdict.checked:
            synth.synth_checkpoint(run_dir / rec.checkpoint, out, vectors=LUT_CHECK_VECTORS, timeout=timeout)
        done = read_synth(path)
        if not done.verdict.bit_exact:
            logging.warning("%s: RTL %s: no LUT count", rec.trial, done.verdict.label)
            return None
        return int(done.figures[0].lut)
    except Exception as exc:  # a timeout or a tool failure: report the row without LUTs
        logging.warning("%s: no LUT count (%s)", rec.trial, exc)
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="search run folder")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--executor", default="local")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--luts", action="store_true", help="Yosys LUTs of repeat 0 (open-source flow)")
    ap.add_argument("--lut-timeout", type=float, default=900)
    ap.add_argument("--lut-max-bops", type=float, default=1e5,
                    help="skip synthesis above this many BOPs (JSC_rs1923's fully unrolled RTL is large)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    spec = saved_spec(args.run)
    pts, refs = points(spec, args.run, open_study(spec, args.run))
    front = [p for p in pts if p.pareto]
    search_acc = {p.trial: p.val_acc for p in [*front, *refs]}
    sweep = SweepSpec(name=f"{spec.name}_compare", base=spec.base, repeats=args.repeats,
                      trials=tuple(replace(p.config, name=p.trial) for p in [*front, *refs]))
    out = run_sweep(sweep, args.run / "compare", workers=args.workers, executor=args.executor)
    by_trial: dict[str, list[Record]] = {}
    for rec in read_records(out):
        by_trial.setdefault(rec.trial, []).append(rec)
    rows = []
    for p in [*front, *refs]:
        recs = sorted(by_trial[p.trial], key=lambda r: r.repeat)
        val = np.array([r.val_acc_last_epoch for r in recs])
        test = np.array([test_accuracy(out, r) for r in recs])
        rows.append({"trial": p.trial, "reference": p in refs, "model": p.config.model.arch,
                     "hidden": list(p.config.model.hidden), "weight_bits": list(p.config.quant.weight_bits_per_layer)
                     or [p.config.quant.weight_bits], "act_bits": list(p.config.quant.act_bits_per_layer)
                     or [p.config.quant.act_bits], "lr": p.config.train.lr, "bops": recs[0].cost["bops"],
                     "params": recs[0].cost["params"], "search_val_acc": search_acc[p.trial],
                     "val_mean": float(val.mean()), "val_std": float(val.std(ddof=1)),
                     "test_mean": float(test.mean()), "test_std": float(test.std(ddof=1)),
                     "test_best": float(test.max()), "test_all": test.tolist(),
                     "lut": luts(out, recs[0], args.lut_timeout)
                     if args.luts and recs[0].cost["bops"] <= args.lut_max_bops else None})
    (out / "compare.json").write_text(json.dumps(rows, indent=1))
    head = ["model", "weight bits", "act bits", "BOPs", "params", "val acc (search, 2 seeds)",
            f"test acc, mean ± std of {args.repeats}", "best seed", "LUTs (Yosys, xc7)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        name = r["trial"].removeprefix("ref_") if r["reference"] else \
            f"{r['trial']}: mlp " + "-".join(map(str, (16, *r["hidden"], 5)))
        lines.append("| " + " | ".join([
            f"**{name}**" if r["reference"] else name, "/".join(map(str, r["weight_bits"])),
            "/".join(map(str, r["act_bits"])), f"{r['bops']:,}", f"{r['params']:,}", f"{r['search_val_acc']:.3f}",
            f"{r['test_mean']:.3f} ± {r['test_std']:.3f}", f"{r['test_best']:.3f}",
            "" if r["lut"] is None else f"{r['lut']:,}"]) + " |")
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    plot(rows, out / "compare.png", args.repeats)
    print((out / "compare.md").read_text())


def plot(rows: list[dict], path: Path, repeats: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    front = [r for r in rows if not r["reference"]]
    ax.errorbar([r["bops"] for r in front], [r["test_mean"] for r in front], yerr=[r["test_std"] for r in front],
                fmt="o-", c="tab:red", capsize=3, ms=5, label="searched MLPs (front of the search)")
    for r in rows:
        if r["reference"]:
            ax.errorbar([r["bops"]], [r["test_mean"]], yerr=[r["test_std"]], fmt="*", ms=13, capsize=3,
                        label=r["trial"].removeprefix("ref_"))
    ax.set_xscale("log"), ax.set_xlabel("bit operations per inference (BOPs)")
    ax.set_ylabel(f"test accuracy, mean ± std of {repeats} seeds"), ax.grid(alpha=0.3), ax.legend(fontsize=7)
    fig.tight_layout(), fig.savefig(path, dpi=130), plt.close(fig)


if __name__ == "__main__":
    main()
