"""The generator: feature backends against each other, detector emulation, seeds/chunks/resume, and the
shipped embedded rows regenerated from their seed."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest

from jsc_hw.jetgen.card import card_text, departures
from jsc_hw.jetgen.detector import DetectorSpec, emulate
from jsc_hw.jetgen.features import COLUMNS, load_backend
from jsc_hw.jetgen.generate import FEATURE_COLS, Chunk, GenSettings, chunk_seed, generate, plan, run_chunk
from jsc_hw.jetgen.pythia import PythiaSettings, events
from jsc_hw.schema import CLASSES, FEATURES


def _embedded():
    with resources.as_file(resources.files("jsc_hw.embedded").joinpath("jsc_default.npz")) as p, np.load(p) as d:
        return d["features"], d["label"], d["chunk"], json.loads(str(d["meta"]))


@pytest.mark.parametrize("cls,radius", [("g", 0.8), ("t", 0.4)])
def test_backends_agree(cls, radius):
    """The fused ECF pass (cpp), the fjcontrib classes one by one and the pure-numpy code give the same jets."""
    backends = [load_backend(name) for name in ("cpp", "fjcontrib", "numpy")]
    stream = events(cls, 77, PythiaSettings())
    for _ in range(3):
        p4, _ = next(stream).final_state()
        rows = [b.compute(p4, radius, 100.0, 1) for b in backends]
        assert all(r.shape == (1, len(COLUMNS)) for r in rows)
        for r in rows[1:]:
            np.testing.assert_allclose(rows[0], r, rtol=1e-9)
        f = dict(zip(COLUMNS, rows[0][0]))
        assert f["j_d2_a1_b1_mmdt"] == pytest.approx(f["j_d2_b1_mmdt"], rel=1e-12)  # identical by definition
        assert f["j_multiplicity"] >= f["j_nconst_mmdt"] >= 2 and f["j_zlogz"] < 0


@pytest.mark.parametrize("cls", CLASSES)
def test_leading_jet_from_pythia_equals_fastjet_on_the_final_state(cls):
    """Pythia's SlowJet (fjcore) finds the same leading jet as FastJet on every visible particle, so the
    particle-level fast path (constituents only) gives the same rows as clustering the copied final state."""
    cpp, ref = load_backend("cpp"), load_backend("numpy")
    stream = events(cls, 78, PythiaSettings())
    for _ in range(4):
        ev = next(stream)
        p4, _ = ev.final_state()
        full = cpp.compute(p4, 0.8, 100.0, 1)
        cons = ev.leading_jet(0.8, 100.0)
        assert len(cons) == full[0, COLUMNS.index("j_multiplicity")]
        np.testing.assert_allclose(cpp.jet(cons), full, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ref.jet(cons), full, rtol=1e-9, atol=1e-12)


def test_detector_cells_conserve_energy_and_follow_the_tag():
    rng = np.random.default_rng(0)
    pt = np.array([50.0, 300.0, 20.0, 10.0, 40.0, 5.0, 30.0])
    eta = np.array([0.1, 0.1, 0.1001, 0.1002, 0.5, 0.2, 3.5])
    phi = np.array([1.0, 1.0, 1.0001, 1.0002, 2.0, 1.5, 1.0])
    pdg = np.array([211, -211, 22, 22, 2112, 12, 22])  # track, untracked (pT>220), 2 photons, n, nu, far photon
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], 1)
    exact = emulate(p4, pdg, DetectorSpec(resolution=0.0), rng)
    assert len(exact) == 4  # the track, one ECAL cell with both photons, HCAL cells of the 300 GeV pion and n
    np.testing.assert_allclose(exact[0], p4[0])
    assert exact[:, 3].sum() == pytest.approx(p4[[0, 1, 2, 3, 4], 3].sum())  # nu and |eta|>3 photon dropped
    masses2 = exact[1:, 3] ** 2 - (exact[1:, :3] ** 2).sum(1)
    np.testing.assert_allclose(masses2 / exact[1:, 3] ** 2, 0, atol=1e-9)  # cells are massless
    a = emulate(p4, pdg, DetectorSpec(), np.random.default_rng(5))
    b = emulate(p4, pdg, DetectorSpec(), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, exact)


def test_seeds_and_plan():
    assert chunk_seed(1, "w", 0) == chunk_seed(1, "w", 0)
    seeds = {chunk_seed(s, c, k) for s in (1, 2) for c in CLASSES for k in range(50)}
    assert len(seeds) == 500 and all(0 < s <= 900_000_000 for s in seeds)
    chunks = plan(1001, 100)
    per = {c: sum(x.n_jets for x in chunks if x.cls == c) for c in CLASSES}
    assert per == {c: 201 for c in CLASSES} and chunks[1] == Chunk("g", 1, 100) and chunks[2] == Chunk("g", 2, 1)


def test_first_jets_of_a_chunk_do_not_depend_on_its_length():
    s = GenSettings(seed=3)
    short, long = run_chunk(s, Chunk("z", 0, 3)), run_chunk(s, Chunk("z", 0, 6))
    np.testing.assert_array_equal(short["features"], long["features"][:3])


def test_generate_resumes_by_chunk(tmp_path):
    s = GenSettings(seed=5, chunk_jets=1)
    first = generate(5, tmp_path, s, workers=1)
    with np.load(first) as d:
        before = d["features"].copy(), d["label"].copy()
    (tmp_path / "chunks" / "t_00000.npz").unlink()
    with np.load(generate(5, tmp_path, s, workers=1)) as d:
        np.testing.assert_array_equal(d["features"], before[0])
        assert d["label"].tolist() == [0, 1, 2, 3, 4] == before[1].tolist()
        assert d["features"].shape == (5, 16) and np.all(np.isfinite(d["features"]))
    with pytest.raises(ValueError, match="holds a run with other settings"):
        generate(5, tmp_path, replace(s, seed=6), workers=1)
    card = card_text(first, "jsc-hw data generate ...")
    assert "| 1 | 1 | 1 | 1 | 1 |" in card  # one jet per class
    assert "departs from the default recipe" not in card  # seed and chunk size are not part of the recipe
    assert "r05_h010_e005_t220_nonu" in card and "on shell" in card


def test_card_names_departures_from_the_default_recipe():
    assert departures(GenSettings(seed=9, chunk_jets=7).to_json()) == []
    other = replace(GenSettings(), radius=0.8, pythia=PythiaSettings(on_shell=False)).to_json()
    (line, _) = departures(other)
    assert "`radius` = 0.8 (default 0.4)" in line and "'on_shell': False" in line


def test_shipped_rows_regenerate_from_their_seed():
    x, y, chunk, meta = _embedded()
    s = GenSettings.from_json(meta["settings"])
    n = 150
    shipped = x[(y == CLASSES.index("w")) & (chunk == 0)][:n]
    regenerated = run_chunk(s, Chunk("w", 0, n))["features"][:, FEATURE_COLS].astype(np.float32)
    np.testing.assert_allclose(regenerated, shipped, rtol=1e-6, atol=1e-30)


def test_embedded_physics():
    x, y, _, meta = _embedded()
    f = {name: x[:, j] for j, name in enumerate(FEATURES)}
    assert meta["versions"]["pythia8"] == "8.317"
    np.testing.assert_allclose(f["j_d2_a1_b1_mmdt"], f["j_d2_b1_mmdt"], rtol=1e-5)
    np.testing.assert_array_equal(f["j_multiplicity"], np.round(f["j_multiplicity"]))
    assert np.all(f["j_zlogz"] < 0) and np.all((f["j_c1_b0_mmdt"] > 0) & (f["j_c1_b0_mmdt"] < 0.5))
    peaks = {}
    for c, lo, hi in (("w", 60, 100), ("z", 70, 110), ("t", 130, 210)):
        m = f["j_mass_mmdt"][y == CLASSES.index(c)]
        hist, edges = np.histogram(m[(m > lo) & (m < hi)], bins=40, range=(lo, hi))
        peaks[c] = edges[hist.argmax()] + (hi - lo) / 80
    assert 76 < peaks["w"] < 86 and 86 < peaks["z"] < 96 and 160 < peaks["t"] < 185
    mult = {c: f["j_multiplicity"][y == i].mean() for i, c in enumerate(CLASSES)}
    assert mult["g"] > mult["t"] > mult["q"] and mult["g"] > mult["w"]


@pytest.mark.parametrize("argv,message", [
    (["--jets", "7"], "--jets 7: give a positive multiple of 5 (balanced classes), e.g. 5"),
    (["--jets", "0"], "--jets 0: give a positive multiple of 5"),
    (["--jets", "10", "--chunk-jets", "0"], "--chunk-jets 0: give at least 1 jet per chunk"),
    (["--jets", "10", "--radius", "0"], "--radius 0.0: the anti-kT radius must lie in 0.05..2.0"),
    (["--jets", "10", "--workers", "0"], "--workers 0: give at least 1"),
])
def test_data_generate_refuses_impossible_requests_in_one_line(argv, message, tmp_path, capsys, caplog):
    from jsc_hw.cli import main

    out = tmp_path / "gen"
    assert main(["data", "generate", "--out", str(out), *argv]) == 2
    said = capsys.readouterr().err + caplog.text
    assert message in said and "Traceback" not in said
    assert not out.exists()  # nothing written


def test_a_recipe_that_accepts_no_jet_stops_with_the_reason(monkeypatch):
    """A recipe whose jets never reach the pT window (here: a window above the beam's reach) stops after a
    bounded number of events with the counts, instead of looping forever."""
    import importlib

    G = importlib.import_module("jsc_hw.jetgen.generate")  # the module, not the function the package exports
    monkeypatch.setattr(G, "MAX_EVENTS_PER_JET", 0)
    with pytest.raises(G.GenerationError, match=r"chunk z_00000: 0 of 2 jets accepted in 1000 events \("
                                                r"1000 outside the pT window \(8000.0, 9000.0\).*--radius \(0.4\)"):
        run_chunk(replace(GenSettings(detector="none"), jet_pt_window=(8000.0, 9000.0)), Chunk("z", 0, 2))
