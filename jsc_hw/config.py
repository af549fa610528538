"""Typed, frozen configuration: what one training run is, and what a sweep of them is.

YAML is read only here (``load_sweep``, ``parse_sets``) and turned into these dataclasses at once; an unknown key or a
value
of the wrong type is rejected with a message naming the key.  ``TrialConfig`` is saved next to every result.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from jsc_hw.errors import ConfigError, MissingError
from jsc_hw.fixed import power_of_two_exp

FLOAT32_MAX = 3.4028234663852886e38  #: values are used as float32 tensors: larger ones become inf
MIN_ROWS = 20  #: smallest data.max_rows: a few rows in each of the train, val and test splits
LR_RANGE = (1e-9, 1.0)  #: learning rates outside it do not train (below: no change in float32; above: diverges)
#: train.lr_schedule: the learning rate of a step = train.lr * f(fraction of the training's steps done before it)
LR_SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": lambda p: 1.0,
    "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)),  #: from lr to ~0 over the training (SGDR without restarts)
}

#: quant.act_rounding: "round": half to even (Brevitas's default, ap_fixed RND_CONV); "floor": truncation (Brevitas
#: FLOOR, hls4ml's default AP_TRN), which spares every requantiser of the RTL its rounding adder
ACT_ROUNDINGS = ("floor", "round")


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    path: str | None = None  #: file or folder of a JSC release; None = the embedded default dataset
    format: str | None = None  #: reader name (see jsc_hw.loaders.READERS); None = guess from the suffix
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0  #: seeds the train/val/test partition (independent of the training seeds)
    max_rows: int | None = None  #: use a seeded subset of this many rows (quick studies, tests)
    drop_invalid: bool = False  #: drop rows with NaN/inf features (counted in a warning) instead of refusing the file


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    arch: str = "jsc_tiny"  #: a key of jsc_hw.nets.ARCHITECTURES
    hidden: tuple[int, ...] = ()  #: hidden-layer widths of a parametrised arch ("mlp"); () = its default
    #: arch "mlp": inputs per neuron of every Linear, drawn at random per neuron and repeat (LogicNets-style sparse
    #: layers whose neurons become truth tables, ``jsc-hw synth --rtl lut``); 0 = dense
    fan_in: int = 0
    #: arch "dwn": a class score is the popcount of its group of last-layer bits x 1/tau (a power of two, so the
    #: scores stay on a fixed-point grid and the RTL's popcounts are the trained model's logits)
    tau: float = 1.0


@dataclass(frozen=True, kw_only=True)
class QuantSpec:
    """Fixed-point (power-of-two scale) quantisation, which hls4ml maps to exact ap_fixed types.

    Weights: per-tensor scale 2**ceil(log2(max|w| / 2**(bits-1))), narrow signed range.
    Activations and input: constant formats, signed ``fixed<bits, int_bits>`` / unsigned ``ufixed<bits, int_bits>``.
    """

    enabled: bool = True  #: False = plain float network
    weight_bits: int = 8
    act_bits: int = 8
    act_int_bits: int = 3  #: integer bits of activation formats (ReLU outputs: ufixed<act_bits, act_int_bits>)
    input_bits: int = 8
    input_int_bits: int = 3  #: standardised inputs: fixed<input_bits, input_int_bits> (sign included)
    bias_bits: int = 16  #: bias scale = input scale x weight scale (Brevitas Int16Bias)
    #: per-layer overrides, honoured by arch "mlp": weight bits of each Linear, act bits of each hidden ReLU;
    #: () = weight_bits / act_bits everywhere
    weight_bits_per_layer: tuple[int, ...] = ()
    act_bits_per_layer: tuple[int, ...] = ()
    #: rounding of the hidden activations' quantisers (the input's always rounds): one of ACT_ROUNDINGS
    act_rounding: str = "round"


@dataclass(frozen=True, kw_only=True)
class TrainSpec:
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0  #: repeat k of a sweep trains with seed + k
    lr_schedule: str = "constant"  #: a key of LR_SCHEDULES


@dataclass(frozen=True, kw_only=True)
class PruneSpec:
    """Gradual magnitude pruning during training (Zhu & Gupta 2017, "To prune, or not to prune"): each Linear and
    Conv1d kernel of every repeat loses its smallest-magnitude weights until ``sparsity`` of them are zero.

    The target rises as s(p) = sparsity * (1 - (1 - (p - start) / (end - start))**3) over the fraction p of the
    training steps, in ``updates`` mask updates; after ``end`` the pruned network trains on with its mask fixed.
    ``sparsity_per_layer`` gives each kernel its own final sparsity (the same ramp).
    Biases are kept.  Zero weights cost nothing in the RTL (no adder) nor in hls4ml (constant multiplications by
    zero are removed by HLS).
    """

    sparsity: float = 0.0  #: final fraction of zero weights in each kernel; 0 = no pruning
    start: float = 0.0  #: fraction of the training steps at which pruning starts
    end: float = 0.5  #: fraction of the training steps at which ``sparsity`` is reached
    updates: int = 10  #: mask updates along the ramp (the last one at ``end``)
    #: final sparsity of each Linear/Conv1d, input side first (e.g. keep the small output layer denser);
    #: () = ``sparsity`` everywhere
    sparsity_per_layer: tuple[float, ...] = ()

    @property
    def prunes(self) -> bool:
        return self.sparsity > 0 or any(s > 0 for s in self.sparsity_per_layer)


@dataclass(frozen=True, kw_only=True)
class DistillSpec:
    """Knowledge distillation (Hinton et al. 2015): the training loss is (1 - weight) x cross-entropy with the labels
    + weight x temperature**2 x cross-entropy with the teacher's softened class probabilities (``jsc_hw.distill``).
    The teacher was trained on the same ``data:`` section, so it never saw the student's validation or test rows."""

    #: a checkpoint (.pt) or a sweep run folder (the ensemble of its best trial's repeats); None = no distillation
    teacher: str | None = None
    weight: float = 0.9  #: share of the teacher term in the loss, in (0, 1]
    temperature: float = 1.0  #: both sets of logits are divided by it before the softmax


