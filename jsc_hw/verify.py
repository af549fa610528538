"""C-simulation against its references, bit for bit: ``Agreement`` per reference, the ``Verification`` verdict and
its two renderings (verification.json, VERIFICATION.md).

The references are the QONNX executor's outputs on the exported graph (``qonnx``) and, for a Brevitas module, PyTorch
(``pytorch``).  ``rows_bit_exact`` counts rows whose every output equals the reference exactly; differences are
also given in LSBs of the hls4ml output type, so "1 LSB off on 3 rows" reads as what it is.  The verdict is
bit-exact only when every reference agrees on every row and a float BatchNorm, if any, is proven exact.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jsc_hw.errors import ConfigError, ToolError
from jsc_hw.fixed import FixedFormat

#: reference key -> how reports name it; the first present is the primary one (top level of verification.json)
REFERENCES: dict[str, str] = {"pytorch": "PyTorch (Brevitas)", "qonnx": "QONNX executor"}


@dataclass(frozen=True)
class Agreement:
    rows_checked: int
    rows_bit_exact: int
    max_abs_diff: float
    max_diff_lsb: float  #: max |difference| in units of ``output_lsb``
    output_lsb: float
    argmax_agreement: float
    acc_pytorch: float | None  #: accuracy of the reference on the checked rows (PyTorch, or the QONNX executor)
    acc_csim: float | None
    ties_reference: int = 0  #: rows whose largest reference output is shared by two or more classes (TIE_RULE)
    ties_csim: int = 0  #: the same for the C-simulation outputs

    @property
    def bit_exact(self) -> bool:
        return self.rows_bit_exact == self.rows_checked


@dataclass(frozen=True, eq=False)
class Verification:
    agreements: dict[str, Agreement]  #: reference key (REFERENCES) -> C-simulation vs that reference
    batchnorm: dict | None = None  #: the exhaustive proof of a float BatchNorm (export._prove_batchnorm)
    notes: tuple[str, ...] = field(default=())  #: what was verified instead of what (a removed softmax, ...)

    @property
    def primary(self) -> tuple[str, Agreement]:
        key = next(k for k in REFERENCES if k in self.agreements)
        return key, self.agreements[key]

    @property
    def bit_exact(self) -> bool:
        bn_ok = self.batchnorm is None or bool(self.batchnorm.get("proven_exact"))
        return bool(self.agreements) and all(a.bit_exact for a in self.agreements.values()) and bn_ok


TIE_RULE = "a tie for the largest output resolves to the lowest class index (numpy argmax)"


def ties(y: np.ndarray) -> int:
    """Rows of (N, n_out) whose maximum is attained by more than one output."""
    y = np.asarray(y).reshape(len(y), -1)
    return int(((y == y.max(1, keepdims=True)).sum(1) > 1).sum()) if y.size else 0


def lsb_of(ap_type: str) -> float:
    """LSB of an ``[u]fixed<W,I,...>`` type string."""
    try:
        return FixedFormat.parse(ap_type).lsb
    except ValueError:
        raise ConfigError(f"not an ap_fixed type: {ap_type!r}") from None


def compare(y_ref: np.ndarray, y_hls: np.ndarray, lsb: float, labels: np.ndarray | None = None) -> Agreement:
    """Compare two (N, n_out) output arrays; ``labels`` (N,) adds the accuracy of both."""
    y_ref = np.asarray(y_ref, np.float64).reshape(len(y_ref), -1)
    y_hls = np.asarray(y_hls, np.float64).reshape(len(y_ref), -1)
    if y_ref.shape != y_hls.shape:
        raise ToolError(f"output shapes differ: reference {y_ref.shape}, C-simulation {y_hls.shape}")
    diff = np.abs(y_ref - y_hls)
    ref_arg, hls_arg = y_ref.argmax(1), y_hls.argmax(1)
    acc = (lambda a: float((a == labels).mean())) if labels is not None else (lambda a: None)
    return Agreement(rows_checked=len(y_ref), rows_bit_exact=int((diff == 0).all(1).sum()),
                     max_abs_diff=float(diff.max(initial=0.0)), max_diff_lsb=float(diff.max(initial=0.0) / lsb),
                     output_lsb=lsb, argmax_agreement=float((ref_arg == hls_arg).mean()),
                     acc_pytorch=acc(ref_arg), acc_csim=acc(hls_arg), ties_reference=ties(y_ref),
                     ties_csim=ties(y_hls))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def summary(v: Verification, context: dict[str, Any]) -> str:
    """Human-readable Markdown summary of one verification."""
    verdict = "BIT-EXACT" if v.bit_exact else "MISMATCH"
    refs = " and ".join(REFERENCES[k] for k in v.agreements)
    lines = [f"# Verification: C-simulation vs {refs} — {verdict}", ""]
    lines += [f"- {k}: {val}" for k, val in context.items() if not isinstance(val, dict | list)]
    lines += [f"- NOTE: {n}" for n in v.notes]
    lines += ["", "| check | " + " | ".join(REFERENCES[k] for k in v.agreements) + " |",
              "|---|" + "---|" * len(v.agreements)]
    rows = [("rows bit-exact", lambda a: f"{a.rows_bit_exact} / {a.rows_checked}"),
            ("max abs difference", lambda a: f"{a.max_abs_diff:g} ({a.max_diff_lsb:g} LSB of {a.output_lsb:g})"),
            ("argmax agreement", lambda a: f"{a.argmax_agreement:.6f}"),
            ("rows with a tie for the largest output (reference / C-sim)", lambda a: f"{a.ties_reference} / "
                                                                                       f"{a.ties_csim}"),
            ("accuracy, reference", lambda a: _pct(a.acc_pytorch)),
            ("accuracy, C-simulation", lambda a: _pct(a.acc_csim))]
    lines += [f"| {name} | " + " | ".join(fmt(a) for a in v.agreements.values()) + " |" for name, fmt in rows]
    lines += ["", f"Argmax and accuracies: {TIE_RULE}.", ""]
    bn = v.batchnorm
    if bn is not None:
        lines += [f"BatchNorm {bn['handling']}: {bn['values_exact']} / {bn['values_checked']} (feature, input code) "
                  f"pairs exact over all {bn['input_codes']} input codes "
                  f"({'proven exact for every input' if bn['proven_exact'] else 'NOT exact'}).", ""]
    if not v.bit_exact:
        lines.append("The HLS project does not reproduce the model; do not synthesise it. "
                     "Check the precision table in verification.json (layer_types).")
    return "\n".join(lines) + "\n"


def write(v: Verification, out_dir: Path, context: dict[str, Any]) -> tuple[Path, Path]:
    """verification.json (primary agreement at the top level, every reference under ``agreements``, context) and
    VERIFICATION.md in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key, primary = v.primary
    blob = {**asdict(primary), "bit_exact": v.bit_exact, "reference": key, "tie_rule": TIE_RULE,
            "agreements": {k: {**asdict(a), "bit_exact": a.bit_exact} for k, a in v.agreements.items()},
            "batchnorm": v.batchnorm, "notes": list(v.notes), **context}
    js = out_dir / "verification.json"
    js.write_text(json.dumps(blob, indent=2) + "\n")
    md = out_dir / "VERIFICATION.md"
    md.write_text(summary(v, context))
    return js, md
