"""Cross-validation and experiment grids: runs x datasets x folds x seeds -> tidy results.

An experiment YAML (:class:`~spectool.train.config.ExperimentConfig`) lists labelled
runs (each a training config plus dotted overrides), the datasets, folds and seeds.
Every grid cell is one :func:`~spectool.train.fit` run in its own directory::

    <output_root>/<experiment>/<dataset slug>/<label slug>/fold<k>[-seed<s>]/

A cell with ``done.json`` from its own config is skipped (its stored result is reused), so a
killed experiment picks up where it stopped; a finished run of a since-changed config is
moved aside and trained again. Cells that would compute the same thing (same
training config apart from the run name, same model once its options are resolved against
the model's defaults: e.g. the default arm that every ablation table repeats) are trained
once and copied (:func:`cell_key`); with ``share=DIR`` finished cells are also indexed
there, so another experiment's identical cell takes a copy instead of training again. The tidy results go to
``<output_root>/<experiment>/results.csv``, every run's per-epoch history to
``histories.csv`` and the paper-shaped table to ``table.csv`` and ``table.txt``.
"""
from __future__ import annotations

import atexit
import copy
import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._atomic import atomic_write_text
from .config import (ExperimentConfig, RunSpec, TrainConfig, dump_yaml, load_config, load_experiment,
                     run_config, run_datasets, to_dict)
from .tables import experiment_table


def slug(text: str) -> str:
    """File-system safe name: ``mspc/SS-S>5`` -> ``mspc_SS-S_gt5``, ``MSPC-Net`` -> ``MSPC-Net``."""
    text = text.replace("/", "_").replace(">", "_gt").replace("<", "_lt")
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "x"


@dataclass
class Cell:
    """One grid cell: which run, dataset, fold and seed, its config and directory."""

    run: RunSpec
    dataset: str | None
    fold: int
    seed: int
    config: TrainConfig
    run_dir: Path


@dataclass
class CVResult:
    """Tidy per-run results of an experiment and its default paper-shaped table."""

    experiment: ExperimentConfig
    root: Path
    results: pd.DataFrame
    histories: pd.DataFrame
    """Per-epoch curves of every run (MSPC-Net Fig. 6, SCA-Net Fig. 6): identifiers + history.csv."""
    seconds: float

    def table(self) -> pd.DataFrame:
        return experiment_table(self.results, self.experiment.table)


def grid(exp: ExperimentConfig, root: Path) -> list[Cell]:
    """Every cell of the experiment, datasets outermost, then runs, folds and seeds."""
    cells = []
    multi_seed = len(exp.seeds) > 1
    for dataset in exp.datasets or [None]:
        for run in exp.runs:
            if dataset not in run_datasets(exp, run):
                continue
            for fold in exp.folds:
                for seed in exp.seeds:
                    cfg = run_config(exp, run, dataset, fold, seed)
                    ds_name = dataset or cfg.data.dataset or _store_name(cfg.data.store)
                    leaf = f"fold{fold}" + (f"-seed{seed}" if multi_seed else "")
                    run_dir = root / slug(ds_name) / slug(run.label) / leaf
                    cfg.name = f"{exp.name}/{slug(ds_name)}/{slug(run.label)}/{leaf}"
                    cells.append(Cell(run, dataset, fold, seed, cfg, run_dir))
    return cells


def _store_name(store: str | None) -> str:
    """The dataset name recorded in a store's info.json (else the directory name)."""
    path = Path(store or "store")
    try:
        return str(json.loads((path / "info.json").read_text()).get("name") or path.name)
    except (OSError, ValueError):
        return path.name


