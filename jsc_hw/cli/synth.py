"""``jsc-hw synth TARGET``: hardware figures of one model, each with its tool, version, part and stage.

TARGET is an hls4ml project folder (``hls_projects/<name>``, written by ``jsc-hw export``), a checkpoint
(``.pt``), a model folder (``models/<name>``), a sweep run (its best trial) or a QONNX file (``.onnx``, a model of
one's own; a project exported from one is checked on its own rows against the QONNX executor).  ``--tool``:

* ``vitis`` / ``vivado``: C-synthesis (+ Vivado logic synthesis with ``--vsynth``) through the project's own
  ``build_prj.tcl``, then its reports are parsed;
* ``yosys``: the open-source flow -- Verilog of the quantised network (``jsc_hw.hardware.verilog``), checked bit for bit
  against PyTorch in Verilator, Yosys ``synth_xilinx`` (and nextpnr-ecp5 place-and-route with ``--ecp5``);
* ``auto`` (default): the vendor flow when TARGET is a project and Vitis/Vivado HLS is on PATH, else yosys.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("jsc_hw")
FAMILIES = "xc7, xcu, xcup, xc6s, xc6v, ... (Yosys synth_xilinx -family)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="hls4ml project folder, checkpoint .pt, models/<name>, runs/<sweep>, or a QONNX "
                                  "file MODEL.onnx")
    p.add_argument("--tool", choices=["auto", "vitis", "vivado", "yosys"], default="auto")
    p.add_argument("--checkpoint", type=Path, help="the model of a project folder, for --tool yosys (default: the "
                                                    "checkpoint its verification.json names)")
    p.add_argument("--out", type=Path, help="output folder (default: <project>/synth, <run>/synth/<trial>__r<k> "
                                             "(where `report` and the sweep table read), runs/synth/<model> for "
                                             "models/<name>, <checkpoint>_synth for a .pt)")
    p.add_argument("--metric", default="val_acc_last_epoch",
                   help="sweep run: how its best trial is chosen, as `jsc-hw export --metric` (default "
                        "val_acc_last_epoch; also val_acc_best_epoch, val_loss_last_epoch, train_acc_last_step)")
    p.add_argument("--family", default="xc7", help=f"Xilinx family for Yosys synth_xilinx: {FAMILIES}; default xc7")
    p.add_argument("--flatten", action="store_true", help="Yosys: flatten before synthesis (a few per cent fewer "
                                                         "LUTs, far slower on large networks; default: each distinct "
                                                         "neuron module synthesised once)")
    p.add_argument("--dsp", action="store_true", help="let Yosys map multiplications to DSP blocks (default: "
                                                      "shift-and-add in LUTs and carry chains)")
    p.add_argument("--rtl", default="jsc-hw", metavar="FLOW",
                   help="open-source flow: who writes the Verilog, jsc-hw (one shift-and-add tree per weight; "
                        "default), lut (jsc-hw's, with each neuron of at most 12 input bits as its truth table: "
                        "sparse low-bit nets, model.fan_in) or alkaid (a layer's constant multiplications shared as "
                        "adder graphs; pip install 'jsc-hw[alkaid]'); the same Verilator check and Yosys run follow")
    p.add_argument("--ecp5", action="store_true", help="also place and route on a Lattice ECP5 (nextpnr) for Fmax")
    p.add_argument("--vsynth", action="store_true", help="vendor flow: also run Vivado logic synthesis")
    p.add_argument("--check-only", action="store_true", help="open-source flow: Verilog + Verilator check, no Yosys")
    p.add_argument("--vectors", type=int, default=2000, help="test rows for the Verilator check (0: skip; the "
                                                             "figures are then marked as not checked)")
    p.add_argument("--timeout", type=float, default=7200, help="seconds allowed per tool run")
    p.add_argument("--input-format", metavar="TYPE", help="QONNX file without an input quantiser: its input type "
                                                          "(default fixed<16,6>, as for jsc-hw export)")
    p.add_argument("--data", metavar="PATH", help="QONNX file: the JSC dataset to check the RTL on (default: embedded)")
    p.add_argument("--scaler", type=Path, metavar="FILE", help="QONNX file: its standardisation (JSON/NPZ mean, std)")
    p.add_argument("--all", action="store_true", help="sweep run: every trial x repeat (into <run>/synth/<record>), "
                                                     "not only the best; `jsc-hw report <run>` then plots them")


def _print(path: Path) -> bool:
    """Print a synth.json; True when its RTL is bit-exact (or was not checked)."""
    from jsc_hw.runfolder import read_synth

    rec = read_synth(path)
    chk = rec.rtl_check
    if chk:
        ref = "the QONNX executor" if rec.qonnx else "PyTorch"
        print(f"RTL vs {ref} ({chk['simulator']}): {chk['vectors']} vectors, {chk['mismatched_values']} "
              f"mismatched values -> {'bit-exact' if chk['bit_exact'] else 'NOT bit-exact: not synthesised'}")
    else:
        print("RTL: not checked (--vectors 0); the figures are marked as unchecked")
    for f in rec.figures:
        print(f"{f.tool} {f.version} | {f.part} | {f.stage}: LUT {f.lut}, FF {f.ff}, DSP {f.dsp}, BRAM18 "
              f"{f.bram_18k}, CARRY {f.carry}, latency {f.latency_max_cycles} cycles"
              + (f", clock {f.clock_ns:.2f} ns" if f.clock_ns else "")
              + (f"\n  {f.estimate_of}" if f.estimate_of else ""))
    print(f"wrote {path}")
    return not chk or bool(chk["bit_exact"])


def _project_checkpoint(project: Path) -> Path | None:
    """The checkpoint an hls4ml project was exported from (``checkpoint`` in its verification.json); None for a
    project of a QONNX file or a Brevitas module of one's own (its QONNX graph is synthesised instead)."""
    from jsc_hw.errors import MissingError
    from jsc_hw.runfolder import load_json

    ver = project / "verification.json"
    blob = load_json(ver) if ver.exists() else {}
    blob = blob if isinstance(blob, dict) else {}
    if "checkpoint" not in blob and blob.get("origin") is not None:
        return None
    ckpt = blob.get("checkpoint")
    if ckpt is None or not Path(ckpt).exists():
        raise MissingError(f"{project} is an hls4ml project whose model is not found ({ckpt or 'not recorded'}): "
                           "pass it with --checkpoint (a .pt or models/<name>) for the open-source flow")
    return Path(ckpt)


