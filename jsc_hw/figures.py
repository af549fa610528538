"""Hardware figures with their provenance: which tool (and version) produced them, for which part or family,
at which stage -- ``hls-estimate`` (C-synthesis), ``logic-synthesis`` (Vivado or Yosys, before placement) or
``place-and-route`` (Vivado implementation, nextpnr) -- so an estimate is never mistaken for an implementation."""

from __future__ import annotations

from dataclasses import asdict, dataclass

STAGES = ("hls-estimate", "logic-synthesis", "place-and-route")


@dataclass(frozen=True)
class Figures:
    tool: str  #: e.g. "Vivado HLS", "Vivado", "Yosys synth_xilinx", "nextpnr-ecp5"
    version: str
    part: str  #: device or family the figures are for
    stage: str  #: one of STAGES
    lut: int | None = None
    ff: int | None = None
    dsp: int | None = None
    bram_18k: float | None = None  #: in 18 Kb blocks (a 36 Kb tile counts 2)
    carry: int | None = None  #: CARRY4/CARRY8 cells (Yosys) or carry-chain cells
    latency_min_cycles: int | None = None
    latency_max_cycles: int | None = None
    ii: int | None = None  #: initiation interval, cycles
    target_clock_ns: float | None = None
    clock_ns: float | None = None  #: HLS estimated / post-route achieved clock period
    logic_depth: int | None = None  #: longest combinational path in cells (Yosys ``ltp``)
    source: str = ""  #: report file or work folder the figures were read from
    note: str = ""

    @property
    def latency_ns(self) -> float | None:
        period = self.clock_ns or self.target_clock_ns
        return None if self.latency_max_cycles is None or period is None else self.latency_max_cycles * period

    @property
    def fmax_mhz(self) -> float | None:
        return None if not self.clock_ns else 1000.0 / self.clock_ns


def figures_dict(f: Figures) -> dict:
    return {**asdict(f), "latency_ns": f.latency_ns, "fmax_mhz": f.fmax_mhz}
