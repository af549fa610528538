"""One fixed-point format type: ``value = code * 2**exp`` with a code range, a rounding and an overflow mode.

Every tensor of an exportable network has one: a QONNX ``Quant`` node with a power-of-two scale is one
(``from_quant``), an hls4ml/ap_fixed type string is one (``parse``, ``ap_type``), and the integer lowering
(``jsc_hw.hardware.rtl``) and the Verilog writer use its code range (``lo``, ``hi``).  ``quantise`` applies it to float
values exactly as the ap_fixed cast does (used for inputs of graphs without an input quantiser).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from jsc_hw.errors import ConfigError

ROUNDINGS = ("RND_CONV", "RND", "TRN")  #: half to even (torch.round, QONNX ROUND), half up, floor
OVERFLOWS = ("SAT", "WRAP")
QONNX_ROUNDING: dict[str, str] = {"ROUND": "RND_CONV", "HALF_EVEN": "RND_CONV", "FLOOR": "TRN"}


@dataclass(frozen=True)
class FixedFormat:
    bits: int
    signed: bool
    exp: int  #: value = code * 2**exp (the LSB is 2**exp)
    narrow: bool = False  #: signed range without its most negative code (symmetric, SAT_SYM)
    rounding: str = "RND_CONV"  #: one of ROUNDINGS
    overflow: str = "SAT"  #: one of OVERFLOWS

    def __post_init__(self) -> None:
        if self.bits < 1 or self.rounding not in ROUNDINGS or self.overflow not in OVERFLOWS:
            raise ConfigError(f"not a fixed-point format: {self}")
        if self.narrow and not self.signed:
            raise ConfigError("a narrow (symmetric) range needs a signed format")

    @property
    def int_bits(self) -> int:
        """ap_fixed integer bits (sign bit included when signed)."""
        return self.bits + self.exp

    @property
    def lsb(self) -> float:
        return 2.0 ** self.exp

    @property
    def lo(self) -> int:
        return -(2 ** (self.bits - 1)) + self.narrow if self.signed else 0

    @property
    def hi(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2 ** self.bits - 1

    @property
    def ap_type(self) -> str:
        sat = "SAT_SYM" if self.narrow and self.overflow == "SAT" else self.overflow
        return f"{'' if self.signed else 'u'}fixed<{self.bits},{self.int_bits},{self.rounding},{sat}>"

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Float values -> int64 codes, rounded and saturated or wrapped as the ap_fixed cast does."""
        t = np.asarray(x, np.float64) / self.lsb
        r = {"RND_CONV": np.round, "RND": lambda v: np.floor(v + 0.5), "TRN": np.floor}[self.rounding](t)
        if self.overflow == "SAT":
            return np.clip(r, self.lo, self.hi).astype(np.int64)
        span = 2 ** self.bits
        return ((r.astype(np.int64) - self.lo) % span) + self.lo

    def quantise(self, x: np.ndarray) -> np.ndarray:
        """Float values on this format's grid (float64)."""
        return self.codes(x) * self.lsb

    @classmethod
    def parse(cls, text: str) -> FixedFormat:
        """``fixed<16,6>``, ``ap_ufixed<8,3,RND_CONV,SAT>``, hls4ml's ``fixed<18,9,TRN,WRAP,0>``...: ap_fixed defaults
        (TRN, WRAP) where not given."""
        m = re.fullmatch(r"\s*(?:ap_)?(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?"
                         r"(?:,\s*0\s*)?>\s*", text)  # hls4ml writes a trailing saturation-bits field, 0
        if m is None:
            raise ConfigError(f"{text!r} is not a fixed-point type: write it as fixed<W,I> or ufixed<W,I>, optionally "
                              "with a rounding (TRN, RND, RND_CONV) and an overflow mode (WRAP, SAT, SAT_SYM), e.g. "
                              "fixed<16,6,RND_CONV,SAT>")
        u, w, i, rnd, sat = m.groups()
        rnd, sat = (rnd or "TRN").upper(), (sat or "WRAP").upper()
        if rnd not in ROUNDINGS or sat not in (*OVERFLOWS, "SAT_SYM"):
            raise ConfigError(f"{text!r}: rounding must be one of {ROUNDINGS} and overflow one of WRAP, SAT, SAT_SYM")
        return cls(int(w), not u, int(i) - int(w), sat == "SAT_SYM", rnd, "WRAP" if sat == "WRAP" else "SAT")

    @classmethod
    def from_quant(cls, scale: float, bits: float, signed: bool, narrow: bool, rounding_mode: str) -> FixedFormat:
        """A QONNX Quant node with a power-of-two ``scale`` and zero-point 0 (the caller checks both)."""
        exp = math.frexp(float(scale))[1] - 1  # scale = 0.5 * 2**e exactly
        return cls(int(math.ceil(bits)), bool(signed), exp, bool(narrow) and bool(signed),
                   QONNX_ROUNDING[rounding_mode.upper()])


def power_of_two_exp(scale: float) -> int:
    """log2 of a power-of-two scale; raises ValueError for any other value."""
    mant, e = math.frexp(float(scale))
    if mant != 0.5:
        raise ConfigError(f"scale {scale!r} is not a power of two")
    return e - 1
