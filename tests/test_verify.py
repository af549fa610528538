"""Agreement of two output arrays, bit for bit, and its reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jsc_hw import verify
from jsc_hw.errors import ToolError

LSB = 2.0 ** -5


def outputs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 256, (n, 5)) * LSB  # ufixed<8,3> values
    return y, y.argmax(1)


def test_identical_outputs_are_bit_exact():
    y, labels = outputs()
    a = verify.compare(y, y.copy(), LSB, labels)
    assert a.bit_exact and (a.rows_checked, a.rows_bit_exact, a.max_abs_diff, a.argmax_agreement) == (300, 300, 0, 1)
    assert a.acc_pytorch == a.acc_csim == 1.0


def test_one_lsb_on_one_row_is_counted_and_measured_in_lsbs():
    y, labels = outputs()
    hls = y.copy()
    row = 17
    top = hls[row].argmax()
    hls[row, top] -= 3 * LSB  # 3 LSB off
    a = verify.compare(y, hls, LSB, labels)
    assert not a.bit_exact and a.rows_bit_exact == 299 and a.max_diff_lsb == 3.0 and a.max_abs_diff == 3 * LSB
    flipped = hls[row].argmax() != top
    assert a.argmax_agreement == pytest.approx(1 - flipped / 300)
    assert a.acc_csim == pytest.approx(1 - flipped / 300) and a.acc_pytorch == 1.0


def test_shapes_must_match():
    y, _ = outputs()
    with pytest.raises(ToolError, match="shapes differ"):
        verify.compare(y, y[:, :4], LSB)


@pytest.mark.parametrize(("ap_type", "lsb"), [("ufixed<8,3,RND_CONV,SAT>", 2 ** -5), ("fixed<4,-2>", 2 ** -6),
                                               ("fixed<21,8,TRN,WRAP,0>", 2 ** -13), ("ufixed<4,6>", 4.0)])
def test_lsb_of_ap_types(ap_type, lsb):
    assert verify.lsb_of(ap_type) == lsb


def test_lsb_of_rejects_other_types():
    with pytest.raises(ValueError, match="not an ap_fixed"):
        verify.lsb_of("float")


def test_reports_carry_the_numbers(tmp_path):
    y, labels = outputs()
    bad = y.copy()
    bad[0, 0] += LSB
    v = verify.Verification({"qonnx": verify.compare(y, bad, LSB, labels)})
    js, md = verify.write(v, tmp_path, {"model": "m", "backend": "vitis"})
    report = json.loads(js.read_text())
    assert report["bit_exact"] is False and report["rows_bit_exact"] == 299 and report["model"] == "m"
    assert report["reference"] == "qonnx" and report["agreements"]["qonnx"]["rows_bit_exact"] == 299
    text = md.read_text()
    assert "MISMATCH" in text and "299 / 300" in text and "1 LSB" in text and "QONNX executor" in text
    js, md = verify.write(verify.Verification({"qonnx": verify.compare(y, y, LSB, labels)}), tmp_path, {"model": "m"})
    assert json.loads(js.read_text())["bit_exact"] is True and "BIT-EXACT" in md.read_text()


def test_the_verdict_needs_every_reference_and_the_batchnorm_proof(tmp_path):
    """PyTorch is the primary reference of a Brevitas module; the QONNX executor disagreeing, or a BatchNorm proof
    that failed, makes the whole export NOT bit-exact although the primary rows all agree."""
    y, labels = outputs()
    bad = y.copy()
    bad[3, 1] += LSB
    same, off = verify.compare(y, y, LSB, labels), verify.compare(bad, y, LSB, labels)
    v = verify.Verification({"pytorch": same, "qonnx": off})
    assert v.primary == ("pytorch", same) and not v.bit_exact
    proof = {"handling": "kept", "values_checked": 4096, "values_exact": 4095, "proven_exact": False,
             "input_codes": 256}
    failed_bn = verify.Verification({"pytorch": same, "qonnx": same}, proof)
    assert not failed_bn.bit_exact and verify.Verification({"pytorch": same}, {**proof, "proven_exact": True}).bit_exact
    js, md = verify.write(failed_bn, tmp_path, {})
    blob = json.loads(js.read_text())
    assert blob["bit_exact"] is False and blob["rows_bit_exact"] == 300 and blob["batchnorm"]["values_exact"] == 4095
    assert "MISMATCH" in md.read_text() and "NOT exact" in md.read_text()


def test_argmax_ties_are_counted_and_the_tie_rule_stated(tmp_path):
    """Quantised outputs tie often (ReLU zeros, saturation): each tie is counted; argmax takes the lowest index."""
    y = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.0, 1.0, 1.0]])
    hls = y.copy()
    hls[2] = [0.75, 0.75, 0.0]  # a tie only in the C-simulation, resolved to class 0
    a = verify.compare(y, hls, 0.25, np.array([0, 0, 1, 1]))
    assert (a.ties_reference, a.ties_csim) == (3, 4) and a.argmax_agreement == 0.75 and a.acc_csim == 0.75
    js, md = verify.write(verify.Verification({"qonnx": a}), tmp_path, {})
    blob = json.loads(js.read_text())
    assert (blob["ties_reference"], blob["ties_csim"]) == (3, 4) and "lowest class index" in blob["tie_rule"]
    assert "3 / 4" in md.read_text() and "lowest class index" in md.read_text()
