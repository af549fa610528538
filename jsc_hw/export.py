"""Export: a Brevitas module or a QONNX graph -> hls4ml project -> C-simulation -> verification.

``export_fpga`` takes a Brevitas ``nn.Module`` (exported with ``brevitas.export.export_qonnx``), a QONNX file or a
qonnx ``ModelWrapper``; ``jsc_hw.ingest`` cleans and checks the graph (refusing what cannot be exact), ``jsc_hw.hls``
converts and compiles it, and the C-simulation is compared bit for bit with the QONNX executor's outputs on the same
rows and, for a module, with PyTorch (``jsc_hw.verify``).  Every step writes into the project folder before the
next starts, so a failure leaves what was made so far.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jsc_hw import hls, ingest, verify

from jsc_hw.hardware import qonnx_rtl, rtl
from jsc_hw.config import TrialConfig, dump_yaml
from jsc_hw.hardware.cost import graph_estimate
from jsc_hw.data import Scaler
from jsc_hw.ingest import ExportError, Graph
from jsc_hw.layers import plain
from jsc_hw.nets import BatchedNet, build
from jsc_hw.train import save_checkpoint
from jsc_hw.verify import Agreement, Verification

log = logging.getLogger(__name__)

__all__ = ["ExportError", "ExportResult", "export_fpga", "forward", "reverify", "to_qonnx"]


def to_qonnx(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> Path:
    """Export a Brevitas model (eval mode) taking ``(N, *input_shape)`` to a QONNX file."""
    from brevitas.export import export_qonnx

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        export_qonnx(model.eval(), torch.zeros(1, *input_shape), export_path=str(path), dynamo=False)
    except ModuleNotFoundError as exc:
        raise ExportError(f"Brevitas -> QONNX export: {exc}. Install the export extra: "
                          "pip install 'jsc-hw[export]' (onnx, onnxoptimizer, qonnx, hls4ml)") from exc
    return path


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    qonnx: Path  #: the cleaned QONNX file hls4ml read
    agreement: Agreement  #: C-simulation vs the primary reference (PyTorch for a module, else the QONNX executor)
    compile_s: float
    batchnorm: dict | None  #: exhaustive per-input-code proof of a float BatchNorm, None without one
    verification: Verification

    @property
    def bit_exact(self) -> bool:
        return self.verification.bit_exact


@torch.no_grad()
def forward(model: nn.Module, x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """PyTorch (Brevitas) outputs, float64 (N, n_out)."""
    y = model.eval()(torch.from_numpy(np.asarray(x, np.float32)).view(len(x), *input_shape))
    return plain(y).double().reshape(len(x), -1).numpy()


def _after_bn(model) -> list:
    """The first BatchNormalization's consumers up to and including the Quant node that follows it."""
    bn = next((n for n in model.graph.node if n.op_type == "BatchNormalization"), None)
    chain, node = [], bn and model.find_consumer(bn.output[0])
    while node is not None:
        chain.append(node)
        if node.op_type == "Quant":
            break
        node = model.find_consumer(node.output[0])
    return chain


def _bn_probe(graph: Graph, hls_model) -> tuple[tuple[str, ...], str] | None:
    """hls4ml layer names to trace after the float BatchNorm, and the standard graph's tensor they must equal.

    The proof runs every input code through the project, which covers every BatchNorm input only when the
    BatchNorm reads the graph input or its input quantiser: that precondition is checked here, not assumed."""
    bn = next((n for n in graph.model.graph.node if n.op_type == "BatchNormalization"), None)
    if bn is None:
        return None
    prod = graph.model.find_producer(bn.input[0])
    on_input = bn.input[0] == graph.model.graph.input[0].name
    if not (on_input or (prod is not None and prod.name == graph.input_quantiser)):
        raise ExportError(f"{bn.name}: the BatchNorm exactness proof enumerates input codes, so the BatchNorm must "
                          f"read the graph input or its input quantiser, but it reads {bn.input[0]}")
    chain = _after_bn(graph.model)
    if not chain or chain[-1].op_type != "Quant":
        raise ExportError(f"{bn.name}: no Quant node after the BatchNorm to compare its output at")
    return tuple(n.name for n in _after_bn(hls_model)), chain[-1].output[0]


