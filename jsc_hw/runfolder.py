"""The run-folder contract, typed: what a sweep or search writes and what every reader reads.

``runs/<name>/``: ``spec.resolved.yaml``, ``records/<trial>__r<k>.json`` (a ``Record``), ``weights/<trial>__r<k>.pt``,
``synth/<trial>__r<k>/synth.json`` (a ``SynthRecord``), ``results.{csv,md}``, ``plots/``.  Every record and synth.json
carries ``schema`` (this module's ``SCHEMA``) and ``versions`` (the software that produced it).  Records are read
only through ``read_records`` / ``read_record``; files are written only through ``jsc_hw.files.atomic_write``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from jsc_hw.config import TrialConfig, from_dict, to_dict
from jsc_hw.errors import MissingError, RunFolderError
from jsc_hw.figures import Figures, Verdict
from jsc_hw.files import atomic_json

SCHEMA = 1  #: version of the record / synth.json layout; 0 = written before it was versioned
PACKAGES = ("torch", "brevitas", "hls4ml", "qonnx", "optuna", "alkaid")


@cache
def software_versions() -> dict[str, str | None]:
    """Versions of the libraries behind a result, jsc-hw's own, and the git commit of its source (if a checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    import jsc_hw

    out: dict[str, str | None] = {}
    for dist in PACKAGES:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    out["jsc-hw"] = jsc_hw.__version__
    try:
        res = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"], capture_output=True,
                             text=True, cwd=Path(jsc_hw.__file__).parent, timeout=10, check=True)
        out["git"] = res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        out["git"] = None
    return out


def stem(trial: str, repeat: int) -> str:
    return f"{trial}__r{repeat}"


def record_path(run_dir: str | Path, trial: str, repeat: int) -> Path:
    return Path(run_dir) / "records" / f"{stem(trial, repeat)}.json"


def checkpoint_relpath(trial: str, repeat: int) -> str:
    return f"weights/{stem(trial, repeat)}.pt"


def synth_dir(run_dir: str | Path, trial: str, repeat: int) -> Path:
    """Where ``jsc-hw synth`` / ``sweep --synth`` put a trial-repeat's hardware figures (read by tables and report)."""
    return Path(run_dir) / "synth" / stem(trial, repeat)


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path}: not a readable JSON file ({exc}); delete it and rerun the command "
                             "that wrote it") from None


def _build(cls: type, d: Any, path: Path, what: str, convert: dict[str, Any] | None = None) -> Any:
    """Dataclass ``cls`` from a JSON object, naming the file and the missing or unknown key."""
    if not isinstance(d, dict):
        raise RunFolderError(f"{path}: a {what} is a JSON object, got {type(d).__name__}")
    names = {f.name: f for f in fields(cls)}
    required = [n for n, f in names.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [k for k in required if k not in d]
    unknown = sorted(set(d) - set(names))
    if missing or unknown:
        raise RunFolderError(f"{path}: not a valid {what}: " + "; ".join(
            s for s in (f"missing key(s) {missing}" if missing else "",
                        f"unknown key(s) {unknown} (written by a newer jsc-hw?)" if unknown else "") if s))
    if int(d.get("schema", 0)) > SCHEMA:
        raise RunFolderError(f"{path}: schema {d['schema']} is newer than this jsc-hw reads ({SCHEMA}); upgrade jsc-hw")
    kwargs = dict(d)
    for key, fn in (convert or {}).items():
        if key in kwargs:
            try:
                kwargs[key] = fn(kwargs[key])
            except (TypeError, ValueError, KeyError) as exc:
                raise RunFolderError(f"{path}: {what} key {key!r} is invalid ({exc})") from None
    return cls(**kwargs)


# ---- trial-repeat records --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """One trained trial-repeat: ``records/<trial>__r<k>.json``."""

    trial: str
    repeat: int
    seed: int
    config: TrialConfig  #: the resolved config it was trained with
    val_acc: tuple[float, ...]  #: per epoch
    val_loss: tuple[float, ...]
    val_acc_last_epoch: float
    train_acc_last_step: float  #: accuracy on the last training batch (the course lab's figure)
    seconds: float
    cost: dict[str, float]  #: analytic cost (jsc_hw.hardware.cost.estimate)
    checkpoint: str  #: relative path of its weights
    train_acc_epoch_mean: float | None = None  #: mean training accuracy over the last epoch (None: older records)
    schema: int = 0  #: 0: written before records were versioned; writers pass SCHEMA
    versions: dict[str, str | None] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return stem(self.trial, self.repeat)

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**d, "config": to_dict(self.config), "val_acc": list(self.val_acc), "val_loss": list(self.val_loss)}

    @classmethod
    def from_json(cls, d: Any, path: Path = Path("<record>")) -> Record:
        return _build(cls, d, path, "trial-repeat record", {
            "config": lambda c: from_dict(TrialConfig, c), "val_acc": tuple, "val_loss": tuple})