@dataclass(frozen=True, kw_only=True)
class TrialConfig:
    name: str = "trial"
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    quant: QuantSpec = field(default_factory=QuantSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    prune: PruneSpec = field(default_factory=PruneSpec)
    distill: DistillSpec = field(default_factory=DistillSpec)


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    name: str
    base: TrialConfig
    trials: tuple[TrialConfig, ...]  #: expanded from `grid` or from the explicit `trials` list
    repeats: int = 1
    #: dotted keys that vary between trials, in spec order (the axes of the plots)
    varied: tuple[str, ...] = ()


def check_type(value: Any, tp: Any, key: str) -> Any:
    """Validate ``value`` against a type annotation; ints are accepted for floats, which must stay finite as
    float32 (the precision they are used in)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return check_type(value, inner[0], key)
    if origin is tuple:  # tuple[int, ...]: a YAML list
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(check_type(v, typing.get_args(tp)[0], f"{key}[{i}]") for i, v in enumerate(value))
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-5" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not (math.isfinite(number) and abs(number) <= FLOAT32_MAX):
            raise ConfigError(f"{key}: must be a finite number (below {FLOAT32_MAX:.3g}, the float32 limit), "
                              f"got {value!r}")
        return number
    if isinstance(tp, type) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def from_dict(cls: type, data: Mapping[str, Any] | None, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from nested dicts; unknown keys and bad types raise ConfigError naming the key."""
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping of keys to values, got {data!r}")
    data = dict(data or {})
    hints = _hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}; allowed: {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{prefix}{name}: expected a mapping, got {value!r}")
            kwargs[name] = from_dict(tp, value, f"{prefix}{name}.")
        else:
            kwargs[name] = check_type(value, tp, prefix + name)
    obj = cls(**kwargs)
    validate(obj, prefix)
    return obj


def validate(obj: Any, prefix: str = "") -> None:
    """Range checks that types alone cannot express."""
    if isinstance(obj, DataSpec):
        if not (0 < obj.val_fraction < 1 and 0 < obj.test_fraction < 1 and obj.val_fraction + obj.test_fraction < 1):
            raise ConfigError(f"{prefix}val_fraction/test_fraction: each in (0,1) and their sum below 1")
        if obj.max_rows is not None and obj.max_rows < MIN_ROWS:
            raise ConfigError(f"{prefix}max_rows: at least {MIN_ROWS} rows (train, val and test splits), "
                              f"got {obj.max_rows}; or null for all rows")
    elif isinstance(obj, QuantSpec):
        for k in ("weight_bits", "act_bits", "input_bits", "bias_bits"):
            if not 2 <= getattr(obj, k) <= 32:
                raise ConfigError(f"{prefix}{k}: must lie in 2..32, got {getattr(obj, k)}")
        if obj.act_rounding not in ACT_ROUNDINGS:
            raise ConfigError(f"{prefix}act_rounding: one of {sorted(ACT_ROUNDINGS)}, got {obj.act_rounding!r}")
        for k in ("weight_bits_per_layer", "act_bits_per_layer"):
            if not all(2 <= b <= 32 for b in getattr(obj, k)):
                raise ConfigError(f"{prefix}{k}: each must lie in 2..32, got {list(getattr(obj, k))}")
        # a format must hold 1.0 and have an LSB of at most 2, else (nearly) every value rounds to one code and
        # the network trains to a constant output
        for int_key, bits in (("act_int_bits", (obj.act_bits, *obj.act_bits_per_layer)),
                              ("input_int_bits", (obj.input_bits,))):
            value, lo, hi = getattr(obj, int_key), 1, min(bits) + 1
            if not lo <= value <= hi:
                kind = "ufixed<act_bits, act_int_bits>" if int_key == "act_int_bits" else \
                    "fixed<input_bits, input_int_bits>"
                raise ConfigError(f"{prefix}{int_key}: {value} gives {kind} an LSB of 2**{value - min(bits)}; it "
                                  f"must lie in {lo}..{hi} for {min(bits)} bits (the format holds 1.0, LSB at most 2)")
    elif isinstance(obj, ModelSpec):
        if not all(w >= 1 for w in obj.hidden):
            raise ConfigError(f"{prefix}hidden: widths must be at least 1, got {list(obj.hidden)}")
        if obj.fan_in < 0:
            raise ConfigError(f"{prefix}fan_in: inputs per neuron, at least 1 (or 0 for dense layers), "
                              f"got {obj.fan_in}")
        try:
            power_of_two_exp(obj.tau)
        except ConfigError:
            raise ConfigError(f"{prefix}tau: a power of two (0.25, 0.5, 1, 2, ...), got {obj.tau:g}") from None
    elif isinstance(obj, TrainSpec):
        if obj.epochs < 1 or obj.batch_size < 1:
            raise ConfigError(f"{prefix}epochs and {prefix}batch_size must be at least 1")
        if not LR_RANGE[0] <= obj.lr <= LR_RANGE[1]:
            raise ConfigError(f"{prefix}lr: an Adam learning rate in {LR_RANGE[0]:g}..{LR_RANGE[1]:g}, got {obj.lr:g}")
        if obj.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"{prefix}lr_schedule: one of {sorted(LR_SCHEDULES)}, got {obj.lr_schedule!r}")
    elif isinstance(obj, PruneSpec):
        for key, values in (("sparsity", (obj.sparsity,)), ("sparsity_per_layer", obj.sparsity_per_layer)):
            if not all(0 <= s < 1 for s in values):
                raise ConfigError(f"{prefix}{key}: fractions of zero weights in [0, 1), got {list(values)}")
        if not 0 <= obj.start < obj.end <= 1:
            raise ConfigError(f"{prefix}start/end: fractions of the training with 0 <= start < end <= 1, got "
                              f"{obj.start:g}/{obj.end:g}")
        if obj.updates < 1:
            raise ConfigError(f"{prefix}updates: at least 1 mask update, got {obj.updates}")
    elif isinstance(obj, DistillSpec):
        if not 0 < obj.weight <= 1 or not 0 < obj.temperature <= 100:
            raise ConfigError(f"{prefix}weight in (0, 1] and {prefix}temperature in (0, 100], got {obj.weight:g} "
                              f"and {obj.temperature:g}")


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def set_dotted(cfg: TrialConfig, key: str, value: Any) -> TrialConfig:
    """Return ``cfg`` with one dotted key (``train.lr``) replaced, type-checked like YAML input."""
    if key == "name":
        return replace(cfg, name=check_type(value, str, key))
    section, _, leaf = key.partition(".")
    if section not in _hints(TrialConfig) or section == "name" or not leaf:
        sections = [k for k in _hints(TrialConfig) if k != "name"]
        raise ConfigError(f"unknown key {key!r}: use section.field, sections {sections}")
    part = getattr(cfg, section)
    updated = from_dict(type(part), {**to_dict(part), leaf: value}, f"{section}.")
    return replace(cfg, **{section: updated})


