"""Jet generation cost: the reference pipeline against jsc-hw's, on the same Pythia events, in the same run.

    python benchmarks/jetgen_speed.py                     # 150 events per class, both recipes
    python benchmarks/jetgen_speed.py --events 400 --classes g t

Reference ("before"): every visible final-state particle copied from Pythia into numpy, FastJet anti-kT on
all of them, and the fjcontrib ``EnergyCorrelator*`` classes one observable at a time (ten O(n^3) sums per
jet).  jsc-hw ("after"): at particle level the leading jet is found inside Pythia (SlowJet = fjcore) so only
its constituents are copied, and the ECF sums are one fused O(n^3) pass; at detector level every particle is
still needed (the emulation bins them all), so only the fused pass applies.  Both run on each event, so
the Pythia time is shared and measured once; every row of the two pipelines is compared (rtol 1e-9).
Times are CPU seconds of this process (``time.process_time``), per accepted event (= jet).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from jsc_hw.jetgen.detector import detector_spec, emulate
from jsc_hw.jetgen.features import load_backend
from jsc_hw.jetgen.generate import GenSettings, event_jets
from jsc_hw.jetgen.pythia import events
from jsc_hw.schema import CLASSES

RECIPES = {"default: detector r05_h010_e005_t220, R=0.4, on-shell W/Z/t": ("r05_h010_e005_t220_nonu", 0.4),
           "particle level, R=0.8, on-shell W/Z/t": ("none", 0.8)}


def measure(cls: str, n_events: int, detector: str, radius: float, seed: int = 11) -> dict[str, float]:
    s = GenSettings(detector=detector, radius=radius)  # the default Pythia settings (on-shell W/Z/t)
    ref, spec = load_backend("fjcontrib"), detector_spec(detector)
    stream = events(cls, seed, s.pythia)
    next(stream)  # Pythia's initialisation (~0.7 s) is not a per-jet cost
    t = {"pythia": 0.0, "before": 0.0, "after": 0.0}
    for _ in range(n_events):
        t0 = time.process_time()
        ev = next(stream)
        t1 = time.process_time()
        p4, pdg = ev.final_state()
        objects = p4 if spec is None else emulate(p4, pdg, spec, np.random.default_rng(1))
        before = ref.compute(objects, radius, s.jet_ptmin, 1)
        t2 = time.process_time()
        after = event_jets(ev, s, np.random.default_rng(1))
        t3 = time.process_time()
        np.testing.assert_allclose(after, before, rtol=1e-9, atol=1e-12)
        t["pythia"] += t1 - t0
        t["before"] += t2 - t1
        t["after"] += t3 - t2
    return {k: 1000 * v / n_events for k, v in t.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=150)
    ap.add_argument("--classes", nargs="+", default=list(CLASSES), choices=CLASSES)
    args = ap.parse_args()
    load_backend("cpp"), load_backend("fjcontrib")  # build the library before timing
    for recipe, (det, radius) in RECIPES.items():
        print(f"\n{recipe}: CPU ms per event (Pythia shared; 'before'/'after' = everything after Pythia)")
        print("| class | Pythia | before | after | total before | total after | speed-up |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        tot_b = tot_a = 0.0
        for cls in args.classes:
            m = measure(cls, args.events, det, radius)
            b, a = m["pythia"] + m["before"], m["pythia"] + m["after"]
            tot_b, tot_a = tot_b + b, tot_a + a
            print(f"| {cls} | {m['pythia']:.2f} | {m['before']:.2f} | {m['after']:.2f} | {b:.2f} | {a:.2f} | "
                  f"{b / a:.2f}x |")
        n = len(args.classes)
        print(f"| balanced | | | | {tot_b / n:.2f} | {tot_a / n:.2f} | {tot_b / tot_a:.2f}x |")
        print(f"balanced jets/s per core: before {1000 * n / tot_b:.0f}, after {1000 * n / tot_a:.0f}")


if __name__ == "__main__":
    main()