def _prove_batchnorm(hm, probe: tuple[tuple[str, ...], str], graph: Graph) -> dict:
    """Run every input code through the compiled project and compare the quantised BatchNorm output with the QONNX
    executor's.

    BatchNorm is per feature and its input has only 2**bits codes, so one row per code (the same code in every
    feature) covers the whole input domain: equality here proves the float BN exact for *all* inputs."""
    names, tensor = probe
    fmt = graph.input
    codes = (np.arange(fmt.lo, fmt.hi + 1) * fmt.lsb).astype(np.float32)
    x = np.repeat(codes[:, None], int(np.prod(graph.input_shape)), axis=1).reshape(len(codes), *graph.input_shape)
    traced = hls.trace(hm, ingest.channels_last(x))
    name = next((n for n in reversed(names) if n in traced), None)
    if name is None:
        raise ExportError(f"BatchNorm proof: none of the traced layers {names} is in the C-simulation trace "
                          f"({sorted(traced)})")
    ref = ingest.execute(graph.model, x, tensor=tensor)
    got = traced[name]
    exact = int((got == ref).sum()) if got.shape == ref.shape else 0
    return {"handling": "kept as float BatchNormalization with exact fixed-point scale/bias/result",
            "values_checked": int(ref.size), "values_exact": exact, "proven_exact": exact == ref.size,
            "input_codes": len(codes), "traced_layer": name, "precondition": "BatchNorm reads the input (quantiser)"}


FLOAT32_EXACT = 2 ** 24  #: integers below this are exact in float32 (24-bit significand)


def _float32_check(graph: Graph, rows: np.ndarray, y_qonnx: np.ndarray) -> tuple[dict, str | None]:
    """Whether the float32 references (QONNX executor, PyTorch) can round: the largest accumulator over every input,
    from the graph's integer network, and how many checked rows that exact integer model gives as the QONNX executor
    does.  A note when an accumulator can pass 2**24 LSBs (a warning, not a refusal: on the checked rows the integer
    model says whether the float32 reference was exact)."""
    try:
        net = qonnx_rtl.lower(graph)
    except ValueError as exc:
        return {"accumulator_bound_lsb": None, "why_unknown": str(exc)}, None
    bound = rtl.accumulator_bound(net)
    codes = graph.input.codes(rows).reshape(len(rows), -1)
    equal = int((rtl.simulate(net, codes) == y_qonnx / 2.0 ** net.out_exp).all(1).sum())
    info = {"accumulator_bound_lsb": bound, "exact_in_float32": bound < FLOAT32_EXACT,
            "integer_model_rows_equal_qonnx": equal, "rows": len(rows)}
    if bound < FLOAT32_EXACT:
        return info, None
    note = (f"an accumulator can reach {bound} LSBs (2^{bound.bit_length()}), beyond float32's 24-bit significand: "
            "the float32 references (QONNX executor, PyTorch) can round where the C-simulation is exact; the exact "
            f"integer model equals the QONNX executor on {equal}/{len(rows)} checked rows")
    log.warning("%s", note)
    return info, note


def _source(model: Any, x: np.ndarray, input_shape: tuple[int, ...] | None, out_dir: Path
            ) -> tuple[Any, nn.Module | None, str]:
    """The QONNX graph to ingest, the PyTorch reference (a module) and where the model came from."""
    if isinstance(model, nn.Module):
        shape = tuple(input_shape or x.shape[1:])
        return to_qonnx(model, shape, out_dir / "model.brevitas.onnx"), model, "Brevitas module"
    src = ingest.read(model)
    src.save(str(out_dir / "model.input.onnx"))
    return src, None, f"QONNX file {Path(model).name}" if isinstance(model, str | Path) else "QONNX ModelWrapper"


