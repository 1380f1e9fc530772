"""Training and experiment configuration: a typed YAML schema with clear validation errors.

A training config is a YAML mapping with the sections of :class:`TrainConfig`
(``data``, ``model``, ``optim``, ``scheduler``, ``loss``, ``trainer``,
``early_stopping``, ``checkpoint``, ``augment``). Two conveniences:

* ``base: other.yaml`` inherits another config (path relative to this file, or the
  name of a config shipped in ``spectool/configs/``); this file's keys override it,
  mappings merge recursively.
* ``overrides`` ("dotted.key=value" strings, e.g. from ``spectool train --set``) are
  applied last; values are parsed as YAML (``trainer.max_epochs=3``,
  ``model.overrides.depths=[1,1,1,1]``).

Every problem raises :class:`spectool.errors.ConfigError` naming the file and the
dotted field: unknown keys (with a did-you-mean suggestion), wrong types, values out
of range. YAML is read with ``yaml.safe_load`` only.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from ..errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


# --------------------------------------------------------------------------- schema
@dataclass
class DataConfig:
    """Which spectra to train on and how to batch them."""

    dataset: str | None = None
    """Preset name (``spectool.datasets.list_presets()``), e.g. ``"mspc/SS-S>5"``."""
    source: str = "mock"
    """``"mock"`` (synthetic survey) or a directory of ingested real stores."""
    size: Literal["quick", "full"] = "quick"
    """Mock size: ``quick`` (tiny, CPU) or ``full`` (paper-sized)."""
    mock_seed: int = 0
    """Seed of the mock generator."""
    store: str | None = None
    """A store directory to open directly (overrides ``dataset``/``source``)."""
    fold: int = field(default=0, metadata={"min": 0})
    """Which ``fold_k`` split column to use."""
    val_fraction: float | None = field(default=None, metadata={"min": 0.0, "max": 0.9})
    """Carve this fraction of the training rows out as validation (seeded). Used when the
    fold has no validation rows (SCA-Net: 10 % of the training set)."""
    max_train: int | None = field(default=None, metadata={"min": 1})
    """Cap the number of training spectra (seeded, class-stratified); quick runs."""
    max_val: int | None = field(default=None, metadata={"min": 1})
    max_test: int | None = field(default=None, metadata={"min": 1})
    num_workers: int = field(default=0, metadata={"min": 0})
    test_batch_size: int | None = field(default=None, metadata={"min": 1})


@dataclass
class ModelConfig:
    """A registered model (``spectool.models.list_models()``) and keyword overrides."""

    name: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    as_regressor: bool = False
    """Use a classifier architecture (e.g. SSCNN) as a regressor: one linear output per
    target, trained with the regression loss (SPFusion Table 2 spectral baselines)."""


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = field(default=1e-4, metadata={"min_exclusive": 0.0})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = field(default=0.9, metadata={"min": 0.0})


@dataclass
class SchedulerConfig:
    """Learning-rate schedule, stepped once per epoch (Lightning default)."""

    name: Literal["none", "cosine_warm_restarts", "cosine"] = "none"
    T_0: int = field(default=10, metadata={"min": 1})
    T_mult: int = field(default=1, metadata={"min": 1})
    eta_min: float = field(default=0.0, metadata={"min": 0.0})


@dataclass
class LossConfig:
    """``cross_entropy`` for classification; ``mse`` or ``l1`` for regression.

    Regression losses are ``sum_k weights[k] * loss(pred_k, f_k(target_k))`` over the
    ``targets`` (default: all the dataset's targets), where ``f_k`` is the transform in
    ``transforms`` (``log10``, ``log2``, ``ln``; identity if absent). SPFusion:
    ``mse`` with weights [100, 1] on (mass, age); SCA-Net: ``l1`` with Teff as log10.
    """

    name: Literal["cross_entropy", "mse", "l1"] = "cross_entropy"
    label_smoothing: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    targets: list[str] | None = None
    weights: list[float] | None = None
    transforms: dict[str, Literal["log10", "log2", "ln", "identity"]] = field(default_factory=dict)
    init_bias: bool = False
    """Regression: before training, set the bias of the model's output layer to the mean
    training target in loss space (e.g. mean log2 Teff), so a short run starts from the
    training mean instead of 0 (``spectool.papers`` quick/medium modes; off in the papers'
    protocols)."""


@dataclass
class TrainerConfig:
    """Options passed to :class:`lightning.Trainer` (plus batch size and compile)."""

    max_epochs: int = field(default=10, metadata={"min": 1})
    max_time: str | None = None
    """Stop training after this wall time, ``"DD:HH:MM:SS"`` (e.g. ``"00:00:02:00"``)."""
    batch_size: int = field(default=32, metadata={"min": 1})
    precision: str = "32-true"
    """Lightning precision. ``16-mixed`` (the papers' AMP) is used on GPUs only; on a CPU
    it falls back to ``32-true`` with a warning."""
    accelerator: str = "auto"
    devices: Union[int, str, list[int]] = "auto"
    strategy: str = "auto"
    """``auto``, ``ddp``, ``ddp_spawn``, ``fsdp``, ... (multi-GPU / multi-node)."""
    num_nodes: int = field(default=1, metadata={"min": 1})
    compile: bool = False
    """Wrap the model's forward in ``torch.compile``."""
    limit_train_batches: Union[int, float] = 1.0
    limit_val_batches: Union[int, float] = 1.0
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = field(default=1, metadata={"min": 1})
    deterministic: bool = False
    log_every_n_steps: int = field(default=10, metadata={"min": 1})
    num_threads: int | None = field(default=None, metadata={"min": 1})
    """``torch.set_num_threads`` for CPU runs (None: leave as is)."""
    progress_bar: bool = True
    sync_batchnorm: bool = False
    num_sanity_val_steps: int = field(default=2, metadata={"min": -1})


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    patience: int = field(default=10, metadata={"min": 0})
    min_delta: float = field(default=0.0, metadata={"min": 0.0})


@dataclass
class CheckpointConfig:
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    save_top_k: int = field(default=1, metadata={"min": -1})
    evaluate: Literal["best", "last"] = "best"
    """Which weights to test and export: the best monitored checkpoint or the last epoch."""


@dataclass
class NoiseAug:
    """Lower the S/N: add Gaussian noise of ``sigma`` x (robust spread of the flux)."""

    p: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    sigma: list[float] = field(default_factory=lambda: [0.02, 0.2])


@dataclass
class RVShiftAug:
    """Doppler-shift the spectrum by a radial velocity drawn from [-max_kms, max_kms] km/s."""

    p: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    max_kms: float = field(default=300.0, metadata={"min": 0.0})


@dataclass
class ExtinctionAug:
    """Redden with a Fitzpatrick (1999) curve, E(B-V) drawn from [0, ebv_max] mag."""

    p: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0})
    ebv_max: float = field(default=0.3, metadata={"min": 0.0})
    r_v: float = field(default=3.1, metadata={"min_exclusive": 0.0})


