"""Calibrate jsc-hw's LUT model (``jsc_hw.hardware.lut_model``) on synthesised designs and print its errors.

    python benchmarks/lut_model.py                                   # the default calibration set, errors only
    python benchmarks/lut_model.py --held-out docs/hardware/front_cos # + errors on designs the fit did not see
    python benchmarks/lut_model.py --write                           # update jsc_hw/hardware/lut_model.json

Every sample is a ``synth.json`` (Yosys ``synth_xilinx`` xc7, no DSP, each module once, of Verilator-checked RTL)
beside the checkpoint it was made from; its Verilog is re-written (no synthesis) to count the logic.  Printed:
per design the Yosys LUTs, the prediction and the error, then the mean and largest absolute errors of the fit,
leave-one-out, and on the held-out designs.  About a second per design.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the designs whose checkpoints are kept beside their records (docs/hardware/synth/ holds the 110k-jet era's
#: records, whose models/ checkpoints have been retrained since, so its logic would not be theirs)
DEFAULT = ["synth_830k", "pruning", "front", "front_wide", "front_kd", "lut_native", "lut_native_round2",
           "lut_native_round3"]


def _jsons(folders: list[Path]) -> list[Path]:
    return sorted(p for f in folders for p in ([f] if f.suffix == ".json" else f.glob("**/synth.json")))


def _rows(title: str, samples, errs) -> None:
    print(f"\n{title}\n| design | Yosys LUT | predicted | error |\n|---|---:|---:|---:|")
    for s, e in zip(samples, errs):
        print(f"| {s.name} | {s.lut:,} | {round(s.lut * (1 + e)):,} | {e:+.1%} |")


def main() -> None:
    from jsc_hw.hardware import lut_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", nargs="*", type=Path, help="synth.json files or folders (default: docs/hardware/...)")
    p.add_argument("--held-out", nargs="*", type=Path, default=[], help="synth.json files or folders to test on")
    p.add_argument("--write", action="store_true", help="save the calibration as jsc_hw/hardware/lut_model.json")
    a = p.parse_args()
    train = lut_model.samples_from(_jsons(a.records or [ROOT / "docs" / "hardware" / d for d in DEFAULT]))
    model = lut_model.fit(train, yosys="Yosys 0.70")
    fit_err, loo = lut_model.errors(model, train), lut_model.loo_errors(train)
    _rows(f"calibration ({len(train)} designs), leave-one-out errors", train, loo)
    print(f"\nLUT = {model.per_adder_bit:.4f} x adder bits + {model.per_table_lut:.4f} x table LUT6s")
    print(f"fit: mean |error| {sum(map(abs, fit_err)) / len(fit_err):.1%}, max {max(map(abs, fit_err)):.1%}; "
          f"leave-one-out: mean {model.loo_mape:.1%}, max {model.loo_max:.1%}")
    if a.held_out:
        test = lut_model.samples_from(_jsons(a.held_out))
        err = lut_model.errors(model, test)
        _rows(f"held out ({len(test)} designs the fit did not see)", test, err)
        print(f"held out: mean |error| {sum(map(abs, err)) / len(err):.1%}, max {max(map(abs, err)):.1%}")
    if a.write:
        out = lut_model.save(model, ROOT / "jsc_hw" / "hardware" / "lut_model.json", train)
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
