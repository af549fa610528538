"""Brevitas twin -> QONNX -> cleaned QONNX (channels-last, Gemm -> MatMul), and the fixed-point check.

The exported graph is the contract with hls4ml: every ``Quant`` node must have a power-of-two scale and a zero
zero-point, so it *is* an ``ap_fixed`` type (``QuantFormat``) and C-simulation can match PyTorch bit for bit.
A float-scale quantiser would become an ApplyAlpha rescale computed in a guessed precision (0.3 % argmax
agreement measured at 8 bits), so it is refused here with an explanation instead of exported.

Channels-last: qonnx 1.0.0's ``ConvertToChannelsLastAndClean`` never terminates on Conv1d + residual Add (in 3-D
the to-channels-first and to-channels-last permutations are both (0, 2, 1), so ``MoveChanFirstDownstream`` keeps
pushing the inverse transposes it inserts on the Add's other input).  ``to_channels_last`` runs the same
sub-passes one downstream move at a time, cancels transpose pairs after each, and stops after ``max_steps``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jsc_hw import hls, verify
from jsc_hw.config import TrialConfig, dump_yaml
from jsc_hw.data import Scaler
from jsc_hw.layers import plain
from jsc_hw.nets import BatchedNet, build
from jsc_hw.train import save_checkpoint
from jsc_hw.verify import Agreement

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """An export step failed; the message names the step and what to do."""


@dataclass(frozen=True)
class QuantFormat:
    """A QONNX Quant node with power-of-two scale as an ap_fixed type."""

    node: str
    bits: int
    int_bits: int  #: ap_fixed integer bits (sign bit included when signed)
    signed: bool
    narrow: bool
    rounding: str  #: QONNX rounding mode (ROUND = half to even, as torch.round)

    @property
    def ap_type(self) -> str:
        rnd = {"ROUND": "RND_CONV", "FLOOR": "TRN"}[self.rounding]
        sat = "SAT_SYM" if self.narrow and self.signed else "SAT"
        return f"{'' if self.signed else 'u'}fixed<{self.bits},{self.int_bits},{rnd},{sat}>"

    @property
    def lsb(self) -> float:
        return 2.0 ** (self.int_bits - self.bits)


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


def n_transposes(model) -> int:
    return sum(n.op_type == "Transpose" for n in model.graph.node)


def to_channels_last(model, max_steps: int = 50):
    """qonnx's channels-last conversion made terminating for Conv1d + residual graphs (see module doc)."""
    from qonnx.transformation.channels_last import (AbsorbChanFirstIntoMatMul, InsertChannelsLastDomainsAndTrafos,
                                                    MakeInputChannelsLast, MoveChanFirstDownstream,
                                                    MoveChanLastUpstream, MoveTransposePastFork,
                                                    RemoveConsecutiveChanFirstAndChanLastTrafos)
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    cancel = RemoveConsecutiveChanFirstAndChanLastTrafos
    model = model.transform(InsertChannelsLastDomainsAndTrafos())
    for _ in range(3):
        for t in (cancel(), MoveChanLastUpstream(), FoldTransposeIntoQuantInit(), cancel()):
            model = model.transform(t)
    for step in range(max_steps):
        model = model.transform(MoveTransposePastFork()).transform(cancel())
        model, changed = MoveChanFirstDownstream().apply(model)  # one move, then cancel the pairs it made
        model = model.transform(cancel()).transform(InferShapes())
        if not changed:
            break
    else:
        raise ExportError(f"channels-last conversion: no fixed point after {max_steps} steps "
                          f"({n_transposes(model)} Transpose nodes left); report this model's QONNX file")
    for t in (MoveTransposePastFork(), cancel(), AbsorbChanFirstIntoMatMul(), MakeInputChannelsLast(), cancel(),
              InferShapes(), FoldConstants()):
        model = model.transform(t)
    if n_transposes(model):
        raise ExportError(f"channels-last conversion left {n_transposes(model)} Transpose nodes, which hls4ml "
                          "cannot place; report this model's QONNX file")
    return model


