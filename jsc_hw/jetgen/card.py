"""The data card of a generated dataset: provenance, settings, per-class counts and feature summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jsc_hw.schema import CLASSES, FEATURES

RECIPE = """\
## The recipe: what is documented and what is inferred (docs/data.md, "The recipe")

| setting | value here | status |
|---|---|---|
| beams, hard process | pp 13 TeV; 2->2 gg, qq, WW, ZZ, tt with the parton/boson pT in 995-1005 GeV | documented (MadGraph run card `ptj`/`pt_min_pdg`, sample names) |
| W/Z/t | undecayed resonances on shell (width 1 MeV), decayed by Pythia | documented: MadGraph LHE files of final-state W/Z/t (ISTUP = 1), decayed in Pythia |
| resonance masses | W 79.824, Z 91.188, t 173.0 GeV | inferred: MadGraph5's default `sm` model (its tree-level W mass) |
| shower, hadronisation | Pythia 8.317 Monash 2013, NNPDF2.3 LO, MPI/ISR/FSR on | documented (Pythia 8.2, Monash, UE included); version differs |
| unstable particles | c tau > 10 mm stable (limitTau0); neutrinos removed | inferred from the PDG-ID lists / documented by the `nonu` tag |
| detector emulation | `r05_h010_e005_t220_nonu`: resolution x0.5, HCAL 0.010, ECAL 0.005 cells, tracks to 220 GeV | documented: the configuration steerScript.sh runs for the file's tag `r1_h022_e0175_t220_nonu`; chosen over the tag's literal r1/0.022/0.0175 by the fingerprint (the W/Z mass peaks and W<->Z confusion) |
| jets | anti-kT R = 0.4, inclusive above 100 GeV, leading jet, 800 < pT < 1600 GeV | R = 0.4 documented in the code branch that parses this tag (the papers quote 0.8; both measured in docs/data.md); the window is recalled, not read |
| features | mMDT (SoftDrop beta 0, z_cut 0.1, R0 1) and the fjcontrib ECF ratios | documented (anaSubstructure.cpp) |
| labels, rows | label = generated sample; rows with 0/0 ratios dropped | documented (addTruth.py) |

## How this differs from the real hls4ml JSC release (OpenML 42468 / CERNBox .z / Zenodo)

* Hard process: Pythia 8 internal 2->2 matrix elements (gg->gg, qqbar->gg; qq'->qq', qqbar->q'qbar', gg->qqbar;
  ffbar->WW; ffbar->ZZ; gg/qqbar->ttbar) instead of MadGraph5 LO events; the W/Z/t are made on shell as MadGraph
  writes them, but Pythia's own decays keep the spin correlations of its internal processes, where Pythia decays
  LHE resonances isotropically.
* Pythia 8.317 instead of Pythia 8.212; FastJet 3.5.2 / fjcontrib 1.105 instead of FastJet 3.1.3 /
  EnergyCorrelator 1.2.0-rc1 (the feature definitions are unchanged).
* Detector emulation re-implemented from trackObservables `discretizeEvent`/`smearJetPt` (see
  jsc_hw/jetgen/detector.py); the random numbers differ from ROOT's TRandom3.
* Balanced classes; no de-duplication is needed (continuous features).  Rows are ordered by class and chunk
  (`chunk` array); shuffle before splitting.
"""


def card_text(npz: Path, command: str, reference: str | None = None) -> str:
    """The card of a generated ``jets.npz``; ``reference``: a Markdown block on the reference MLP's accuracy and
    confusion beside the real data's (docs/data/reference_mlp.md for the embedded default)."""
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
        f"limitTau0 (c tau > 10 mm stable) = {s['pythia']['limit_tau0']}, W/Z/t on shell = "
        f"{s['pythia'].get('on_shell', False)}, extra Pythia settings {s['pythia']['extra']}",
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
    if reference:
        lines += ["", "## Reference MLP 16-64-32-32-5 on this dataset, beside the real release", "", reference.strip()]
    return "\n".join(lines + ["", *departures(s), RECIPE])


def departures(settings: dict) -> list[str]:
    """Lines naming the settings in which a run departs from the default recipe (none: an empty list)."""
    from jsc_hw.jetgen.generate import GenSettings

    default = GenSettings().to_json()
    keys = ("radius", "jet_ptmin", "jet_pt_window", "detector", "pythia")
    diff = [f"`{k}` = {settings[k]} (default {default[k]})" for k in keys if settings[k] != default[k]]
    return [f"**This run departs from the default recipe below in:** {'; '.join(diff)}.", ""] if diff else []
