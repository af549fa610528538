"""Hardware figures with their provenance: which tool (and version) produced them, for which part or family,
at which stage -- ``hls-estimate`` (C-synthesis), ``logic-synthesis`` (Vivado or Yosys, before placement) or
``place-and-route`` (Vivado implementation, nextpnr) -- so an estimate is never mistaken for an implementation.

A figure also says what it is an estimate *of* when that was measured (``ESTIMATE_OF``: Yosys LUT counts against
Vivado's on the same design), and every figure reaches a table or plot with the ``Verdict`` of the check behind it
(the RTL in Verilator, or the hls4ml C-simulation, against PyTorch): failed or never checked is marked as such."""

from __future__ import annotations

from dataclasses import asdict, dataclass

STAGES = ("hls-estimate", "logic-synthesis", "place-and-route")

#: tool name prefix -> what its figures are known to estimate, measured on a public design
ESTIMATE_OF: dict[str, str] = {
    "Yosys synth_xilinx": (
        "over-estimates Vivado: on a public adder-graph design (20 inputs, 24 outputs, 80 multipliers, 8 lookup "
        "tables; xcvu13p), with Vivado 2025.1 reports committed beside its Verilog, Yosys 0.70 synth_xilinx counts "
        "6,796 LUT where Vivado reports 4,337 after routing (1.57x; many LUT2/LUT3 cells that Vivado packs in pairs)"),
}


def estimate_of(tool: str) -> str:
    """The measured bias of ``tool``'s figures against the vendor flow ('' when none was measured)."""
    return next((text for prefix, text in ESTIMATE_OF.items() if tool.startswith(prefix)), "")


@dataclass(frozen=True)
class Verdict:
    """The check behind a figure or an accuracy: ``exact`` of ``checked`` rows (vectors) bit-exact vs PyTorch."""

    check: str  #: "RTL" (Verilator) or "C-sim" (hls4ml)
    checked: int  #: rows compared; 0 = never checked
    exact: int

    @property
    def bit_exact(self) -> bool:
        return self.checked > 0 and self.exact == self.checked

    @property
    def label(self) -> str:
        if self.checked == 0:
            return f"{self.check} not checked"
        verdict = "bit-exact" if self.bit_exact else "NOT bit-exact"
        return f"{self.check} {verdict} ({self.exact:,}/{self.checked:,})"


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
    estimate_of: str = ""  #: the measured bias against the vendor flow (default: ``ESTIMATE_OF`` of the tool)

    def __post_init__(self) -> None:
        if not self.estimate_of:  # every Yosys figure carries its bias, also one read from an older synth.json
            object.__setattr__(self, "estimate_of", estimate_of(self.tool))

    @property
    def latency_ns(self) -> float | None:
        period = self.clock_ns or self.target_clock_ns
        return None if self.latency_max_cycles is None or period is None else self.latency_max_cycles * period

    @property
    def fmax_mhz(self) -> float | None:
        return None if not self.clock_ns else 1000.0 / self.clock_ns


def figures_dict(f: Figures) -> dict:
    return {**asdict(f), "latency_ns": f.latency_ns, "fmax_mhz": f.fmax_mhz}
