"""``spectool.train.fit(config)``: one resumable Lightning training run, evaluated and exported.

See :mod:`spectool.train` for the run-directory layout.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch

from .._atomic import atomic_write_text
from ..datasets import SpectralDataset
from ..errors import ConfigError, SpectoolWarning
from .augment import build_augmenter
from .config import LossConfig, ModelConfig, TrainConfig, TrainerConfig, dump_yaml, load_config, to_dict
from .data import SeededTransform, Splits, make_loader, make_splits, open_dataset
from .metrics import (accuracy_by_snr, classification_metrics, confusion_matrix, per_class_table,
                      regression_metrics, regression_summary)

DONE = "done.json"
LOG_TRANSFORMS = {10.0: "log10", 2.0: "log2"}


@dataclass
class FitResult:
    """What a finished run left in its directory (see :mod:`spectool.train`)."""

    run_dir: Path
    metrics: dict[str, Any]
    predictions: pd.DataFrame
    history: pd.DataFrame
    done: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: str | Path) -> "FitResult":
        """Read a finished run directory (one with ``done.json``)."""
        run_dir = Path(run_dir)
        done = json.loads((run_dir / DONE).read_text())
        hist = run_dir / "history.csv"
        return cls(run_dir=run_dir, metrics=json.loads((run_dir / "metrics.json").read_text()),
                   predictions=pd.read_parquet(run_dir / "predictions.parquet"),
                   history=pd.read_csv(hist) if hist.is_file() else pd.DataFrame(), done=done)

    def load_model(self) -> torch.nn.Module:
        """The exported model (``model.safetensors`` + card) of this run."""
        from ..models import load

        return load(self.run_dir / "model.safetensors")


# ------------------------------------------------------------------- building
def build_model(cfg: ModelConfig, ds: SpectralDataset) -> torch.nn.Module:
    """Create the configured model for ``ds`` (classes passed for classification)."""
    from .. import models

    kwargs = dict(cfg.overrides)
    if ds.task == "classification" or cfg.as_regressor:
        kwargs.setdefault("classes", list(ds.class_names) if ds.task == "classification" else list(ds.targets))
    model = models.create(cfg.name, **kwargs)
    if cfg.as_regressor:
        if getattr(model, "task", "classification") != "classification":
            raise ConfigError(f"field 'model.as_regressor': {cfg.name!r} is already a regression model")
        model.task = "regression"
    m_task = getattr(model, "task", "classification")
    if m_task != ds.task:
        raise ConfigError(f"field 'model.name': {cfg.name!r} is a {m_task} model but {ds.name!r} "
                          f"is a {ds.task} dataset")
    if getattr(model, "needs_image", False) and ds.images is None:
        raise ConfigError(f"field 'model.name': {cfg.name!r} needs images but {ds.name!r} has none")
    return model


@dataclass
class Head:
    """How regression targets map to model outputs."""

    targets: list[str]
    target_columns: list[int]
    output_index: list[int]
    transforms: dict[str, str]


def resolve_head(model: torch.nn.Module, ds: SpectralDataset, loss: LossConfig) -> Head:
    """Match the loss targets to dataset columns and model outputs.

    A target ``t`` uses the model output named ``t``, or ``log_t`` (then the transform
    defaults to the model's ``<t>_log_base``, e.g. SCA-Net's log2 Teff); a model without
    output names maps targets to outputs in order.
    """
    if ds.task == "classification":
        if loss.name != "cross_entropy":
            raise ConfigError(f"field 'loss.name': classification needs 'cross_entropy', not {loss.name!r}")
        return Head([], [], [], {})
    if loss.name == "cross_entropy":
        raise ConfigError("field 'loss.name': regression needs 'mse' or 'l1'")
    targets = list(loss.targets or ds.targets)
    missing = [t for t in targets if t not in ds.targets]
    if missing:
        raise ConfigError(f"field 'loss.targets': {missing} not in the dataset targets {ds.targets}")
    if loss.weights is not None and len(loss.weights) != len(targets):
        raise ConfigError(f"field 'loss.weights': {len(loss.weights)} weights for targets {targets}")
    names = list(getattr(model, "output_names", []) or [])
    index, transforms = [], {}
    for k, t in enumerate(targets):
        if t in names:
            index.append(names.index(t))
        elif f"log_{t}" in names:
            index.append(names.index(f"log_{t}"))
            base = float(getattr(model, f"{t}_log_base", 10.0))
            transforms[t] = LOG_TRANSFORMS.get(base, "log10")
        elif not names:
            index.append(k)
        else:
            raise ConfigError(f"field 'loss.targets': model outputs {names} have no {t!r} (or 'log_{t}')")
        if t in loss.transforms:
            transforms[t] = loss.transforms[t]
    return Head(targets, [ds.targets.index(t) for t in targets], index, transforms)


def resolve_device(t: TrainerConfig) -> tuple[str, str]:
    """(accelerator, precision): ``auto`` becomes gpu/cpu; fp16 AMP falls back to fp32 on CPU."""
    acc = t.accelerator
    if acc == "auto":
        acc = "gpu" if torch.cuda.is_available() else "cpu"
    precision = t.precision
    if acc == "cpu" and precision.startswith("16"):
        warnings.warn(f"precision {precision!r} needs a GPU; training in 32-true on the CPU", SpectoolWarning,
                      stacklevel=3)
        precision = "32-true"
    return acc, precision


@contextmanager
def _quiet_lightning(quiet: bool) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    if quiet:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.filterwarnings("ignore", message=r".*(does not have many workers|num_workers).*")
                warnings.filterwarnings("ignore", message=r".*(LeafSpec|treespec).*")
                warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
                warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _history_rows(state: dict) -> list[dict] | None:
    """The per-epoch history rows saved in a checkpoint's state by :class:`EpochHistory`."""
    for key, value in (state.get("callbacks") or {}).items():
        if "EpochHistory" in str(key):
            return list(value.get("rows", []))
    return None


