"""The bring-your-own-model example: a 16-64-32-32-5 MLP trained with QKeras' 6-bit quantisers, as a QONNX file.

    python docs/byo/make_qkeras_mlp.py          # writes docs/byo/qkeras_mlp_64_32_32_w6.onnx

QKeras/TensorFlow are not needed: the network is trained in PyTorch with the same quantisers QKeras applies
(``quantized_bits(6, 0, alpha=1)`` on kernels and biases, ``quantized_relu(6, 2)`` after each hidden layer, no input
quantiser, a final softmax in the loss), straight-through gradients, on the embedded dataset's training split, and
written in the layout qonnx's QKeras converter writes (``tests/qonnx_graphs.py``).  It then checks that the QONNX
executor reproduces the PyTorch forward pass on the test split and prints both accuracies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the QKeras-layout writer lives with the tests that use it

from qonnx_graphs import qkeras_mlp, quantized_bits, quantized_relu  # noqa: E402

from jsc_hw import ingest  # noqa: E402
from jsc_hw.config import DataSpec  # noqa: E402
from jsc_hw.data import load_splits  # noqa: E402

BITS, ACT_INT, WIDTHS = 6, 2, (16, 64, 32, 32, 5)
OUT = Path(__file__).with_name("qkeras_mlp_64_32_32_w6.onnx")


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return x + (q - x).detach()


def q_bits(w: torch.Tensor) -> torch.Tensor:  # quantized_bits(6, 0): codes -32..31, scale 1/32, half to even
    s = 2.0 ** (BITS - 1)
    return ste(w, torch.clamp(torch.round(w * s), -s, s - 1) / s)


def q_relu(x: torch.Tensor) -> torch.Tensor:  # quantized_relu(6, 2): codes 0..63, scale 1/16
    s, r = 2.0 ** (BITS - ACT_INT), torch.relu(x)
    return ste(r, torch.clamp(torch.round(r * s), 0, 2.0 ** BITS - 1) / s)


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.floor(x * 1024) / 1024  # the fixed<16,6> (TRN) input the exported model takes
        for i, fc in enumerate(self.fcs):
            x = x @ q_bits(fc.weight).T + q_bits(fc.bias)
            if i < len(self.fcs) - 1:
                x = q_relu(x)
        return x  # logits; the softmax is in the loss (and in the written graph)


def main() -> None:
    torch.manual_seed(0)
    splits = load_splits(DataSpec())
    x, y = torch.from_numpy(splits.train.x), torch.from_numpy(splits.train.y)
    model = Mlp()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.3)
    for epoch in range(12):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        for at in range(0, len(x), 512):
            idx = perm[at:at + 512]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    layers = [(fc.weight.detach().numpy().T.copy(), fc.bias.detach().numpy().copy()) for fc in model.fcs]
    onnx.save(qkeras_mlp(layers, kernel=quantized_bits(BITS, 0), bias=quantized_bits(BITS, 0),
                         act=quantized_relu(BITS, ACT_INT)), str(OUT))
    graph = ingest.prepare(OUT)
    xt = splits.test.x
    with torch.no_grad():
        ref = model(torch.from_numpy(xt)).double().numpy()
    got = ingest.execute(graph.model, ingest.as_input(graph, xt))
    print(f"wrote {OUT}: QONNX executor == PyTorch on {int((got == ref).all(1).sum())}/{len(xt)} test rows; test "
          f"accuracy {100 * (ref.argmax(1) == splits.test.y).mean():.2f} % (PyTorch), "
          f"{100 * (got.argmax(1) == splits.test.y).mean():.2f} % (QONNX executor)")


if __name__ == "__main__":
    main()
