"""``jsc-hw study SPEC``: one command from a sweep spec to accuracy x hardware, every stage resumable.

1. train: ``sweep.run_sweep`` into DIR (records/, weights/, results table and plots);
2. choose: per group of trials with the same architecture, bit widths and sparsity (``StudyOptions.group_by``), the best
   trial on validation accuracy, averaged over its repeats, and its best repeat (``select.best_trial``);
3. export: the hls4ml project DIR/hls/<group>/, C-simulated on the whole test split and compared bit for bit with
   PyTorch, and the model folder DIR/models/<group>/ (``model_export``);
4. hardware: Verilog, checked in Verilator, Yosys ``synth_xilinx`` (and nextpnr on an ECP5 when asked), in
   DIR/synth/<group>/synth.json (``synth.synth_checkpoint``);
5. report: DIR/report/ (MD/CSV/HTML and the Pareto plot, ``report.write``).

A stage whose output exists for the same checkpoint is skipped, so a stopped study resumes where it stopped.  A
group whose C-simulation is not bit-exact gets no hardware figures; its row says why (the verdict gates).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from jsc_hw import hls
from jsc_hw.config import SweepSpec, to_dict
from jsc_hw.files import atomic_write
from jsc_hw.model_export import NO_HLS4ML, ModelSource, export_checkpoint, save_unexported
from jsc_hw.progress import Progress
from jsc_hw.runfolder import read_records, read_synth, software_versions
from jsc_hw.select import DEFAULT_METRIC, Choice, best_trial
from jsc_hw.sweep import dotted_value, run_sweep
from jsc_hw.train import load_checkpoint

log = logging.getLogger(__name__)
DEFAULT_GROUP_BY = ("model.arch", "quant.weight_bits", "quant.act_bits", "prune.sparsity",
                    "prune.sparsity_per_layer")


@dataclass(frozen=True)
class StudyOptions:
    metric: str = DEFAULT_METRIC  #: how the best trial of a group is chosen (validation data only)
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    rows: int | None = None  #: C-simulation rows (None: the whole test split)
    vectors: int = 2000  #: Verilator rows of the RTL check
    family: str = "xc7"
    dsp: bool = False
    ecp5: bool = False  #: also place and route on a Lattice ECP5 (nextpnr): Fmax
    synth_max_params: int | None = None  #: larger groups: RTL written and checked, not synthesised (Yosys hours)
    rtl_flow: str = "jsc-hw"  #: who writes the Verilog (``jsc_hw.hardware.synth.RTL_FLOWS``): jsc-hw, lut, alkaid


@dataclass(frozen=True)
class StudyRow:
    group: str
    choice: Choice
    csim: dict  #: verification.json of the export
    synth: Path | None  #: synth.json (None: not reached, the C-simulation was not bit-exact)


def group_name(values: tuple, keys: tuple[str, ...]) -> str:
    if keys == DEFAULT_GROUP_BY:  # jsc_tiny_w4a4, mlp_64_32_32_w4a4_p70 (70 % of the weights pruned)
        arch, w, a, sparsity, per_layer = values  # per layer: mlp_w6a6_p88-88-88-50
        pruned = "-".join(f"{round(100 * s):02d}" for s in per_layer) if per_layer else \
            (f"{round(100 * sparsity):02d}" if sparsity else "")
        return f"{arch}_w{w}a{a}" + (f"_p{pruned}" if pruned else "")
    return "_".join(str(v) for v in values).replace("/", "-")


def groups(run_dir: Path, keys: tuple[str, ...]) -> dict[str, set[str]]:
    """Group name -> the trials in it, from the records' own configs."""
    out: dict[str, set[str]] = {}
    for rec in read_records(run_dir, required=True):
        cfg = to_dict(rec.config)
        out.setdefault(group_name(tuple(dotted_value(cfg, k) for k in keys), keys), set()).add(rec.trial)
    return dict(sorted(out.items()))


def _fresh(target: Path, source: Path, same: bool = True) -> bool:
    """``target`` exists, was written after ``source`` and (``same``) describes it."""
    return same and target.is_file() and target.stat().st_mtime >= source.stat().st_mtime


def export_group(run_dir: Path, group: str, choice: Choice, opt: StudyOptions) -> dict:
    folder, project = run_dir / "models" / group, run_dir / "hls" / group
    ver = folder / "verification.json"
    old = json.loads(ver.read_text()) if ver.is_file() else {}
    rows = old.get("rows_checked") if old.get("acc_csim") is not None else old.get("test_rows")
    same = old.get("checkpoint") == str(choice.checkpoint) and (opt.rows is None or rows == opt.rows)
    if not _fresh(ver, choice.checkpoint, same):
        note = (f"best trial of group {group} by {choice.metric}: {choice.trial} (mean {choice.trial_mean:.4f} "
                f"over {choice.repeats} repeats), repeat {choice.repeat} ({choice.value:.4f})")
        src = ModelSource(group, choice.checkpoint, note)
        if load_checkpoint(choice.checkpoint).config.model.arch in NO_HLS4ML:
            save_unexported(src, folder, opt.rows)  # no C-simulation: the RTL check is the gate
        else:
            export_checkpoint(src, project, hls.HlsSpec(), opt.rows, save_model=folder)
    return json.loads(ver.read_text())


