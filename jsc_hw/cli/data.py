"""``jsc-hw data generate`` (Pythia 8 + FastJet jets) and ``jsc-hw data info`` (counts, ranges, histograms)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from jsc_hw.jetgen.detector import DETECTORS
    from jsc_hw.jetgen.generate import GenSettings
    from jsc_hw.loaders import READERS

    default = GenSettings()  # the recipe of the embedded dataset (jsc_hw/embedded/DATA_CARD.md)

    sub = parser.add_subparsers(dest="data_command", required=True)
    g = sub.add_parser("generate", help="simulate balanced JSC jets with Pythia 8 + FastJet (resumable)")
    g.add_argument("--jets", type=int, required=True, help="total number of jets (balanced over g,q,w,z,t)")
    g.add_argument("--out", type=Path, required=True, help="run folder (chunks/, jets.npz, DATA_CARD.md)")
    g.add_argument("--workers", type=int, help="parallel processes (default 1); with --executor ray: chunks in "
                                               "flight (default all; a local instance gets this many CPUs)")
    g.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="ray: chunks as tasks on a Ray cluster, written by this driver (pip install 'jsc-hw[ray]')")
    g.add_argument("--address", help="Ray cluster address for --executor ray (default: a local Ray instance)")
    g.add_argument("--seed", type=int, default=1, help="run seed (default 1)")
    g.add_argument("--chunk-jets", type=int, default=500, help="jets per chunk, the unit of resume (default 500)")
    g.add_argument("--detector", choices=sorted(DETECTORS), default=default.detector,
                   help=f"detector emulation tag, or 'none' for particle level (default {default.detector})")
    g.add_argument("--radius", type=float, default=default.radius, help=f"anti-kT radius (default {default.radius})")
    g.add_argument("--on-shell", action=argparse.BooleanOptionalAction, default=default.pythia.on_shell,
                   help="W/Z/t of the hard process at a fixed mass, as MadGraph writes undecayed resonances "
                        f"(default {'on' if default.pythia.on_shell else 'off'})")
    g.add_argument("--backend", choices=["auto", "cpp", "fjcontrib", "numpy"], default="auto",
                   help="feature backend (all agree to ~1e-13; auto = cpp, or numpy without a compiler)")
    i = sub.add_parser("info", help="per-class counts, feature ranges and a PNG of per-class histograms")
    i.add_argument("path", nargs="?", type=Path, help="data file or folder (default: the embedded dataset)")
    i.add_argument("--format", choices=sorted(READERS), help="override the format guessed from the suffix")
    i.add_argument("--drop-invalid", action="store_true", help="drop rows with NaN/inf instead of failing")
    i.add_argument("--compare", type=Path, help="a second dataset to overlay (dashed), e.g. real data")
    i.add_argument("--png", type=Path, help="histogram figure (default: <name>-info.png here)")


def _generate(args: argparse.Namespace) -> int:
    from jsc_hw.files import atomic_write
    from jsc_hw.jetgen.card import card_text
    from jsc_hw.jetgen.generate import GenSettings, generate
    from jsc_hw.jetgen.pythia import PythiaSettings

    s = GenSettings(seed=args.seed, chunk_jets=args.chunk_jets, radius=args.radius, detector=args.detector,
                    backend=args.backend, pythia=PythiaSettings(on_shell=args.on_shell))
    workers = args.workers if args.executor == "ray" or args.workers is not None else 1
    target = generate(args.jets, args.out, s, workers=workers, executor=args.executor, address=args.address)
    command = "jsc-hw " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("jsc-hw") else shlex.join(
        ["jsc-hw", "data", "generate", "--jets", str(args.jets), "--out", str(args.out), "--seed", str(args.seed),
         "--chunk-jets", str(args.chunk_jets), "--detector", args.detector, "--radius", str(args.radius),
         "--on-shell" if args.on_shell else "--no-on-shell"])
    atomic_write(args.out / "DATA_CARD.md", card_text(target, command))
    print(f"wrote {target} and {args.out / 'DATA_CARD.md'}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from jsc_hw.datainfo import format_info, plot_histograms, summarize
    from jsc_hw.loaders import default_jets, read_jets

    jets = read_jets(args.path, args.format, drop_invalid=args.drop_invalid) if args.path else default_jets()
    other = read_jets(args.compare, drop_invalid=args.drop_invalid) if args.compare else None
    print(format_info(summarize(jets)))
    png = args.png or Path(f"{args.path.stem if args.path else 'embedded'}-info.png")
    plot_histograms(jets, png, other)
    print(f"histograms: {png}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"generate": _generate, "info": _info}[args.data_command](args)
