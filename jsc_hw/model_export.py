"""A jsc-hw checkpoint through the export: its own held-out test split, the hls4ml project (``export.export_fpga``)
and, when asked, a self-contained model folder with its card (``models/<name>/``).

The CLI (``jsc-hw export``), ``jsc-hw study`` and ``models/build.py`` all export checkpoints through
:func:`export_checkpoint`, so a model exported either way carries the same context and verification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jsc_hw import export, hls
from jsc_hw.hardware.cost import estimate
from jsc_hw.data import load_splits
from jsc_hw.errors import ConfigError, UnsupportedModel
from jsc_hw.train import Checkpoint, load_checkpoint


@dataclass(frozen=True)
class ModelSource:
    name: str
    checkpoint: Path
    note: str  #: how it was chosen


def held_out_rows(ckpt: Checkpoint, rows: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    """The checkpoint's own test split (same data spec, same split seed), checked against its saved scaler."""
    splits = load_splits(ckpt.config.data)
    if not np.allclose(splits.scaler.mean, ckpt.scaler.mean) or not np.allclose(splits.scaler.std, ckpt.scaler.std):
        raise ConfigError(f"{splits.source}: its training split is not the one this model was trained on (the "
                          "standardisation differs); export with the model's own dataset (data.path in its config)")
    n = len(splits.test.y) if rows is None else min(rows, len(splits.test.y))
    return splits.test.x[:n], splits.test.y[:n], splits.source


#: architectures hls4ml has no layers for: their model folder has no project or C-simulation, and the RTL check in
#: Verilator (against PyTorch) is the check behind their hardware figures
NO_HLS4ML = {"dwn": "a weightless network's LUT nodes have no hls4ml layer"}


def save_unexported(src: ModelSource, dest: Path, rows: int | None = None) -> dict:
    """The model folder of a checkpoint hls4ml cannot take (``NO_HLS4ML``): checkpoint, config, card and a
    verification.json with the PyTorch test accuracy (first maximum on ties) and no C-simulation."""
    from jsc_hw.config import dump_yaml
    from jsc_hw.files import atomic_write
    from jsc_hw.train import save_checkpoint

    ckpt = load_checkpoint(src.checkpoint)
    cfg, net = ckpt.config, ckpt.net
    x, y, source = held_out_rows(ckpt, rows)
    acc = float((export.forward(net.twin(), x, net.input_shape).argmax(1) == y).mean())  # ties: the first class
    cost = estimate(cfg)
    ver = {"model": src.name, "source": src.note, "checkpoint": str(src.checkpoint), "data": source,
           "arch": cfg.model.arch, "origin": "jsc-hw", "acc_pytorch": acc, "acc_csim": None, "rows_checked": None,
           "rows_bit_exact": None, "bit_exact": None, "test_rows": len(y), "params": cost.params, "bops": cost.bops,
           "c_simulation": f"none: {NO_HLS4ML[cfg.model.arch]}",
           "acc_source": f"test split of {source}, {len(y)} rows (PyTorch; no C-simulation: "
                         f"{NO_HLS4ML[cfg.model.arch]})"}
    dest.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dest / "checkpoint.pt", cfg, net, 0, ckpt.scaler, ckpt.metrics)
    atomic_write(dest / "config.yaml", dump_yaml(cfg))
    atomic_write(dest / "verification.json", json.dumps(ver, indent=1))
    atomic_write(dest / "MODEL_CARD.md", "\n".join([
        f"# Model card: {dest.name}", "", f"- architecture: `{cfg.model.arch}` ({cost.params} table entries)",
        f"- training: {cfg.train.epochs} epochs, Adam lr {cfg.train.lr:g}, batch {cfg.train.batch_size} (config.yaml)",
        f"- input fixed<{cfg.quant.input_bits},{cfg.quant.input_int_bits}>", f"- chosen: {src.note}",
        f"- test accuracy (PyTorch, {len(y)} rows): {100 * acc:.2f} %",
        f"- no hls4ml project: {NO_HLS4ML[cfg.model.arch]}; `jsc-hw synth models/{dest.name}` writes its Verilog and "
        "checks it in Verilator against PyTorch", ""]))
    return ver


def export_checkpoint(src: ModelSource, out: Path, spec: hls.HlsSpec = hls.HlsSpec(), rows: int | None = None,
                      requantise: bool = False, save_model: Path | None = None) -> export.ExportResult:
    """Export ``src`` to the hls4ml project ``out``, C-simulated on its test split (``rows``: the first N rows);
    ``save_model``: also write a model folder there.  A float checkpoint needs ``requantise`` (post-training)."""
    ckpt = load_checkpoint(src.checkpoint)
    cfg, net = ckpt.config, ckpt.net
    if cfg.model.arch in NO_HLS4ML:
        raise UnsupportedModel(f"{src.checkpoint}: no hls4ml export for arch {cfg.model.arch!r} "
                               f"({NO_HLS4ML[cfg.model.arch]}); `jsc-hw synth {src.checkpoint}` writes and checks "
                               "its Verilog")
    x, y, source = held_out_rows(ckpt, rows)
    context = {"model": src.name, "source": src.note, "checkpoint": str(src.checkpoint), "data": source,
               "arch": cfg.model.arch, "origin": "jsc-hw"}
    if not cfg.quant.enabled:
        if not requantise:
            raise ConfigError(f"{src.checkpoint}: a float model (quant.enabled=false) cannot be reproduced bit for bit "
                              "in fixed point; retrain with quant.enabled=true, or pass --requantise to quantise its "
                              f"weights post-training to weights {cfg.quant.weight_bits} / activations "
                              f"{cfg.quant.act_bits} bits")
        float_acc = float((export.forward(net.twin(), x, net.input_shape).argmax(1) == y).mean())
        cfg, net = export.requantise(cfg, net)
        context["requantised"] = f"post-training; float model test accuracy {100 * float_acc:.2f} %"
    cost = estimate(cfg)  # of the exported (possibly requantised) model: jsc-hw report reads these
    context.update(weight_bits=cfg.quant.weight_bits, act_bits=cfg.quant.act_bits, input_bits=cfg.quant.input_bits,
                   params=cost.params, bops=cost.bops)
    result = export.export_fpga(net.twin(), x, y, out, spec, input_shape=net.input_shape, context=context)
    if save_model is not None:
        metrics = {f"training {k}": f"{v:.4f}" if isinstance(v, float) else v for k, v in ckpt.metrics.items()}
        card = {"data": source, "exported from": src.note, **metrics,
                "hls4ml": f"{spec.backend}, io_{spec.io}, {spec.part}, {spec.clock_ns:g} ns",
                **({"requantised": context["requantised"]} if "requantised" in context else {})}
        export.save_model(save_model, cfg, net, ckpt.scaler, ckpt.metrics, result, card)
    return result
