"""Accuracy beside hardware cost: one table (Markdown, CSV, self-contained HTML) and the Pareto plot.

Inputs (``collect``): ``synth.json`` files written by ``jsc-hw synth``, hls4ml project folders (their
``verification.json`` + vendor reports), and sweep run folders (records with the analytic cost: BOPs only).
Each table row is one model x one source of hardware figures, with the tool, version, part and stage of the
figures beside them.  The plot puts each (tool, stage, part) flow on its own Pareto front -- an HLS estimate, a
Yosys logic synthesis and a Vivado implementation are different measurements -- and draws the published JSC
designs (``anchors.csv``) on a separate panel, by dataset, since accuracies on different datasets differ.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
import textwrap
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from jsc_hw.errors import ConfigError, MissingError, RunFolderError
from jsc_hw.figures import ESTIMATE_OF, Figures, Verdict
from jsc_hw.files import atomic_savefig, atomic_write, output_folder
from jsc_hw.runfolder import ModelInfo, load_json, read_records, read_synth
from jsc_hw.schema import TIE_RULE
from jsc_hw.hardware.vendor import vendor_figures

log = logging.getLogger(__name__)
Model = ModelInfo  #: the model a row is about (the ``model`` section of synth.json)


@dataclass(frozen=True)
class Row:
    model: Model
    figures: Figures | None
    verdicts: tuple[Verdict, ...] = ()  #: the checks behind the row's figures and accuracies (RTL, C-sim)

    @property
    def verified(self) -> bool:
        """Every check behind the row passed, and there was one: its figures are figures of the trained model."""
        return bool(self.verdicts) and all(v.bit_exact for v in self.verdicts)

    @property
    def verdict(self) -> str:
        return "; ".join(v.label for v in self.verdicts) or "–"


@dataclass(frozen=True)
class Anchor:
    design: str
    source: str
    dataset: str
    accuracy_pct: float
    lut: int
    dsp: int | None
    latency_ns: float | None
    part: str
    stage: str
    level: str  #: P primary, S secondary transcription, U unverified


def anchors() -> list[Anchor]:
    """Published JSC FPGA designs (docs: notes/fpga-anchors.md), from the checked-in ``anchors.csv``."""
    text = resources.files("jsc_hw").joinpath("anchors.csv").read_text()
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        out.append(Anchor(r["design"], r["source"], r["dataset"], float(r["accuracy_pct"]), int(r["lut"]),
                          int(r["dsp"]) if r["dsp"] else None, float(r["latency_ns"]) if r["latency_ns"] else None,
                          r["part"], r["stage"], r["level"]))
    return out


# ---- inputs ----------------------------------------------------------------------------------------------
def read_synth_json(path: Path) -> list[Row]:
    rec = read_synth(path)
    verdicts = (rec.verdict, *([rec.model.csim_verdict] if rec.model.csim_verdict else []))
    return [Row(rec.model, f, verdicts) for f in rec.figures] or [Row(rec.model, None, verdicts)]


def _project_rows(project: Path) -> list[Row]:
    ver = load_json(project / "verification.json")
    if not isinstance(ver, dict):
        raise RunFolderError(f"{project / 'verification.json'}: not a verification record (jsc-hw export)")
    checked, exact = ver.get("rows_checked"), ver.get("rows_bit_exact")
    verdict = Verdict("C-sim", int(checked or 0), int(exact or 0))
    model = Model(project.name, str(ver.get("arch", "?")), ver.get("weight_bits"), ver.get("act_bits"),
                  ver.get("input_bits"), ver.get("params"), ver.get("bops"), ver.get("acc_pytorch"),
                  ver.get("acc_csim"), f"{checked if checked is not None else '?'} verification rows", None,
                  checked, exact, "jsc-hw" if "checkpoint" in ver else ver.get("origin", "jsc-hw"))
    return [Row(model, f, (verdict,)) for f in vendor_figures(project)] or [Row(model, None, (verdict,))]


def _run_rows(run: Path) -> list[Row]:
    rows = []
    for rec in read_records(run):
        q = rec.config.quant
        model = Model(rec.name, rec.config.model.arch, q.weight_bits, q.act_bits, q.input_bits, rec.cost.get("params"),
                      rec.cost.get("bops"), rec.val_acc_last_epoch, None, f"validation, run {run.name}", None)
        rows.append(Row(model, None))
    return rows


def collect(paths: list[str | Path]) -> list[Row]:
    """Rows from synth.json files, hls4ml projects and sweep runs, found at or below each path."""
    rows: list[Row] = []
    for p in map(Path, paths):
        if p.is_file() and p.suffix == ".json":
            rows += read_synth_json(p)
        elif (p / "records").is_dir():
            synthesised = {f.parent.name: [replace(r, model=replace(r.model, name=f.parent.name)) for r in
                                           read_synth_json(f)] for f in sorted(p.glob("synth/*/synth.json"))}
            rows += [r for run_row in _run_rows(p) for r in synthesised.get(run_row.model.name, [run_row])]
        elif p.is_dir():
            found = sorted(p.rglob("synth.json"))
            rows += [r for f in found for r in read_synth_json(f)]
            projects = sorted({v.parent for v in p.rglob("verification.json")})
            rows += [r for proj in projects for r in _project_rows(proj)]
        else:
            raise MissingError(f"{p}: give synth.json files, hls4ml project folders or sweep run folders")
    if not rows:
        raise ConfigError(f"nothing to report in {[str(p) for p in paths]}: run `jsc-hw synth` first")
    unverified = [r for r in rows if r.figures is not None and not r.verified]
    if unverified:
        log.warning("%d row(s) with figures of a model that is not bit-exact or not checked (marked): %s",
                    len(unverified), ", ".join(sorted({r.model.name for r in unverified})))
    return rows


# ---- table -----------------------------------------------------------------------------------------------
COLUMNS = ("model", "arch", "bits w/a/in", "params", "BOPs", "acc PyTorch", "acc C-sim", "accuracy on", "verdict",
           "LUT", "FF", "DSP", "BRAM18", "CARRY", "latency cycles", "latency ns", "clock ns", "logic depth",
           "tool", "version", "part", "stage", "origin")
UNVERIFIED = "✗ "  #: prefixes the model name of a row whose figures rest on a failed or missing check


def _fmt(v: object, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(rows: list[Row]) -> list[dict[str, object]]:
    out = []
    for r in rows:
        m, f = r.model, r.figures
        bits = "/".join("–" if b is None else str(b) for b in (m.weight_bits, m.act_bits, m.input_bits))
        fig = {} if f is None else {
            "LUT": f.lut, "FF": f.ff, "DSP": f.dsp, "BRAM18": f.bram_18k, "CARRY": f.carry,
            "latency cycles": f.latency_max_cycles if f.latency_min_cycles == f.latency_max_cycles
            else f"{f.latency_min_cycles}-{f.latency_max_cycles}",
            "latency ns": f.latency_ns, "clock ns": f.clock_ns, "logic depth": f.logic_depth, "tool": f.tool,
            "version": f.version, "part": f.part, "stage": f.stage}
        marked = f is not None and not r.verified
        out.append({"model": (UNVERIFIED if marked else "") + m.name, "arch": m.arch, "bits w/a/in": bits,
                    "params": m.params, "BOPs": m.bops, "acc PyTorch": m.acc_pytorch, "acc C-sim": m.acc_csim,
                    "accuracy on": m.acc_source, "verdict": r.verdict, **{c: fig.get(c) for c in COLUMNS[9:-1]},
                    "origin": m.origin})
    return out


def notes(rows: list[Row]) -> list[str]:
    """What the figures mean: the tie rule of every accuracy, the verdicts, the known bias of each tool."""
    out = [f"Accuracies: {TIE_RULE}.",
           "verdict: the checks behind a row against PyTorch (a QONNX model of one's own: the QONNX executor), bit "
           "for bit (RTL: the Verilog in Verilator; C-sim: the hls4ml C-simulation). origin: jsc-hw, or the QONNX "
           f"file / Brevitas module a model of one's own came from. {UNVERIFIED.strip()} marks figures of a design "
           "that is NOT bit-exact or was not checked: they are not figures of the trained model, and the Pareto "
           "plot draws them hollow, off every front."]
    biases = {r.figures.estimate_of: r.figures.tool for r in rows if r.figures is not None and r.figures.estimate_of}
    for text, tool in sorted(biases.items()):  # once per statement, named by the flow it was measured for
        out.append(f"{next((p for p, t in ESTIMATE_OF.items() if t == text), tool)} {text}.")
    return out


def markdown(rows: list[Row]) -> str:
    t = table(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |" for r in t]
    return "\n".join(lines + [""] + notes(rows)) + "\n"


def write_csv(rows: list[Row], path: Path) -> Path:
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows({c: ("" if r[c] is None else r[c]) for c in COLUMNS} for r in table(rows))
    return atomic_write(path, buf.getvalue())


def html_page(rows: list[Row], png: bytes | None, title: str = "jsc-hw hardware report") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(("<tr class='unverified'>" if r.figures is not None and not r.verified else "<tr>")
                   + "".join(f"<td>{html.escape(_fmt(t[c]))}</td>" for c in COLUMNS) + "</tr>"
                   for r, t in zip(rows, table(rows)))
    img = "" if png is None else f'<img alt="Pareto plot" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    foot = "".join(f"<p>{html.escape(n)}</p>" for n in notes(rows))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #bbb;padding:2px 5px;text-align:right}img{max-width:100%}"
            "tr.unverified td{background:#fdd}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Every hardware figure carries its tool, version, part and stage "
            "(hls-estimate, logic-synthesis, place-and-route): compare figures of the same stage only.</p>"
            f"{img}<table><tr>{head}</tr>{body}</table>{foot}</body></html>\n")


# ---- Pareto plot -----------------------------------------------------------------------------------------
def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points (cost, accuracy) not beaten by another with lower-or-equal cost and higher-or-equal accuracy."""
    front, best = [], float("-inf")
    for c, a in sorted(points, key=lambda p: (p[0], -p[1])):
        if a > best:
            front.append((c, a))
            best = a
    return front