@dataclass
class TiltAug:
    """Flux-calibration error: multiply by ``1 + a t + b t^2`` (t in [-1, 1] across the band)."""

    p: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0})
    max_slope: float = field(default=0.2, metadata={"min": 0.0, "max": 0.9})
    max_curvature: float = field(default=0.05, metadata={"min": 0.0, "max": 0.9})


@dataclass
class MaskAug:
    """Blank ``n`` chunks of ``width`` pixels (bad columns, sky residuals, gaps)."""

    p: float = field(default=0.2, metadata={"min": 0.0, "max": 1.0})
    n: list[int] = field(default_factory=lambda: [1, 3])
    width: list[int] = field(default_factory=lambda: [10, 100])


@dataclass
class AugmentConfig:
    """Opt-in training augmentation of the model-ready 1-D flux (absent = off)."""

    noise: NoiseAug | None = None
    rv_shift: RVShiftAug | None = None
    extinction: ExtinctionAug | None = None
    tilt: TiltAug | None = None
    mask: MaskAug | None = None


@dataclass
class TrainConfig:
    """One training run (see ``docs/training.md``)."""

    name: str = "run"
    seed: int = 42
    output_root: str = "runs"
    """Run directories go to ``output_root/name`` unless a run directory is given."""
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    source_file: str | None = field(default=None, metadata={"internal": True})