def read_record(path: str | Path) -> Record:
    path = Path(path)
    return Record.from_json(load_json(path), path)


def read_records(run_dir: str | Path, required: bool = False) -> list[Record]:
    """Every record of a run folder, sorted by file name; ``required``: none is an error."""
    run_dir = Path(run_dir)
    paths = sorted((run_dir / "records").glob("*.json"))
    if required and not paths:
        raise MissingError(f"{run_dir}: no records/*.json; is this a sweep run folder (jsc-hw sweep)?")
    return [read_record(p) for p in paths]


def write_record(run_dir: str | Path, rec: Record) -> Path:
    return atomic_json(record_path(run_dir, rec.trial, rec.repeat), rec.to_json())


# ---- synth.json -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    """The model a hardware figure is of, with its accuracies and the checks behind them."""

    name: str
    arch: str
    weight_bits: int | None
    act_bits: int | None
    input_bits: int | None
    params: int | None
    bops: int | None
    acc_pytorch: float | None  #: test (or validation) accuracy of the PyTorch model
    acc_csim: float | None  #: accuracy of the hls4ml C-simulation on the same rows
    acc_source: str  #: which split and dataset the accuracies are on
    rtl_bit_exact: bool | None = None  #: open-source RTL vs PyTorch in Verilator (None: not checked)
    csim_rows_checked: int | None = None  #: C-simulation vs PyTorch (None: no C-simulation)
    csim_rows_bit_exact: int | None = None
    origin: str = "jsc-hw"  #: where the model came from: jsc-hw's own layer table, or a QONNX file / Brevitas module

    @property
    def csim_verdict(self) -> Verdict | None:
        """The C-simulation check behind ``acc_csim`` (None: no C-simulation, or a synth.json older than schema 1,
        which kept the count only in ``acc_source``)."""
        if self.csim_rows_checked is None:
            return None
        return Verdict("C-sim", self.csim_rows_checked, self.csim_rows_bit_exact or 0)


@dataclass(frozen=True)
class SynthRecord:
    """``synth.json``: one model through the open-source flow (Verilog, Verilator check, Yosys / nextpnr)."""

    model: ModelInfo
    figures: tuple[Figures, ...]
    checkpoint: str = ""
    rtl_check: dict[str, Any] | None = None  #: hardware.verilator.Check as a dict + the inputs; None: never checked
    rtl: dict[str, Any] = field(default_factory=dict)
    schema: int = 0  #: 0: written before synth.json was versioned; writers pass SCHEMA
    versions: dict[str, str | None] = field(default_factory=dict)
    qonnx: str = ""  #: the QONNX graph synthesised (a model of one's own; "": a jsc-hw checkpoint)
    input_type: str | None = None  #: QONNX: the ap_fixed type of its input
    input_source: str | None = None  #: QONNX: where that input type came from
    softmax_removed: bool | None = None  #: QONNX: a final Softmax was dropped (argmax unchanged)

    @property
    def verdict(self) -> Verdict:
        """The RTL check behind these figures (``checked == 0``: never checked)."""
        c = self.rtl_check
        if not c:
            return Verdict("RTL", 0, 0)
        return Verdict("RTL", int(c["vectors"]), int(c["vectors"]) - int(c["mismatched_vectors"]))

    def to_json(self) -> dict[str, Any]:
        from jsc_hw.figures import figures_dict

        return {"schema": self.schema, "versions": self.versions, "model": dataclasses.asdict(self.model),
                "checkpoint": self.checkpoint, "rtl_check": self.rtl_check, "rtl": self.rtl,
                "figures": [figures_dict(f) for f in self.figures],
                **({"qonnx": self.qonnx, "input_type": self.input_type, "input_source": self.input_source,
                    "softmax_removed": self.softmax_removed} if self.qonnx else {})}


def _figures(d: dict) -> Figures:
    known = {f.name for f in fields(Figures)}
    return Figures(**{k: v for k, v in d.items() if k in known})  # latency_ns / fmax_mhz are derived


def read_synth(path: str | Path) -> SynthRecord:
    path = Path(path)
    blob = load_json(path)
    rec = _build(SynthRecord, blob, path, "synth.json", {
        "model": lambda m: _build(ModelInfo, m, path, "synth.json 'model' section"),
        "figures": lambda fs: tuple(_figures(f) for f in fs)})
    if rec.rtl_check is not None and not {"vectors", "mismatched_vectors"} <= set(rec.rtl_check):
        raise RunFolderError(f"{path}: not a valid synth.json: 'rtl_check' lacks 'vectors'/'mismatched_vectors'")
    return rec


def write_synth(path: str | Path, rec: SynthRecord) -> Path:
    return atomic_json(path, rec.to_json())
