"""``jsc-hw report PATH...``: one accuracy-vs-cost table (Markdown, CSV, HTML) and the Pareto plot.

PATHs: ``synth.json`` files or folders holding them (``jsc-hw synth``), hls4ml project folders (their
``verification.json`` and vendor reports) and sweep run folders (analytic cost only).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="synth.json files, folders of them, hls4ml projects, sweep runs")
    p.add_argument("--out", type=Path, default=Path("reports/hardware"),
                   help="output folder (default reports/hardware)")
    p.add_argument("--title", default="jsc-hw hardware report")


def run(args: argparse.Namespace) -> int:
    from jsc_hw.hardware import report

    rows = report.collect(args.paths)
    paths = report.write(rows, args.out, args.title)
    print(report.markdown(rows))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