@dataclass
class RunSpec:
    """One row of an experiment grid: a labelled training config plus overrides."""

    label: str = ""
    config: str = ""
    """A training config: path relative to the experiment file, or a shipped config name."""
    set: dict[str, Any] = field(default_factory=dict)
    """Dotted overrides, e.g. ``{"model.overrides.attention": "none"}``."""
    group: str = ""
    """Optional grouping (e.g. ablation section ``(a) partial convolution``)."""
    datasets: list[str] = field(default_factory=list)
    """Restrict this run to these of the experiment's datasets (empty: all). Two runs may
    share a label when their datasets do not overlap (MSPC-Net SDSS vs LAMOST variant)."""


@dataclass
class ExperimentConfig:
    """A grid of runs: ``runs`` x ``datasets`` x ``folds`` x ``seeds``, aggregated into tables."""

    name: str = "experiment"
    output_root: str = "runs"
    description: str = ""
    table: Literal["classification", "regression"] = "classification"
    datasets: list[str] = field(default_factory=list)
    """Preset names; empty = keep each run config's ``data.dataset``."""
    folds: list[int] = field(default_factory=lambda: [0])
    seeds: list[int] = field(default_factory=lambda: [42])
    set: dict[str, Any] = field(default_factory=dict)
    """Dotted overrides applied to every run (before the run's own ``set``)."""
    runs: list[RunSpec] = field(default_factory=list)
    source_file: str | None = field(default=None, metadata={"internal": True})


# ------------------------------------------------------------------- validation
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str, src: str | None) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (nested dataclasses)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where, src)
            except ConfigError as exc:
                errors.append(exc)
        # one non-null alternative: report its (more specific) message
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"field {where!r}: expected {_type_name(tp)}, got {value!r}", src)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"field {where!r}: {value!r} is not one of {list(choices)}{extra}", src)
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"field {where!r}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}", src)
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"field {where!r}: expected a mapping, got {type(value).__name__} {value!r}", src)
        _, vt = typing.get_args(tp)
        return {str(k): _convert(v, vt, f"{where}.{k}", src) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"field {where!r}: expected a mapping, got {type(value).__name__} {value!r}", src)
        return _build(tp, value, where, src)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"field {where!r}: expected true/false, got {value!r}", src)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field {where!r}: expected an integer, got {type(value).__name__} {value!r}", src)
        return value
    if tp is float:
        if isinstance(value, str):
            try:  # YAML 1.1 reads "1e-4" (no dot) as a string
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"field {where!r}: expected a number, got {type(value).__name__} {value!r}", src)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"field {where!r}: expected a string, got {type(value).__name__} {value!r}", src)
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {where}")  # schema bug, not user input


def _check_range(value: Any, meta: dict, where: str, src: str | None) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"field {where!r}: {value!r} is below the minimum {meta['min']}", src)
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"field {where!r}: {value!r} is above the maximum {meta['max']}", src)
    if "min_exclusive" in meta and value <= meta["min_exclusive"]:
        raise ConfigError(f"field {where!r}: {value!r} must be greater than {meta['min_exclusive']}", src)


def _build(cls: type, raw: dict, prefix: str, src: str | None):
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs = {}
    for key, value in raw.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"unknown key {where!r}{extra}", src)
        f = fields[key]
        converted = _convert(value, hints[key], where, src)
        _check_range(converted, dict(f.metadata), where, src)
        kwargs[key] = converted
    return cls(**kwargs)


