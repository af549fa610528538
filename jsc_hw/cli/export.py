"""``jsc-hw export --fpga MODEL_OR_RUN``: hls4ml project + QONNX + C-simulation verification, bit for bit.

MODEL_OR_RUN is a checkpoint (``.pt``), a model folder (``models/<name>``, or just ``<name>``), a sweep run
folder (``runs/<sweep>``: its best trial by ``--metric`` is exported), or a QONNX file (``.onnx``: a model of one's
own, from Brevitas, QKeras or the QONNX model zoo).  A jsc-hw model is checked against PyTorch and the QONNX executor
on its own test split; a QONNX file against the QONNX executor on the JSC test split (16 inputs, 5 outputs; the
embedded dataset unless ``--data``) or on seeded random rows on its input grid.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from jsc_hw import export, hls, ingest
from jsc_hw.config import DataSpec
from jsc_hw.data import Scaler, held_out_split
from jsc_hw.errors import ConfigError, MissingError
from jsc_hw.fixed import FixedFormat
from jsc_hw.schema import N_CLASSES, N_FEATURES
from jsc_hw.model_export import ModelSource, export_checkpoint
from jsc_hw.select import METRICS, best_trial

log = logging.getLogger(__name__)
MODELS = Path("models")
RANDOM_ROWS = 2000


def resolve(target: str, metric: str) -> ModelSource:
    path = Path(target)
    if not path.exists() and (MODELS / target).is_dir():
        path = MODELS / target
    if path.is_file():
        return ModelSource(path.stem, path, f"checkpoint {path}")
    if (path / "records").is_dir():
        c = best_trial(path, metric)
        return ModelSource(f"{path.name}_{c.trial}", c.checkpoint,
                           f"best trial of {path} by {metric}: {c.trial} (mean {c.trial_mean:.4f} over {c.repeats} "
                           f"repeats), repeat {c.repeat} ({c.value:.4f})")
    if (path / "checkpoint.pt").is_file():
        return ModelSource(path.name, path / "checkpoint.pt", f"model folder {path}")
    raise MissingError(f"{target}: not a checkpoint (.pt), a model folder (models/<name>/checkpoint.pt) or a "
                       f"sweep run folder (runs/<sweep>/records); available models: "
                       f"{sorted(p.name for p in MODELS.glob('*/checkpoint.pt')) if MODELS.is_dir() else []}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="MODEL_OR_RUN", help="checkpoint .pt, models/<name>, runs/<sweep>, or a QONNX "
                                                          "file MODEL.onnx")
    p.add_argument("--fpga", action="store_true", required=True, help="export to an hls4ml FPGA project")
    p.add_argument("--backend", choices=sorted(hls.BACKENDS), default="vitis")
    p.add_argument("--io", choices=sorted(hls.IO_TYPES), default="parallel", help="io_parallel or io_stream")
    p.add_argument("--part", default=hls.DEFAULT_PART, help=f"Xilinx part (default {hls.DEFAULT_PART})")
    p.add_argument("--clock-ns", type=float, default=5.0, help="clock period in ns (default 5)")
    p.add_argument("--strategy", choices=sorted(hls.STRATEGIES), default="latency")
    p.add_argument("--reuse", type=int, default=1, help="reuse factor (default 1: fully parallel)")
    p.add_argument("--out", type=Path, help="project folder (default hls_projects/<name>_<backend>_<io>)")
    p.add_argument("--metric", choices=sorted(METRICS), default="val_acc_last_epoch",
                   help="how the best trial of a run is chosen")
    p.add_argument("--rows", type=int, help="verify on the first N test rows (default: the whole test split; "
                                            f"random rows of a non-JSC QONNX model: {RANDOM_ROWS})")
    p.add_argument("--input-format", metavar="TYPE",
                   help="QONNX file without an input quantiser: the input type, e.g. 'fixed<16,6>' (default, hls4ml's) "
                        "or 'fixed<12,4,RND_CONV,SAT>'")
    p.add_argument("--data", metavar="PATH", help="QONNX file: the JSC dataset to check it on (default: the embedded "
                                                  "one; its test split)")
    p.add_argument("--scaler", type=Path, metavar="FILE", help="QONNX file: the standardisation the model was trained "
                                                               "with (JSON/NPZ with mean and std; default: fitted on "
                                                               "the dataset's training split)")
    p.add_argument("--requantise", action="store_true",
                   help="a float model (quant.enabled=false): quantise its weights post-training to its config's "
                        "fixed-point bit widths and export that (both accuracies are reported)")
    p.add_argument("--reverify", action="store_true",
                   help="MODEL_OR_RUN is an exported project: rebuild it from its files (e.g. after hand edits) and "
                        "verify it again on its saved test rows")
    p.add_argument("--save-model", type=Path, metavar="DIR",
                   help="also write a self-contained model folder (e.g. models/<name>) with a model card")


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 bit-exact, 1 an export step failed (named; files so far kept), 2 user error, 3 mismatch."""
    if args.rows is not None and args.rows < 1:
        raise ConfigError(f"--rows {args.rows}: give a number of rows >= 1 (or leave it out for the whole test split)")
    try:
        if args.reverify:
            result = export.reverify(Path(args.target))
            print((Path(args.target) / "VERIFICATION.md").read_text())
            return 0 if result.bit_exact else 3
        return _export(args)
    except (export.ExportError, hls.HlsError) as exc:
        print(f"export failed: {exc}\nfiles written so far are kept in {args.out or args.target}")
        return 1