def _model_options(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The options a model is built with: its ``config`` dict when it records one, else its
    class's constructor defaults updated with ``overrides``; plus its module tree (``repr``),
    so two option sets that build different networks never match. Memoised per process by
    (name, overrides): a grid asks for the same few models once per dataset, fold and seed."""
    key = json.dumps([name, overrides], sort_keys=True, default=repr)
    if key not in _MODEL_OPTIONS:
        _MODEL_OPTIONS[key] = _model_options_of(name, overrides)
    return copy.deepcopy(_MODEL_OPTIONS[key])


_MODEL_OPTIONS: dict[str, dict[str, Any]] = {}


def _model_options_of(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    import inspect

    import torch

    from .. import models

    try:
        with torch.device("meta"):  # no memory for the weights
            model = models.create(name, **overrides)
    except (NotImplementedError, RuntimeError):  # a constructor that reads tensor values
        model = models.create(name, **overrides)
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        options = {**overrides, **config}
    else:
        options = {k: p.default for k, p in inspect.signature(type(model).__init__).parameters.items()
                   if p.default is not inspect.Parameter.empty}
        options.update(overrides)
    return {"options": options, "modules": repr(model)}


def cell_key(config: TrainConfig) -> str:
    """Fingerprint of what a cell computes: its whole training config except the run name
    and the output-only switches, with the model's options resolved (:func:`_model_options`)
    and, for the embedded mock, the generator's version (a new mock version is new data).
    Cells with equal keys train the same network on the same data from the same seed."""
    from ..mock.build import MOCK_VERSION

    raw = to_dict(config)
    if str(raw.get("data", {}).get("source", "mock")) == "mock" and not raw.get("data", {}).get("store"):
        raw["data"]["mock_version"] = MOCK_VERSION
    raw.pop("name", None)
    raw.pop("output_root", None)
    for k in ("progress_bar", "num_threads", "log_every_n_steps"):
        raw.get("trainer", {}).pop(k, None)
    try:
        raw["model"]["overrides"] = _model_options(config.model.name, dict(config.model.overrides))
    except Exception:  # noqa: BLE001 - a model that cannot be built here keeps its literal overrides
        pass
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _copy_run(src: Path, cell: Cell) -> None:
    """Give ``cell`` a copy of the finished run ``src`` (no checkpoints), under its own config."""
    dst = cell.run_dir
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints"))
    atomic_write_text(dst / "config.yaml", dump_yaml(cell.config))
    done = json.loads((dst / "done.json").read_text())
    done.update(config=to_dict(cell.config), copied_from=str(src))
    atomic_write_text(dst / "done.json", json.dumps(done, indent=2, default=str))


def _stored_key(run_dir: Path) -> str:
    """:func:`cell_key` of the config stored in a run folder (``"unreadable"`` when there is
    none that loads)."""
    try:
        return cell_key(load_config(run_dir / "config.yaml"))
    except Exception:  # noqa: BLE001 - a missing or unreadable stored config matches no cell
        return "unreadable"


def _finished(cell: Cell) -> bool:
    """True when ``cell``'s run folder holds a finished run of ``cell``'s own config. A
    finished run of another config (the experiment file or a protocol changed since) is
    moved aside to ``<fold>.stale-<its key>`` with a warning, and the cell trains again:
    resuming never reports a run of an outdated config as this one."""
    import warnings

    d = cell.run_dir
    if not (d / "done.json").is_file():
        return False
    old = _stored_key(d)
    if old == cell_key(cell.config):
        return True
    stale = d.with_name(f"{d.name}.stale-{old[:12]}")
    shutil.rmtree(stale, ignore_errors=True)
    d.rename(stale)
    warnings.warn(f"{d}: its finished run was trained with another config; moved to {stale.name} and "
                  "training again", RuntimeWarning, stacklevel=3)
    return False


def _shared_run(share: Path | None, key: str) -> Path | None:
    """The finished run indexed under ``key`` in ``share``, if it still exists and still
    holds that config (its folder may have been retrained with another since)."""
    if share is None:
        return None
    try:
        src = Path(json.loads((share / f"{key}.json").read_text())["run_dir"])
    except (OSError, ValueError, KeyError):
        return None
    return src if (src / "done.json").is_file() and _stored_key(src) == key else None


def _run_cell(config: dict, run_dir: str, threads: int | None) -> dict[str, Any]:
    """Fit one cell (in this or a worker process) and return its metrics and timing."""
    import torch

    from .fit import fit

    if threads:
        torch.set_num_threads(threads)
    res = fit(config, run_dir=run_dir, progress=False)
    return {**res.metrics, "seconds": res.done.get("seconds"), "cpu_seconds": res.done.get("cpu_seconds"),
            "skipped_done": False}


def cell_cost(config: TrainConfig, _memo: dict | None = None) -> float:
    """Estimated training cost of one cell, in multiply-accumulates; for scheduling only.

    The multiply-accumulates of one forward pass of the configured model on one zero
    spectrum (plus a zero image for image models), counted by torch's flop counter as the
    SCA-Net complexity table does, times the training spectra (after ``data.max_train``) and
    ``trainer.max_epochs``. It ignores how fast each kind of layer runs and the evaluation
    passes, so it orders cells, it does not predict seconds. Opening the dataset builds a
    missing mock store, which the cell would build anyway.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .data import open_dataset
    from .fit import build_model

    memo = {} if _memo is None else _memo
    raw = to_dict(config)
    dkey = json.dumps(raw["data"], sort_keys=True, default=str)
    if dkey not in memo:
        memo[dkey] = open_dataset(config.data)
    ds = memo[dkey]
    n_train = len(ds.indices("train", config.data.fold))
    if config.data.max_train is not None:
        n_train = min(n_train, config.data.max_train)
    mkey = json.dumps([raw["model"], dkey], sort_keys=True, default=str)
    if mkey not in memo:
        model = build_model(config.model, ds).eval()
        inputs = [torch.zeros(1, 1, ds.wavelength.size)]
        if getattr(model, "needs_image", False) and ds.images is not None:
            inputs.append(torch.zeros(1, *ds.images.shape[1:]))
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(*inputs)
        memo[mkey] = max(counter.get_total_flops() / 2, 1.0)
    return memo[mkey] * n_train * config.trainer.max_epochs


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """Worker initializer: end this worker process when ``parent`` is gone.

    A killed ``cross_validate`` (SIGKILL, an out-of-memory kill, a closed terminal) cannot
    shut its pool down, and the orphaned workers would go on training for minutes. A
    daemon thread polls the parent pid and exits the worker once it has been re-parented.
    """
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="spectool-exit-with-parent", daemon=True).start()


