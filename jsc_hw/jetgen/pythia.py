"""Pythia 8 event generation for the five JSC classes (13 TeV pp, Monash 2013 tune, NNPDF2.3 LO).

The original samples were MadGraph 2->2 at LO with the parton/boson pT in 995-1005 GeV, showered with
Pythia 8.2 (notes/jsc-dataset.md §3); here Pythia's own 2->2 matrix elements with the same pT-hat window.
W, Z and the W from top decay hadronically; labels are by sample, as in the original.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from jsc_hw.errors import ConfigError, ToolError

#: class -> Pythia process switches (the label is the sample, as in the original production)
PROCESSES: dict[str, tuple[str, ...]] = {
    "g": ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"),
    "q": ("HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:gg2qqbar = on", "HardQCD:nQuarkNew = 4"),
    "w": ("WeakDoubleBoson:ffbar2WW = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
    "z": ("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 1 2 3 4 5"),
    "t": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5"),
}
QUIET = ("Print:quiet = on", "Next:numberCount = 0", "Next:numberShowEvent = 0", "Next:numberShowInfo = 0",
         "Next:numberShowProcess = 0", "Init:showChangedSettings = off", "Init:showProcesses = off",
         "Init:showChangedParticleData = off")
NEUTRINOS = frozenset({12, 14, 16, 18})
#: class -> (PDG id, pole mass in GeV) of the undecayed hard-process resonance that the original MadGraph5 samples
#: wrote to their LHE files, on shell at the masses of MadGraph5's default ``sm`` model: MZ 91.188 and MT 173.0
#: are its inputs (Pythia's own 91.1876 and 173.0 within 1 MeV); MW = 79.824 is derived there at tree level
#: from G_F, alpha(MZ) and MZ (Pythia's W is 80.385 GeV)
RESONANCE: dict[str, tuple[int, float]] = {"w": (24, 79.824), "z": (23, 91.188), "t": (6, 173.0)}


@dataclass(frozen=True)
class PythiaSettings:
    sqrt_s: float = 13000.0
    pthat: tuple[float, float] = (995.0, 1005.0)
    limit_tau0: bool = True  # c*tau0 > 10 mm stable (K0S, Lambda, Sigma, Xi), like the original's PDG-ID lists
    # the W, Z or t of the hard process at a fixed mass (RESONANCE): MadGraph writes undecayed final-state
    # resonances on shell and Pythia decays them at the mass it reads (for t, the W of its decay keeps its
    # Breit-Wigner)
    on_shell: bool = False
    extra: tuple[str, ...] = ()

    def commands(self, cls: str, seed: int) -> list[str]:
        cmds = [f"Beams:eCM = {self.sqrt_s}", f"PhaseSpace:pTHatMin = {self.pthat[0]}",
                f"PhaseSpace:pTHatMax = {self.pthat[1]}", "Random:setSeed = on", f"Random:seed = {seed}",
                *QUIET, *PROCESSES[cls]]
        if self.limit_tau0:
            cmds += ["ParticleDecays:limitTau0 = on", "ParticleDecays:tau0Max = 10"]
        if self.on_shell and cls in RESONANCE:
            pdg, mass = RESONANCE[cls]
            cmds += [f"{pdg}:m0 = {mass}", f"{pdg}:doForceWidth = on", f"{pdg}:mWidth = 0.001"]
        return cmds + list(self.extra)


def version() -> str:
    import pythia8mc

    py = pythia8mc.Pythia("", False)
    return f"{py.parm('Pythia:versionNumber'):.3f}"


class Event:
    """The current Pythia event of a stream (valid until the stream advances): its visible final state, or the
    constituents of its leading anti-kT jet found inside Pythia by SlowJet (fjcore, E-scheme, standard
    Delta R), which avoids copying every particle into Python: the same jets as FastJet on the full final state."""

    def __init__(self, py, jet_finders: dict[tuple[float, float], object]):
        self._py, self._finders = py, jet_finders

    def final_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(p4 (n,4) px,py,pz,E; pdg ids (n,)) of the visible final state (neutrinos removed)."""
        rows = [(p.px(), p.py(), p.pz(), p.e(), p.id()) for p in self._py.event.particles()
                if p.isFinal() and p.idAbs() not in NEUTRINOS]
        arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
        return np.ascontiguousarray(arr[:, :4]), arr[:, 4].astype(np.int64)

    def leading_jet(self, radius: float, ptmin: float) -> np.ndarray:
        """(n,4) constituents of the leading visible anti-kT jet above ``ptmin`` ((0,4) if there is none)."""
        import pythia8mc

        key = (radius, ptmin)
        if key not in self._finders:  # power -1 = anti-kT, no particle |eta| cut, select 2 = visible, true masses
            self._finders[key] = pythia8mc.SlowJet(-1, radius, ptmin, 1e6, 2, 2, None, True, True)
        finder, ev = self._finders[key], self._py.event
        finder.analyze(ev)
        if finder.sizeJet() == 0:
            return np.zeros((0, 4))
        return np.array([(ev[i].px(), ev[i].py(), ev[i].pz(), ev[i].e()) for i in finder.constituents(0)],
                        dtype=np.float64).reshape(-1, 4)


def events(cls: str, seed: int, settings: PythiaSettings) -> Iterator[Event]:
    """Endless stream of events of one class (the same object, advanced in place)."""
    import pythia8mc

    if cls not in PROCESSES:
        raise ConfigError(f"unknown class {cls!r}: expected one of {sorted(PROCESSES)}")
    if not 0 < seed <= 900_000_000:
        raise ConfigError(f"Pythia seed {seed} outside 1..900000000")
    py = pythia8mc.Pythia("", False)
    for cmd in settings.commands(cls, seed):
        if not py.readString(cmd):
            raise ConfigError(f"Pythia rejected the setting {cmd!r}")
    if not py.init():
        raise ToolError(f"Pythia initialisation failed for class {cls!r}")
    view = Event(py, {})
    while True:
        if py.next():
            yield view