def clean(path: Path):
    """qonnx clean-up, channels-last (bounded), Gemm -> MatMul: the graph hls4ml's ONNX frontend accepts."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(str(path)))
    if any(n.op_type == "Conv" for n in model.graph.node):
        model = cleanup_model(to_channels_last(model))
    return cleanup_model(model.transform(GemmToMatMul()))


def _scalar(model, name: str) -> np.ndarray:
    value = model.get_initializer(name)
    if value is None:
        raise ExportError(f"Quant node input {name} is not a constant; only static quantisers can be exported")
    return np.asarray(value, dtype=np.float64)


def quant_formats(model) -> dict[str, QuantFormat]:
    """Every Quant node as an ap_fixed format, keyed by node name.

    Raises ExportError when a scale is not a power of two (a float-scale quantiser) or a zero-point is not 0.
    """
    from qonnx.custom_op.registry import getCustomOp

    formats: dict[str, QuantFormat] = {}
    for node in model.graph.node:
        if node.op_type != "Quant":
            continue
        scale, zero, bits = (_scalar(model, node.input[i]) for i in (1, 2, 3))
        mant, exp = np.frexp(scale)
        if not (np.all(mant == 0.5) and np.all(exp == exp.flat[0])) or np.any(zero != 0):
            raise ExportError(
                f"{node.name}: quantiser scale {scale.flatten()[:4]} is not one power of two (zero-point "
                f"{zero.flatten()[:4]}). Float-scale quantisers cannot be reproduced bit for bit in ap_fixed "
                "arithmetic (measured: 0.3 % argmax agreement at 8 bits). Use the fixed-point quantisers of "
                "jsc_hw.quant (Int8WeightPerTensorFixedPoint, *ActPerTensorFixedPoint with CONST scaling), "
                "or for a float jsc-hw model pass --requantise to quantise it post-training.")
        op = getCustomOp(node)
        b = int(math.ceil(float(bits.flatten()[0])))
        formats[node.name] = QuantFormat(node.name, b, b + int(exp.flat[0]) - 1, bool(op.get_nodeattr("signed")),
                                         bool(op.get_nodeattr("narrow")), op.get_nodeattr("rounding_mode"))
    if not formats:
        raise ExportError("the model has no quantisers (quant.enabled=false): hls4ml would compute it in a "
                          "guessed fixed<16,6> precision, which is not bit-exact. Retrain with quant.enabled=true "
                          "or pass --requantise to quantise the float weights post-training.")
    return formats


def input_format(model, formats: dict[str, QuantFormat]) -> QuantFormat:
    """The Quant node reading the graph input: the input layer must take exactly this type (pitfall 3)."""
    name = model.graph.input[0].name
    for node in model.graph.node:
        if node.op_type == "Quant" and node.input[0] == name:
            return formats[node.name]
    raise ExportError("the first layer is not an input quantiser: the hls4ml input type would truncate the "
                      "float features; put a QuantIdentity (jsc_hw.layers.input_quant) first")


# ---- the whole stage: twin -> QONNX -> hls4ml project -> C-simulation -> verification ------------------------
@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    qonnx: Path  #: the cleaned QONNX file hls4ml read
    agreement: Agreement
    compile_s: float
    batchnorm: dict | None  #: exhaustive per-input-code proof of a float BatchNorm, None without one


def channels_last(x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """(N, 16) features as the cleaned graph takes them: (N, 16) or channels-last (N, L, C) for (C, L) inputs."""
    x = x.reshape(len(x), *input_shape)
    return np.ascontiguousarray(np.moveaxis(x, 1, -1) if len(input_shape) == 2 else x, dtype=np.float32)


@torch.no_grad()
def forward(model: nn.Module, x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """PyTorch (Brevitas) outputs, float64 (N, n_out)."""
    y = model.eval()(torch.from_numpy(np.asarray(x, np.float32)).view(len(x), *input_shape))
    return plain(y).double().reshape(len(x), -1).numpy()


def _bn_probe(model, twin: nn.Module) -> tuple[tuple[str, ...], nn.Module] | None:
    """ONNX names to trace after the (first) float BatchNorm, and the twin's prefix ending at the same tensor."""
    bn = next((n for n in model.graph.node if n.op_type == "BatchNormalization"), None)
    if bn is None:
        return None
    names, node = [], model.find_consumer(bn.output[0])
    while node is not None:
        names.append(node.name)
        if node.op_type == "Quant":
            break
        node = model.find_consumer(node.output[0])
    layers = list(twin.layers)
    i = next(i for i, m in enumerate(layers) if isinstance(m, nn.BatchNorm1d))
    return tuple(names), nn.Sequential(*layers[:i + 2])