def _completed_epochs(ckpt: Path) -> int:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    rows = _history_rows(state)
    return len(rows) if rows is not None else int(state.get("epoch", -1)) + 1


def _make_trainer(cfg: TrainConfig, run_dir: Path, accelerator: str, precision: str, progress: bool,
                  aug_generator: np.random.Generator | None) -> tuple[Any, list, Any]:
    """The Lightning Trainer of a run with its history, RNG, checkpoint and early-stopping callbacks."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from .callbacks import EpochHistory, RNGState

    ck = cfg.checkpoint
    ckpt_cb = ModelCheckpoint(dirpath=run_dir / "checkpoints",
                              filename=f"epoch{{epoch:03d}}-{ck.monitor}{{{ck.monitor}:.4f}}", monitor=ck.monitor,
                              mode=ck.mode, save_top_k=ck.save_top_k, save_last=True,
                              save_on_train_epoch_end=True, auto_insert_metric_name=False)
    callbacks: list = [EpochHistory(run_dir / "history.csv"), RNGState(aug_generator), ckpt_cb]
    es = cfg.early_stopping
    if es.enabled:
        callbacks.append(EarlyStopping(monitor=es.monitor, mode=es.mode, patience=es.patience,
                                       min_delta=es.min_delta, check_on_train_epoch_end=True))
    t = cfg.trainer
    trainer = L.Trainer(
        accelerator=accelerator, devices=t.devices, strategy=t.strategy, num_nodes=t.num_nodes,
        precision=precision, max_epochs=t.max_epochs, max_time=t.max_time,
        limit_train_batches=t.limit_train_batches, limit_val_batches=t.limit_val_batches,
        gradient_clip_val=t.gradient_clip_val, accumulate_grad_batches=t.accumulate_grad_batches,
        deterministic=t.deterministic, log_every_n_steps=t.log_every_n_steps, sync_batchnorm=t.sync_batchnorm,
        num_sanity_val_steps=t.num_sanity_val_steps, callbacks=callbacks,
        logger=CSVLogger(save_dir=str(run_dir), name="logs"), default_root_dir=str(run_dir),
        enable_progress_bar=progress, enable_model_summary=progress)
    return trainer, callbacks, ckpt_cb


# ------------------------------------------------------------------------ fit
def fit(config: str | Path | dict | TrainConfig, overrides: Any = (), *, run_dir: str | Path | None = None,
        resume: bool = True, dataset: SpectralDataset | None = None, progress: bool | None = None) -> FitResult:
    """Train, evaluate and export one model as the config says.

    Parameters
    ----------
    config
        A YAML path, shipped config name (``spectool.train.list_configs()``), mapping or
        :class:`TrainConfig`.
    overrides
        ``["trainer.max_epochs=3", ...]`` or ``{"trainer.max_epochs": 3}``.
    run_dir
        Where the run lives (default ``<output_root>/<name>``).
    resume
        Continue from ``checkpoints/last.ckpt`` if present, and return the stored result
        at once if ``done.json`` exists. ``False`` starts afresh (deleting old checkpoints).
    dataset
        An already opened dataset to use instead of the one the config names.
    progress
        Progress bar and Lightning's info messages (default: ``trainer.progress_bar``).

    Returns
    -------
    FitResult
        Test (or validation, when the fold has no test rows) metrics, predictions with
        object ids, and the per-epoch history. On multi-process (DDP) runs every rank
        trains; evaluation and export happen on global rank 0 only.
    """
    import lightning as L

    from .lightning_module import SpectralTask

    cfg = load_config(config, overrides)
    run_dir = Path(run_dir) if run_dir is not None else Path(cfg.output_root) / cfg.name
    if resume and (run_dir / DONE).is_file():
        return FitResult.load(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    if not resume:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        for f in ("history.csv", DONE):
            (run_dir / f).unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    last = ckpt_dir / "last.ckpt"
    saved_cfg = run_dir / "config.yaml"
    if last.is_file() and saved_cfg.is_file() and saved_cfg.read_text() != dump_yaml(cfg):
        warnings.warn(f"{run_dir}: resuming with a config that differs from the saved config.yaml", SpectoolWarning,
                      stacklevel=2)
    atomic_write_text(saved_cfg, dump_yaml(cfg))
    progress = cfg.trainer.progress_bar if progress is None else progress
    t0, cpu0 = time.time(), time.process_time()

    if cfg.trainer.num_threads:
        torch.set_num_threads(cfg.trainer.num_threads)
    with _quiet_lightning(not progress):
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        ds = dataset if dataset is not None else open_dataset(cfg.data)
        splits = make_splits(ds, cfg.data, cfg.seed)
        model = build_model(cfg.model, ds)
        head = resolve_head(model, ds, cfg.loss)
        task = SpectralTask(model, task=ds.task, loss=cfg.loss, optim=cfg.optim, scheduler=cfg.scheduler,
                            targets=head.targets, target_columns=head.target_columns,
                            output_index=head.output_index,
                            transforms=[head.transforms.get(t, "identity") for t in head.targets],
                            compile=cfg.trainer.compile)
        if ds.task == "regression" and cfg.loss.init_bias and not (resume and last.is_file()):
            init_output_bias(task, ds, splits.train)
        aug = build_augmenter(cfg.augment, ds.wavelength, ds.preprocess)
        transform = SeededTransform(aug, cfg.seed) if aug is not None else None
        accelerator, precision = resolve_device(cfg.trainer)
        pin = accelerator in ("gpu", "cuda")
        bs, test_bs = cfg.trainer.batch_size, cfg.data.test_batch_size or cfg.trainer.batch_size
        train_loader = make_loader(ds, splits.train, bs, shuffle=True, num_workers=cfg.data.num_workers,
                                   pin_memory=pin, transform=transform)
        val_loader = make_loader(ds, splits.val, test_bs, shuffle=False, num_workers=cfg.data.num_workers,
                                 pin_memory=pin)
        trainer, callbacks, ckpt_cb = _make_trainer(cfg, run_dir, accelerator, precision, progress,
                                                    transform.generator if transform is not None else None)
        resumed_from = _completed_epochs(last) if resume and last.is_file() else 0
        trainer.fit(task, train_loader, val_loader, ckpt_path=str(last) if resumed_from else None,
                    weights_only=True)
    if trainer.global_rank != 0:
        return FitResult(run_dir, {}, pd.DataFrame(), callbacks[0].frame())

    weights = ckpt_cb.best_model_path if cfg.checkpoint.evaluate == "best" and ckpt_cb.best_model_path else str(last)
    task.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True)["state_dict"])
    if not callbacks[0].rows and last.is_file():
        # ddp_spawn: the epochs ran in spawned processes; rank 0's history travels in the last checkpoint
        callbacks[0].load_state_dict({"rows": _history_rows(torch.load(last, map_location="cpu",
                                                                       weights_only=True)) or []})
    history = callbacks[0].frame()
    device = "cuda" if accelerator in ("gpu", "cuda") and torch.cuda.is_available() else "cpu"
    pred, metrics = _evaluate_and_export(cfg, task.model.eval(), ds, splits, head, len(history), test_bs, device,
                                         run_dir)
    done = {"finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "epochs_completed": len(history), "resumed_from_epoch": resumed_from,
            "evaluated_checkpoint": Path(weights).name, "eval_split": splits.eval_split,
            "seconds": round(time.time() - t0, 2), "cpu_seconds": round(time.process_time() - cpu0, 2),
            "config": to_dict(cfg)}
    atomic_write_text(run_dir / DONE, json.dumps(done, indent=2, default=str))
    return FitResult(run_dir, metrics, pred, history, done)


def init_output_bias(task, ds: SpectralDataset, rows: np.ndarray) -> bool:
    """Set the bias of ``task.model``'s output layer (its last ``nn.Linear`` with one output
    per model output) to the mean of the training targets in loss space; returns False when
    the model has no such layer (nothing changed)."""
    n_out = len(getattr(task.model, "output_names", []) or []) or None
    linears = [m for m in task.model.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None
               and (n_out is None or m.out_features == n_out)]
    if not linears or rows.size == 0:
        return False
    head = linears[-1]
    y = torch.as_tensor(np.asarray(ds.labels[np.sort(rows)], dtype=np.float32))
    target = task.transform_targets(y)
    mean = torch.nanmean(target, dim=0)
    with torch.no_grad():
        for k, i in enumerate(task.output_index):
            if i < head.out_features and torch.isfinite(mean[k]):
                head.bias[i] = mean[k]
    return True


# ------------------------------------------------------------------ evaluation
def _evaluate_and_export(cfg: TrainConfig, model: torch.nn.Module, ds: SpectralDataset, splits: Splits, head: Head,
                         epochs: int, batch_size: int, device: str, run_dir: Path
                         ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score the evaluation split, write the result files and export the model with its card."""
    from ..models import save

    extra = dict(targets=head.targets, output_index=head.output_index, target_transforms=head.transforms) \
        if ds.task == "regression" else {}
    model.card = dict(extra, task=ds.task, preprocess=ds.preprocess or getattr(model, "preprocess", None))
    pred, metrics, tables = evaluate(model, ds, splits, batch_size=batch_size, device=device)
    metrics.update(params=int(sum(p.numel() for p in model.parameters())), epochs=epochs, model=cfg.model.name,
                   dataset=ds.name, fold=cfg.data.fold, seed=cfg.seed, synthetic=bool(ds.synthetic))
    _write_outputs(run_dir, pred, metrics, tables)
    training = {"source": "mock" if ds.synthetic else "real", "dataset": ds.name, "size": cfg.data.size,
                "fold": cfg.data.fold, "seed": cfg.seed, "config": cfg.name, "epochs": epochs,
                "eval_split": splits.eval_split, "n_train": int(splits.train.size)}
    save(model, run_dir / "model.safetensors", training=training,
         metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))}, **extra)
    return pred, metrics


