import pytest

from jsc_hw.config import TrialConfig, apply_overrides, from_dict, load_sweep, sweep_from_dict, trial_from_yaml
from jsc_hw.config import dump_yaml, to_dict

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
])
def test_bad_specs_are_rejected_naming_the_key(raw, message):
    with pytest.raises(ValueError, match=message):
        sweep_from_dict(raw)


def test_overrides_are_type_checked_and_round_trip():
    cfg = apply_overrides(TrialConfig(), {"train.lr": "1e-4", "quant.weight_bits": 4, "data.max_rows": 500})
    assert (cfg.train.lr, cfg.quant.weight_bits, cfg.data.max_rows) == (1e-4, 4, 500)
    with pytest.raises(ValueError, match="quant.weight_bits: expected int"):
        apply_overrides(cfg, {"quant.weight_bits": 4.5})
    assert trial_from_yaml(dump_yaml(to_dict(cfg))) == cfg
    assert from_dict(TrialConfig, {}) == TrialConfig()