def _prove_batchnorm(hm, probe: tuple[tuple[str, ...], nn.Module], first: QuantFormat,
                     input_shape: tuple[int, ...]) -> dict:
    """Run every input code through the compiled project and compare the quantised BatchNorm output.

    BatchNorm is per feature and its input has only 2**bits codes, so one row per code (the same code in every
    feature) covers the whole input domain: equality here proves the float BN exact for *all* inputs."""
    names, prefix = probe
    lo = -(2 ** (first.bits - 1)) if first.signed else 0
    codes = (np.arange(lo, lo + 2 ** first.bits) * first.lsb).astype(np.float32)
    x = np.repeat(codes[:, None], int(np.prod(input_shape)), axis=1)
    traced = hls.trace(hm, channels_last(x, input_shape))
    name = next(n for n in reversed(names) if n in traced)
    ref = forward(prefix, x, input_shape)
    exact = int((traced[name] == ref).sum())
    return {"handling": "kept as float BatchNormalization with exact fixed-point scale/bias/result",
            "values_checked": int(ref.size), "values_exact": exact, "proven_exact": exact == ref.size,
            "input_codes": len(codes), "traced_layer": name}


def export_fpga(twin: nn.Module, input_shape: tuple[int, ...], x: np.ndarray, y: np.ndarray | None, out_dir: Path,
                spec: hls.HlsSpec = hls.HlsSpec(), context: dict | None = None) -> ExportResult:
    """Export ``twin`` to an hls4ml project in ``out_dir``, compile it and verify it on ``x`` (labels ``y``).

    Every step writes into ``out_dir`` before the next starts, so a failure leaves what was made so far."""
    out_dir = Path(out_dir)
    qonnx_path = out_dir / "model.qonnx.onnx"
    model = clean(to_qonnx(twin, input_shape, out_dir / "model.brevitas.onnx"))
    model.save(str(qonnx_path))
    formats = quant_formats(model)
    first = input_format(model, formats)
    probe = _bn_probe(model, twin)
    cfg = hls.config(model, formats, first, spec, trace=probe[0] if probe else ())
    y_ref = forward(twin, x, input_shape)
    x_cl = channels_last(x, input_shape)
    tb_in, tb_out = out_dir / "testset_inputs.npy", out_dir / "testset_pytorch_outputs.npy"
    np.save(tb_in, x_cl.reshape(len(x_cl), -1)), np.save(tb_out, y_ref)  # hls4ml re-reads them on every write
    if y is not None:
        np.save(out_dir / "testset_labels.npy", np.asarray(y))
    hm = hls.convert(model, cfg, spec, out_dir, tb_in, tb_out)
    log.info("compiling the C-simulation library (g++) in %s", out_dir)
    compile_s = hls.compile_model(hm)
    types = hls.layer_types(hm)
    out_type = types[list(types)[-1]]["result_t"]
    agreement = verify.compare(y_ref, hls.predict(hm, x_cl), verify.lsb_of(out_type), y)
    bn = _prove_batchnorm(hm, probe, first, input_shape) if probe else None
    info = {**(context or {}), "backend": spec.backend, "io_type": hls.IO_TYPES[spec.io], "part": spec.part,
            "clock_ns": spec.clock_ns, "strategy": spec.strategy, "reuse_factor": spec.reuse,
            "compile_s": round(compile_s, 2), "input_type": first.ap_type, "output_type": out_type,
            "batchnorm": bn, "layer_types": types}
    verify.write(agreement, out_dir, info)
    (out_dir / "README.md").write_text(project_readme(out_dir.name, spec, agreement))
    return ExportResult(out_dir, qonnx_path, agreement, compile_s, bn)


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


