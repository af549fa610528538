"""The ``jsc-hw`` command line: a thin layer over the Python API.

Each sub-command is a module in this package exposing ``add_arguments(parser)`` and ``run(args) -> int``;
``COMMANDS`` below is the whole table (add a command = one module + one line here).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: sub-command name -> (module in jsc_hw.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "sweep": ("jsc_hw.cli.sweep", "train every trial x repeat of a sweep spec; resumable"),
    "search": ("jsc_hw.cli.search", "multi-objective search (accuracy vs FPGA cost) over widths and bits; resumable"),
    "data": ("jsc_hw.cli.data", "generate JSC jets (Pythia 8 + FastJet) or summarise a dataset"),
    "export": ("jsc_hw.cli.export", "hls4ml project + QONNX of a model or a run's best trial, C-simulated vs PyTorch"),
    "synth": ("jsc_hw.cli.synth", "FPGA resources/latency of a model: Vitis/Vivado reports or open-source RTL + Yosys"),
    "report": ("jsc_hw.cli.report", "accuracy-vs-cost table (MD/CSV/HTML) and Pareto plot with published designs"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jsc-hw", description="FPGA-aware jet-substructure classifiers")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:  # user errors: one clear line, no traceback
        logging.getLogger("jsc_hw").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
