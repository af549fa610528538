"""Pure-numpy JSC features (no compiler needed); anti-kT clustering still comes from the fastjet wheel.

Definitions, with the fjcontrib ``pt_R`` measure (theta_ij^2 = dy^2 + dphi^2, z_i = pT_i / sum pT over the
*groomed* constituents):  e2 = sum_{i<j} z_i z_j theta_ij^b;  e3 = sum_{i<j<k} z_i z_j z_k (theta_ij theta_ik
theta_jk)^b;  1e3 / 2e3 replace the angular product by min(theta)^b / (min * second-min)^b.
C1 = e2, C2 = e3/e2^2, D2 = e3/e2^3, D2^(1,b) = e3^(1)/(e2^(b))^(3/b), M2 = 1e3/e2, N2 = 2e3/e2^2.
mMDT: C/A reclustering, follow the larger-pT branch until min(pT1,pT2)/(pT1+pT2) > 0.1 (SoftDrop beta=0).
"""

from __future__ import annotations

import numpy as np

from jsc_hw.jetgen.columns import COLUMNS


def _y_phi(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = 0.5 * np.log((p[:, 3] + p[:, 2]) / (p[:, 3] - p[:, 2]))
    return y, np.arctan2(p[:, 1], p[:, 0])


def _theta2(y: np.ndarray, phi: np.ndarray) -> np.ndarray:
    dphi = np.abs(phi[:, None] - phi[None, :])
    dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
    return (y[:, None] - y[None, :]) ** 2 + dphi**2


def mmdt(p: np.ndarray, zcut: float = 0.1) -> np.ndarray:
    """Constituents (rows of ``p``) kept by mMDT after naive C/A reclustering."""
    mom, members, children = [row for row in p], [[i] for i in range(len(p))], [None] * len(p)
    active = list(range(len(p)))
    while len(active) > 1:
        y, phi = _y_phi(np.array([mom[i] for i in active]))
        d2 = _theta2(y, phi)
        np.fill_diagonal(d2, np.inf)
        a, b = np.unravel_index(np.argmin(d2), d2.shape)
        ia, ib = active[a], active[b]
        mom.append(mom[ia] + mom[ib])
        members.append(members[ia] + members[ib])
        children.append((ia, ib))
        active = [i for i in active if i not in (ia, ib)] + [len(mom) - 1]
    node = active[0]
    while children[node] is not None:
        c1, c2 = children[node]
        pt1, pt2 = np.hypot(*mom[c1][:2]), np.hypot(*mom[c2][:2])
        if min(pt1, pt2) / (pt1 + pt2) > zcut:
            break
        node = c1 if pt1 > pt2 else c2
    return p[sorted(members[node])]


def _ecfs(p: np.ndarray, beta: float) -> tuple[float, float, float, float]:
    """(e2, e3, 1e3, 2e3) at angular exponent beta."""
    y, phi = _y_phi(p)
    pt = np.hypot(p[:, 0], p[:, 1])
    z = pt / pt.sum()
    th = np.sqrt(_theta2(y, phi)) ** beta
    n = len(z)
    i, j = np.triu_indices(n, 1)
    e2 = float(np.sum(z[i] * z[j] * th[i, j]))
    if n < 3:
        return e2, 0.0, 0.0, 0.0
    reps = n - 1 - j
    a, b = np.repeat(i, reps), np.repeat(j, reps)
    c = np.concatenate([np.arange(jj + 1, n) for jj in j])
    w = z[a] * z[b] * z[c]
    ang = np.sort(np.stack([th[a, b], th[a, c], th[b, c]], 1), axis=1)
    return (e2, float(np.sum(w * ang[:, 0] * ang[:, 1] * ang[:, 2])), float(np.sum(w * ang[:, 0])),
            float(np.sum(w * ang[:, 0] * ang[:, 1])))


def jet_features(cons: np.ndarray) -> dict[str, float]:
    """All COLUMNS except the jet kinematics, from the (n,4) constituents of one ungroomed jet."""
    zE = cons[:, 3] / cons[:, 3].sum()
    g = mmdt(cons)
    s = g.sum(0)
    out = {"j_zlogz": float(np.sum(zE * np.log(zE))), "j_multiplicity": float(len(cons)),
           "j_mass_mmdt": float(np.sqrt(max(s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2, 0.0))),
           "j_pt_mmdt": float(np.hypot(s[0], s[1])), "j_nconst_mmdt": float(len(g))}
    pt = np.hypot(g[:, 0], g[:, 1])
    out["j_c1_b0_mmdt"] = float(0.5 * (1 - np.sum((pt / pt.sum()) ** 2)))
    ecf = {b: _ecfs(g, b) for b in (1.0, 2.0)}
    with np.errstate(divide="ignore", invalid="ignore"):
        for b, tag in ((1.0, "b1"), (2.0, "b2")):
            e2, e3, e3_1, e3_2 = (np.float64(v) for v in ecf[b])
            out[f"j_c1_{tag}_mmdt"] = float(e2)
            out[f"j_c2_{tag}_mmdt"] = float(e3 / e2**2)
            out[f"j_d2_{tag}_mmdt"] = float(e3 / e2**3)
            out[f"j_m2_{tag}_mmdt"] = float(e3_1 / e2)
            out[f"j_n2_{tag}_mmdt"] = float(e3_2 / e2**2)
        e2_1, e3_1b, e2_2 = (np.float64(ecf[1.0][0]), np.float64(ecf[1.0][1]), np.float64(ecf[2.0][0]))
        out["j_d2_a1_b1_mmdt"] = float(e3_1b / e2_1**3)
        out["j_d2_a1_b2_mmdt"] = float(e3_1b / e2_2**1.5)
    return out


def jet_row(cons: np.ndarray) -> np.ndarray:
    """Same contract as the ``cpp`` backend's ``jet``: one row of COLUMNS from the constituents of one jet."""
    if len(cons) == 0:
        return np.zeros((0, len(COLUMNS)))
    s = cons.sum(0)
    pt, m2 = np.hypot(s[0], s[1]), s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2
    kin = {"j_pt": pt, "j_eta": float(np.arcsinh(s[2] / pt)), "j_phi": float(np.arctan2(s[1], s[0])),
           "j_mass": float(np.sqrt(max(m2, 0.0)))}
    f = jet_features(cons) | kin
    return np.array([[f[c] for c in COLUMNS]], dtype=np.float64)


def event_features(p4: np.ndarray, radius: float, ptmin: float, max_jets: int) -> np.ndarray:
    """Same contract as the ``cpp`` backend: rows of COLUMNS for the leading ``max_jets`` anti-kT jets."""
    import fastjet._swig as fj

    parts = [fj.PseudoJet(*map(float, row)) for row in p4]
    cs = fj.ClusterSequence(parts, fj.JetDefinition(fj.antikt_algorithm, radius))
    jets = fj.sorted_by_pt(cs.inclusive_jets(ptmin))[:max_jets]
    rows = []
    for jet in jets:
        cons = np.array([[c.px(), c.py(), c.pz(), c.E()] for c in jet.constituents()])
        f = jet_features(cons) | {"j_pt": jet.pt(), "j_eta": jet.eta(), "j_phi": jet.phi_std(), "j_mass": jet.m()}
        rows.append([f[c] for c in COLUMNS])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(COLUMNS))
