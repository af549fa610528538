"""Make a finished `jsc-hw data generate` run the embedded default: copy its jets.npz into jsc_hw/embedded/, score
the reference MLP on it (docs/data/reference_mlp.{json,md}) and write jsc_hw/embedded/DATA_CARD.md with that score.

    jsc-hw data generate --jets 830000 --out runs/gen-default --workers 2 --seed 1 --chunk-jets 2000
    python docs/data/ship_default.py runs/gen-default --command "jsc-hw data generate --jets 830000 ..."

Afterwards the shipped models depend on the new split: rebuild them (python models/build.py).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from jsc_hw.jetgen.card import card_text

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = ROOT / "jsc_hw" / "embedded"


def ship(run: Path, command: str, epochs: int) -> None:
    import variant_study  # next to this file

    target = EMBEDDED / "jsc_default.npz"
    shutil.copyfile(run / "jets.npz", target)
    (EMBEDDED / "DATA_CARD.md").write_text(card_text(target, command))  # what the reference reads meanwhile
    variant_study.reference(epochs)
    reference = (Path(__file__).parent / "reference_mlp.md").read_text()
    (EMBEDDED / "DATA_CARD.md").write_text(card_text(target, command, reference))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished generation run folder (with jets.npz)")
    ap.add_argument("--command", required=True, help="the generation command, for the card")
    ap.add_argument("--epochs", type=int, default=40)
    a = ap.parse_args()
    ship(a.run, a.command, a.epochs)
