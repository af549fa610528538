"""Which recipe makes generated jets behave like the real JSC release?  Every hypothesis is a Pythia variant
(generated once per class) and a jet recipe (detector emulation, radius) applied to the same events, scored on
one protocol against the real data's fingerprint: the confusion matrix of a 16-64-32-32-5 MLP trained on the
real OpenML 42468 training split (true labels of its 166,000-row test split with that model's outputs:
../shared/data/jsc-real/, copied below as numbers), and the W/Z groomed-mass peaks.

    R1='"particle R0.8" "particle R0.4" "detector r1 R0.4" "detector r1 R0.8"'
    R05='"detector r05 R0.4" "detector r05 R0.8" "particle R0.8" "particle R0.4"'
    S=docs/data/variant_study.py
    eval python $S generate --out runs/variants --variants base onshell_pdg nompi noisr nofsrres --recipes $R1
    eval python $S generate --out runs/variants_r05 --variants onshell --recipes $R05
    eval python $S score --out runs/variants --variants base onshell_pdg nompi noisr nofsrres --recipes $R1
    eval python $S score --out runs/variants_r05 --variants onshell --recipes $R05
    python $S collect --out runs/variants runs/variants_r05        # docs/data/variants.{json,md}
    python $S figures --out runs/variants runs/variants_r05         # docs/data/variants_mass.png
    python $S reference              # the embedded default at full size: docs/data/reference_mlp.{json,md}

(3,000 events per class and variant, ~1-1.5 CPU-hours in all; PYTHONPATH=. from the repository root.)
Generation resumes: a (variant, class) file that exists is not generated again.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from jsc_hw.jetgen.generate import FEATURE_COLS, GenSettings, event_jets
from jsc_hw.jetgen.pythia import PythiaSettings, events
from jsc_hw.schema import CLASSES, FEATURES

HERE = Path(__file__).parent

#: confusion of the QKeras 6-bit 16-64-32-32-5 MLP on the real test split (rows true, columns predicted; g q w z t)
REAL_CONFUSION = np.array([[0.740, 0.147, 0.016, 0.013, 0.084], [0.137, 0.740, 0.032, 0.020, 0.072],
                           [0.042, 0.175, 0.751, 0.020, 0.011], [0.042, 0.156, 0.050, 0.738, 0.014],
                           [0.064, 0.031, 0.041, 0.023, 0.841]])
REAL_ACCURACY = 0.762
W, Z = CLASSES.index("w"), CLASSES.index("z")


@dataclass(frozen=True)
class Variant:
    pythia: PythiaSettings
    classes: tuple[str, ...] = tuple(CLASSES)  # the classes it changes; the others are taken from "base"
    note: str = ""


VARIANTS: dict[str, Variant] = {
    "base": Variant(PythiaSettings(), note="Pythia 8.317 defaults (Monash), internal 2->2, W/Z/t Breit-Wigner"),
    "nompi": Variant(PythiaSettings(extra=("PartonLevel:MPI = off",)), ("w", "z"), "no underlying event"),
    "noisr": Variant(PythiaSettings(extra=("PartonLevel:ISR = off",)), ("w", "z"), "no initial-state radiation"),
    "nofsrres": Variant(PythiaSettings(extra=("PartonLevel:FSRinResonances = off",)), ("w", "z"),
                        "no FSR inside W/Z decays"),
    "onshell_pdg": Variant(PythiaSettings(extra=tuple(f"{p}:{k}" for p in (23, 24, 6)
                                                  for k in ("doForceWidth = on", "mWidth = 0.001"))),
                           ("w", "z", "t"), "W/Z/t of the hard process at Pythia's pole masses (width 1 MeV)"),
    "onshell": Variant(PythiaSettings(on_shell=True), ("w", "z", "t"),
                       "W/Z/t at MadGraph5 sm masses (W 79.824), as MadGraph writes undecayed resonances"),
}
#: jet recipe -> (detector tag, anti-kT radius); all applied to the same events
RECIPES: dict[str, tuple[str, float]] = {
    "particle R0.8": ("none", 0.8), "particle R0.4": ("none", 0.4),
    "detector r1 R0.4": ("r1_h022_e0175_t220_nonu", 0.4), "detector r1 R0.8": ("r1_h022_e0175_t220_nonu", 0.8),
    "detector r05 R0.4": ("r05_h010_e005_t220_nonu", 0.4), "detector r05 R0.8": ("r05_h010_e005_t220_nonu", 0.8),
}
STREAM_SEED, DETECTOR_SEED = 4242, 5


def _file(out: Path, variant: str, cls: str) -> Path:
    return out / f"{variant}_{cls}.npz"


def run_one(args: tuple[str, str, int, Path, tuple[str, ...]]) -> str:
    """The recipes on the same ``n_events`` events of one (variant, class); rows of features.COLUMNS."""
    variant, cls, n_events, out, recipes = args
    pythia = VARIANTS[variant].pythia
    settings = {r: replace(GenSettings(pythia=pythia), detector=RECIPES[r][0], radius=RECIPES[r][1]) for r in recipes}
    rng = np.random.default_rng(DETECTOR_SEED)
    rows: dict[str, list[np.ndarray]] = {r: [] for r in recipes}
    stream = events(cls, STREAM_SEED, pythia)
    for _ in range(n_events):
        ev = next(stream)
        for r, s in settings.items():
            for jet in event_jets(ev, s, rng):
                if s.jet_pt_window[0] < jet[0] < s.jet_pt_window[1] and np.all(np.isfinite(jet[FEATURE_COLS])):
                    rows[r].append(jet)
    target = _file(out, variant, cls)
    np.savez_compressed(target.with_suffix(".tmp.npz"), **{r: np.array(v) for r, v in rows.items()})
    target.with_suffix(".tmp.npz").replace(target)
    return target.name


def _source(variant: str, cls: str) -> str:
    """The variant whose events stand for ``cls`` in ``variant`` (classes it does not change come from base)."""
    return variant if cls in VARIANTS[variant].classes else "base"


def generate(n_events: int, out: Path, workers: int, variants: list[str], recipes: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    needed = dict.fromkeys((_source(v, c), c) for v in variants for c in CLASSES)
    todo = [(v, c, n_events, out, tuple(recipes)) for v, c in needed if not _file(out, v, c).exists()]
    with get_context("fork").Pool(workers) as pool:
        for name in pool.imap_unordered(run_one, todo):
            print("done", name, flush=True)


def load(out: Path, variant: str, recipe: str) -> tuple[np.ndarray, np.ndarray]:
    """Balanced (x (n,16) in FEATURES order, y) of one variant and recipe."""
    xs = []
    for c in CLASSES:
        with np.load(_file(out, _source(variant, c), c)) as d:
            xs.append(d[recipe][:, FEATURE_COLS])
    n = min(len(x) for x in xs)
    return np.concatenate([x[:n] for x in xs]), np.repeat(np.arange(len(CLASSES)), n)


def mlp_confusion(x: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = 60, test: float = 0.25,
                  batch: int = 256) -> np.ndarray:
    """The reference 16-64-32-32-5 ReLU MLP (standardised features, shuffled split, Adam 1e-3); test confusion
    matrix, rows = true class, normalised per row."""
    import torch

    torch.manual_seed(seed)
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int((1 - test) * len(y))
    tr, te = idx[:cut], idx[cut:]
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-12
    xt, yt = torch.tensor((x - mu) / sd, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
    net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for b in torch.tensor(tr)[torch.randperm(len(tr), generator=g)].split(batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[b]), yt[b]).backward()
            opt.step()
    with torch.no_grad():
        pred = net(xt[te]).argmax(1).numpy()
    cm = np.zeros((5, 5))
    np.add.at(cm, (y[te], pred), 1)
    return cm / cm.sum(1, keepdims=True)


def peak_fraction(m: np.ndarray, centre: float, half_width: float = 3.5) -> float:
    """Largest fraction of jets in a 7-GeV window within 15 GeV below to 5 GeV above ``centre``."""
    return float(max(np.mean(np.abs(m - c) < half_width) for c in np.arange(centre - 15, centre + 5.01, 0.5)))


def score(x: np.ndarray, y: np.ndarray, **mlp: float) -> dict:
    cm = mlp_confusion(x.astype(np.float64), y, **mlp)
    mass, mult = x[:, FEATURES.index("j_mass_mmdt")], x[:, FEATURES.index("j_multiplicity")]
    return {"n_per_class": int(np.sum(y == 0)), "accuracy": float(np.trace(cm) / 5),
            "per_class": {c: float(cm[i, i]) for i, c in enumerate(CLASSES)},
            "confusion": cm.round(4).tolist(), "l1_to_real": float(np.abs(cm - REAL_CONFUSION).sum()),
            "w_to_z": float(cm[W, Z]), "z_to_w": float(cm[Z, W]), "w_to_q": float(cm[W, 1]), "z_to_q": float(cm[Z, 1]),
            "g_to_t": float(cm[0, 4]),
            "w_peak7": peak_fraction(mass[y == W], 80.4), "z_peak7": peak_fraction(mass[y == Z], 91.2),
            "w_mass_lt20": float(np.mean(mass[y == W] < 20)), "z_mass_lt20": float(np.mean(mass[y == Z] < 20)),
            "mean_multiplicity": {c: float(mult[y == i].mean()) for i, c in enumerate(CLASSES)}}


def score_all(out: Path, variants: list[str], recipes: list[str]) -> dict:
    import torch

    torch.set_num_threads(1)  # 11k-row MLPs: one thread is as fast and leaves the other core free
    done = out / "variants.json"
    results = json.loads(done.read_text()) if done.exists() else {}  # scores already made are kept
    for v in variants:
        for r in recipes:
            if f"{v} | {r}" in results:
                continue
            results[f"{v} | {r}"] = s = {"variant": v, "recipe": r, **score(*load(out, v, r))}
            print(f"{v:9s} {r:18s} acc {s['accuracy']:.3f} W->Z {s['w_to_z']:.3f} Z->W {s['z_to_w']:.3f} "
                  f"W peak {s['w_peak7']:.2f} L1 {s['l1_to_real']:.2f}", flush=True)
            done.write_text(json.dumps(results, indent=1))
    (out / "variants.md").write_text(table(results))
    return results


def table(results: dict) -> str:
    head = ("| Pythia variant | jets | n/class | MLP acc | g | q | w | z | t | W->Z | Z->W | W->q | Z->q | g->t | "
            "W peak (7 GeV) | Z peak | L1 to real |\n|" + "---|" * 17 + "\n")
    real = ("| **real (OpenML, 6-bit MLP)** | | 166k test | **0.762** | " +
            " | ".join(f"{REAL_CONFUSION[i, i]:.3f}" for i in range(5)) +
            f" | {REAL_CONFUSION[W, Z]:.3f} | {REAL_CONFUSION[Z, W]:.3f} | {REAL_CONFUSION[W, 1]:.3f} | "
            f"{REAL_CONFUSION[Z, 1]:.3f} | {REAL_CONFUSION[0, 4]:.3f} | one-bin spike | one-bin spike | 0 |\n")
    rows = "".join(
        f"| {s['variant']} | {s['recipe']} | {s['n_per_class']} | {s['accuracy']:.3f} | "
        + " | ".join(f"{s['per_class'][c]:.3f}" for c in CLASSES)
        + f" | {s['w_to_z']:.3f} | {s['z_to_w']:.3f} | {s['w_to_q']:.3f} | {s['z_to_q']:.3f} | {s['g_to_t']:.3f} | "
          f"{s['w_peak7']:.2f} | {s['z_peak7']:.2f} | {s['l1_to_real']:.2f} |\n" for s in results.values())
    return head + real + rows


def collect(outs: list[Path]) -> None:
    """Merge the scores of several run folders into docs/data/variants.{json,md} (the table in docs/data.md)."""
    results = {}
    for out in outs:
        results |= json.loads((out / "variants.json").read_text())
    (HERE / "variants.json").write_text(json.dumps(results, indent=1))
    (HERE / "variants.md").write_text(table(results))


def reference(epochs: int = 40) -> dict:
    """The reference MLP on the embedded default at full size (80/20 split, batch 1024, Adam 1e-3): the fingerprint
    beside the real one, in docs/data/reference_mlp.{json,md} (the data card quotes its accuracies)."""
    import torch

    from jsc_hw.loaders import default_jets, embedded_card

    torch.set_num_threads(2)
    jets = default_jets()
    s = score(jets.x, jets.y, epochs=epochs, test=0.2, batch=1024)
    card = f"jsc_default.npz, {embedded_card()['n_jets']:,} jets"
    result = {"dataset": card, "epochs": epochs, "protocol": "80/20 shuffled split (seed 0), standardised, "
              "Adam 1e-3, batch 1024", "accuracy": {"all": s["accuracy"], **s["per_class"]}, **s}
    (HERE / "reference_mlp.json").write_text(json.dumps(result, indent=1))
    cm = np.array(s["confusion"])
    lines = [f"Reference MLP 16-64-32-32-5 (float) on the embedded default ({card}); {result['protocol']}, "
             f"{epochs} epochs: test accuracy **{s['accuracy']:.3f}** (real: {REAL_ACCURACY}).", "",
             "| true \\ predicted | " + " | ".join(f"{c} (ours / real)" for c in CLASSES) + " |",
             "|---|" + "---|" * len(CLASSES)]
    lines += [f"| {c} | " + " | ".join(f"{cm[i, j]:.3f} / {REAL_CONFUSION[i, j]:.3f}" for j in range(len(CLASSES)))
              + " |" for i, c in enumerate(CLASSES)]
    (HERE / "reference_mlp.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


def figures(outs: list[Path], shown: tuple[str, ...] = (
        "base | detector r1 R0.4", "base | particle R0.8", "onshell | particle R0.4", "onshell | detector r05 R0.4")
        ) -> None:
    """Groomed mass and C1^(2) per class in the style of the real histograms (50 bins, density, log y)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(shown), 7))
    axes = fig.subplots(2, len(shown), squeeze=False)
    for k, key in enumerate(shown):
        v, r = key.split(" | ")
        out = next(o for o in outs if all(_file(o, _source(v, c), c).exists() for c in CLASSES))
        x, y = load(out, v, r)
        for row, (name, rng) in enumerate((("j_mass_mmdt", (0, 350)), ("j_c1_b2_mmdt", (0, 0.062)))):
            ax = axes[row, k]
            for i, c in enumerate(CLASSES):
                ax.hist(x[y == i, FEATURES.index(name)], bins=50, range=rng, histtype="step", density=True, label=c)
            ax.set_yscale("log")
            ax.set_title(f"{key}: {name}", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "variants_mass.png", dpi=80)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["generate", "score", "collect", "figures", "reference"])
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, nargs="+", default=[Path("runs/variants")],
                    help="run folder (collect: several)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    a = ap.parse_args()
    out = a.out[0]
    {"generate": lambda: generate(a.events, out, a.workers, a.variants, a.recipes),
     "score": lambda: score_all(out, a.variants, a.recipes), "collect": lambda: collect(a.out),
     "figures": lambda: figures(a.out), "reference": reference}[a.step]()