def synth_group(run_dir: Path, group: str, csim: dict, opt: StudyOptions) -> Path | None:
    from jsc_hw.hardware.synth import synth_checkpoint

    ckpt, out = run_dir / "models" / group / "checkpoint.pt", run_dir / "synth" / group
    if csim["bit_exact"] is False:  # None: no C-simulation exists (NO_HLS4ML); the RTL check gates alone
        log.error("%s: C-simulation not bit-exact (%s/%s rows): no hardware figures", group, csim["rows_bit_exact"],
                  csim["rows_checked"])
        return None
    record = out / "synth.json"
    mult = {"jsc-hw": "dsp" if opt.dsp else "csd"}.get(opt.rtl_flow, opt.rtl_flow)  # what the flow's Design says
    if _fresh(record, ckpt, same=record.is_file() and json.loads(record.read_text())["rtl"]["mult"] == mult):
        return record
    synthesise = opt.synth_max_params is None or (csim.get("params") or 0) <= opt.synth_max_params
    return synth_checkpoint(ckpt, out, opt.family, opt.dsp, opt.ecp5 and synthesise, opt.vectors,
                            synthesise=synthesise, name=group, rtl_flow=opt.rtl_flow)


def run_study(spec: SweepSpec, out_dir: str | Path, opt: StudyOptions = StudyOptions(), workers: int | None = None,
              executor: str = "local", address: str | None = None) -> list[StudyRow]:
    """Train, choose, export, synthesise and report (module docstring); returns one row per group."""
    from jsc_hw.hardware import report

    run_dir = run_sweep(spec, out_dir, workers, executor, address)
    atomic_write(run_dir / "study.json", json.dumps({"options": to_dict(opt), "versions": software_versions()},
                                                    indent=1))
    found = groups(run_dir, opt.group_by)
    rows = []
    bar = Progress(f"study {run_dir.name}", {"groups": len(found)}, {"groups": "group"})
    with bar:
        for group, trials in found.items():
            choice = best_trial(run_dir, opt.metric, trials)
            csim = export_group(run_dir, group, choice, opt)
            rows.append(StudyRow(group, choice, csim, synth_group(run_dir, group, csim, opt)))
            bar.update("groups")
    sources = [r.synth for r in rows if r.synth] + [run_dir / "hls" / r.group for r in rows if not r.synth]
    report.write(report.collect(sources), run_dir / "report", f"jsc-hw study {spec.name}")
    atomic_write(run_dir / "study.md", markdown(rows))
    return rows


def markdown(rows: list[StudyRow]) -> str:
    """The final table: accuracy beside hardware, one row per group."""
    head = ("| group | trial (repeat) | val acc (mean) | test acc PyTorch | test acc C-sim | C-sim rows exact | "
            "RTL check | LUT | FF | DSP | CARRY | latency cycles | Fmax MHz |\n|" + "---|" * 13 + "\n")
    lines = []
    for r in rows:
        c, v = r.choice, r.csim
        hw = ["–"] * 6
        rtl = "not reached (C-sim not bit-exact)"
        if r.synth is not None:
            rec = read_synth(r.synth)
            chk = rec.rtl_check
            rtl = "–" if not chk else (f"bit-exact, {chk['vectors']} rows" if chk["bit_exact"] else
                                       f"NOT bit-exact ({chk['mismatched_vectors']}/{chk['vectors']} rows)")
            xil = next((f for f in rec.figures if f.part.startswith("Xilinx")), None)
            pnr = next((f for f in rec.figures if f.stage == "place-and-route" and f.clock_ns), None)
            if xil is not None:
                hw = [f"{xil.lut:,}", f"{xil.ff:,}", str(xil.dsp), str(xil.carry), str(xil.latency_max_cycles), "–"]
            elif not rec.figures:
                hw[0] = ("not synthesised (RTL not bit-exact)" if chk and not chk["bit_exact"] else
                         "not synthesised (synth_max_params)")
            if pnr is not None:
                hw[5] = f"{1000 / pnr.clock_ns:.1f}"
        csim = ("n/a", "none (no hls4ml)") if v["acc_csim"] is None else \
            (f"{v['acc_csim']:.4f}", f"{v['rows_bit_exact']}/{v['rows_checked']}")
        lines.append(f"| {r.group} | {c.trial} ({c.repeat}) | {c.trial_mean:.4f} | {v['acc_pytorch']:.4f} | "
                     f"{csim[0]} | {csim[1]} | {rtl} | " + " | ".join(hw) + " |")
    return head + "\n".join(lines) + "\n"
