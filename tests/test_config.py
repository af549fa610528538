import pytest

from jsc_hw.config import TrialConfig, apply_overrides, from_dict, load_sweep, sweep_from_dict, trial_from_yaml
from jsc_hw.config import dump_yaml, parse_sets, to_dict
from jsc_hw.errors import ConfigError

BASE = {"model": {"arch": "jsc_tiny"}, "train": {"epochs": 2, "lr": 1e-3}}


def test_explicit_trials_follow_the_lab_table():
    spec = load_sweep("sweeps/jsc_tiny_hyperparameters.yaml")
    assert spec.repeats == 10 and len(spec.trials) == 12
    table = {t.name: (t.train.epochs, t.train.lr, t.train.batch_size) for t in spec.trials}
    assert table["model3"] == (100, 1e-5, 256)
    assert [table[f"model{i}"][2] for i in range(4, 9)] == [16, 32, 64, 128, 512]
    assert [table[f"model{i}"][1] for i in range(9, 13)] == [1e-6, 1e-4, 1e-3, 1e-2]
    assert spec.varied == ("train.epochs", "train.batch_size", "train.lr")


def test_grid_expands_and_ties_keys():
    spec = sweep_from_dict({"base": BASE, "grid": {"model.arch": ["jsc_tiny", "mlp_64_32_32"],
                                                   "quant.weight_bits,quant.act_bits": [4, 8]}})
    assert len(spec.trials) == 4
    assert {(t.model.arch, t.quant.weight_bits, t.quant.act_bits) for t in spec.trials} == {
        ("jsc_tiny", 4, 4), ("jsc_tiny", 8, 8), ("mlp_64_32_32", 4, 4), ("mlp_64_32_32", 8, 8)}
    assert spec.varied == ("model.arch", "quant.weight_bits")


@pytest.mark.parametrize("raw, message", [
    ({"base": {"train": {"epochz": 3}}}, "base.train.epochz"),
    ({"base": {"train": {"lr": "fast"}}}, "base.train.lr: expected float"),
    ({"base": {"train": {"batch_size": 0}}}, "batch_size must be at least 1"),
    ({"base": BASE, "trials": [{"name": "a", "train.lrr": 1}]}, r"trials\[0\] \(a\): unknown key\(s\) train.lrr"),
    ({"base": BASE, "trials": [{"name": "a", "optim.lr": 1}]}, "unknown key 'optim.lr'"),
    ({"base": BASE, "grid": {"train.lr": []}}, "non-empty lists"),
    ({"base": BASE, "grid": {"train.lr": [1]}, "trials": []}, "either 'grid' or 'trials'"),
    ({"base": BASE, "trials": [{"name": "a"}, {"name": "a"}]}, "unique"),
    ({"base": BASE, "repeat": 3}, "unknown top-level key"),
    ({"base": {"quant": {"weight_bits": 1}}}, "weight_bits: must lie in 2..32"),
    ({"base": {"data": {"val_fraction": 0.6, "test_fraction": 0.5}}}, "sum below 1"),
    # finite as a Python float, inf as the float32 it is used in
    ({"base": {"train": {"lr": 1e39}}}, r"base.train.lr: must be a finite number \(below 3.4e\+38"),
    ({"base": {"data": {"val_fraction": 1e39}}}, "base.data.val_fraction: must be a finite number"),
    ({"base": {"train": {"lr": 1e300}}}, "base.train.lr: must be a finite number"),
    ({"base": {"train": {"lr": 10**400}}}, "base.train.lr: must be a finite number"),
    ({"base": {"train": {"lr": 5.0}}}, r"base.train.lr: an Adam learning rate in 1e-09..1, got 5"),
    ({"base": {"train": {"lr": 1e-30}}}, "base.train.lr: an Adam learning rate"),
    ({"base": [1, 2]}, r"base: expected a mapping of keys to values, got \[1, 2\]"),
    ({"base": {"train": [1]}}, "base.train: expected a mapping"),
    ({"name": ".."}, r"name: '..' is not usable as a folder or file name"),
    ({"name": "/"}, "name: '/' is not usable"),
    ({"base": BASE, "trials": [{"name": "..."}]}, r"trials\[0\].name: '...' is not usable"),
    ({"repeats": 0}, "repeats: must be at least 1, got 0"),
    ({"base": {"quant": {"act_int_bits": -20}}}, r"base.quant.act_int_bits: -20 gives ufixed<act_bits, act_int_bits> "
                                                 r"an LSB of 2\*\*-28; it must lie in 1..9 for 8 bits"),
    ({"base": {"quant": {"act_int_bits": 40}}}, "base.quant.act_int_bits: 40 gives"),
    ({"base": {"quant": {"act_rounding": "nearest"}}},
     r"base.quant.act_rounding: one of \['floor', 'round'\], got 'nearest'"),
    ({"base": {"quant": {"input_int_bits": 0}}},
     "base.quant.input_int_bits: 0 gives fixed<input_bits, input_int_bits>"),
    ({"base": {"quant": {"input_bits": 4, "input_int_bits": 6}}}, "input_int_bits: 6 .* must lie in 1..5 for 4 bits"),
    ({"base": {"model": {"arch": "mlp"}, "quant": {"act_bits_per_layer": [2, 8], "act_int_bits": 4}}},
     "act_int_bits: 4 .* 1..3 for 2 bits"),
    ({"base": {"data": {"max_rows": 0}}}, "base.data.max_rows: at least 20 rows"),
    ({"base": {"data": {"drop_invalid": "yes"}}}, "base.data.drop_invalid: expected bool"),
    ({"base": {"model": {"arch": "mlp", "fan_in": -1}}}, r"base.model.fan_in: inputs per neuron, at least 1 \(or 0"),
])
def test_bad_specs_are_rejected_naming_the_key(raw, message):
    with pytest.raises(ValueError, match=message):
        sweep_from_dict(raw)


def test_yaml_errors_are_one_line_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbase:\n  train: {epochs: 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML \(line \d+, column \d+\)"):
        load_sweep(bad)
    with pytest.raises(ConfigError, match=r"--set train.lr=\[1: invalid YAML"):
        parse_sets(["train.lr=[1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_sets(["=3"])
    assert parse_sets(["model.hidden=[64, 32]", "data.drop_invalid=true"]) == {
        "model.hidden": [64, 32], "data.drop_invalid": True}


def test_defaults_pass_every_range_check_and_the_search_2_bit_activations_are_allowed():
    assert from_dict(TrialConfig, {"quant": {"act_bits": 2}}).quant.act_int_bits == 3  # ufixed<2,3>: LSB 2
    for path in ("sweeps/demo.yaml", "sweeps/jsc_tiny_hyperparameters.yaml", "sweeps/bit_widths.yaml",
                 "sweeps/jsc_rs1923.yaml"):
        assert load_sweep(path).trials


def test_overrides_are_type_checked_and_round_trip():
    cfg = apply_overrides(TrialConfig(), {"train.lr": "1e-4", "quant.weight_bits": 4, "data.max_rows": 500})
    assert (cfg.train.lr, cfg.quant.weight_bits, cfg.data.max_rows) == (1e-4, 4, 500)
    with pytest.raises(ValueError, match="quant.weight_bits: expected int"):
        apply_overrides(cfg, {"quant.weight_bits": 4.5})
    assert trial_from_yaml(dump_yaml(to_dict(cfg))) == cfg
    assert from_dict(TrialConfig, {}) == TrialConfig()