def qonnx_rows(graph: ingest.Graph, data: str | None, scaler: Path | None, rows: int | None
               ) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Rows to check a QONNX model on: the JSC test split when it is a JSC model (16 features -> 5 classes) or
    ``data`` is given, else seeded random rows on its input grid."""
    jsc = int(np.prod(graph.input_shape)) == N_FEATURES and graph.n_out == N_CLASSES
    if data is None and scaler is None and not jsc:
        n = RANDOM_ROWS if rows is None else rows
        return ingest.random_rows(graph, n), None, f"{n} seeded N(0,1) rows on the input grid {graph.input.ap_type}"
    if not jsc:
        raise ConfigError(f"--data/--scaler: the model takes {graph.input_shape} and gives {graph.n_out} outputs, not "
                          f"the {N_FEATURES} JSC features and {N_CLASSES} classes; leave them out to check it on "
                          "random rows")
    split, source = held_out_split(DataSpec(path=data), Scaler.load(scaler) if scaler else None)
    n = len(split.y) if rows is None else min(rows, len(split.y))
    return split.x[:n], split.y[:n], source


def _export_qonnx(args: argparse.Namespace, spec: hls.HlsSpec) -> int:
    path = Path(args.target)
    fmt = FixedFormat.parse(args.input_format) if args.input_format else None
    graph = ingest.prepare(path, fmt)  # refusals come before anything is written
    x, y, source = qonnx_rows(graph, args.data, args.scaler, args.rows)
    out = args.out = args.out or Path("hls_projects") / f"{path.stem}_{args.backend}_{args.io}"
    print(f"exporting QONNX file {path} ({graph.input_note}: {graph.input.ap_type})\n  -> {out} ({len(x)} rows: "
          f"{source})")
    context = {"model": path.stem, "source": f"QONNX file {path}", "data": source, "arch": "qonnx",
               "origin": f"QONNX file {path.name}"}
    result = export.export_fpga(path, x, y, out, spec, input_format=fmt, context=context)
    print((out / "VERIFICATION.md").read_text())
    print(f"project: {out}  (README.md: how to run C-synthesis and Vivado synthesis)")
    return 0 if result.bit_exact else 3


def _export(args: argparse.Namespace) -> int:
    spec = hls.HlsSpec(args.backend, args.io, args.part, args.clock_ns, args.strategy, args.reuse)
    if Path(args.target).suffix == ".onnx":
        return _export_qonnx(args, spec)
    if args.input_format or args.data or args.scaler:
        raise ConfigError("--input-format, --data and --scaler apply to QONNX files; a jsc-hw model is checked on its "
                          "own dataset with its own scaler")
    src = resolve(args.target, args.metric)
    out = args.out = args.out or Path("hls_projects") / f"{src.name}_{args.backend}_{args.io}"
    print(f"exporting {src.note}\n  -> {out} (test rows of the model's own dataset)")
    result = export_checkpoint(src, out, spec, args.rows, args.requantise, args.save_model)
    print((out / "VERIFICATION.md").read_text())
    print(f"project: {out}  (README.md: how to run C-synthesis and Vivado synthesis)")
    if args.save_model:
        print(f"model folder: {args.save_model}")
    return 0 if result.bit_exact else 3
