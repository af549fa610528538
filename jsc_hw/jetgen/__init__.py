"""First-principles JSC jets: Pythia 8 events (``pythia``), optional detector emulation (``detector``),
FastJet + fjcontrib features (``features``), chunked/resumable/parallel driver (``generate``)."""

from __future__ import annotations

from jsc_hw.jetgen.generate import Chunk, GenSettings, chunk_seed, generate, run_chunk
from jsc_hw.jetgen.pythia import PythiaSettings

__all__ = ["Chunk", "GenSettings", "PythiaSettings", "chunk_seed", "generate", "run_chunk"]