def export_fpga(model: Any, x: np.ndarray, y: np.ndarray | None = None,
                out_dir: str | Path = Path("hls_projects") / "model", spec: hls.HlsSpec = hls.HlsSpec(), *,
                input_shape: tuple[int, ...] | None = None, input_format=None,
                context: dict | None = None) -> ExportResult:
    """Export ``model`` to an hls4ml project in ``out_dir``, compile it and verify it on rows ``x`` (labels ``y``).

    ``model``: a Brevitas ``nn.Module`` (taking ``(N, *input_shape)``; default ``x.shape[1:]``), a QONNX file path or
    a qonnx ``ModelWrapper``.  ``input_format`` (a ``jsc_hw.fixed.FixedFormat``): the input type of a graph without an
    input quantiser (default ``ap_fixed<16,6>``); the rows are quantised onto it before both the reference and the
    C-simulation see them.  Raises ``ingest.Refusal`` for what cannot be exact, ``ExportError``/``HlsError`` when a
    step fails (files written so far are kept)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x, np.float32)
    src, module, origin = _source(model, x, input_shape, out_dir)
    graph = ingest.prepare(src, input_format)
    rows = ingest.as_input(graph, x)
    hls_model = ingest.for_hls(graph)
    qonnx_path = out_dir / "model.qonnx.onnx"
    hls_model.save(str(qonnx_path))
    probe = _bn_probe(graph, hls_model)
    cfg = hls.config(hls_model, graph.formats, graph.input, spec, trace=probe[0] if probe else ())
    refs = {"qonnx": ingest.execute(graph.model, rows)}
    if module is not None:
        refs = {"pytorch": forward(module, rows, graph.input_shape), **refs}
    x_cl = ingest.channels_last(rows)
    tb_in = out_dir / "testset_inputs.npy"
    np.save(tb_in, x_cl.reshape(len(x_cl), -1))
    for key, ref in refs.items():
        np.save(out_dir / f"testset_{key}_outputs.npy", ref)  # hls4ml re-reads the primary one on every write
    if y is not None:
        np.save(out_dir / "testset_labels.npy", np.asarray(y))
    primary = next(iter(refs))
    hm = hls.convert(hls_model, cfg, spec, out_dir, tb_in, out_dir / f"testset_{primary}_outputs.npy")
    log.info("compiling the C-simulation library (g++) in %s", out_dir)
    compile_s = hls.compile_model(hm)
    types = hls.layer_types(hm)
    out_type = types[list(types)[-1]]["result_t"]
    y_hls = hls.predict(hm, x_cl)
    agreements = {k: verify.compare(r, y_hls, verify.lsb_of(out_type), y) for k, r in refs.items()}
    bn = _prove_batchnorm(hm, probe, graph) if probe else None
    notes = ((f"the final {graph.softmax} is not exported (hls4ml's softmax is a lookup table, not bit-exact): "
              "verified are the logits before it; argmax agreement and LSB differences are those of the logits",)
             if graph.softmax else ())
    float32, note = _float32_check(graph, rows, refs["qonnx"])
    notes += (note,) if note else ()
    result = Verification(agreements, bn, notes)
    cost, bits = graph_estimate(graph)
    info = {"origin": origin, "model": out_dir.name, "weight_bits": bits.weight_bits, "act_bits": bits.act_bits,
            "input_bits": bits.input_bits, "params": cost.params, "bops": cost.bops, **(context or {}),
            "backend": spec.backend, "io_type": hls.IO_TYPES[spec.io], "part": spec.part, "clock_ns": spec.clock_ns,
            "strategy": spec.strategy, "reuse_factor": spec.reuse, "compile_s": round(compile_s, 2),
            "input_type": graph.input.ap_type, "input_source": graph.input_note, "input_shape": list(graph.input_shape),
            "softmax_removed": graph.softmax, "float32": float32, "output_type": out_type, "layer_types": types}
    verify.write(result, out_dir, info)
    (out_dir / "README.md").write_text(project_readme(out_dir.name, spec, result))
    return ExportResult(out_dir, qonnx_path, result.primary[1], compile_s, bn, result)


def _vitis_opts(csim: int, synth: int, cosim: int, vsynth: int) -> str:
    return ("cat > build_opt.tcl <<'EOF'\narray set opt {\n    reset      1\n"
            f"    csim       {csim}\n    synth      {synth}\n    cosim      {cosim}\n    validation 0\n"
            f"    export     0\n    vsynth     {vsynth}\n    fifo_opt   0\n}}\nEOF\n")


_BUILD: dict[str, str] = {  # how each backend's project is synthesised with the vendor tools
    "vitis": ("Vitis with `vitis-run` on PATH (the command hls4ml 1.3.0's Vitis backend calls); the steps are chosen "
              "in `build_opt.tcl`:\n\n```sh\n# C-synthesis only: latency, II and resource estimates in "
              "myproject_prj/solution1/syn/report/\n" + _vitis_opts(0, 1, 0, 0) +
              "vitis-run --mode hls --tcl build_prj.tcl\n\n# C-synthesis + Vivado out-of-context synthesis: "
              "post-synthesis LUT/FF/DSP in vivado_synth.rpt\n" + _vitis_opts(0, 1, 0, 1) +
              "vitis-run --mode hls --tcl build_prj.tcl\n```\n"),
    "vivado": ("Vivado HLS 2019.2/2020.1 (`vivado_hls` on PATH):\n\n"
               "```sh\n# C-synthesis only\nvivado_hls -f build_prj.tcl \"reset=1 csim=0 synth=1 cosim=0 vsynth=0\"\n"
               "# C-synthesis + Vivado synthesis (vivado_synth.rpt)\n"
               "vivado_hls -f build_prj.tcl \"reset=1 csim=0 synth=1 cosim=0 export=1 vsynth=1\"\n```\n"),
}


def project_readme(name: str, spec: hls.HlsSpec, v: Verification) -> str:
    verdict = "bit-exact" if v.bit_exact else "NOT bit-exact"
    refs = " and ".join(verify.REFERENCES[k] for k in v.agreements)
    a = v.primary[1]
    return (f"# {name}: hls4ml project ({hls.BACKENDS[spec.backend]}, {hls.IO_TYPES[spec.io]}, {spec.part}, "
            f"{spec.clock_ns:g} ns)\n\nWritten by `jsc-hw export --fpga`. C-simulation (g++) vs {refs} on "
            f"{a.rows_checked} rows: {verdict}, {a.rows_bit_exact} rows equal, argmax agreement "
            f"{a.argmax_agreement:.4f} (details: VERIFICATION.md, verification.json).\n\n"
            + "".join(f"Note: {n}.\n\n" for n in v.notes) +
            "| file | what |\n|---|---|\n"
            "| `model.qonnx.onnx` | the cleaned QONNX graph hls4ml read (`model.brevitas.onnx`: the Brevitas export; "
            "`model.input.onnx`: the QONNX file as given) |\n"
            "| `hls4ml_config.yml` | the precision of every layer, derived from the QONNX Quant nodes |\n"
            "| `firmware/` | the HLS C++ (`myproject.cpp`, `parameters.h`, `weights/`) |\n"
            "| `testset_*.npy` | the checked rows (channels-last) and each reference's outputs, as NumPy arrays |\n"
            "| `tb_data/` | the checked rows (`tb_input_features.dat`) and the reference outputs "
            "(`tb_output_predictions.dat`) for C-simulation and co-simulation |\n\n"
            "## C-simulation without vendor tools\n\n"
            "`bash build_lib.sh` builds the same library `jsc-hw export --fpga` compiled and checked.\n\n"
            "## C-synthesis and Vivado synthesis (vendor tools, not run here)\n\n" + _BUILD[spec.backend] +
            "\nC-simulation and co-simulation against `tb_data/` (the checked rows and reference outputs) are "
            "`csim`/`cosim` 1 (Vitis) or `csim=1 cosim=1` (Vivado HLS).\n")


_RESULT_KEYS = {*Agreement.__dataclass_fields__, "bit_exact", "reference", "agreements", "batchnorm", "notes",
                "tie_rule"}


def reverify(project_dir: Path) -> Verification:
    """Rebuild an exported project from its files (after hand edits) and verify it again on its saved rows against
    every saved reference; rewrites verification.json and VERIFICATION.md (the BatchNorm proof is kept)."""
    project_dir = Path(project_dir)
    report = project_dir / "verification.json"
    if not report.is_file():
        raise ExportError(f"{project_dir}: no verification.json; this folder was not written by jsc-hw export")
    old = json.loads(report.read_text())
    context = {k: v for k, v in old.items() if k not in _RESULT_KEYS}
    hm = hls.link(project_dir)
    context["compile_s"] = round(hls.compile_model(hm, write=False), 2)
    x = np.load(project_dir / "testset_inputs.npy")
    labels = project_dir / "testset_labels.npy"
    shape = tuple(hm.get_input_variables()[0].shape)
    y_hls = hls.predict(hm, x.reshape(len(x), *shape))
    lsb = verify.lsb_of(context["output_type"])
    agreements = {k: verify.compare(np.load(f), y_hls, lsb, np.load(labels) if labels.is_file() else None)
                  for k in verify.REFERENCES if (f := project_dir / f"testset_{k}_outputs.npy").is_file()}
    result = Verification(agreements, old.get("batchnorm"), tuple(old.get("notes", ())))
    verify.write(result, project_dir, {**context, "reverified": True})
    return result


# ---- float models and the models/ folder -----------------------------------------------------------------------
def requantise(cfg: TrialConfig, net: BatchedNet) -> tuple[TrialConfig, BatchedNet]:
    """Post-training quantisation of a float jsc-hw model: the same weights under the fixed-point quantisers of
    ``cfg.quant`` with ``enabled=True`` (its bit widths).  Layers without parameters (quantisers) differ only."""
    cfg = replace(cfg, quant=replace(cfg.quant, enabled=True))
    out = build(cfg, net.seeds)
    out.load_state_dict(net.state_dict())
    return cfg, out.eval()


def save_model(dest: Path, cfg: TrialConfig, net: BatchedNet, scaler: Scaler, metrics: dict, result: ExportResult,
               card: dict) -> Path:
    """A self-contained ``models/<name>/``: checkpoint, resolved config, QONNX file, verification, model card."""
    dest.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dest / "checkpoint.pt", cfg, net, 0, scaler, metrics)
    (dest / "config.yaml").write_text(dump_yaml(cfg))
    shutil.copyfile(result.qonnx, dest / "model.qonnx.onnx")
    shutil.copyfile(result.out_dir / "verification.json", dest / "verification.json")
    a, q = result.agreement, cfg.quant
    t = cfg.train
    lines = [f"# Model card: {dest.name}", "", f"- architecture: `{cfg.model.arch}` "
             f"({sum(p.numel() for p in net.parameters())} parameters)",
             f"- training: {t.epochs} epochs, Adam lr {t.lr:g}, batch {t.batch_size} (config.yaml)",
             f"- bit widths: weights {q.weight_bits}, activations ufixed<{q.act_bits},{q.act_int_bits}>, input "
             f"fixed<{q.input_bits},{q.input_int_bits}>, biases {q.bias_bits}" if q.enabled else "- float model",
             *(f"- {k}: {v}" for k, v in card.items()),
             f"- test accuracy (PyTorch / C-simulation, {a.rows_checked} rows): {100 * (a.acc_pytorch or 0):.2f} % / "
             f"{100 * (a.acc_csim or 0):.2f} %",
             f"- verification: {a.rows_bit_exact}/{a.rows_checked} rows bit-exact, argmax agreement "
             f"{a.argmax_agreement:.4f}, max difference {a.max_diff_lsb:g} LSB",
             f"- BatchNorm: {result.batchnorm['handling']}, proven exact on "
             f"{result.batchnorm['values_exact']}/{result.batchnorm['values_checked']} (feature, input code) pairs"
             if result.batchnorm else "- BatchNorm: none",
             "", "Files: `checkpoint.pt` (jsc_hw.train.load_checkpoint), `config.yaml` (resolved TrialConfig), "
             "`model.qonnx.onnx` (cleaned QONNX), `verification.json`.",
             "", f"Export: `jsc-hw export --fpga models/{dest.name}`", ""]
    (dest / "MODEL_CARD.md").write_text("\n".join(lines))
    return dest
