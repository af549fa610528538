"""The data card of a generated dataset: provenance, settings, per-class counts and feature summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jsc_hw.schema import CLASSES, FEATURES

DIFFERENCES = """\
## How this differs from the real hls4ml JSC release (OpenML 42468 / CERNBox .z / Zenodo)

* Hard process: Pythia 8 internal 2->2 matrix elements (gg->gg, qqbar->gg; qq'->qq', qqbar->q'qbar', gg->qqbar;
  ffbar->WW; ffbar->ZZ; gg/qqbar->ttbar) with pT-hat in [995, 1005] GeV, instead of MadGraph5 LO events with
  the same parton/boson pT window showered by Pythia 8.2xx.  Decays (W/Z/t, hadronic) are Pythia's own.
* Pythia 8.317 (Monash 2013, NNPDF2.3 LO) instead of Pythia 8.212; FastJet 3.5.2 / fjcontrib 1.105 instead of
  FastJet 3.1.3 / EnergyCorrelator 1.2.0-rc1 (the feature definitions are unchanged).
* Detector emulation re-implemented from trackObservables `discretizeEvent`/`smearJetPt` (see
  jsc_hw/jetgen/detector.py); the random numbers differ from ROOT's TRandom3.
* The jet radius of the real files (0.8 in the hls4ml papers, 0.4 hard-coded in the 2017-19 branch) and the
  exact detector configuration (r1/h0.022/e0.0175 vs r0.5/h0.010/e0.005) are not certain; see docs/data.md.
* Rows whose groomed jet has a single constituent (0/0 ratios) are dropped, as addTruth.py dropped NaN rows.
* Balanced classes; no de-duplication is needed (continuous features).  Rows are ordered by class and chunk
  (`chunk` array); shuffle before splitting.
"""


def card_text(npz: Path, command: str, accuracy: dict[str, float] | None = None) -> str:
    with np.load(npz) as d:
        x, y, meta = d["features"], d["label"], json.loads(str(d["meta"]))
    s = meta["settings"]
    counts = {c: int(n) for c, n in zip(CLASSES, np.bincount(y, minlength=len(CLASSES)))}
    lines = [
        "# Data card: jsc-hw generated JSC jets", "",
        f"File `{npz.name}`: {len(y)} jets, {npz.stat().st_size / 1e6:.2f} MB (float32 features, compressed npz);",
        "arrays `features` (N,16, canonical hls4ml order), `names`, `label` (int8, 0 g 1 q 2 w 3 z 4 t), `chunk`, `meta`.",
        "", f"Command: `{command}`", "",
        "## Generator", "",
        f"* versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"* seed {s['seed']}, chunks of {s['chunk_jets']} jets, Pythia seed of chunk k of class c = "
        "`jsc_hw.jetgen.generate.chunk_seed(seed, c, k)`",
        f"* pp at {s['pythia']['sqrt_s'] / 1000:g} TeV, pT-hat window {s['pythia']['pthat']} GeV, "
        f"limitTau0 (c tau > 10 mm stable) = {s['pythia']['limit_tau0']}, extra Pythia settings {s['pythia']['extra']}",
        f"* detector emulation `{s['detector']}`; anti-kT R = {s['radius']}, inclusive jets above {s['jet_ptmin']} GeV, "
        f"leading jet kept if {s['jet_pt_window'][0]:g} < pT < {s['jet_pt_window'][1]:g} GeV",
        "* mMDT = SoftDrop(beta 0, z_cut 0.1, R0 1); ECF ratios with the pt_R measure on the groomed jet; zlogz and "
        "multiplicity on the ungroomed jet",
        f"* events generated {meta['n_events']}; leading jets outside the pT window {meta['n_outside_window']}; "
        f"dropped for undefined (0/0) ratios {meta['n_undefined']}; "
        + (f"CPU time {meta['cpu_s']:.0f} s" if "cpu_s" in meta else
           f"summed chunk wall time {meta['chunk_wall_s']:.0f} s, run wall time {meta.get('wall_s', 0):.0f} s "
           f"with {meta.get('workers', '?')} workers on a shared 2-core machine"),
        "", "## Per-class counts", "", "| " + " | ".join(CLASSES) + " |", "|" + "---|" * len(CLASSES),
        "| " + " | ".join(str(counts[c]) for c in CLASSES) + " |", "",
        "## Feature summaries (per-class mean; overall min / max)", "",
        "| feature | " + " | ".join(CLASSES) + " | min | max |", "|---|" + "---|" * (len(CLASSES) + 2),
    ]
    for j, f in enumerate(FEATURES):
        means = " | ".join(f"{x[y == i, j].mean():.4g}" for i in range(len(CLASSES)))
        lines.append(f"| {f} | {means} | {x[:, j].min():.4g} | {x[:, j].max():.4g} |")
    if accuracy:
        lines += ["", "## Reference MLP (64-32-32) accuracy on this dataset", "",
                  "| " + " | ".join(accuracy) + " |", "|" + "---|" * len(accuracy),
                  "| " + " | ".join(f"{v:.3f}" for v in accuracy.values()) + " |"]
    return "\n".join(lines + ["", DIFFERENCES])
