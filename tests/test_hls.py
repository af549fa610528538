"""C-simulation (hls4ml + g++) against the Brevitas forward pass, every output bit, on 2,000+ test rows.

Matrix: JSC-Tiny and JSC_rs1923 x 8/4-bit weights and activations x io_parallel/io_stream.  One case of each
model runs by default (the JSC-Tiny one goes through the CLI in test_export.py); the rest are marked slow.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_jets, write_npz
from jsc_hw import hls
from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, TrainSpec, TrialConfig
from jsc_hw.data import Splits, load_splits
from jsc_hw.export import export_fpga
from jsc_hw.nets import BatchedNet
from jsc_hw.train import fit

pytestmark = pytest.mark.requires("export")

ROWS = 2000


def trial(arch: str, bits: int, data: Path) -> TrialConfig:
    """A small trained model: input stays fixed<8,3>; weights and activations ``bits`` wide."""
    return TrialConfig(name=f"{arch}_w{bits}a{bits}", data=DataSpec(path=str(data), test_fraction=0.25),
                       model=ModelSpec(arch=arch), quant=QuantSpec(weight_bits=bits, act_bits=bits),
                       train=TrainSpec(epochs=4, lr=3e-3))


@cache
def trained(arch: str, bits: int, data: Path) -> tuple[BatchedNet, Splits]:
    cfg = trial(arch, bits, data)
    splits = load_splits(cfg.data)
    net, _ = fit(cfg, splits, [0])
    return net.eval(), splits


@pytest.fixture(scope="session")
def jets_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 synthetic rows: a 25 % test split gives 2,500 rows to check."""
    x, y = synthetic_jets(n_per_class=2000, seed=11)
    return write_npz(tmp_path_factory.mktemp("jets") / "jets.npz", x, y)