def apply_overrides(cfg: TrialConfig, overrides: Mapping[str, Any]) -> TrialConfig:
    for key, value in overrides.items():
        cfg = set_dotted(cfg, key, value)
    return cfg


def slug(text: str) -> str:
    """A trial or sweep name made safe for file names (no leading dot: never '..' or a hidden folder)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_").lstrip(".")


def name_slug(text: str, key: str) -> str:
    """``slug(text)``, refusing a name that leaves nothing usable as a file or folder name (``..``, ``//``)."""
    out = slug(text)
    if not re.search(r"[A-Za-z0-9]", out):
        raise ConfigError(f"{key}: {text!r} is not usable as a folder or file name; use letters, digits and _ . = -")
    return out


def sweep_from_dict(raw: Mapping[str, Any]) -> SweepSpec:
    allowed = {"name", "base", "grid", "trials", "repeats"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; allowed: {sorted(allowed)}")
    if "grid" in raw and "trials" in raw:
        raise ConfigError("give either 'grid' or 'trials', not both")
    name = name_slug(check_type(raw.get("name", "sweep"), str, "name"), "name")
    repeats = check_type(raw.get("repeats", 1), int, "repeats")
    if repeats < 1:
        raise ConfigError(f"repeats: must be at least 1, got {repeats}")
    base = from_dict(TrialConfig, raw.get("base"), "base.")
    trials: list[TrialConfig] = []
    varied: list[str] = []
    if "grid" in raw:
        grid = raw["grid"] or {}
        if not isinstance(grid, Mapping) or not all(isinstance(v, list) and v for v in grid.values()):
            raise ConfigError("grid: a mapping of dotted keys to non-empty lists")
        varied = list(grid)
        combos: list[dict[str, Any]] = [{}]
        for key, values in grid.items():
            combos = [{**c, key: v} for c in combos for v in values]
        for combo in combos:
            label = ",".join(f"{k.split(',')[0].split('.')[-1]}={v}" for k, v in combo.items()) or "base"
            # a key "a.b,c.d" ties several config keys to one value (e.g. all bit widths at once)
            tied = {k: v for key, v in combo.items() for k in key.split(",")}
            trials.append(apply_overrides(replace(base, name=slug(label)), tied))
        varied = [k.split(",")[0] for k in varied]
    else:
        entries = raw.get("trials") or [{"name": base.name}]
        if not isinstance(entries, list):
            raise ConfigError("trials: a list of mappings {name: ..., dotted.key: value}")
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise ConfigError(f"trials[{i}]: expected a mapping, got {entry!r}")
            entry = dict(entry)
            label = check_type(entry.pop("name", f"trial{i + 1}"), str, f"trials[{i}].name")
            try:
                trials.append(apply_overrides(replace(base, name=name_slug(label, f"trials[{i}].name")), entry))
            except ConfigError as exc:
                raise ConfigError(f"trials[{i}] ({label}): {exc}") from None
            varied += [k for k in entry if k not in varied]
    names = [t.name for t in trials]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"trial names must be unique; repeated: {dupes}")
    return SweepSpec(name=name, base=base, trials=tuple(trials), repeats=repeats, varied=tuple(varied))


def load_yaml_spec(path: str | Path, kind: str, keys: str, parse: Callable[[Mapping[str, Any]], Any]) -> Any:
    """Read a YAML spec file and parse it, prefixing every error with the file name."""
    path = Path(path)
    if not path.is_file():
        raise MissingError(f"{path}: {kind} spec not found")
    raw = parse_yaml(path.read_text(errors="replace"), str(path))
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: a {kind} spec is a YAML mapping with keys {keys}")
    try:
        return parse(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` with a one-line error naming ``where`` (a file, an option) and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML{at}: {problem}") from None


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``--set key=value`` options (values in YAML: ``--set model.hidden=[64,32]``) as a dict."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.epochs=5")
        out[key.strip()] = parse_yaml(value, f"--set {item}")
    return out


def load_sweep(path: str | Path) -> SweepSpec:
    return load_yaml_spec(path, "sweep", "name, base, grid|trials, repeats", sweep_from_dict)


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj if isinstance(obj, dict) else to_dict(obj), sort_keys=False)


def trial_from_yaml(text: str) -> TrialConfig:
    return from_dict(TrialConfig, parse_yaml(text, "config"))
