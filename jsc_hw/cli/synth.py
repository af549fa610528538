"""``jsc-hw synth TARGET``: hardware figures of one model, each with its tool, version, part and stage.

TARGET is an hls4ml project folder (``hls_projects/<name>``, written by ``jsc-hw export``), a checkpoint
(``.pt``), a model folder (``models/<name>``), a sweep run (its best trial) or a QONNX file (``.onnx``, a model of
one's own; a project exported from one is checked on its own rows against the QONNX executor).  ``--tool``:

* ``vitis`` / ``vivado``: C-synthesis (+ Vivado logic synthesis with ``--vsynth``) through the project's own
  ``build_prj.tcl``, then its reports are parsed;
* ``yosys``: the open-source flow -- Verilog of the quantised network (``jsc_hw.verilog``), checked bit for bit
  against PyTorch in Verilator, Yosys ``synth_xilinx`` (and nextpnr-ecp5 place-and-route with ``--ecp5``);
* ``auto`` (default): the vendor flow when TARGET is a project and Vitis/Vivado HLS is on PATH, else yosys.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jsc_hw import ingest, synth, vendor
from jsc_hw.cli.export import qonnx_rows, resolve
from jsc_hw.figures import figures_dict
from jsc_hw.fixed import FixedFormat
from jsc_hw.sweep import synthesise_records


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="hls4ml project folder, checkpoint .pt, models/<name>, runs/<sweep>, or a QONNX "
                                  "file MODEL.onnx")
    p.add_argument("--tool", choices=["auto", "vitis", "vivado", "yosys"], default="auto")
    p.add_argument("--checkpoint", type=Path, help="the model of a project folder, for --tool yosys (default: the "
                                                    "checkpoint its verification.json names)")
    p.add_argument("--out", type=Path, help="output folder (default: <project>/synth, <run>/synth, runs/synth/<model> "
                                             "for models/<name>, <checkpoint>_synth for a .pt)")
    p.add_argument("--family", default="xc7", help="Xilinx family for Yosys synth_xilinx: xc7, xcu, xcup (default xc7)")
    p.add_argument("--flatten", action="store_true", help="Yosys: flatten before synthesis (a few per cent fewer "
                                                         "LUTs, far slower on large networks; default: each distinct "
                                                         "neuron module synthesised once)")
    p.add_argument("--dsp", action="store_true", help="let Yosys map multiplications to DSP blocks (default: "
                                                      "shift-and-add in LUTs and carry chains)")
    p.add_argument("--ecp5", action="store_true", help="also place and route on a Lattice ECP5 (nextpnr) for Fmax")
    p.add_argument("--vsynth", action="store_true", help="vendor flow: also run Vivado logic synthesis")
    p.add_argument("--check-only", action="store_true", help="open-source flow: Verilog + Verilator check, no Yosys")
    p.add_argument("--vectors", type=int, default=2000, help="test rows for the Verilator check (0: skip)")
    p.add_argument("--timeout", type=float, default=7200, help="seconds allowed per tool run")
    p.add_argument("--input-format", metavar="TYPE", help="QONNX file without an input quantiser: its input type "
                                                          "(default fixed<16,6>, as for jsc-hw export)")
    p.add_argument("--data", metavar="PATH", help="QONNX file: the JSC dataset to check the RTL on (default: embedded)")
    p.add_argument("--scaler", type=Path, metavar="FILE", help="QONNX file: its standardisation (JSON/NPZ mean, std)")
    p.add_argument("--all", action="store_true", help="sweep run: every trial x repeat (into <run>/synth/<record>), "
                                                     "not only the best; `jsc-hw report <run>` then plots them")


def _print(path: Path) -> None:
    blob = json.loads(path.read_text())
    chk = blob.get("rtl_check")
    if chk:
        ref = "the QONNX executor" if "qonnx" in blob else "PyTorch"
        print(f"RTL vs {ref} ({chk['simulator']}): {chk['vectors']} vectors, {chk['mismatched_values']} "
              f"mismatched values -> {'bit-exact' if chk['bit_exact'] else 'NOT bit-exact'}")
    for f in blob["figures"]:
        print(f"{f['tool']} {f['version']} | {f['part']} | {f['stage']}: LUT {f['lut']}, FF {f['ff']}, "
              f"DSP {f['dsp']}, BRAM18 {f['bram_18k']}, CARRY {f['carry']}, latency {f['latency_max_cycles']} "
              f"cycles" + (f", clock {f['clock_ns']:.2f} ns" if f.get("clock_ns") else ""))
    print(f"wrote {path}")


def _project_checkpoint(project: Path) -> Path | None:
    """The checkpoint an hls4ml project was exported from (``checkpoint`` in its verification.json); None for a
    project of a QONNX file or a Brevitas module of one's own (its QONNX graph is synthesised instead)."""
    ver = json.loads((project / "verification.json").read_text()) if (project / "verification.json").exists() else {}
    if "checkpoint" not in ver and ver.get("origin") is not None:
        return None
    ckpt = ver.get("checkpoint")
    if ckpt is None or not Path(ckpt).exists():
        raise FileNotFoundError(f"{project} is an hls4ml project whose model is not found ({ckpt or 'not recorded'}): "
                                "pass it with --checkpoint (a .pt or models/<name>) for the open-source flow")
    return Path(ckpt)


