"""``jsc-hw search SPEC.yaml --trials N``: multi-objective search (accuracy vs hardware cost); resumable."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", type=Path, help="search spec (YAML): name, base, space, trials, seed, sampler, cost")
    p.add_argument("--trials", type=int, help="number of trials in the study (default: the spec's); a rerun "
                                              "of a finished search with a larger number continues it")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<spec name>)")
    p.add_argument("--sampler", help="override the spec's sampler: tpe or nsga2")
    p.add_argument("--cost", help="override the spec's hardware cost objective: bops, macs, params, "
                                  "weight_bits_total, lut (Verilator-checked RTL through Yosys) or lut_model "
                                  "(Yosys LUTs predicted from the Verilog, ~1 s a trial)")
    p.add_argument("--seed", type=int, help="override the spec's sampler seed")
    p.add_argument("--repeats", type=int, help="override the spec's repeats per trial")
    p.add_argument("--confirm", action="store_true",
                   help="then take every front point (and reference) through Verilator and Yosys: front_confirmed.md")
    p.add_argument("--vectors", type=int, default=16_500,
                   help="--confirm: test rows the RTL is checked on against PyTorch (default 16500)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base config key, e.g. --set data.max_rows=20000 (repeatable)")


def run(args: argparse.Namespace) -> int:
    from jsc_hw.config import parse_sets
    from jsc_hw.search import confirm_front, load_search, run_search, with_overrides

    spec = with_overrides(load_search(args.spec), parse_sets(args.sets), sampler=args.sampler, cost=args.cost,
                          seed=args.seed, repeats=args.repeats, trials=args.trials)
    run_dir = run_search(spec, args.out or Path("runs") / spec.name)
    print((run_dir / "front.md").read_text())
    print(f"front: {run_dir / 'front.md'}  all trials: {run_dir / 'trials.csv'}  "
          f"plot: {run_dir / 'plots' / 'pareto.png'}")
    print(f"export a point: jsc-hw export --fpga {run_dir / 'weights' / '<trial>__r0.pt'}")
    if args.confirm:
        path = confirm_front(spec, run_dir, vectors=args.vectors)
        print(path.read_text())
        print(f"confirmed front: {path}")
    return 0