CASES = [
    pytest.param("jsc_rs1923", 4, "stream", id="rs1923-w4a4-stream"),
    pytest.param("jsc_tiny", 8, "stream", id="tiny-w8a8-stream", marks=pytest.mark.slow),
    pytest.param("jsc_tiny", 4, "parallel", id="tiny-w4a4-parallel", marks=pytest.mark.slow),
    pytest.param("jsc_tiny", 4, "stream", id="tiny-w4a4-stream", marks=pytest.mark.slow),
    pytest.param("jsc_rs1923", 8, "parallel", id="rs1923-w8a8-parallel", marks=pytest.mark.slow),
    pytest.param("jsc_rs1923", 8, "stream", id="rs1923-w8a8-stream", marks=pytest.mark.slow),
    pytest.param("jsc_rs1923", 4, "parallel", id="rs1923-w4a4-parallel", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("arch", "bits", "io"), CASES)
def test_csim_equals_brevitas_bit_for_bit(arch, bits, io, jets_npz, tmp_path):
    net, splits = trained(arch, bits, jets_npz)
    x, y = splits.test.x[:ROWS], splits.test.y[:ROWS]
    result = export_fpga(net.twin(), x, y, tmp_path / "prj", hls.HlsSpec(io=io), input_shape=net.input_shape)
    a = result.agreement
    assert (a.rows_checked, a.rows_bit_exact, a.max_abs_diff, a.argmax_agreement) == (ROWS, ROWS, 0.0, 1.0)
    assert a.acc_pytorch == a.acc_csim
    assert a.acc_pytorch > 0.5, "the model should have learnt the synthetic classes (chance is 0.2)"
    report = json.loads((tmp_path / "prj" / "verification.json").read_text())
    assert report["bit_exact"] and report["io_type"] == f"io_{io}" and report["input_type"] == "fixed<8,3,RND_CONV,SAT>"
    tb = np.loadtxt(tmp_path / "prj" / "tb_data" / "tb_output_predictions.dat")
    assert tb.shape == (ROWS, 5)
    if arch == "jsc_tiny":  # float BatchNorm kept: exact for every (feature, input code) pair
        assert result.batchnorm["proven_exact"] and result.batchnorm["values_checked"] == 16 * 256


def test_float_batchnorm_precision_is_lossless(tmp_path):
    """BN result type holds x * scale + bias with no rounding: fraction bits = input's + scale's."""
    import torch

    from jsc_hw import ingest
    from jsc_hw.export import to_qonnx

    net = BatchedNet("jsc_tiny", QuantSpec(), [0])
    bn = net.layers[1]
    with torch.no_grad():
        bn.weight.fill_(0.5), bn.weight[0, 3].fill_(3.0)  # largest |scale| = 3.0 (var 1, eps ~0)
        bn.bias.fill_(0.25), bn.bias[0, 5].fill_(-7.0)  # largest |bias| = 7.0 (mean 0)
    graph = ingest.prepare(to_qonnx(net.twin(), net.input_shape, tmp_path / "tiny.onnx"))
    node = next(n for n in graph.model.graph.node if n.op_type == "BatchNormalization")
    types = hls._batchnorm(graph.model, node, graph.input)
    f = hls.BN_FRAC_BITS
    assert types["scale"] == f"fixed<{3 + f},3,RND_CONV,SAT>"  # |3.0| < 4: 2 integer bits + sign
    assert types["bias"] == f"fixed<{4 + f},4,RND_CONV,SAT>"  # |7.0| < 8: 3 integer bits + sign
    # input fixed<8,3>: |x * s| < 4 * 4 = 16 (5 signed bits), + |b| < 8 -> 6 bits; one spare; 5 + f fraction bits
    assert types["result"] == f"fixed<{7 + 5 + f},7>"


def test_spec_rejects_unknown_choices():
    with pytest.raises(ValueError, match="--backend"):
        hls.HlsSpec(backend="quartus")
    with pytest.raises(ValueError, match="--reuse"):
        hls.HlsSpec(reuse=0)


def test_missing_compiler_names_the_step_and_keeps_the_project(tmp_path, monkeypatch):
    net = BatchedNet("jsc_tiny", QuantSpec(), [0]).eval()
    x = np.random.default_rng(0).normal(0, 1, (50, 16)).astype(np.float32)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no g++ on PATH
    with pytest.raises(hls.HlsError, match="needs a C\\+\\+ compiler"):
        export_fpga(net.twin(), x, None, tmp_path / "prj", input_shape=net.input_shape)
    for name in ("model.qonnx.onnx", "firmware/myproject.cpp", "build_prj.tcl", "tb_data/tb_input_features.dat"):
        assert (tmp_path / "prj" / name).is_file(), name


def _imports() -> dict[str, set[str]]:
    """jsc_hw module -> the jsc_hw modules it imports anywhere (top level, functions, TYPE_CHECKING blocks)."""
    import ast

    pkg = Path(hls.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in pkg.rglob("*.py"):
        name = ".".join(path.relative_to(pkg.parent).with_suffix("").parts).removesuffix(".__init__")
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jsc_hw"):
                deps |= {f"jsc_hw.{a.name}" for a in node.names} if node.module == "jsc_hw" else {node.module}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("jsc_hw")}
        graph[name] = deps - {name}
    return graph


def test_no_import_cycle_through_the_export_modules():
    """hls.py once imported export.QuantFormat (under TYPE_CHECKING) while export imported hls."""
    graph = _imports()
    export_side = {f"jsc_hw.{m}" for m in ("fixed", "ingest", "hls", "export", "verify", "qonnx_rtl", "rtl")}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(d == goal or (d not in seen and d in graph and reaches(d, goal, seen | {d}))
                   for d in graph.get(start, ()))

    assert not [m for m in sorted(export_side) if reaches(m, m, {m})]
    assert "jsc_hw.export" not in graph["jsc_hw.hls"] and graph["jsc_hw.fixed"] <= {"jsc_hw.errors"}  # leaves


def test_python_tags_are_read_as_none_only_while_linking() -> None:
    """hls4ml's project yml holds a !!python/object tag; reading it must not change yaml.SafeLoader for everyone."""
    import yaml

    from jsc_hw.hls import _python_tags_as_none

    doc = "model: !!python/object:qonnx.core.modelwrapper.ModelWrapper {x: 1}\n"
    before = dict(yaml.SafeLoader.yaml_multi_constructors)
    with _python_tags_as_none():
        assert yaml.safe_load(doc) == {"model": None}
    assert dict(yaml.SafeLoader.yaml_multi_constructors) == before
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(doc)
