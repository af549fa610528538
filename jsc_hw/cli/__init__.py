"""The ``jsc-hw`` command line: a thin layer over the Python API.

Each sub-command is a module in this package exposing ``add_arguments(parser)`` and ``run(args) -> int``;
``COMMANDS`` below is the whole table (add a command = one module + one line here).  Only the chosen command's
module is imported (``jsc-hw --help`` imports none), and those modules import the library inside ``run``.

Errors of the ``jsc_hw.errors`` family are printed as one line (``-v``: with the traceback) and exit with their
``exit_code``; Ctrl-C / SIGTERM exit 130 after the command has stopped its workers.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: sub-command name -> (module in jsc_hw.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "sweep": ("jsc_hw.cli.sweep", "train every trial x repeat of a sweep spec; resumable"),
    "study": ("jsc_hw.cli.study", "sweep, then export + C-sim, Verilog + Verilator, Yosys and the report of the best "
                                  "trial per model group: accuracy x hardware in one command; resumable"),
    "search": ("jsc_hw.cli.search", "multi-objective search (accuracy vs FPGA cost) over widths and bits; resumable"),
    "data": ("jsc_hw.cli.data", "generate JSC jets (Pythia 8 + FastJet) or summarise a dataset"),
    "export": ("jsc_hw.cli.export", "hls4ml project + QONNX of a model or a run's best trial, C-simulated vs PyTorch"),
    "synth": ("jsc_hw.cli.synth", "FPGA resources/latency of a model: Vitis/Vivado reports or open-source RTL + Yosys"),
    "report": ("jsc_hw.cli.report", "accuracy-vs-cost table (MD/CSV/HTML) and Pareto plot with published designs"),
}
log = logging.getLogger("jsc_hw")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s options are added (all of them when None is given and ``command='*'``)."""
    parser = argparse.ArgumentParser(prog="jsc-hw", description="FPGA-aware jet-substructure classifiers")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command in (name, "*"):
            importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("optuna").setLevel(logging.WARNING)  # Optuna logs every trial at INFO
    from jsc_hw.errors import JscHwError

    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except JscHwError as exc:  # a problem the user can fix: one clear line, no traceback
        log.error("%s", exc, exc_info=args.verbose)
        return exc.exit_code
    except (ValueError, FileNotFoundError) as exc:  # raised by modules that predate jsc_hw.errors
        log.error("%s", exc, exc_info=args.verbose)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted: finished work is kept (complete files only); rerun the same command to continue")
        return 130


if __name__ == "__main__":
    sys.exit(main())
