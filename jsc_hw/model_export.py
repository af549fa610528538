"""A jsc-hw checkpoint through the export: its own held-out test split, the hls4ml project (``export.export_fpga``)
and, when asked, a self-contained model folder with its card (``models/<name>/``).

The CLI (``jsc-hw export``), ``jsc-hw study`` and ``models/build.py`` all export checkpoints through
:func:`export_checkpoint`, so a model exported either way carries the same context and verification.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jsc_hw import export, hls
from jsc_hw.hardware.cost import estimate
from jsc_hw.data import load_splits
from jsc_hw.errors import ConfigError
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


def export_checkpoint(src: ModelSource, out: Path, spec: hls.HlsSpec = hls.HlsSpec(), rows: int | None = None,
                      requantise: bool = False, save_model: Path | None = None) -> export.ExportResult:
    """Export ``src`` to the hls4ml project ``out``, C-simulated on its test split (``rows``: the first N rows);
    ``save_model``: also write a model folder there.  A float checkpoint needs ``requantise`` (post-training)."""
    ckpt = load_checkpoint(src.checkpoint)
    cfg, net = ckpt.config, ckpt.net
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