def run(args: argparse.Namespace) -> int:
    if args.vectors < 0:
        raise ValueError(f"--vectors {args.vectors}: give a number of test rows >= 0 (0 skips the Verilator check)")
    target = Path(args.target)
    project = (target / "build_prj.tcl").exists()
    tool = args.tool
    if tool == "auto":
        tool = next((t for t in ("vitis", "vivado") if project and vendor.vendor_available(t)), "yosys")
    if tool != "yosys":
        if not project:
            raise FileNotFoundError(f"{target}: the vendor flow needs an hls4ml project folder (jsc-hw export)")
        figs = vendor.run_vendor(target, tool, args.vsynth, args.timeout)
        out = args.out or target / "synth"
        out.mkdir(parents=True, exist_ok=True)
        path = out / "vendor.json"
        path.write_text(json.dumps({"project": str(target), "figures": [figures_dict(f) for f in figs]},
                                   indent=2) + "\n")
        _print(path)
        return 0
    flow = dict(family=args.family, dsp=args.dsp, ecp5=args.ecp5, timeout=args.timeout,
                synthesise=not args.check_only, flatten=args.flatten)
    if target.suffix == ".onnx":
        fmt = FixedFormat.parse(args.input_format) if args.input_format else None
        graph = ingest.prepare(target, fmt, target="rtl")
        x, y, src = qonnx_rows(graph, args.data, args.scaler, args.vectors) if args.vectors else (None, None, "")
        _print(synth.synth_qonnx(target, args.out or Path("runs") / "synth" / target.stem, x, y, src, fmt, **flow))
        return 0
    if project and args.checkpoint is None:
        args.checkpoint = _project_checkpoint(target)
        if args.checkpoint is None:
            _print(synth.synth_project(target, args.out or target / "synth", args.vectors, **flow))
            return 0
    flow["vectors"] = args.vectors
    if args.all and (target / "records").is_dir():
        for path in synthesise_records(target, every_repeat=True, keep_existing=False, **flow):
            _print(path)
        return 0
    src = resolve(str(args.checkpoint or target), "val_acc_last_epoch")
    if args.out:
        out = args.out
    elif (target / "checkpoint.pt").is_file() or not target.exists():  # models/<name>: keep models/ clean
        out = Path("runs") / "synth" / src.name
    else:
        out = target / "synth" if target.is_dir() else target.with_name(f"{target.stem}_synth")
    _print(synth.synth_checkpoint(src.checkpoint, out, **flow))
    return 0