def evaluate(model: torch.nn.Module, ds: SpectralDataset, splits: Splits, *, batch_size: int = 64,
             device: str = "cpu") -> tuple[pd.DataFrame, dict[str, Any], dict[str, pd.DataFrame]]:
    """Predict the evaluation split and score it.

    Returns (predictions with ``object_id``, ``row``, ``split``, ``snr`` and true values;
    summary metrics; tables by file stem: ``per_class``, ``confusion``, ``snr_accuracy`` or
    ``regression_metrics``).
    """
    from ..inference import predict

    rows = splits.eval
    pred = predict(model, ds, indices=rows, batch_size=batch_size, device=device)
    pred.insert(1, "row", rows)
    pred.insert(2, "split", splits.eval_split)
    snr = ds.snr[rows]
    pred.insert(3, "snr", snr)
    tables: dict[str, pd.DataFrame] = {}
    if ds.task == "classification":
        y = ds.labels[rows]
        pred.insert(4, "true_label", [ds.class_names[i] for i in y])
        pred.insert(5, "true_index", y)
        yp = pred["pred_index"].to_numpy()
        metrics: dict[str, Any] = classification_metrics(y, yp, ds.class_names)
        tables["per_class"] = per_class_table(y, yp, ds.class_names)
        tables["confusion"] = confusion_matrix(y, yp, ds.class_names).reset_index()
        if np.isfinite(snr).any():
            tables["snr_accuracy"] = accuracy_by_snr(y, yp, snr)
    else:
        targets = [c for c in ds.targets if c in pred.columns]
        truth = ds.labels[rows][:, [ds.targets.index(t) for t in targets]]
        for k, t in enumerate(targets):
            pred[f"true_{t}"] = truth[:, k]
        table = regression_metrics(truth, pred[targets].to_numpy(), targets, snr if np.isfinite(snr).any() else None)
        tables["regression_metrics"] = table
        metrics = regression_summary(table)
    metrics["eval_split"] = splits.eval_split
    return pred, metrics, tables


def _write_outputs(run_dir: Path, pred: pd.DataFrame, metrics: dict, tables: dict[str, pd.DataFrame]) -> None:
    from .._atomic import atomic_path

    with atomic_path(run_dir / "predictions.parquet") as tmp:
        pred.to_parquet(tmp, index=False)
    atomic_write_text(run_dir / "predictions.csv", pred.to_csv(index=False))
    for stem, table in tables.items():
        atomic_write_text(run_dir / f"{stem}.csv", table.to_csv(index=False))
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2, default=float))
