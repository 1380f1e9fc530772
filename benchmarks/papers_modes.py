"""CPU cost of the paper layer's training grids in the quick and medium modes, extrapolated
from measured throughput (``spectool.papers``; synthetic mock data).

Running every grid takes from minutes (quick) to hours (medium), and the machine this was
written on was shared by several jobs, so wall times there say little. Instead, for every
distinct model of every grid cell this script measures the CPU seconds of training steps
(batch 16) and of inference per spectrum, plus the fixed cost of one tiny real
:func:`spectool.train.fit`, and adds them up over the grid:

    cell CPU = epochs x (n_train / train rate + n_val / eval rate) + n_test / eval rate + fixed

``wall_2_cores_s`` divides by 2 (the reduced modes train two cells in parallel, one thread
each). It is an estimate built from measured parts, not a timing of the whole run; compare
it with a real run when a quiet machine is available. Results go to
``benchmarks/results/papers_modes.json``.

    python benchmarks/papers_modes.py [--modes quick medium] [--steps mspc_classes ...]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spectool.papers._context import EXPERIMENTS, Context, step_experiment
from spectool.train import fit
from spectool.train.cv import grid
from spectool.train.data import make_splits, open_dataset
from spectool.train.fit import build_model

OUT = Path(__file__).resolve().parent / "results" / "papers_modes.json"


def _rates(cfg, ds, cache: dict) -> tuple[float, float]:
    """(train spectra per CPU second, inference spectra per CPU second) of the cell's model."""
    # the class count only changes the last layer: one measurement per architecture and task
    key = json.dumps([cfg.model.name, cfg.model.overrides, cfg.model.as_regressor, ds.task], sort_keys=True,
                     default=str)
    if key in cache:
        return cache[key]
    torch.manual_seed(0)
    model = build_model(cfg.model, ds)
    n = 16
    x = torch.as_tensor(np.asarray(ds.flux[:n], np.float32))[:, None]
    extra = (torch.as_tensor(np.asarray(ds.images[:n], np.float32)),) if getattr(model, "needs_image", False) else ()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    model(x, *extra).float().pow(2).mean().backward()  # warm-up
    t0 = time.process_time()
    steps = 1
    for _ in range(steps):
        opt.zero_grad()
        model(x, *extra).float().pow(2).mean().backward()
        opt.step()
    train_rate = steps * n / max(time.process_time() - t0, 1e-6)
    model.eval()
    with torch.inference_mode():
        model(x, *extra)
        t0 = time.process_time()
        model(x, *extra)
        eval_rate = n / max(time.process_time() - t0, 1e-6)
    cache[key] = (train_rate, eval_rate)
    return cache[key]


def _fixed_cost(tmp: Path) -> float:
    """CPU seconds of one real 1-epoch fit on 16 spectra, minus nothing: an upper bound of the
    per-run overhead (Lightning set-up, data loading, evaluation and export)."""
    t0 = time.process_time()
    fit("baselines_quick", {"data.dataset": "mspc/SC-S>5", "model.name": "convnext1d",
                            "model.overrides": {"dims": [8, 8, 8, 8], "depths": [1, 1, 1, 1]},
                            "data.max_train": 16, "data.max_val": 8, "data.max_test": 8, "trainer.max_epochs": 1,
                            "trainer.num_threads": 1}, run_dir=tmp / "fixed", resume=False, progress=False)
    return time.process_time() - t0


def estimate(step: str, mode: str, fixed: float, rates: dict, tmp: Path) -> dict:
    # the experiment the paper layer runs, with the scaled mock store of a protocol that asks for one
    exp, _ = step_experiment(Context(mode=mode, cache=tmp / "cache", progress=False), step)
    cells = grid(exp, tmp / "grid")
    total, labels = 0.0, {}
    opened: dict[str, object] = {}
    for c in cells:
        cfg = c.config
        name = cfg.data.store or cfg.data.dataset
        if name not in opened:
            opened[name] = open_dataset(cfg.data)
        ds = opened[name]
        sp = make_splits(ds, cfg.data, cfg.seed)
        tr, ev = _rates(cfg, ds, rates)
        cpu = cfg.trainer.max_epochs * (sp.train.size / tr + sp.val.size / ev) + sp.test.size / ev + fixed
        total += cpu
        labels[c.run.label] = labels.get(c.run.label, 0.0) + cpu
    return {"cells": len(cells), "cpu_s": round(total, 1), "wall_2_cores_s": round(total / 2, 1),
            "epochs": exp.set["trainer.max_epochs"], "folds": exp.folds, "seeds": exp.seeds,
            "datasets": exp.datasets, "cpu_s_per_label": {k: round(v, 1) for k, v in labels.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", default=["quick", "medium"])
    ap.add_argument("--steps", nargs="+", default=list(EXPERIMENTS))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = json.loads(args.out.read_text()) if args.out.is_file() else {}
    rates: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fixed = _fixed_cost(tmp)
        result["meta"] = {"synthetic": True, "threads": 1, "fixed_cpu_s_per_run": round(fixed, 2),
                          "note": "CPU seconds extrapolated from measured training/inference throughput per model; "
                                  "machine shared with other jobs (CPU time is less affected than wall time)"}
        for mode in args.modes:
            steps = result.setdefault(mode, {})
            for step in args.steps:
                steps[step] = estimate(step, mode, fixed, rates, tmp)
                print(mode, step, steps[step]["cells"], "cells", steps[step]["cpu_s"], "cpu-s", flush=True)
            steps["_total"] = {"cpu_s": round(sum(v["cpu_s"] for k, v in steps.items() if not k.startswith("_")), 1)}
            steps["_total"]["wall_2_cores_s"] = round(steps["_total"]["cpu_s"] / 2, 1)
    result["rates"] = {k: [round(a, 1), round(b, 1)] for k, (a, b) in rates.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({m: result[m]["_total"] for m in args.modes}, indent=2))


if __name__ == "__main__":
    main()
