"""Hardware-aware multi-objective search (Optuna): maximise validation accuracy, minimise a hardware cost.

The search space covers the ``mlp`` architecture's depth and widths (``model.hidden``), a bit width per layer
(``quant.weight_bits_per_layer`` / ``quant.act_bits_per_layer``) and any other config key (``train.lr``...).
Every trial trains through ``jsc_hw.train.fit`` (``jobs.train_repeats``) and is stored exactly like a sweep
trial-repeat (``records/t0007__r0.json`` + ``weights/``), so ``jsc-hw export`` can take any point.

Resumable and reproducible: the Optuna study lives in ``study.db`` (SQLite) in the run folder; trials run one
at a time and the sampler is re-seeded from (spec seed, trial number) before each ask, so trial *n*'s
parameters depend only on the spec and the results of trials 0..n-1 -- a killed search, rerun, continues
with exactly the trials an uninterrupted one would have run (a trial killed mid-training is retrained with
the parameters it was given).  ``references`` (hand-designed models, same base settings) are trained once
and drawn beside the front.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jsc_hw.config import (SweepSpec, TrialConfig, apply_overrides, check_type, dump_yaml, from_dict, load_yaml_spec,
                           name_slug, parse_yaml, to_dict)
from jsc_hw.errors import ConfigError, JscHwError, NotBitExact, RunFolderError
from jsc_hw.figures import estimate_of
from jsc_hw.files import atomic_savefig, atomic_write, output_folder
from jsc_hw.jobs import Job, train_repeats, write_trained
from jsc_hw.progress import Progress
from jsc_hw.runfolder import Record, checkpoint_relpath, read_record, read_records, read_synth, record_path, synth_dir
from jsc_hw.schema import TIE_RULE
from jsc_hw.sweep import check_trial, resolved_yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Param:
    """One searched config key: ``choices`` (categorical) or a ``low``..``high`` range (int if both are ints)."""

    key: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False


@dataclass(frozen=True)
class SearchSpace:
    hidden_layers: tuple[int, int] = (1, 3)  #: depth range of the mlp (inclusive)
    widths: tuple[int, ...] = ()  #: choices for each hidden width; () = keep base model.hidden
    weight_bits: tuple[int, ...] = ()  #: choices for each Linear's weight bits; () = base quant.weight_bits
    act_bits: tuple[int, ...] = ()  #: choices for each hidden ReLU's output bits; () = base quant.act_bits
    params: tuple[Param, ...] = ()


@dataclass(frozen=True)
class SearchSpec:
    name: str
    base: TrialConfig
    space: SearchSpace
    trials: int = 40  #: budget: trials in the study (``--trials`` raises it; a rerun continues)
    seed: int = 0  #: seeds the sampler; training seeds come from base.train.seed as in a sweep
    sampler: str = "tpe"  #: a key of SAMPLERS
    startup: int = 10  #: random trials first (TPE) / population size (NSGA-II)
    cost: str = "bops"  #: a key of COSTS: the objective minimised beside validation accuracy
    repeats: int = 1  #: repeats per trial (accuracy objective = mean over repeats)
    references: tuple[TrialConfig, ...] = ()  #: hand-designed models trained with the same base settings


def _make_tpe(spec: SearchSpec, seed: int):
    import optuna

    with warnings.catch_warnings():  # multivariate/group are "experimental" (stable since Optuna 2.2)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup, multivariate=True, group=True,
                                          constant_liar=False)


def _make_nsga2(spec: SearchSpec, seed: int):
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, spec.startup))


SAMPLERS: dict[str, Callable[[SearchSpec, int], Any]] = {"tpe": _make_tpe, "nsga2": _make_nsga2}


LUT_CHECK_VECTORS = 200  #: test rows through Verilator before a LUT count becomes an objective


def _synth_luts(run_dir: Path, record: Record) -> float:
    """Xilinx 7-series LUTs from the open-source flow (hardware.rtl Verilog -> Verilator check on a few hundred test
    rows -> Yosys synth_xilinx), cached.  RTL that is not bit-exact raises NotBitExact: its LUT count would not be
    a cost of the trained model."""
    from jsc_hw.hardware import synth

    out = synth_dir(run_dir, record.trial, record.repeat)
    path = out / "synth.json"
    flow = synth.flow_for(record.config.model)  # LUT-native neurons as truth tables
    if not path.exists() or not read_synth(path).verdict.checked:  # a figure cached before the check gated it
        synth.synth_checkpoint(run_dir / record.checkpoint, out, vectors=LUT_CHECK_VECTORS, timeout=1800,
                               rtl_flow=flow)
    rec = read_synth(path)
    if not rec.verdict.bit_exact:
        raise NotBitExact(f"{record.name}: its RTL is {rec.verdict.label} against PyTorch (see {path}); the LUT "
                          "objective takes only figures of bit-exact RTL. Report this model's checkpoint as a bug")
    figs = [f for f in rec.figures if f.stage == "logic-synthesis"]
    if not figs:
        raise RunFolderError(f"{path}: no logic-synthesis figures; delete {out} and rerun the search")
    return float(figs[0].lut)


def _model_luts(run_dir: Path, record: Record) -> float:
    """Yosys LUTs as the calibrated LUT model predicts them from the trained checkpoint's Verilog (about a second,
    no synthesis; ``jsc_hw.hardware.lut_model``, its errors in docs/hardware.md).  An estimate: confirm a front
    point with ``jsc-hw synth`` before quoting it."""
    from jsc_hw.hardware import lut_model

    return lut_model.default_model().predict(lut_model.checkpoint_logic(run_dir / record.checkpoint))


#: cost name -> (run folder, record) -> value to minimise
COSTS: dict[str, Callable[[Path, Record], float]] = {
    "bops": lambda run_dir, rec: float(rec.cost["bops"]),
    "macs": lambda run_dir, rec: float(rec.cost["macs"]),
    "params": lambda run_dir, rec: float(rec.cost["params"]),
    "weight_bits_total": lambda run_dir, rec: float(rec.cost["weight_bits_total"]),
    "lut": _synth_luts,  #: ~30 s per trial (Verilator check + Yosys); model.fan_in > 0: the truth-table flow
    "lut_model": _model_luts,  #: ~1 s per trial: the LUT model's prediction for the same flow
}


# ---- spec (YAML edge) ------------------------------------------------------------------------------------
def _param(key: str, raw: Any) -> Param:
    if isinstance(raw, list) and raw:
        return Param(key, choices=tuple(raw))
    if isinstance(raw, Mapping) and set(raw) <= {"low", "high", "log"} and {"low", "high"} <= set(raw):
        low, high = (check_type(raw[k], float, f"space.params.{key}.{k}") for k in ("low", "high"))
        ints = all(isinstance(raw[k], int) for k in ("low", "high"))
        return Param(key, low=int(low) if ints else low, high=int(high) if ints else high,
                     log=bool(raw.get("log", False)))
    raise ConfigError(f"space.params.{key}: a non-empty list of choices or {{low, high, log}}")


def search_from_dict(raw: Mapping[str, Any]) -> SearchSpec:
    allowed = {"name", "base", "space", "trials", "seed", "sampler", "startup", "cost", "repeats", "references"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; allowed: {sorted(allowed)}")
    if not isinstance(raw.get("space") or {}, Mapping):
        raise ConfigError(f"space: expected a mapping (hidden_layers, widths, weight_bits, act_bits, params), "
                          f"got {raw['space']!r}")
    space = dict(raw.get("space") or {})
    s_allowed = {"hidden_layers", "widths", "weight_bits", "act_bits", "params"}
    if set(space) - s_allowed:
        raise ConfigError(f"unknown space key(s) {sorted(set(space) - s_allowed)}; allowed: {sorted(s_allowed)}")
    params = space.pop("params", None) or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"space.params: a mapping of dotted keys to choices or ranges, got {params!r}")
    ss = SearchSpace(**{k: check_type(v, tuple[int, ...], f"space.{k}") for k, v in space.items()},
                     params=tuple(_param(k, v) for k, v in params.items()))
    if len(ss.hidden_layers) != 2 or not 1 <= ss.hidden_layers[0] <= ss.hidden_layers[1]:
        raise ConfigError(f"space.hidden_layers: [min, max] with 1 <= min <= max, got {list(ss.hidden_layers)}")
    base = from_dict(TrialConfig, raw.get("base"), "base.")
    if (ss.widths or ss.weight_bits or ss.act_bits) and base.model.arch != "mlp":
        raise ConfigError("space.widths/weight_bits/act_bits search the 'mlp' architecture: set base.model.arch: mlp")
    if (ss.weight_bits or ss.act_bits) and not (ss.widths or base.model.hidden):
        raise ConfigError("per-layer bits need the layers: give space.widths or base.model.hidden")
    for p in ss.params:  # an unknown key or a bad value fails now, naming the key, not at trial 17
        apply_overrides(base, {p.key: p.choices[0] if p.choices else p.low})
    refs = []
    references = raw.get("references") or []
    if not isinstance(references, list) or not all(isinstance(e, Mapping) for e in references):
        raise ConfigError("references: a list of mappings {name: ..., dotted.key: value}")
    for i, entry in enumerate(references):
        entry = dict(entry)
        name = name_slug(check_type(entry.pop("name", f"ref{i + 1}"), str, f"references[{i}].name"),
                         f"references[{i}].name")
        ref_base = replace(base, name=f"ref_{name}", model=replace(base.model, hidden=()))
        refs.append(apply_overrides(ref_base, entry))
    spec = SearchSpec(name=name_slug(check_type(raw.get("name", "search"), str, "name"), "name"), base=base, space=ss,
                      references=tuple(refs),
                      **{k: check_type(raw[k], type(getattr(SearchSpec, k)), k)
                         for k in ("trials", "seed", "sampler", "startup", "cost", "repeats") if k in raw})
    for key, table in (("sampler", SAMPLERS), ("cost", COSTS)):
        if getattr(spec, key) not in table:
            raise ConfigError(f"{key}: {getattr(spec, key)!r} unknown; available: {sorted(table)}")
    check_budget(spec)
    return spec


def check_budget(spec: SearchSpec) -> None:
    for key in ("trials", "repeats", "startup"):
        if getattr(spec, key) < 1:
            raise ConfigError(f"{key}: must be at least 1, got {getattr(spec, key)}")


def searched_keys(spec: SearchSpec) -> set[str]:
    """Config keys the search sets per trial (an override of one would be silently replaced)."""
    keys = {p.key for p in spec.space.params}
    if spec.space.widths:
        keys.add("model.hidden")
    if spec.space.weight_bits:
        keys.add("quant.weight_bits_per_layer")
    if spec.space.act_bits:
        keys.add("quant.act_bits_per_layer")
    return keys


def with_overrides(spec: SearchSpec, overrides: Mapping[str, Any], **fields: Any) -> SearchSpec:
    """``--set`` on the base and the references, and ``--trials/--sampler/--cost/--seed``; a searched key or
    ``name`` is refused (the search sets the one, the spec names the other)."""
    refused = sorted(set(overrides) & (searched_keys(spec) | {"name"}))
    if refused:
        raise ConfigError(f"--set {', '.join(refused)}: the search sets this key itself (space) or names the trials; "
                          "change the spec's space instead")
    spec = replace(spec, base=apply_overrides(spec.base, overrides),
                   references=tuple(apply_overrides(r, overrides) for r in spec.references),
                   **{k: v for k, v in fields.items() if v is not None})
    for key, table in (("sampler", SAMPLERS), ("cost", COSTS)):
        if getattr(spec, key) not in table:
            raise ConfigError(f"--{key}: {getattr(spec, key)!r} unknown; available: {sorted(table)}")
    check_budget(spec)
    return spec


def load_search(path: str | Path) -> SearchSpec:
    return load_yaml_spec(path, "search", "name, base, space, trials, ...", search_from_dict)


# ---- trials ---------------------------------------------------------------------------------------------
def suggest(trial: Any, spec: SearchSpec) -> dict[str, Any]:
    """Ask an Optuna trial for one point of the space (define-by-run); returns trial.params."""
    space = spec.space
    if space.widths:
        depth = trial.suggest_int("hidden_layers", *space.hidden_layers)
        for i in range(depth):
            trial.suggest_categorical(f"width{i}", list(space.widths))
    else:
        depth = len(spec.base.model.hidden)
    for i in range(depth + 1 if space.weight_bits else 0):
        trial.suggest_categorical(f"weight_bits{i}", list(space.weight_bits))
    for i in range(depth if space.act_bits else 0):
        trial.suggest_categorical(f"act_bits{i}", list(space.act_bits))
    for p in space.params:
        if p.choices:
            trial.suggest_categorical(p.key, list(p.choices))
        elif isinstance(p.low, int) and isinstance(p.high, int):
            trial.suggest_int(p.key, p.low, p.high, log=p.log)
        else:
            trial.suggest_float(p.key, p.low, p.high, log=p.log)
    return dict(trial.params)


def trial_config(spec: SearchSpec, number: int, params: Mapping[str, Any]) -> TrialConfig:
    """The TrialConfig of trial ``number`` from its Optuna parameters (as ``suggest`` produced them)."""
    sets: dict[str, Any] = {k: v for k, v in params.items() if "." in k}
    depth = params.get("hidden_layers", len(spec.base.model.hidden))
    if "hidden_layers" in params:
        sets["model.hidden"] = [params[f"width{i}"] for i in range(depth)]
    if spec.space.weight_bits:
        sets["quant.weight_bits_per_layer"] = [params[f"weight_bits{i}"] for i in range(depth + 1)]
    if spec.space.act_bits:
        sets["quant.act_bits_per_layer"] = [params[f"act_bits{i}"] for i in range(depth)]
    return apply_overrides(replace(spec.base, name=f"t{number:04d}"), sets)


def _train(spec: SearchSpec, run_dir: Path, cfg: TrialConfig) -> list[Record]:
    """Train the repeats of ``cfg`` that have no complete record (record and weights) yet; return all its records."""
    missing = tuple(k for k in range(spec.repeats) if not record_path(run_dir, cfg.name, k).exists()
                    or not (run_dir / checkpoint_relpath(cfg.name, k)).exists())
    if missing:
        write_trained(run_dir, train_repeats(Job(cfg, missing)))
    records = [read_record(record_path(run_dir, cfg.name, k)) for k in range(spec.repeats)]
    for rec in records:
        if rec.config != cfg:
            raise RunFolderError(f"{record_path(run_dir, rec.trial, rec.repeat)} was trained with another config "
                                 "than this search gives its trial; choose another --out folder")
    return records


def objectives(spec: SearchSpec, run_dir: Path, records: list[Record]) -> tuple[float, float]:
    acc = sum(r.val_acc_last_epoch for r in records) / len(records)
    return acc, COSTS[spec.cost](run_dir, records[0])


# ---- the study --------------------------------------------------------------------------------------------
def _sampler(spec: SearchSpec, number: int) -> Any:
    """The sampler for trial ``number``: re-seeded per trial so a resumed search repeats an uninterrupted one."""
    return SAMPLERS[spec.sampler](spec, spec.seed * 1_000_003 + number)


def open_study(spec: SearchSpec, run_dir: Path) -> Any:
    import optuna

    return optuna.create_study(study_name=spec.name, storage=f"sqlite:///{(run_dir / 'study.db').resolve()}",
                               directions=["maximize", "minimize"], sampler=_sampler(spec, 0), load_if_exists=True)


def saved_spec(run_dir: Path) -> SearchSpec:
    """The SearchSpec saved with a run (``search.resolved.yaml`` holds its dataclass fields, the budget aside: the
    spec's own ``trials`` is taken); config fields added to jsc-hw since it was saved take their defaults."""
    raw = parse_yaml((run_dir / "search.resolved.yaml").read_text(errors="replace"), "search.resolved.yaml")
    space = raw["space"]
    ss = SearchSpace(**{k: tuple(v) for k, v in space.items() if k != "params"},
                     params=tuple(Param(**{**p, "choices": tuple(p["choices"])}) for p in space["params"]))
    return SearchSpec(**{**raw, "base": from_dict(TrialConfig, raw["base"]), "space": ss,
                         "references": tuple(from_dict(TrialConfig, r) for r in raw["references"])})


def _same_search(run_dir: Path, spec: SearchSpec) -> bool:
    try:
        return replace(saved_spec(run_dir), trials=spec.trials) == spec
    except (JscHwError, KeyError, TypeError):
        return False


def _prepare(spec: SearchSpec, run_dir: Path) -> None:
    """Save the spec (budget aside); refuse to continue a different search in the same folder."""
    output_folder(run_dir)
    path = run_dir / "search.resolved.yaml"
    if path.exists() and not _same_search(run_dir, spec):
        raise RunFolderError(f"{run_dir} holds a different search ({path}); choose another --out folder")
    atomic_write(path, dump_yaml({k: v for k, v in to_dict(spec).items() if k != "trials"}))


def _finish(study: Any, spec: SearchSpec, run_dir: Path, number: int, params: Mapping[str, Any]) -> None:
    from optuna.trial import TrialState

    try:
        records = _train(spec, run_dir, trial_config(spec, number, params))
    except Exception:
        study.tell(number, state=TrialState.FAIL)
        raise
    study.tell(number, objectives(spec, run_dir, records))


def run_search(spec: SearchSpec, out_dir: str | Path, trials: int | None = None) -> Path:
    """Run (or continue) the search up to ``trials`` trials (default spec.trials); write the front.  Returns the
    run folder."""
    try:
        import optuna
        from optuna.trial import TrialState
    except ImportError:
        raise ConfigError("jsc-hw search needs Optuna: pip install 'jsc-hw[search]'") from None

    if trials is not None and trials < 1:
        raise ConfigError(f"--trials: must be at least 1, got {trials}")
    for cfg in (spec.base, *spec.references):  # what would fail at trial 17, before anything is written
        check_trial(cfg)
    run_dir = Path(out_dir)
    _prepare(spec, run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = open_study(spec, run_dir)
        for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # a killed run's last trial
            log.info("trial %d was interrupted; training it again with its parameters", stale.number)
            _finish(study, spec, run_dir, stale.number, stale.params)
        target = spec.trials if trials is None else trials
        with Progress(f"search {spec.name}", {"trials": target}, {"trials": "trial"},
                      initial={"trials": min(len(study.trials), target)}) as bar:
            while len(study.trials) < target:
                study.sampler = _sampler(spec, len(study.trials))
                trial = study.ask()
                _finish(study, spec, run_dir, trial.number, suggest(trial, spec))
                bar.update("trials")
    with Progress(f"search {spec.name} references", {"models": len(spec.references)}, {"models": "model"}) as bar:
        for ref in spec.references:
            _train(spec, run_dir, ref)
            bar.update("models")
    write_outputs(spec, run_dir, study)
    return run_dir


# ---- outputs: the front (table + plot) and a sweep-compatible results table ------------------------------
@dataclass(frozen=True)
class Point:
    trial: str
    config: TrialConfig
    val_acc: float  #: mean over repeats, last epoch
    cost: float
    pareto: bool


def points(spec: SearchSpec, run_dir: Path, study: Any) -> tuple[list[Point], list[Point]]:
    """Finished trials (``pareto`` marks the front) and the reference models, sorted by cost."""
    from optuna.trial import TrialState

    front = {t.number for t in study.best_trials}
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pts = [Point(f"t{t.number:04d}", trial_config(spec, t.number, t.params), t.values[0], t.values[1],
                 t.number in front) for t in done]
    refs = []
    for ref in spec.references:
        acc, cost = objectives(spec, run_dir, [read_record(record_path(run_dir, ref.name, k))
                                               for k in range(spec.repeats)])
        refs.append(Point(ref.name, ref, acc, cost, False))
    return sorted(pts, key=lambda p: (p.cost, -p.val_acc)), refs


def _describe(cfg: TrialConfig) -> dict[str, str]:
    q, m = cfg.quant, cfg.model
    widths = "-".join(map(str, (16, *m.hidden, 5))) if m.arch == "mlp" else m.arch
    return {"model": widths, "weight bits": "/".join(map(str, q.weight_bits_per_layer)) or str(q.weight_bits),
            "act bits": "/".join(map(str, q.act_bits_per_layer)) or str(q.act_bits), "input bits": str(q.input_bits),
            "sparsity": f"{cfg.prune.sparsity:.2f}", "fan-in": str(m.fan_in or "-"),
            "lr": f"{cfg.train.lr:.3g}", "batch": str(cfg.train.batch_size)}


def front_markdown(spec: SearchSpec, front: list[Point], refs: list[Point]) -> str:
    head = ["trial", *_describe(spec.base), "val acc", spec.cost]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in [*front, *refs]:
        lines.append("| " + " | ".join([p.trial, *_describe(p.config).values(), f"{p.val_acc:.4f}",
                                        f"{p.cost:,.0f}"]) + " |")
    lines += ["", f"val acc: validation accuracy at the last epoch, mean of {spec.repeats} repeat(s); {TIE_RULE}."]
    if spec.cost == "lut":
        lines.append(f"lut: Yosys synth_xilinx (xc7) of RTL checked bit-exact in Verilator on {LUT_CHECK_VECTORS} "
                     f"test rows; Yosys {estimate_of('Yosys synth_xilinx')}.")
    return "\n".join(lines) + "\n"


def write_outputs(spec: SearchSpec, run_dir: Path, study: Any) -> list[Path]:
    import csv
    import io

    from jsc_hw import tables

    pts, refs = points(spec, run_dir, study)
    front = [p for p in pts if p.pareto]
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["trial", "pareto", "model", "weight_bits", "act_bits", "input_bits", "sparsity", "fan_in", "lr",
                "batch_size", "val_acc", spec.cost])
    w.writerows([p.trial, int(p.pareto), *_describe(p.config).values(), p.val_acc, p.cost] for p in [*pts, *refs])
    atomic_write(run_dir / "trials.csv", buf.getvalue())
    atomic_write(run_dir / "front.md", front_markdown(spec, front, refs))
    # the run folder is also a sweep run folder: spec.resolved.yaml, results.csv/md, plots/
    as_sweep = SweepSpec(name=spec.name, base=spec.base, trials=tuple(p.config for p in [*pts, *refs]),
                         repeats=spec.repeats)
    atomic_write(run_dir / "spec.resolved.yaml", resolved_yaml(as_sweep))
    tables.write_results(as_sweep, run_dir, read_records(run_dir))
    return [run_dir / "trials.csv", run_dir / "front.md", plot_front(spec, pts, refs, run_dir / "plots" / "pareto.png")]


def plot_front(spec: SearchSpec, pts: list[Point], refs: list[Point], path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    ax.scatter([p.cost for p in pts], [p.val_acc for p in pts], s=14, c="0.6", label="trials")
    front = [p for p in pts if p.pareto]
    ax.step([p.cost for p in front], [p.val_acc for p in front], "o-", where="post", c="tab:red", ms=5,
            label="Pareto front")
    for p in refs:
        ax.scatter([p.cost], [p.val_acc], marker="*", s=140, zorder=3, label=p.trial.removeprefix("ref_"))
    ax.set_xscale("log"), ax.set_xlabel(f"{spec.cost} per inference (minimise)")
    ax.set_ylabel(f"val accuracy, mean of {spec.repeats} (maximise)"), ax.grid(alpha=0.3), ax.legend(fontsize=7)
    ax.set_title(f"{spec.name}: {len(pts)} trials, {spec.sampler}, seed {spec.seed}", fontsize=9)
    fig.set_layout_engine("tight")
    return atomic_savefig(fig, path, dpi=130)


# ---- confirmation: the front through real synthesis ---------------------------------------------------------
def confirm_front(spec: SearchSpec, run_dir: Path, vectors: int = 16_500, timeout: float = 3600) -> Path:
    """Every front point's repeat 0 (and each reference's) through the open-source flow: its Verilog checked bit
    for bit in Verilator on ``vectors`` test rows, then Yosys (cached in ``synth/<trial>__r0``); its test accuracy.
    Writes and returns ``front_confirmed.md``: the search's cost beside the Yosys LUTs of bit-exact RTL.  RTL that
    is not bit-exact gets no LUT figure (its row says so)."""
    import torch

    from jsc_hw.data import load_splits
    from jsc_hw.hardware import synth
    from jsc_hw.train import evaluate, load_checkpoint

    pts, refs = points(spec, run_dir, open_study(spec, run_dir))
    todo = [p for p in pts if p.pareto] + refs
    test = load_splits(spec.base.data).test
    x, y = torch.from_numpy(test.x), torch.from_numpy(test.y)
    head = ["trial", *_describe(spec.base), "val acc", "test acc (r0)", spec.cost, "RTL vs PyTorch", "Yosys LUT",
            "FF", "Yosys / cost"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    with Progress(f"search {spec.name}: confirming the front", {"models": len(todo)}, {"models": "model"}) as bar:
        for p in todo:
            ckpt = checkpoint_relpath(p.trial, 0)
            out = synth_dir(run_dir, p.trial, 0)
            flow = synth.flow_for(p.config.model)
            path = out / "synth.json"
            if not path.exists() or read_synth(path).verdict.checked < min(vectors, len(y)):
                synth.synth_checkpoint(run_dir / ckpt, out, vectors=vectors, timeout=timeout, rtl_flow=flow)
            rec = read_synth(path)
            fig = next((f for f in rec.figures if f.stage == "logic-synthesis"), None)
            lut = fig.lut if fig is not None and rec.verdict.bit_exact else None
            acc = float(evaluate(load_checkpoint(run_dir / ckpt).net, x, y)[0][0])
            lines.append("| " + " | ".join([p.trial, *_describe(p.config).values(), f"{p.val_acc:.4f}", f"{acc:.4f}",
                                            f"{p.cost:,.0f}", rec.verdict.label,
                                            "-" if lut is None else f"{lut:,}", "-" if lut is None else f"{fig.ff:,}",
                                            "-" if lut is None else f"{lut / p.cost:.2f}"]) + " |")
            bar.update("models")
    lines += ["", f"Front points of the search (cost: {spec.cost}) and the references, repeat 0 of each: test accuracy "
              f"of the untouched test split ({len(y):,} rows); Yosys synth_xilinx (xc7, no DSP) of RTL checked in "
              f"Verilator against PyTorch; Yosys {estimate_of('Yosys synth_xilinx')}. {TIE_RULE}."]
    return atomic_write(run_dir / "front_confirmed.md", "\n".join(lines) + "\n")