# --------------------------------------------------------------------- loading
def _set_dotted(raw: dict, dotted: str, value: Any, src: str | None) -> None:
    parts = dotted.split(".")
    node = raw
    for p in parts[:-1]:
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {p!r} is not a mapping", src)
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"a.b=value"`` and parse the value as YAML (``"3"`` -> 3, ``"[1,2]"`` -> [1, 2])."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. trainer.max_epochs=3)")
    key, _, val = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        return key, yaml.safe_load(val) if val.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from exc


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_path(ref: str | Path, relative_to: Path | None = None) -> Path:
    """Find a config: an existing path (absolute, or relative to ``relative_to`` or the
    working directory), else a shipped config name (``mspcnet_quick`` or ``mspcnet_quick.yaml``)."""
    ref = Path(ref)
    candidates = [ref] if ref.is_absolute() else ([relative_to / ref] if relative_to else []) + [ref]
    name = ref.name if ref.suffix in (".yaml", ".yml") else ref.name + ".yaml"
    candidates += [CONFIG_DIR / name, CONFIG_DIR / "experiments" / name]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    shipped = ", ".join(list_configs())
    raise ConfigError(f"config not found (looked in {', '.join(map(str, candidates))}); shipped configs: {shipped}",
                      str(ref))


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a config dataclass (memoised: it re-evaluates every
    string annotation on each call)."""
    return typing.get_type_hints(cls)


@functools.lru_cache(maxsize=512)
def _parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` of a file's text (libyaml's parser when present), memoised by the
    text: experiment grids read the same few config files hundreds of times. Callers get
    a deep copy, never the memoised object."""
    if hasattr(yaml, "CSafeLoader"):  # libyaml's C parser: the same safe subset, faster
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.safe_load(text)


def read_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a YAML mapping with ``yaml.safe_load`` and resolve its ``base:`` chain."""
    if path in _seen:
        raise ConfigError(f"circular 'base:' chain: {' -> '.join(map(str, _seen + (path,)))}", path)
    try:
        raw = copy.deepcopy(_parse_yaml(path.read_text()))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc}", path) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"top level must be a mapping, got {type(raw).__name__}", path)
    base = raw.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"field 'base': expected a config name or path, got {base!r}", path)
        raw = _merge(read_yaml(resolve_path(base, path.parent), _seen + (path,)), raw)
    return raw


def _apply_overrides(raw: dict, overrides: Any, src: str | None) -> dict:
    raw = _merge({}, raw)
    items = overrides.items() if isinstance(overrides, dict) else [parse_override(o) for o in overrides or ()]
    for key, value in items:
        _set_dotted(raw, key, value, src)
    return raw


def _raw_config(config: Any, cls: type, overrides: Any) -> tuple[dict, str | None]:
    """(raw mapping with overrides applied, source file) of a path, shipped name, mapping or ``cls``."""
    if isinstance(config, cls):
        raw, src = to_dict(config), config.source_file
    elif isinstance(config, dict):
        raw, src = dict(config), None
    else:
        path = resolve_path(config)
        raw, src = read_yaml(path), str(path)
    raw.pop("source_file", None)
    return _apply_overrides(raw, overrides, src), src


def load_config(config: str | Path | dict | TrainConfig, overrides: Any = ()) -> TrainConfig:
    """Build a validated :class:`TrainConfig` from a path, shipped name, mapping or config.

    ``overrides`` is a list of ``"dotted.key=value"`` strings or a ``{dotted: value}`` dict.
    """
    raw, src = _raw_config(config, TrainConfig, overrides)
    cfg = _build(TrainConfig, raw, "", src)
    cfg.source_file = src
    _check_train(cfg, src)
    return cfg


def _check_train(cfg: TrainConfig, src: str | None) -> None:
    if not cfg.model.name:
        raise ConfigError("field 'model.name' is required (see spectool.models.list_models())", src)
    if cfg.data.dataset is None and cfg.data.store is None:
        raise ConfigError("field 'data.dataset' (a preset name) or 'data.store' (a store directory) is required", src)
    if cfg.loss.weights is not None and cfg.loss.targets is not None and len(cfg.loss.weights) != len(cfg.loss.targets):
        raise ConfigError(f"field 'loss.weights': {len(cfg.loss.weights)} weights for "
                          f"{len(cfg.loss.targets)} targets", src)
    if cfg.trainer.max_time is not None and not re.fullmatch(r"\d{2}:\d{2}:\d{2}:\d{2}", cfg.trainer.max_time):
        raise ConfigError(f"field 'trainer.max_time': expected DD:HH:MM:SS, got {cfg.trainer.max_time!r}", src)
    if len(cfg.optim.betas) != 2:
        raise ConfigError(f"field 'optim.betas': expected two numbers, got {cfg.optim.betas}", src)
    pairs = []
    if cfg.augment.noise is not None:
        pairs.append(("noise", "sigma", cfg.augment.noise.sigma))
    if cfg.augment.mask is not None:
        pairs += [("mask", "n", cfg.augment.mask.n), ("mask", "width", cfg.augment.mask.width)]
    for name, fname, pair in pairs:
        if len(pair) != 2 or pair[0] > pair[1] or pair[0] < 0:
            raise ConfigError(f"field 'augment.{name}.{fname}': expected [low, high] with 0 <= low <= high, "
                              f"got {pair}", src)


def load_experiment(config: str | Path | dict | ExperimentConfig, overrides: Any = ()) -> ExperimentConfig:
    """Build a validated :class:`ExperimentConfig`; each run's config is validated too."""
    raw, src = _raw_config(config, ExperimentConfig, overrides)
    exp = _build(ExperimentConfig, raw, "", src)
    exp.source_file = src
    if not exp.runs:
        raise ConfigError("field 'runs': an experiment needs at least one run", src)
    if not exp.folds or not exp.seeds:
        raise ConfigError("fields 'folds' and 'seeds' need at least one value each", src)
    seen: set[tuple[str, str | None]] = set()
    for i, r in enumerate(exp.runs):
        if not r.label or not r.config:
            raise ConfigError(f"field 'runs[{i}]': needs 'label' and 'config'", src)
        unknown = [d for d in r.datasets if d not in exp.datasets]
        if unknown:
            raise ConfigError(f"field 'runs[{i}].datasets': {unknown} are not among the experiment's datasets "
                              f"{exp.datasets}", src)
        for d in run_datasets(exp, r):
            if (r.label, d) in seen:
                raise ConfigError(f"field 'runs[{i}]': label {r.label!r} appears twice for dataset {d!r}", src)
            seen.add((r.label, d))
            try:  # fail early, before hours of training
                run_config(exp, r, d, exp.folds[0], exp.seeds[0])
            except ConfigError as exc:
                raise ConfigError(f"runs[{i}] ({r.label}, {d}): {exc.reason}", exc.path) from exc
    return exp


