"""Chunked, resumable, parallel generation of balanced JSC jets.

A run folder holds ``settings.json``, ``chunks/<class>_<chunk>.npz`` (one per finished chunk, written
atomically) and, once all chunks exist, ``jets.npz``.  Chunk k of class c is generated with its own Pythia
seed, :func:`chunk_seed` (seed, c, k), and is complete when it holds ``chunk_jets`` accepted jets, so any chunk can
be regenerated alone: the first m jets of a chunk are the same whatever its length.  A jet is accepted when it is
the leading anti-kT jet of its event, lies in the jet-pT window and has all 16 features finite: jets whose
mMDT-groomed jet has a single constituent give 0/0 ratios and are dropped, as the original ``addTruth.py`` dropped
NaN rows; their number is recorded per chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jsc_hw.jetgen.detector import detector_spec, emulate
from jsc_hw.jetgen.columns import COLUMNS
from jsc_hw.jetgen.features import load_backend
from jsc_hw.jetgen.pythia import Event, PythiaSettings, events
from jsc_hw.errors import ConfigError, ToolError
from jsc_hw.schema import CLASSES, FEATURES

log = logging.getLogger(__name__)
#: a chunk that needs more events than this per jet has a recipe that accepts (almost) nothing: stop, say why
MAX_EVENTS_PER_JET = 50
FEATURE_COLS = [COLUMNS.index(f) for f in FEATURES]


@dataclass(frozen=True)
class GenSettings:
    seed: int = 1
    chunk_jets: int = 500
    # the default is the recipe of the embedded dataset (docs/data.md, "The recipe"): the trackObservables
    # boostedPrecision-hls4ml snapshot (R = 0.4; the r0.5/h0.010/e0.005/t220 configuration its steerScript runs for
    # the real file's tag) on MadGraph-like on-shell W/Z/t
    radius: float = 0.4
    jet_ptmin: float = 100.0
    jet_pt_window: tuple[float, float] = (800.0, 1600.0)
    detector: str = "r05_h010_e005_t220_nonu"
    pythia: PythiaSettings = field(default_factory=lambda: PythiaSettings(on_shell=True))
    backend: str = "auto"

    @classmethod
    def from_json(cls, d: dict) -> GenSettings:
        """Inverse of :meth:`to_json` (e.g. the ``settings`` of a data card's ``meta``)."""
        py = d["pythia"]
        pythia = PythiaSettings(sqrt_s=py["sqrt_s"], pthat=tuple(py["pthat"]), limit_tau0=py["limit_tau0"],
                                on_shell=py.get("on_shell", False), extra=tuple(py["extra"]))
        rest = {k: v for k, v in d.items() if k != "pythia"}
        return cls(**rest | {"jet_pt_window": tuple(d["jet_pt_window"])}, pythia=pythia)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("backend")  # results do not depend on it (backends agree to ~1e-13)
        return json.loads(json.dumps(d))


@dataclass(frozen=True)
class Chunk:
    cls: str
    index: int
    n_jets: int

    @property
    def name(self) -> str:
        return f"{self.cls}_{self.index:05d}"


def chunk_seed(seed: int, cls: str, index: int) -> int:
    """Pythia seed (1..900,000,000) of one chunk, a hash of (run seed, class, chunk index)."""
    digest = hashlib.sha256(f"jsc-hw/{seed}/{cls}/{index}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "little") % 900_000_000


class GenerationError(ToolError):
    """A chunk that cannot be filled with the recipe it was given."""


def event_jets(ev: Event, s: GenSettings, rng: np.random.Generator) -> np.ndarray:
    """Rows of ``features.COLUMNS`` for the leading jet of one event (0 or 1 rows), detector applied if set.
    At particle level the jet is found inside Pythia (:meth:`Event.leading_jet`), so only its constituents
    are copied; the detector needs every particle."""
    spec = detector_spec(s.detector)
    backend = load_backend(s.backend)
    if spec is None:
        return backend.jet(ev.leading_jet(s.radius, s.jet_ptmin))
    p4, pdg = ev.final_state()
    return backend.compute(emulate(p4, pdg, spec, rng), s.radius, s.jet_ptmin, 1)


def run_chunk(s: GenSettings, chunk: Chunk) -> dict[str, np.ndarray | int | float]:
    """Generate one chunk; returns its arrays and counters (nothing is written)."""
    seed = chunk_seed(s.seed, chunk.cls, chunk.index)
    rng = np.random.default_rng(seed)
    stream = events(chunk.cls, seed, s.pythia)
    rows, n_events, n_window, n_undefined = [], 0, 0, 0
    t0 = time.process_time()
    max_events = MAX_EVENTS_PER_JET * chunk.n_jets + 1000
    while len(rows) < chunk.n_jets:
        if n_events >= max_events:
            raise GenerationError(f"chunk {chunk.name}: {len(rows)} of {chunk.n_jets} jets accepted in {n_events} "
                                  f"events ({n_window} outside the pT window {s.jet_pt_window}, {n_undefined} "
                                  f"undefined); check --radius ({s.radius}) and --detector ({s.detector})")
        ev = next(stream)
        n_events += 1
        for jet in event_jets(ev, s, rng):
            if not s.jet_pt_window[0] < jet[0] < s.jet_pt_window[1]:
                n_window += 1
            elif not np.all(np.isfinite(jet[FEATURE_COLS])):
                n_undefined += 1
            else:
                rows.append(jet)
    return {"features": np.array(rows).reshape(-1, len(COLUMNS)), "n_events": n_events,
            "n_outside_window": n_window, "n_undefined": n_undefined, "seed": seed,
            "cpu_s": time.process_time() - t0}


def plan(n_jets: int, chunk_jets: int) -> list[Chunk]:
    """Balanced plan: ceil(n_jets / 5) jets per class, in chunks of ``chunk_jets`` (last one smaller)."""
    per_class = math.ceil(n_jets / len(CLASSES))
    out = []
    for cls in CLASSES:
        for k in range(math.ceil(per_class / chunk_jets)):
            out.append(Chunk(cls, k, min(chunk_jets, per_class - k * chunk_jets)))
    return out


def _store(folder: Path, chunk: Chunk, res: dict) -> int:
    """Write one chunk's arrays atomically (temporary file, then rename); returns its number of events."""
    tmp = folder / f".{chunk.name}.{os.getpid()}.npz"
    np.savez_compressed(tmp, label=np.full(chunk.n_jets, CLASSES.index(chunk.cls), np.int8),
                        names=np.array(COLUMNS), **res)
    os.replace(tmp, folder / f"{chunk.name}.npz")
    return int(res["n_events"])


def _work(args: tuple[GenSettings, Chunk, Path]) -> tuple[Chunk, int]:
    s, chunk, folder = args
    return chunk, _store(folder, chunk, run_chunk(s, chunk))


def _ray_task(args: tuple[GenSettings, Chunk]) -> dict:
    """A Ray task: generate one chunk and return its arrays; the driver stores them."""
    return run_chunk(*args)


def check_request(n_jets: int, s: GenSettings, workers: int | None, executor: str) -> None:
    """One-line refusals of a request that cannot give what it asks, before anything is written or started."""
    if n_jets < len(CLASSES) or n_jets % len(CLASSES):
        raise ConfigError(f"--jets {n_jets}: give a positive multiple of {len(CLASSES)} (balanced classes), "
                          f"e.g. {max(len(CLASSES), n_jets - n_jets % len(CLASSES))}")
    if s.chunk_jets < 1:
        raise ConfigError(f"--chunk-jets {s.chunk_jets}: give at least 1 jet per chunk")
    if not 0.05 <= s.radius <= 2.0:
        raise ConfigError(f"--radius {s.radius}: the anti-kT radius must lie in 0.05..2.0 (JSC uses 0.4 or 0.8)")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if executor == "local" and workers is None:
        raise ConfigError("the local executor needs a number of --workers (1 or more)")


def generate(n_jets: int, out: Path, s: GenSettings, workers: int = 1, executor: str = "local",
             address: str | None = None) -> Path:
    """Generate (or resume) a run in folder ``out``; returns ``out/jets.npz``.

    ``executor="ray"``: chunks are Ray tasks (``address``: a running cluster, None: a local instance with
    ``workers`` CPUs) and the driver writes each chunk as it arrives, so only the driver needs ``out``."""
    check_request(n_jets, s, workers, executor)
    out = Path(out)
    chunks_dir = out / "chunks"
    chunks_dir.mkdir(parents=True, exist_ok=True)
    meta = {"settings": s.to_json(), "n_jets": n_jets}
    meta_file = out / "settings.json"
    if meta_file.exists() and json.loads(meta_file.read_text()) != meta:
        raise ConfigError(f"{meta_file}: this folder holds a run with other settings; "
                          "use a new --out folder or the same --jets/--seed/options to resume")
    meta_file.write_text(json.dumps(meta, indent=2))
    # round robin over the classes (chunk 0 of every class, then chunk 1, ...): what a long run has finished when
    # it is stopped is balanced; the output does not depend on the order
    todo = sorted((c for c in plan(n_jets, s.chunk_jets) if not (chunks_dir / f"{c.name}.npz").exists()),
                  key=lambda c: (c.index, CLASSES.index(c.cls)))
    if executor not in ("local", "ray"):
        raise ConfigError(f"unknown executor {executor!r}; choose 'local' or 'ray'")
    log.info("%s: %d chunks to generate with %s workers (%s)", out, len(todo), workers or "all", executor)
    t0 = time.perf_counter()
    with tqdm(total=sum(c.n_jets for c in todo), unit="jet", desc="generate") as bar:
        tasks = [(s, c, chunks_dir) for c in todo]
        if executor == "ray":
            from jsc_hw.ray_executor import Failed, imap_unordered

            failed = []
            for (_, chunk), res in imap_unordered(_ray_task, [(s, c) for c in todo], workers, address):
                if isinstance(res, Failed):  # the other chunks go on; a rerun retries this one
                    failed.append(f"{chunk.name}: {res.message}")
                    log.error("chunk %s failed: %s", chunk.name, res.message)
                    log.debug("%s", res.traceback)
                    continue
                _store(chunks_dir, chunk, res)
                bar.update(chunk.n_jets)
            if failed:
                raise GenerationError(f"{len(failed)} chunk(s) failed (the others are stored; rerun to retry): "
                                      + "; ".join(failed))
        elif workers <= 1:
            done = map(_work, tasks)
            for chunk, _ in done:
                bar.update(chunk.n_jets)
        else:
            with get_context("fork").Pool(workers) as pool:
                for chunk, _ in pool.imap_unordered(_work, tasks):
                    bar.update(chunk.n_jets)
    wall = time.perf_counter() - t0
    if todo:
        log.info("generated %d jets in %.0f s (%.1f jets/s)", sum(c.n_jets for c in todo), wall,
                 sum(c.n_jets for c in todo) / max(wall, 1e-9))
    return assemble(out, n_jets, s)


def assemble(out: Path, n_jets: int, s: GenSettings) -> Path:
    """Concatenate the chunks in plan order into ``out/jets.npz``: the 16 features (float32), ``label`` (int8),
    ``chunk`` (int32 chunk index of each row) and ``meta`` (JSON: settings, versions, counters)."""
    feats, labels, chunk_ids = [], [], []
    counters = {"n_events": 0, "n_outside_window": 0, "n_undefined": 0, "cpu_s": 0.0}
    for c in plan(n_jets, s.chunk_jets):
        with np.load(out / "chunks" / f"{c.name}.npz") as d:
            feats.append(d["features"][: c.n_jets, FEATURE_COLS])
            labels.append(d["label"][: c.n_jets])
            chunk_ids.append(np.full(c.n_jets, c.index, np.int32))
            for k in counters:
                counters[k] += d[k].item()
    target = out / "jets.npz"
    meta = {"settings": s.to_json(), "n_jets": n_jets, "versions": versions(), **counters}
    np.savez_compressed(target, features=np.concatenate(feats).astype(np.float32), names=np.array(FEATURES),
                        label=np.concatenate(labels), chunk=np.concatenate(chunk_ids), meta=np.array(json.dumps(meta)))
    return target


def versions() -> dict[str, str]:
    import fastjet

    from jsc_hw.jetgen.pythia import version

    return {"pythia8": version(), "fastjet_wheel": fastjet.__version__, "fjcontrib": "1.105 (in the fastjet wheel)",
            "numpy": np.__version__, "feature_backend": load_backend("auto").name}