#: (process id, jobs) -> the worker pool that process keeps between calls (:func:`_pool`)
_POOLS: dict[tuple[int, int], ProcessPoolExecutor] = {}


def _pool(jobs: int) -> ProcessPoolExecutor:
    """A spawn-context pool of ``jobs`` workers, kept for the next ``cross_validate`` of this
    process. A fresh worker imports torch, Lightning and spectool (about 8 s on one core);
    ``spectool figures`` runs seven experiments in a row, so starting the workers once saves
    about 50 s of a quick run on 2 cores. A broken pool (a worker died) is replaced."""
    key = (os.getpid(), jobs)
    pool = _POOLS.get(key)
    if pool is None or getattr(pool, "_broken", False) or getattr(pool, "_shutdown_thread", False):
        if not _POOLS:
            atexit.register(_shutdown_pools)
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                   initializer=_exit_with_parent, initargs=(os.getpid(),))
        _POOLS[key] = pool
    return pool


def _shutdown_pools() -> None:
    for key in [k for k in _POOLS if k[0] == os.getpid()]:
        _POOLS.pop(key).shutdown(wait=True, cancel_futures=True)


def _histories(results: pd.DataFrame) -> pd.DataFrame:
    """Every run's ``history.csv`` stacked, with dataset, label, fold and seed columns."""
    frames = []
    for _, r in results.iterrows():
        f = Path(r["run_dir"]) / "history.csv"
        if f.is_file():
            h = pd.read_csv(f)
            for k in ("seed", "fold", "label", "dataset"):
                h.insert(0, k, r[k])
            frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def cross_validate(experiment: str | Path | dict | ExperimentConfig, overrides: Any = (), *,
                   root: str | Path | None = None, jobs: int = 1, progress: bool = True,
                   share: str | Path | None = None) -> CVResult:
    """Run (or resume) every cell of an experiment and aggregate the results.

    Parameters
    ----------
    experiment
        An experiment YAML path, shipped experiment name (``spectool/configs/experiments``),
        mapping or :class:`ExperimentConfig`.
    overrides
        Dotted overrides of the experiment file itself (e.g. ``["folds=[0,1]"]``).
    root
        Parent directory of the experiment (default: the experiment's ``output_root``).
    jobs
        Cells trained in parallel processes (CPU: each gets ``cpu_count // jobs`` threads).
    progress
        Show a progress bar over cells.
    share
        A folder indexing finished cells by :func:`cell_key` (shared between experiments):
        a cell whose key is indexed there gets a copy of that run instead of training, and
        every cell trained here is added. Within one experiment, identical cells are
        trained once either way.
    """
    from tqdm.auto import tqdm

    exp = load_experiment(experiment, overrides)
    base = Path(root) if root is not None else Path(exp.output_root)
    exp_dir = base / slug(exp.name)
    cells = grid(exp, exp_dir)
    t0 = time.time()
    rows: dict[int, dict[str, Any]] = {}
    todo = []
    share = Path(share) if share is not None else None
    first: dict[str, int] = {}
    copies: dict[int, int] = {}  # cell -> the identical cell of this experiment that trains
    finished: dict[str, Path] = {}  # key -> a cell of this experiment finished earlier (a resumed run)
    for i, c in enumerate(cells):
        if _finished(c):
            rows[i] = {**_run_cell(to_dict(c.config), str(c.run_dir), None), "skipped_done": True}
            finished.setdefault(cell_key(c.config), c.run_dir)
    for i, c in enumerate(cells):
        if i in rows:
            continue
        key = cell_key(c.config)
        src = finished.get(key) or _shared_run(share, key)
        if src is not None:
            _copy_run(src, c)
            rows[i] = {**_run_cell(to_dict(c.config), str(c.run_dir), None), "skipped_done": True}
        elif key in first:
            copies[i] = first[key]
        else:
            first[key] = i
            todo.append(i)
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo) - len(copies), disable=not progress,
               desc=exp.name, unit="run")
    if jobs <= 1:
        for i in todo:
            bar.set_postfix_str(f"{cells[i].run.label} fold {cells[i].fold}")
            rows[i] = _run_cell(to_dict(cells[i].config), str(cells[i].run_dir), None)
            bar.update()
    else:
        threads = max(1, (mp.cpu_count() or 1) // jobs)
        # longest cells first (the pool takes them in submission order), so the last
        # cell to start is a short one and no worker idles while one long cell finishes
        memo: dict = {}
        todo.sort(key=lambda i: -cell_cost(cells[i].config, memo))
        pool = _pool(jobs)
        futures = {}
        try:
            for i in todo:
                cfg = to_dict(cells[i].config)
                cfg["trainer"]["num_threads"] = threads  # no oversubscription of the cores
                futures[pool.submit(_run_cell, cfg, str(cells[i].run_dir), threads)] = i
            for fut in as_completed(futures):
                rows[futures[fut]] = fut.result()
                bar.update()
        except BaseException:
            # as a closed pool would: drop the cells not started, let the running ones finish
            for fut in futures:
                fut.cancel()
            wait(futures)
            raise
    for i, j in copies.items():
        _copy_run(cells[j].run_dir, cells[i])
        rows[i] = {**_run_cell(to_dict(cells[i].config), str(cells[i].run_dir), None), "skipped_done": True}
        bar.update()
    bar.close()
    if share is not None:
        share.mkdir(parents=True, exist_ok=True)
        for key, i in first.items():
            atomic_write_text(share / f"{key}.json", json.dumps({"run_dir": str(cells[i].run_dir.resolve()),
                                                                 "name": cells[i].config.name}))
    records = []
    for i, c in enumerate(cells):
        r = rows[i]
        records.append({"experiment": exp.name, "group": c.run.group, "label": c.run.label,
                        "model": c.config.model.name, "dataset": r.get("dataset", c.dataset), "fold": c.fold,
                        "seed": c.seed, **{k: v for k, v in r.items() if k not in ("dataset", "fold", "seed", "model")},
                        "run_dir": str(c.run_dir)})
    results = pd.DataFrame(records)
    histories = _histories(results)
    result = CVResult(exp, exp_dir, results, histories, time.time() - t0)
    exp_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(exp_dir / "results.csv", results.to_csv(index=False))
    atomic_write_text(exp_dir / "histories.csv", histories.to_csv(index=False))
    table = result.table()
    atomic_write_text(exp_dir / "table.csv", table.to_csv())
    atomic_write_text(exp_dir / "table.txt", f"{exp.description or exp.name}\n\n{table.to_string()}\n")
    return result