def _label(m: Model) -> str:
    """A model's name on the plot, with its origin when it was not built by jsc-hw (e.g. ``[QONNX file qk.onnx]``)."""
    return m.name if m.origin == "jsc-hw" else f"{m.name} [{m.origin}]"


def plot(rows: list[Row], path: Path) -> Path:
    """The Pareto plot.  Only figures of verified rows (``Row.verified``) are on a flow's front; the others are
    drawn hollow in red, labelled, so a mismatched or unchecked design never passes for a point of the front."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 10))
    ((ax_lut, ax_dsp), (ax_bops, ax_pub)) = fig.subplots(2, 2)
    flows: dict[str, list[Row]] = {}
    for r in rows:
        if r.figures is not None and r.figures.lut is not None and r.model.acc_pytorch is not None:
            flows.setdefault(f"{r.figures.tool} {r.figures.version}\n{r.figures.part}, {r.figures.stage}", []).append(r)
    bad_label = f"{UNVERIFIED}NOT bit-exact or not checked (off the fronts)"
    for i, (flow, rs) in enumerate(sorted(flows.items())):
        marker = "osD^v<>"[i % 7]
        good = [r for r in rs if r.verified]
        pts = [(float(r.figures.lut), 100 * r.model.acc_pytorch) for r in good]
        if pts:
            line = ax_lut.scatter(*zip(*pts), marker=marker, label=flow)
            ax_lut.step(*zip(*pareto_front(pts)), where="post", color=line.get_facecolor()[0], alpha=0.5)
            ax_dsp.scatter([r.figures.dsp or 0 for r in good], [p[1] for p in pts], marker=marker,
                           color=line.get_facecolor()[0])
        bad = [r for r in rs if not r.verified]
        if bad:
            ys = [100 * r.model.acc_pytorch for r in bad]
            ax_lut.scatter([r.figures.lut for r in bad], ys, marker=marker, facecolors="none", edgecolors="tab:red",
                           label=bad_label)
            ax_dsp.scatter([r.figures.dsp or 0 for r in bad], ys, marker=marker, facecolors="none",
                           edgecolors="tab:red")
            bad_label = None  # one legend entry
        for r in rs:
            name, y = ("" if r.verified else UNVERIFIED) + _label(r.model), 100 * r.model.acc_pytorch
            ax_lut.annotate(name, (r.figures.lut, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            ax_dsp.annotate(name, (r.figures.dsp or 0, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    models = {r.model.name: r.model for r in rows if r.model.bops and r.model.acc_pytorch is not None}
    if models:
        ax_bops.scatter([m.bops for m in models.values()], [100 * m.acc_pytorch for m in models.values()], color="k")
        front = pareto_front([(m.bops, 100 * m.acc_pytorch) for m in models.values()])
        ax_bops.step(*zip(*front), where="post", color="k", alpha=0.4)
        for m in models.values():
            ax_bops.annotate(_label(m), (m.bops, 100 * m.acc_pytorch), fontsize=7, xytext=(3, 3),
                             textcoords="offset points")
    ax_bops.set(xscale="log", xlabel="bit operations per inference (analytic, jsc_hw.hardware.cost)",
                ylabel="accuracy (%)",
                title="this toolkit: accuracy vs BOPs (every model)")
    sources = sorted({r.model.acc_source for r in rows if r.model.acc_pytorch is not None})
    if sources:
        fig.suptitle("\n".join(textwrap.wrap("accuracy: " + "; ".join(sources), 230)), fontsize=9)
    ax_lut.set(xscale="log", xlabel="LUT (Yosys synth_xilinx counts over-estimate Vivado ~1.6x; ECP5: LUT4 slots)",
               ylabel="accuracy (%; ties count as g)", title="this toolkit: accuracy vs LUT")
    ax_dsp.set(xlabel="DSP blocks (0: constant multiplications in LUTs and carry chains)", ylabel="accuracy (%)",
               title="this toolkit: accuracy vs DSP")
    ax_dsp.set_xscale("symlog", linthresh=10)  # 0 DSP (shift-and-add) beside tens and thousands
    ax_dsp.set_xlim(-0.5, max([r.figures.dsp or 0 for rs in flows.values() for r in rs], default=0) * 2 + 10)
    if flows:
        ax_lut.legend(fontsize=7, loc="lower right", framealpha=0.6)
    by_set: dict[str, list[Anchor]] = {}
    for a in anchors():
        by_set.setdefault(a.dataset, []).append(a)
    for ds, pts in sorted(by_set.items()):
        sc = ax_pub.scatter([a.lut for a in pts], [a.accuracy_pct for a in pts], label=f"{ds} dataset")
        front = pareto_front([(a.lut, a.accuracy_pct) for a in pts])
        ax_pub.step(*zip(*front), where="post", color=sc.get_facecolor()[0], alpha=0.5)
        for a in pts:
            ax_pub.annotate(f"{a.design} [{a.level}]", (a.lut, a.accuracy_pct), fontsize=5, xytext=(2, 2),
                            textcoords="offset points")
    ax_pub.set(xscale="log", xlabel="LUT (Vivado, as published)", ylabel="accuracy (%)",
               title="published JSC designs (other datasets: not comparable)")
    ax_pub.legend(fontsize=7, loc="lower right")
    fig.set_layout_engine("tight")
    return atomic_savefig(fig, path, dpi=130)


def write(rows: list[Row], out_dir: str | Path, title: str = "jsc-hw hardware report") -> dict[str, Path]:
    """report.md, report.csv, report.html (plot embedded) and pareto.png in ``out_dir``."""
    out = output_folder(out_dir)
    png = plot(rows, out / "pareto.png")
    atomic_write(out / "report.md", f"# {title}\n\n{markdown(rows)}\n![Pareto](pareto.png)\n")
    atomic_write(out / "report.html", html_page(rows, png.read_bytes(), title))
    return {"md": out / "report.md", "csv": write_csv(rows, out / "report.csv"), "html": out / "report.html",
            "png": png}