def run_datasets(exp: ExperimentConfig, run: RunSpec) -> list[str | None]:
    """The datasets a run is trained on (``[None]``: keep the run config's own dataset)."""
    if run.datasets:
        return list(run.datasets)
    return list(exp.datasets) or [None]


def run_config(exp: ExperimentConfig, run: RunSpec, dataset: str | None, fold: int, seed: int) -> TrainConfig:
    """The training config of one grid cell (``run`` on ``dataset``, ``fold``, ``seed``)."""
    rel = Path(exp.source_file).parent if exp.source_file else None
    path = resolve_path(run.config, rel)
    overrides = dict(exp.set)
    overrides.update(run.set)
    overrides.update({"data.fold": fold, "seed": seed})
    if dataset is not None:
        overrides["data.dataset"] = dataset
    return load_config(path, overrides)


def to_dict(cfg: Any) -> dict:
    """A plain, YAML-safe dict of a config dataclass (internal fields dropped)."""
    out = {}
    for f in dataclasses.fields(cfg):
        if f.metadata.get("internal"):
            continue
        out[f.name] = _plain(getattr(cfg, f.name))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return to_dict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def list_configs(kind: Literal["train", "experiment", "all"] = "all") -> list[str]:
    """Names of the configs shipped in ``spectool/configs`` (experiments under ``experiments/``)."""
    train = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    exps = sorted(p.stem for p in (CONFIG_DIR / "experiments").glob("*.yaml"))
    return train if kind == "train" else exps if kind == "experiment" else train + exps