def _vendor(args: argparse.Namespace, target: Path, tool: str) -> int:
    from jsc_hw.hardware import vendor
    from jsc_hw.errors import MissingError
    from jsc_hw.figures import figures_dict
    from jsc_hw.files import atomic_json, output_folder

    if not (target / "build_prj.tcl").exists():
        raise MissingError(f"{target}: the vendor flow needs an hls4ml project folder (jsc-hw export)")
    figs = vendor.run_vendor(target, tool, args.vsynth, args.timeout)
    out = output_folder(args.out or target / "synth")
    path = atomic_json(out / "vendor.json", {"project": str(target), "figures": [figures_dict(f) for f in figs]})
    for f in figs:
        print(f"{f.tool} {f.version} | {f.part} | {f.stage}: LUT {f.lut}, FF {f.ff}, DSP {f.dsp}, "
              f"BRAM18 {f.bram_18k}, latency {f.latency_max_cycles} cycles")
    print(f"wrote {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 done, 2 user error, 3 the RTL is not bit-exact against its reference (PyTorch, or the QONNX
    executor for a QONNX model), as `jsc-hw export`."""
    from jsc_hw.hardware import synth, vendor
    from jsc_hw.cli.export import resolve
    from jsc_hw.errors import ConfigError
    from jsc_hw.files import output_folder
    from jsc_hw.select import best_trial
    from jsc_hw.sweep import synthesise_records

    if args.vectors < 0:
        raise ConfigError(f"--vectors: 0 (no check) or more rows, got {args.vectors}")
    target = Path(args.target)
    project = (target / "build_prj.tcl").exists()
    tool = args.tool
    if tool == "auto":
        tool = next((t for t in ("vitis", "vivado") if project and vendor.vendor_available(t)), "yosys")
    if tool != "yosys":
        return _vendor(args, target, tool)
    synth.check_family(args.family)
    synth.check_rtl_flow(args.rtl)  # alkaid missing: one line now, before minutes of training data and Verilator
    flow = dict(family=args.family, dsp=args.dsp, ecp5=args.ecp5, timeout=args.timeout,
                synthesise=not args.check_only, flatten=args.flatten, rtl_flow=args.rtl)
    if target.suffix == ".onnx":
        from jsc_hw import ingest
        from jsc_hw.cli.export import qonnx_rows
        from jsc_hw.fixed import FixedFormat

        fmt = FixedFormat.parse(args.input_format) if args.input_format else None
        graph = ingest.prepare(target, fmt, target="rtl")
        x, y, src = qonnx_rows(graph, args.data, args.scaler, args.vectors) if args.vectors else (None, None, "")
        out = output_folder(args.out or Path("runs") / "synth" / target.stem)
        return _verdict([_print(synth.synth_qonnx(target, out, x, y, src, fmt, **flow))])
    if project and args.checkpoint is None:
        args.checkpoint = _project_checkpoint(target)
        if args.checkpoint is None:
            out = output_folder(args.out or target / "synth")
            return _verdict([_print(synth.synth_project(target, out, args.vectors, **flow))])
    flow["vectors"] = args.vectors
    run_folder = args.checkpoint is None and (target / "records").is_dir()
    if args.all and run_folder:
        exact = [_print(p) for p in synthesise_records(target, every_repeat=True, keep_existing=False, **flow)]
        return _verdict(exact)
    if run_folder:  # the best trial by --metric, into the folder `report` and the sweep table read
        choice = best_trial(target, args.metric)
        checkpoint, default_out = choice.checkpoint, target / "synth" / choice.checkpoint.stem
        print(f"best trial of {target} by {args.metric}: {choice.trial}, repeat {choice.repeat} ({choice.value:.4f})")
    else:
        src = resolve(str(args.checkpoint or target), args.metric)
        checkpoint = src.checkpoint
        if (target / "checkpoint.pt").is_file() or not target.exists():  # models/<name>: keep models/ clean
            default_out = Path("runs") / "synth" / src.name
        else:
            default_out = target / "synth" if target.is_dir() else target.with_name(f"{target.stem}_synth")
    out = output_folder(args.out or default_out)
    return _verdict([_print(synth.synth_checkpoint(checkpoint, out, **flow))])


def _verdict(exact: list[bool]) -> int:
    bad = exact.count(False)
    if bad:
        log.error("%d model(s) NOT bit-exact against their reference: their RTL was not synthesised (see "
                  "rtl_check in synth.json)", bad)
        return 3
    return 0
