"""``jsc-hw search SPEC.yaml --trials N``: multi-objective search (accuracy vs hardware cost); resumable."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from jsc_hw.cli.sweep import parse_sets
from jsc_hw.config import apply_overrides
from jsc_hw.search import COSTS, SAMPLERS, load_search, run_search


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", type=Path, help="search spec (YAML): name, base, space, trials, seed, sampler, cost")
    p.add_argument("--trials", type=int, help="number of trials in the study (default: the spec's); a rerun "
                                              "of a finished search with a larger number continues it")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<spec name>)")
    p.add_argument("--sampler", choices=sorted(SAMPLERS), help="override the spec's sampler")
    p.add_argument("--cost", choices=sorted(COSTS), help="override the spec's hardware cost objective")
    p.add_argument("--seed", type=int, help="override the spec's sampler seed")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base config key, e.g. --set data.max_rows=20000 (repeatable)")


def run(args: argparse.Namespace) -> int:
    spec = load_search(args.spec)
    sets = parse_sets(args.sets)
    spec = replace(spec, base=apply_overrides(spec.base, sets),
                   references=tuple(apply_overrides(r, sets) for r in spec.references),
                   **{k: getattr(args, k) for k in ("sampler", "cost", "seed") if getattr(args, k) is not None})
    run_dir = run_search(spec, args.out or Path("runs") / spec.name, trials=args.trials)
    print((run_dir / "front.md").read_text())
    print(f"front: {run_dir / 'front.md'}  all trials: {run_dir / 'trials.csv'}  "
          f"plot: {run_dir / 'plots' / 'pareto.png'}")
    print(f"export a point: jsc-hw export --fpga {run_dir / 'weights' / '<trial>__r0.pt'}")
    return 0
