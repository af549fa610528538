"""Optional detector emulation of the original JSC production (trackObservables ``discretizeEvent`` +
``smearJetPt``), e.g. tag ``r1_h022_e0175_t220_nonu``:

* charged hadrons (pi, K, p, Sigma+-, Xi-) with pT <= ``max_track_pt`` stay as tracks; above it they go to HCAL;
* photons (and pi0) are summed in ECAL cells of ``ecal_cell`` x ``ecal_cell`` in (eta, phi), |eta| < 3;
* neutral hadrons (n, K0L, K0S, Lambda, Xi0) and untracked charged hadrons in HCAL cells of ``hcal_cell``;
* leptons are kept as they are; every other particle (neutrinos, Omega-) is dropped;
* cells become massless objects at the cell centre with pT = E / cosh(eta);
* every object's four-momentum is scaled by max(1e-10, Gauss(1, ``resolution`` * sigma(E, pT))) with the
  CMS-like sigma of tracks/leptons, ECAL and HCAL cells below.

ROOT ``TH2D`` binning is reproduced: floor((max-min)/cell) equal bins over eta in [-3, 3], phi in [0, 2 pi).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jsc_hw.errors import ConfigError

CHARGED = frozenset({211, 321, 2212, 3112, 3222, 3312})
PHOTONS = frozenset({22, 111})
NEUTRAL = frozenset({3122, 130, 310, 2112, 3322})
LEPTONS = frozenset({11, 13, 15})
ETA_MAX = 3.0


@dataclass(frozen=True)
class DetectorSpec:
    resolution: float = 1.0      # 'r': fudge factor on every resolution
    hcal_cell: float = 0.022     # 'h'
    ecal_cell: float = 0.0175    # 'e'
    max_track_pt: float = 220.0  # 't' (GeV)


#: production tags -> settings; "none" = particle level (no detector)
DETECTORS: dict[str, DetectorSpec | None] = {
    "none": None,
    "r1_h022_e0175_t220_nonu": DetectorSpec(1.0, 0.022, 0.0175, 220.0),
    # the config string that steerScript.sh pairs with the same folder name (notes/jsc-dataset.md §3 caveat)
    "r05_h010_e005_t220_nonu": DetectorSpec(0.5, 0.010, 0.005, 220.0),
}


def detector_spec(tag: str) -> DetectorSpec | None:
    if tag not in DETECTORS:
        raise ConfigError(f"unknown detector tag {tag!r}: choose one of {sorted(DETECTORS)}")
    return DETECTORS[tag]


def _cells(p4: np.ndarray, cell: float) -> np.ndarray:
    """Sum energies of particles into (eta, phi) cells; return massless cell four-vectors (m,4)."""
    if len(p4) == 0:
        return np.zeros((0, 4))
    n_eta, n_phi = int(np.floor(2 * ETA_MAX / cell)), int(np.floor(2 * np.pi / cell))
    w_eta, w_phi = 2 * ETA_MAX / n_eta, 2 * np.pi / n_phi
    pt = np.hypot(p4[:, 0], p4[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):  # pT = 0: along the beam, outside |eta| < 3
        eta = np.nan_to_num(np.arcsinh(p4[:, 2] / pt), nan=np.inf, posinf=np.inf, neginf=-np.inf)
    phi = np.mod(np.arctan2(p4[:, 1], p4[:, 0]), 2 * np.pi)
    ie = np.floor(np.clip((eta + ETA_MAX) / w_eta, -1, n_eta)).astype(np.int64)
    ip = np.minimum(np.floor(phi / w_phi).astype(np.int64), n_phi - 1)
    inside = (ie >= 0) & (ie < n_eta)
    key = ie[inside] * n_phi + ip[inside]
    uniq, inv = np.unique(key, return_inverse=True)
    energy = np.bincount(inv, weights=p4[inside, 3])
    c_eta = -ETA_MAX + (uniq // n_phi + 0.5) * w_eta
    c_phi = (uniq % n_phi + 0.5) * w_phi
    c_pt = energy / np.cosh(c_eta)
    return np.stack([c_pt * np.cos(c_phi), c_pt * np.sin(c_phi), c_pt * np.sinh(c_eta), energy], 1)


def emulate(p4: np.ndarray, pdg: np.ndarray, spec: DetectorSpec, rng: np.random.Generator) -> np.ndarray:
    """Detector-level objects (tracks, leptons, ECAL and HCAL cells) from the particle-level final state."""
    apdg = np.abs(pdg)
    pt = np.hypot(p4[:, 0], p4[:, 1])
    charged = np.isin(apdg, list(CHARGED))
    track = charged & (pt <= spec.max_track_pt)
    lepton = np.isin(apdg, list(LEPTONS))
    photon = np.isin(apdg, list(PHOTONS))
    hadron = np.isin(apdg, list(NEUTRAL)) | (charged & ~track)
    kept = p4[track | lepton]
    ecal = _cells(p4[photon], spec.ecal_cell)
    hcal = _cells(p4[hadron], spec.hcal_cell)
    kept_pt = np.hypot(kept[:, 0], kept[:, 1])
    sigma = np.concatenate([
        np.sqrt((2.5e-4 * kept_pt) ** 2 + 0.015**2),
        np.sqrt((0.027 / np.sqrt(ecal[:, 3] / 1.6)) ** 2 + (0.15 / ecal[:, 3] * 1.6) ** 2 + 0.005**2),
        np.sqrt((1.20 / np.sqrt(hcal[:, 3] / 7.0)) ** 2 + 0.05**2),
    ])
    objects = np.concatenate([kept, ecal, hcal])
    scale = np.maximum(1e-10, rng.normal(1.0, sigma * spec.resolution))
    return objects * scale[:, None]
