"""``jsc-hw study SPEC.yaml``: train a sweep, then export, verify and synthesise the best trial of every model
group and write the accuracy x hardware report (``jsc_hw.study``); a rerun resumes every stage."""

from __future__ import annotations

import argparse
from pathlib import Path

from jsc_hw.cli import sweep as sweep_cli


def add_arguments(p: argparse.ArgumentParser) -> None:
    sweep_cli.add_training_arguments(p)
    p.add_argument("--metric", default="val_acc_last_epoch",
                   help="how the best trial of a group is chosen (validation data; default val_acc_last_epoch)")
    p.add_argument("--group-by", nargs="+", metavar="KEY",
                   help="config keys that make a group (default: model.arch quant.weight_bits quant.act_bits "
                        "prune.sparsity prune.sparsity_per_layer)")
    p.add_argument("--rows", type=int, help="C-simulate the first N test rows (default: the whole test split)")
    p.add_argument("--vectors", type=int, default=2000, help="test rows of the Verilator RTL check (default 2000)")
    p.add_argument("--family", default="xc7", help="Yosys synth_xilinx family (default xc7)")
    p.add_argument("--dsp", action="store_true", help="let Yosys infer DSP blocks (default: LUT logic only)")
    p.add_argument("--ecp5", action="store_true", help="also place and route on a Lattice ECP5 (nextpnr): Fmax")
    p.add_argument("--rtl", default="jsc-hw", metavar="FLOW",
                   help="who writes the Verilog: jsc-hw (shift-and-add; default), lut (neurons of at most 12 input "
                        "bits as truth tables, for sparse low-bit nets: model.fan_in) or alkaid (adder graphs)")
    p.add_argument("--synth-max-params", type=int, metavar="N",
                   help="groups with more parameters get Verilog and the Verilator check but no synthesis")


def run(args: argparse.Namespace) -> int:
    from jsc_hw.config import load_sweep, parse_sets
    from jsc_hw.errors import ConfigError
    from jsc_hw.select import METRICS
    from jsc_hw.study import DEFAULT_GROUP_BY, StudyOptions, run_study
    from jsc_hw.sweep import with_overrides
    from jsc_hw.hardware.synth import check_family, check_rtl_flow

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: at least 1, got {args.workers}")
    if args.metric not in METRICS:
        raise ConfigError(f"--metric {args.metric}: choose one of {sorted(METRICS)}")
    if args.rows is not None and args.rows < 1 or args.vectors < 0:
        raise ConfigError(f"--rows {args.rows} / --vectors {args.vectors}: rows >= 1, vectors >= 0")
    check_family(args.family)
    check_rtl_flow(args.rtl)
    spec = with_overrides(load_sweep(args.spec), parse_sets(args.sets), args.repeats)
    opt = StudyOptions(args.metric, tuple(args.group_by or DEFAULT_GROUP_BY), args.rows, args.vectors, args.family,
                       args.dsp, args.ecp5, args.synth_max_params, args.rtl)
    out = args.out or Path("runs") / spec.name
    run_study(spec, out, opt, args.workers, args.executor, args.address)
    print((out / "study.md").read_text())
    print(f"report: {out / 'report' / 'report.html'} (also .md, .csv, pareto.png); sweep results: "
          f"{out / 'results.md'}; models: {out / 'models'}/")
    return 0
