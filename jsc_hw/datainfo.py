"""``jsc-hw data info``: per-class counts, feature ranges and a figure of per-class feature histograms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jsc_hw.errors import DataError
from jsc_hw.files import atomic_savefig
from jsc_hw.schema import CLASSES, FEATURES, Jets


@dataclass(frozen=True)
class DataInfo:
    source: str
    counts: dict[str, int]
    minimum: np.ndarray  # (16,)
    maximum: np.ndarray  # (16,)
    class_mean: np.ndarray  # (5, 16); NaN for an absent class


def summarize(jets: Jets) -> DataInfo:
    if len(jets) == 0:
        raise DataError(f"{jets.source or 'data'}: no rows to summarise")
    means = np.full((len(CLASSES), len(FEATURES)), np.nan)
    for i in range(len(CLASSES)):
        if np.any(jets.y == i):
            means[i] = jets.x[jets.y == i].astype(np.float64).mean(0)
    return DataInfo(jets.source, jets.class_counts(), jets.x.min(0), jets.x.max(0), means)


def format_info(info: DataInfo) -> str:
    total = sum(info.counts.values())
    lines = [f"{info.source}: {total} jets",
             "class counts: " + ", ".join(f"{c} {n} ({n / total:.1%})" for c, n in info.counts.items()), "",
             f"{'feature':18s} {'min':>11s} {'max':>11s} " + " ".join(f"{'mean ' + c:>11s}" for c in CLASSES)]
    for j, f in enumerate(FEATURES):
        lines.append(f"{f:18s} {info.minimum[j]:11.4g} {info.maximum[j]:11.4g} "
                     + " ".join(f"{m:11.4g}" for m in info.class_mean[:, j]))
    return "\n".join(lines)


def plot_histograms(jets: Jets, png: Path, other: Jets | None = None) -> Path:
    """4x4 grid, one panel per feature, one density histogram per class; ``other`` is overlaid dashed."""
    from matplotlib.figure import Figure  # the object API: no global backend, nothing left open in a notebook

    fig = Figure(figsize=(16, 13))
    axes = fig.subplots(4, 4)
    both = jets.x if other is None else np.concatenate([jets.x, other.x])
    for j, (ax, f) in enumerate(zip(axes.ravel(), FEATURES)):
        lo, hi = np.percentile(both[:, j], [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
        for i, c in enumerate(CLASSES):
            for data, style, tag in ((jets, "-", ""), (other, "--", " (cmp)")):
                if data is None or not np.any(data.y == i):
                    continue
                ax.hist(np.clip(data.x[data.y == i, j], bins[0], bins[-1]), bins=bins, density=True,
                        histtype="step", ls=style, color=f"C{i}", label=c + tag)
        ax.set_title(f, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    title = jets.source + ("" if other is None else f"  (solid)  vs  {other.source}  (dashed)")
    fig.suptitle(title, fontsize=10)
    fig.set_layout_engine("tight")
    return atomic_savefig(fig, png, dpi=70)
