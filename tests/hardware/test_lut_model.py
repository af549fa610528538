"""The LUT model: its fit, the shipped calibration against a Yosys figure, and the Logic of a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jsc_hw.errors import ConfigError
from jsc_hw.hardware import lut_model
from jsc_hw.hardware.verilog import Logic

ROOT = Path(__file__).resolve().parents[2]


def test_fit_recovers_the_coefficients_of_an_exactly_linear_set() -> None:
    logic = [Logic(100, 0), Logic(2_000, 50), Logic(30_000, 7), Logic(0, 400), Logic(555, 555)]
    samples = [lut_model.Sample(f"d{i}", x, round(0.5 * x.adder_bits + 0.25 * x.table_luts)) for i, x in
               enumerate(logic)]
    m = lut_model.fit(samples)
    assert m.per_adder_bit == pytest.approx(0.5, abs=1e-3) and m.per_table_lut == pytest.approx(0.25, abs=2e-3)
    assert m.designs == 5 and m.loo_mape < 2e-3  # only the rounding of the LUT counts is left
    with pytest.raises(ConfigError, match="at least 3"):
        lut_model.fit(samples[:2])


def test_leave_one_out_is_the_error_of_a_fit_that_did_not_see_the_sample() -> None:
    samples = [lut_model.Sample("a", Logic(100, 0), 60), lut_model.Sample("b", Logic(200, 0), 100),
               lut_model.Sample("c", Logic(400, 0), 240)]
    loo = lut_model.loo_errors(samples)
    # without "b": LUT/adder bit = 0.6 exactly, so b is predicted 120 (+20 %)
    assert loo[1] == pytest.approx(0.2)
    assert all(abs(e) > 0.05 for e in loo)


def test_the_shipped_calibration_predicts_a_shipped_model_within_ten_percent() -> None:
    """models/jsc_tiny_w4a4 against its Yosys count in docs/hardware/synth_830k (772 LUT)."""
    m = lut_model.default_model()
    assert m.designs >= 40 and 0.4 < m.per_adder_bit < 0.8 and m.loo_mape < 0.1
    yosys = json.loads((ROOT / "docs/hardware/synth_830k/jsc_tiny_w4a4/synth.json").read_text())["figures"][0]["lut"]
    logic = lut_model.checkpoint_logic(ROOT / "models/jsc_tiny_w4a4/checkpoint.pt")
    assert logic.table_luts > 0  # its BatchNorm lookup tables
    assert m.predict(logic) == pytest.approx(yosys, rel=0.10)


def test_the_shipped_calibration_is_its_samples_fit(tmp_path) -> None:
    """lut_model.json's coefficients are the fit of the samples it lists (nothing edited by hand)."""
    d = json.loads((ROOT / "jsc_hw/hardware/lut_model.json").read_text())
    samples = [lut_model.Sample(s["name"], Logic(s["adder_bits"], s["table_luts"]), s["lut"]) for s in d["samples"]]
    m = lut_model.fit(samples, yosys=d["yosys"])
    shipped = lut_model.default_model()
    assert shipped == lut_model.load(ROOT / "jsc_hw/hardware/lut_model.json") and shipped.designs == m.designs
    for k in ("per_adder_bit", "per_table_lut", "loo_mape", "loo_max"):  # to rounding (another BLAS may sum apart)
        assert getattr(shipped, k) == pytest.approx(getattr(m, k), rel=1e-9)
    lut_model.save(m, tmp_path / "m.json", samples)
    assert lut_model.load(tmp_path / "m.json") == m


def test_flows_outside_the_model_are_refused() -> None:
    from jsc_hw.hardware import rtl

    with pytest.raises(ConfigError, match="RTL flows"):
        lut_model.logic_of(rtl.IntNet.__new__(rtl.IntNet), "alkaid")
