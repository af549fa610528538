"""Fidelity study: the same Pythia events, several detector/jet-radius recipes, compared by feature
distributions and by the accuracy of a 64-32-32 MLP.  Figures and fidelity.json go next to this file.

    python docs/data/fidelity_study.py generate --events 1500 --workers 2 --out runs/fidelity
    python docs/data/fidelity_study.py analyze --out runs/fidelity
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from jsc_hw.jetgen.features import COLUMNS
from jsc_hw.jetgen.generate import FEATURE_COLS, GenSettings, chunk_seed, event_jets
from jsc_hw.jetgen.pythia import events
from jsc_hw.schema import CLASSES, FEATURES

HERE = Path(__file__).parent
#: variant -> (detector tag, jet radius)
VARIANTS: dict[str, tuple[str, float]] = {
    "particle_R0.8": ("none", 0.8),
    "r1_h022_e0175_t220_R0.8": ("r1_h022_e0175_t220_nonu", 0.8),
    "r05_h010_e005_t220_R0.8": ("r05_h010_e005_t220_nonu", 0.8),
    "particle_R0.4": ("none", 0.4),
    "r1_h022_e0175_t220_R0.4": ("r1_h022_e0175_t220_nonu", 0.4),
}


def run_class(args: tuple[str, int, int]) -> dict[str, np.ndarray]:
    cls, n_events, seed = args
    base = GenSettings(seed=seed)
    s = {v: replace(base, detector=d, radius=r) for v, (d, r) in VARIANTS.items()}
    pseed = chunk_seed(seed, cls, 0)
    rng = {v: np.random.default_rng(pseed) for v in VARIANTS}
    rows: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
    stream = events(cls, pseed, base.pythia)
    for _ in range(n_events):
        p4, pdg = next(stream)
        for v in VARIANTS:
            for jet in event_jets(p4, pdg, s[v], rng[v]):
                if 800 < jet[0] < 1600 and np.all(np.isfinite(jet[FEATURE_COLS])):
                    rows[v].append(jet)
    return {v: np.array(r) for v, r in rows.items()}


def generate(n_events: int, out: Path, workers: int, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with get_context("fork").Pool(workers) as pool:
        results = pool.map(run_class, [(c, n_events, seed) for c in CLASSES])
    for v in VARIANTS:
        x = np.concatenate([r[v] for r in results])
        y = np.concatenate([np.full(len(r[v]), i) for i, r in enumerate(results)])
        np.savez_compressed(out / f"{v}.npz", features=x, names=np.array(COLUMNS), label=y)


def mlp_accuracy(x: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = 60) -> dict[str, float]:
    """64-32-32 ReLU MLP on standardised features, 75/25 stratified-by-shuffle split, Adam 1e-3."""
    import torch

    torch.manual_seed(seed)
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.75 * len(y))
    tr, te = idx[:cut], idx[cut:]
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-12
    xt = torch.tensor((x - mu) / sd, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.int64)
    net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.tensor(tr)[torch.randperm(len(tr), generator=g)]
        for b in perm.split(256):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[b]), yt[b]).backward()
            opt.step()
    with torch.no_grad():
        pred = net(xt[te]).argmax(1).numpy()
    acc = {"all": float(np.mean(pred == y[te]))}
    for i, c in enumerate(CLASSES):
        acc[c] = float(np.mean(pred[y[te] == i] == i))
    return acc


def analyze(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = np.genfromtxt(HERE / "openml42468_first5_rows.csv", delimiter=",", names=True, dtype=None,
                         encoding="utf-8")
    summary = {}
    data = {}
    for v in VARIANTS:
        with np.load(out / f"{v}.npz") as d:
            x, y = d["features"][:, FEATURE_COLS], d["label"]
        data[v] = (x, y)
        per = {}
        for i, c in enumerate(CLASSES):
            xc = x[y == i]
            per[c] = {"n": int(len(xc)), "mean_multiplicity": float(xc[:, 15].mean()),
                      "mean_zlogz": float(xc[:, 0].mean()), "frac_mass_mmdt_lt20": float(np.mean(xc[:, 14] < 20))}
        summary[v] = {"per_class": per, "mlp": mlp_accuracy(x, y)}
        print(v, json.dumps(summary[v]["mlp"]))
    summary["real_first5_rows"] = {str(r["class"]): {"multiplicity": float(r["multiplicity"]),
                                                     "zlogz": float(r["zlogz"]), "mass_mmdt": float(r["mass_mmdt"])}
                                   for r in real}
    (HERE / "fidelity.json").write_text(json.dumps(summary, indent=1))
    cols = {"j_multiplicity": (0, 160), "j_zlogz": (-5, -0.5), "j_mass_mmdt": (0, 250), "j_d2_b1_mmdt": (0, 5)}
    fig, axes = plt.subplots(len(cols), len(CLASSES), figsize=(16, 11))
    for r, (name, rng) in enumerate(cols.items()):
        k = FEATURES.index(name)
        for i, c in enumerate(CLASSES):
            ax = axes[r, i]
            for v in VARIANTS:
                x, y = data[v]
                ax.hist(x[y == i, k], bins=40, range=rng, histtype="step", density=True, label=v)
            for row in real:
                if row["class"] == c:
                    ax.axvline(float(row[name[2:]]), color="k", ls="--", lw=1)
            ax.set_title(f"{c}: {name}", fontsize=9)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle("same events, five recipes; dashed: real OpenML rows of that class")
    fig.tight_layout()
    fig.savefig(HERE / "fidelity_variants.png", dpi=80)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["generate", "analyze"])
    ap.add_argument("--events", type=int, default=1500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("runs/fidelity"))
    a = ap.parse_args()
    generate(a.events, a.out, a.workers, a.seed) if a.step == "generate" else analyze(a.out)