def project_readme(name: str, spec: hls.HlsSpec, a: Agreement) -> str:
    verdict = "bit-exact" if a.bit_exact else "NOT bit-exact"
    return (f"# {name}: hls4ml project ({hls.BACKENDS[spec.backend]}, {hls.IO_TYPES[spec.io]}, {spec.part}, "
            f"{spec.clock_ns:g} ns)\n\nWritten by `jsc-hw export --fpga`. C-simulation (g++) vs PyTorch on "
            f"{a.rows_checked} test rows: {a.rows_bit_exact} rows {verdict}, argmax agreement "
            f"{a.argmax_agreement:.4f} (details: VERIFICATION.md, verification.json).\n\n"
            "| file | what |\n|---|---|\n"
            "| `model.qonnx.onnx` | the cleaned QONNX graph hls4ml read (`model.brevitas.onnx`: the raw export) |\n"
            "| `hls4ml_config.yml` | the precision of every layer, derived from the QONNX Quant nodes |\n"
            "| `firmware/` | the HLS C++ (`myproject.cpp`, `parameters.h`, `weights/`) |\n"
            "| `testset_*.npy` | the checked test rows (channels-last) and the PyTorch outputs, as NumPy arrays |\n"
            "| `tb_data/` | test-set inputs (`tb_input_features.dat`) and PyTorch outputs "
            "(`tb_output_predictions.dat`) for C-simulation and co-simulation |\n\n"
            "## C-simulation without vendor tools\n\n"
            "`bash build_lib.sh` builds the same library `jsc-hw export --fpga` compiled and checked.\n\n"
            "## C-synthesis and Vivado synthesis (vendor tools, not run here)\n\n" + _BUILD[spec.backend] +
            "\nC-simulation and co-simulation against `tb_data/` (the test rows and PyTorch outputs) are "
            "`csim`/`cosim` 1 (Vitis) or `csim=1 cosim=1` (Vivado HLS).\n")


def reverify(project_dir: Path) -> Agreement:
    """Rebuild an exported project from its files (after hand edits) and verify it again on its saved rows;
    rewrites verification.json and VERIFICATION.md."""
    project_dir = Path(project_dir)
    report = project_dir / "verification.json"
    if not report.is_file():
        raise ExportError(f"{project_dir}: no verification.json; this folder was not written by jsc-hw export")
    context = {k: v for k, v in json.loads(report.read_text()).items() if k not in Agreement.__dataclass_fields__}
    context.pop("bit_exact", None)
    hm = hls.link(project_dir)
    context["compile_s"] = round(hls.compile_model(hm, write=False), 2)
    x = np.load(project_dir / "testset_inputs.npy")
    labels = project_dir / "testset_labels.npy"
    shape = tuple(hm.get_input_variables()[0].shape)
    agreement = verify.compare(np.load(project_dir / "testset_pytorch_outputs.npy"),
                               hls.predict(hm, x.reshape(len(x), *shape)), verify.lsb_of(context["output_type"]),
                               np.load(labels) if labels.is_file() else None)
    verify.write(agreement, project_dir, {**context, "reverified": True})
    return agreement


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
