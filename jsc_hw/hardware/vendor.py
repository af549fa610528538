"""Vendor hardware reports: Vivado HLS / Vitis HLS C-synthesis and Vivado synthesis of an hls4ml project.

``run_vendor`` runs the project's own ``build_prj.tcl`` with a timeout; ``vendor_figures`` parses what it left:
``<top>_csynth.xml`` / ``.rpt`` and ``vivado_synth.rpt``.  The parsers are tested on real reports
(``tests/data/reports``).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from jsc_hw.errors import DataError, MissingError, ToolError
from jsc_hw.figures import Figures
from jsc_hw.files import atomic_write

log = logging.getLogger(__name__)


def _num(text: str | None) -> float | None:
    if text is None or not text.strip() or text.strip() in ("-", "N/A", "undef"):
        return None
    try:
        return float(text.strip().lstrip("~"))
    except ValueError:
        return None  # a cell that is not a number is an absent figure, not a crash


def _int(text: str | None) -> int | None:
    value = _num(text)
    return None if value is None else int(value)


def parse_csynth_xml(path: str | Path, tool: str = "Vivado/Vitis HLS") -> Figures:
    """``<top>_csynth.xml`` / ``csynth.xml`` written by Vivado HLS or Vitis HLS C-synthesis."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DataError(f"{path}: not a readable C-synthesis XML report ({exc})") from None
    res = root.find("AreaEstimates/Resources")
    lat = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    if res is None or lat is None:
        raise DataError(f"{path}: not a C-synthesis report (no AreaEstimates/Resources or latency summary)")
    dsp = res.findtext("DSP48E") or res.findtext("DSP")
    return Figures(tool, root.findtext("ReportVersion/Version", "unknown"), root.findtext("UserAssignments/Part", "?"),
                   "hls-estimate", lut=_int(res.findtext("LUT")), ff=_int(res.findtext("FF")), dsp=_int(dsp),
                   bram_18k=_num(res.findtext("BRAM_18K")),
                   latency_min_cycles=_int(lat.findtext("Best-caseLatency")),
                   latency_max_cycles=_int(lat.findtext("Worst-caseLatency")), ii=_int(lat.findtext("Interval-max")),
                   target_clock_ns=_num(root.findtext("UserAssignments/TargetClockPeriod")),
                   clock_ns=_num(root.findtext("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
                   source=str(path))


def parse_csynth_rpt(path: str | Path) -> Figures:
    """The text twin of the XML: ``<top>_csynth.rpt``."""
    text = Path(path).read_text()
    tool = re.search(r"==\s*(Vivado HLS|Vitis HLS)\s+Report", text)
    version = re.search(r"\*\s*Version:\s*(\S+)", text)
    part = re.search(r"\*\s*Target device:\s*(\S+)", text)
    clock = re.search(r"\|ap_clk\s*\|\s*([\d.]+)\s*ns\s*\|\s*([\d.]+)\s*ns", text)
    lat = re.search(r"Latency \(cycles\).*?\+\n\s*\|\s*(\d+)\|\s*(\d+)\|[^|]*\|[^|]*\|\s*(\d+)\|\s*(\d+)\|", text, re.S)
    total = re.search(r"\|Total\s*\|\s*([\d-]+)\|\s*([\d-]+)\|\s*([\d-]+)\|\s*([\d-]+)\|", text)
    if not (tool and lat and total):
        raise DataError(f"{path}: not a Vivado/Vitis HLS C-synthesis report")
    return Figures(tool.group(1), version.group(1) if version else "unknown", part.group(1) if part else "?",
                   "hls-estimate", lut=_int(total.group(4)), ff=_int(total.group(3)), dsp=_int(total.group(2)),
                   bram_18k=_num(total.group(1)), latency_min_cycles=int(lat.group(1)),
                   latency_max_cycles=int(lat.group(2)), ii=int(lat.group(4)),
                   target_clock_ns=float(clock.group(1)) if clock else None,
                   clock_ns=float(clock.group(2)) if clock else None, source=str(path))


def _util_row(text: str, *names: str) -> float | None:
    for name in names:
        m = re.search(rf"^\|\s*{re.escape(name)}\*?\s*\|\s*([\d.]+)\s*\|", text, re.M)
        if m:
            return float(m.group(1))
    return None


def parse_vivado_utilization(path: str | Path) -> Figures:
    """Vivado ``report_utilization`` output (hls4ml's ``vivado_synth.rpt``), 7-series or UltraScale names."""
    text = Path(path).read_text()
    version = re.search(r"Tool Version\s*:\s*Vivado v\.(\S+)", text)
    part = re.search(r"\|\s*Device\s*:\s*(\S+)", text)
    state = re.search(r"Design State\s*:\s*(\S+)", text)
    lut = _util_row(text, "Slice LUTs", "CLB LUTs")
    if version is None or lut is None:
        raise DataError(f"{path}: not a Vivado utilisation report")
    tiles = _util_row(text, "Block RAM Tile")
    carry = sum(int(n) for n in re.findall(r"^\|\s*CARRY[48]\s*\|\s*(\d+)\s*\|", text, re.M)) or None
    stage = "place-and-route" if state and state.group(1).lower() in ("routed", "placed") else "logic-synthesis"
    ff, dsp = _util_row(text, "Slice Registers", "CLB Registers"), _util_row(text, "DSPs")
    return Figures("Vivado", version.group(1), part.group(1) if part else "?", stage, lut=int(lut),
                   ff=None if ff is None else int(ff), dsp=None if dsp is None else int(dsp),
                   bram_18k=None if tiles is None else 2 * tiles,
                   carry=carry, source=str(path))


def vendor_figures(project: str | Path) -> list[Figures]:
    """Every vendor report found in an hls4ml project folder (C-synthesis first, then Vivado synthesis)."""
    project = Path(project)
    out: list[Figures] = []
    for prj in sorted(project.glob("*_prj"))[:1]:  # <top>_prj/solution1/syn/report: one report per HLS module
        reports = sorted(prj.glob("solution*/syn/report"))
        top = prj.name[: -len("_prj")]
        xml = [r / n for r in reports for n in (f"{top}_csynth.xml", "csynth.xml") if (r / n).exists()]
        rpt = [r / f"{top}_csynth.rpt" for r in reports if (r / f"{top}_csynth.rpt").exists()]
        if xml:
            out.append(parse_csynth_xml(xml[0], _hls_tool(project)))
        elif rpt:
            out.append(parse_csynth_rpt(rpt[0]))
    if (project / "vivado_synth.rpt").exists():
        out.append(parse_vivado_utilization(project / "vivado_synth.rpt"))
    return out


def _hls_tool(project: Path) -> str:
    if (project / "vitis_hls.log").exists() or (project / "build_opt.tcl").exists():
        return "Vitis HLS"
    return "Vivado HLS" if (project / "vivado_hls.log").exists() else "Vivado/Vitis HLS"


#: tool name -> command line that runs an hls4ml project's build_prj.tcl (C-synthesis [+ Vivado synthesis])
VENDOR_COMMANDS: dict[str, list[str]] = {
    "vitis": ["vitis-run", "--tcl", "build_prj.tcl", "--mode", "hls"],
    "vivado": ["vivado_hls", "-f", "build_prj.tcl"],
}


def vendor_available(tool: str) -> bool:
    return shutil.which(VENDOR_COMMANDS[tool][0]) is not None


def run_vendor(project: str | Path, tool: str, vsynth: bool = False, timeout: float = 7200) -> list[Figures]:
    """Run C-synthesis (and Vivado logic synthesis with ``vsynth``) through the project's own scripts."""
    project = Path(project)
    if not (project / "build_prj.tcl").exists():
        raise MissingError(f"{project}: no build_prj.tcl; pass an hls4ml project folder (jsc-hw export ...)")
    if not vendor_available(tool):
        raise MissingError(f"{VENDOR_COMMANDS[tool][0]} not on PATH: source the {tool} settings script, "
                           "or use --tool yosys for the open-source flow")
    opts = dict(reset=1, csim=0, synth=1, cosim=0, validation=0, export=0, vsynth=int(vsynth), fifo_opt=0)
    cmd = list(VENDOR_COMMANDS[tool])
    if tool == "vitis":
        atomic_write(project / "build_opt.tcl",
                     "array set opt {\n" + "".join(f"  {k} {v}\n" for k, v in opts.items()) + "}\n")
    else:
        cmd.append(" ".join(f"{k}={v}" for k, v in opts.items()))
    log.info("running %s in %s (timeout %.0f s)", " ".join(cmd), project, timeout)
    log_path = project / f"{tool}_build.log"
    with open(log_path, "w") as out:
        try:
            subprocess.run(cmd, cwd=project, check=True, timeout=timeout, stdout=out, stderr=subprocess.STDOUT)
        except subprocess.CalledProcessError as exc:
            raise ToolError(f"{cmd[0]} failed in {project} (exit {exc.returncode}); log: {log_path}") from None
        except subprocess.TimeoutExpired:
            raise ToolError(f"{cmd[0]} ran past --timeout {timeout:.0f} s in {project}; log: {log_path}") from None
    return vendor_figures(project)
