"""C-simulation vs PyTorch, bit for bit: an ``Agreement`` and its two renderings (verification.json, summary).

``rows_bit_exact`` counts rows whose every output equals the PyTorch (Brevitas) output exactly; differences are
also given in LSBs of the hls4ml output type, so "1 LSB off on 3 rows" reads as what it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Agreement:
    rows_checked: int
    rows_bit_exact: int
    max_abs_diff: float
    max_diff_lsb: float  #: max |difference| in units of ``output_lsb``
    output_lsb: float
    argmax_agreement: float
    acc_pytorch: float | None  #: test accuracy of the PyTorch (Brevitas) model on the checked rows
    acc_csim: float | None

    @property
    def bit_exact(self) -> bool:
        return self.rows_bit_exact == self.rows_checked


def lsb_of(ap_type: str) -> float:
    """LSB of an ``[u]fixed<W,I,...>`` type string."""
    match = re.search(r"fixed<\s*(\d+)\s*,\s*(-?\d+)", ap_type)
    if match is None:
        raise ValueError(f"not an ap_fixed type: {ap_type!r}")
    return 2.0 ** (int(match.group(2)) - int(match.group(1)))


def compare(y_ref: np.ndarray, y_hls: np.ndarray, lsb: float, labels: np.ndarray | None = None) -> Agreement:
    """Compare two (N, n_out) output arrays; ``labels`` (N,) adds the accuracy of both."""
    y_ref = np.asarray(y_ref, np.float64).reshape(len(y_ref), -1)
    y_hls = np.asarray(y_hls, np.float64).reshape(len(y_ref), -1)
    if y_ref.shape != y_hls.shape:
        raise ValueError(f"output shapes differ: PyTorch {y_ref.shape}, C-simulation {y_hls.shape}")
    diff = np.abs(y_ref - y_hls)
    ref_arg, hls_arg = y_ref.argmax(1), y_hls.argmax(1)
    acc = (lambda a: float((a == labels).mean())) if labels is not None else (lambda a: None)
    return Agreement(rows_checked=len(y_ref), rows_bit_exact=int((diff == 0).all(1).sum()),
                     max_abs_diff=float(diff.max(initial=0.0)), max_diff_lsb=float(diff.max(initial=0.0) / lsb),
                     output_lsb=lsb, argmax_agreement=float((ref_arg == hls_arg).mean()),
                     acc_pytorch=acc(ref_arg), acc_csim=acc(hls_arg))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def summary(a: Agreement, context: dict[str, Any]) -> str:
    """Human-readable Markdown summary of one verification."""
    verdict = "BIT-EXACT" if a.bit_exact else "MISMATCH"
    lines = [f"# Verification: C-simulation vs PyTorch — {verdict}", ""]
    lines += [f"- {k}: {v}" for k, v in context.items() if not isinstance(v, dict)]
    lines += ["", "| check | value |", "|---|---|",
              f"| rows bit-exact | {a.rows_bit_exact} / {a.rows_checked} |",
              f"| max abs difference | {a.max_abs_diff:g} ({a.max_diff_lsb:g} LSB of {a.output_lsb:g}) |",
              f"| argmax agreement | {a.argmax_agreement:.6f} |",
              f"| test accuracy, PyTorch | {_pct(a.acc_pytorch)} |",
              f"| test accuracy, C-simulation | {_pct(a.acc_csim)} |", ""]
    bn = context.get("batchnorm")
    if isinstance(bn, dict):
        lines += [f"BatchNorm {bn['handling']}: {bn['values_exact']} / {bn['values_checked']} (feature, input code) "
                  f"pairs exact over all {bn['input_codes']} input codes "
                  f"({'proven exact for every input' if bn['proven_exact'] else 'NOT exact'}).", ""]
    if not a.bit_exact:
        lines.append("The HLS project does not reproduce the PyTorch model; do not synthesise it. "
                     "Check the precision table in verification.json (layer_types).")
    return "\n".join(lines) + "\n"


def write(a: Agreement, out_dir: Path, context: dict[str, Any]) -> tuple[Path, Path]:
    """verification.json (agreement + context) and VERIFICATION.md in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "verification.json"
    js.write_text(json.dumps({**asdict(a), "bit_exact": a.bit_exact, **context}, indent=2) + "\n")
    md = out_dir / "VERIFICATION.md"
    md.write_text(summary(a, context))
    return js, md
