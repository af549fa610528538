"""Fidelity study: the same Pythia events, several detector/jet-radius recipes, compared by feature
distributions and by the accuracy of a 64-32-32 MLP.  Figures and fidelity.json go next to this file.

    python docs/data/fidelity_study.py generate --events 1500 --workers 2 --out runs/fidelity
    python docs/data/fidelity_study.py analyze --out runs/fidelity

The first study (r1 detector, Pythia's own W/Z/t), superseded by docs/data/variant_study.py; its figure keeps the
reference MLP of the 110k default of that time (reference_mlp_110k_r1.json).  The reference MLP on today's default:
``python docs/data/variant_study.py reference``.
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
        ev = next(stream)
        for v in VARIANTS:
            for jet in event_jets(ev, s[v], rng[v]):
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


def mlp_accuracy(x: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = 60, test: float = 0.25,
                 batch: int = 256) -> dict[str, float]:
    """64-32-32 ReLU MLP on standardised features, shuffled train/test split, Adam 1e-3, fixed epochs."""
    import torch

    torch.manual_seed(seed)
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int((1 - test) * len(y))
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
        for b in perm.split(batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[b]), yt[b]).backward()
            opt.step()
    with torch.no_grad():
        pred = net(xt[te]).argmax(1).numpy()
    acc = {"all": float(np.mean(pred == y[te]))}
    for i, c in enumerate(CLASSES):
        acc[c] = float(np.mean(pred[y[te] == i] == i))
    return acc


def real_row_percentiles(data: dict, real: np.ndarray) -> dict[str, dict]:
    """Per variant: percentile of each real row in its class distribution, per feature, and the score
    sum log(2 min(p, 1-p)) (0 = every real value at its class median; more negative = less typical)."""
    names = ["multiplicity", "zlogz", "c1_b0_mmdt", "d2_b1_mmdt", "n2_b1_mmdt", "m2_b1_mmdt"]
    out = {}
    for v, (x, y) in data.items():
        rows, score = [], 0.0
        for r in real:
            xc = x[y == CLASSES.index(str(r["class"]))]
            p = {n: float(np.mean(xc[:, FEATURES.index("j_" + n)] < r[n])) for n in names}
            score += sum(np.log(max(2 * min(q, 1 - q), 1e-3)) for q in p.values())
            rows.append({"class": str(r["class"]), **p})
        out[v] = {"score": float(score), "rows": rows}
    return out


def _cos_theta_star(ev, boson_id: int, jet_eta: float, jet_phi: float) -> float:
    """|cos theta*| of the decay quark in the rest frame of the boson nearest to the jet (truth level)."""
    best, cos = 9.0, np.nan
    for i in range(ev.size()):
        p = ev[i]
        if p.idAbs() != boson_id or p.iBotCopyId() != i:
            continue
        dr = np.hypot(p.eta() - jet_eta, (p.phi() - jet_phi + np.pi) % (2 * np.pi) - np.pi)
        daughters = [ev[d] for d in p.daughterList()]
        if dr < best and len(daughters) == 2:
            P = np.array([p.px(), p.py(), p.pz(), p.e()])
            q = np.array([daughters[0].px(), daughters[0].py(), daughters[0].pz(), daughters[0].e()])
            b = P[:3] / P[3]
            g = 1 / np.sqrt(1 - b @ b)
            bq = b @ q[:3]
            q3 = q[:3] + ((g - 1) * bq / (b @ b) - g * q[3]) * b  # boost into the boson rest frame
            best, cos = dr, abs(q3 @ b) / (np.linalg.norm(q3) * np.linalg.norm(b))
    return cos


def polarisation(n_events: int, out: Path, seed: int) -> None:
    """W and Z jets of the shipped recipe with the truth decay angle; q, g, t from the variant sample.
    Compares the MLP as generated against W/Z resampled to a longitudinal (1 - cos^2) decay distribution."""
    import pythia8mc  # noqa: F401  (events() needs it; the event record is read through the generator below)

    from jsc_hw.jetgen import pythia as P

    variant = "r1_h022_e0175_t220_R0.4"
    s = replace(GenSettings(seed=seed), detector="r1_h022_e0175_t220_nonu", radius=0.4)
    rows = {}
    for cls, boson in (("w", 24), ("z", 23)):
        py = pythia8mc.Pythia("", False)
        for cmd in s.pythia.commands(cls, chunk_seed(seed + 1, cls, 0)):
            py.readString(cmd)
        py.init()
        rng = np.random.default_rng(seed)
        feats, cosines = [], []
        while len(feats) < n_events:
            if not py.next():
                continue
            for jet in event_jets(P.Event(py, {}), s, rng):
                if 800 < jet[0] < 1600 and np.all(np.isfinite(jet[FEATURE_COLS])):
                    feats.append(jet)
                    cosines.append(_cos_theta_star(py.event, boson, jet[1], jet[2]))
        rows[cls] = (np.array(feats), np.array(cosines))
    np.savez_compressed(out / "polarisation.npz", **{f"{c}_x": v[0] for c, v in rows.items()},
                        **{f"{c}_cos": v[1] for c, v in rows.items()})
    with np.load(out / f"{variant}.npz") as d:
        base_x, base_y = d["features"], d["label"]
    n = min(np.bincount(base_y))
    rng = np.random.default_rng(0)
    result = {}
    for mode in ("as_generated", "longitudinal"):
        xs, ys = [], []
        for i, c in enumerate(CLASSES):
            if c in rows:
                x, cos = rows[c]
                if mode == "longitudinal":
                    hist, edges = np.histogram(cos, bins=10, range=(0, 1), density=True)
                    target = 1.5 * (1 - cos**2)
                    w = target / hist[np.minimum((cos * 10).astype(int), 9)]
                    x = x[rng.random(len(x)) < w / w.max()]
                x = x[:n]
            else:
                x = base_x[base_y == i][:n]
            xs.append(x[:, FEATURE_COLS])
            ys.append(np.full(len(x), i))
        x, y = np.concatenate(xs), np.concatenate(ys)
        m = min(np.bincount(y))
        keep = np.concatenate([np.flatnonzero(y == i)[:m] for i in range(5)])
        result[mode] = {"n_per_class": int(m), "mlp": mlp_accuracy(x[keep], y[keep]),
                        "frac_mass_lt20": {c: float(np.mean(x[keep][y[keep] == CLASSES.index(c), 14] < 20))
                                           for c in ("w", "z")}}
        print(mode, json.dumps(result[mode]))
    result["cos_hist_w"] = np.histogram(rows["w"][1], bins=10, range=(0, 1))[0].tolist()
    result["cos_hist_z"] = np.histogram(rows["z"][1], bins=10, range=(0, 1))[0].tolist()
    (HERE / "polarisation.json").write_text(json.dumps(result, indent=1))


def figures() -> None:
    """Bar chart of MLP accuracy per class and variant (+ the embedded set and, if present, the polarisation
    test), and the real-row typicality score per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fid = json.loads((HERE / "fidelity.json").read_text())
    bars = {v: fid[v]["mlp"] for v in VARIANTS}
    bars["embedded 110k (r1, R0.4)"] = json.loads((HERE / "reference_mlp_110k_r1.json").read_text())["accuracy"]
    if (HERE / "polarisation.json").exists():
        pol = json.loads((HERE / "polarisation.json").read_text())
        bars["r1 R0.4, W/Z as generated"] = pol["as_generated"]["mlp"]
        bars["r1 R0.4, W/Z longitudinal"] = pol["longitudinal"]["mlp"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 5), gridspec_kw={"width_ratios": [3, 1]})
    keys = ["all", *CLASSES]
    width = 0.8 / len(bars)
    for k, (v, acc) in enumerate(bars.items()):
        ax.bar(np.arange(len(keys)) + k * width, [acc[c] for c in keys], width, label=v)
    ax.axhline(0.75, color="k", ls="--", lw=1)
    ax.text(-0.3, 0.76, "~75%: usual quote for the real data (all classes)", fontsize=8)
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, keys)
    ax.set_ylabel("test accuracy (64-32-32 MLP)")
    ax.set_ylim(0.4, 0.9)
    ax.legend(fontsize=7, ncol=2)
    scores = {v: fid["real_row_percentiles"][v]["score"] for v in VARIANTS}
    ax2.barh(list(scores), list(scores.values()))
    ax2.set_xlabel("typicality of the 5 real rows (0 = at class medians)")
    ax2.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "fidelity_accuracy.png", dpi=80)


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
    summary["real_first5_rows"] = [{"class": str(r["class"]), "multiplicity": float(r["multiplicity"]),
                                    "zlogz": float(r["zlogz"]), "mass_mmdt": float(r["mass_mmdt"])} for r in real]
    summary["real_row_percentiles"] = real_row_percentiles(data, real)
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
    ap.add_argument("step", choices=["generate", "analyze", "polarisation", "figures"])
    ap.add_argument("--events", type=int, default=1500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("runs/fidelity"))
    a = ap.parse_args()
    if a.step == "generate":
        generate(a.events, a.out, a.workers, a.seed)
    elif a.step == "analyze":
        analyze(a.out)
    elif a.step == "figures":
        figures()
    else:
        polarisation(a.events, a.out, a.seed)
