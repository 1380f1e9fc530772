"""Train single cells of the papers' SPFusion training steps under other budgets (diagnosis).

Run: ``python benchmarks/spf_cells.py --step spf_ablation --label "no star operator" --mode quick
--lr 3e-4 --epochs 10 [--batch-size 16] [--init kaiming] [--name NAME]``; appends one record to
``benchmarks/results/spf_cells.json``. Everything here is **synthetic mock data** (the red-clump
mock at 8 x its quick size, mock seed 0, as the reduced modes train it); none of these numbers is a
paper or real-data result.

The cell is the step's reduced-mode cell (:func:`spectool.papers._context.reduced_experiment`,
trained by :func:`spectool.train.cross_validate` on one CPU thread per cell, every fold of the
mode), with the learning rate, epochs, batch size and initialisation replaced. Per fold it records
the test MAE of mass (Msun) and age (Gyr), the best constant's (median of the truth), and the
spread of the predictions (a network at the constant predicts one value for every star).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "spf_cells.json"


def run_cell(step: str, label: str, mode: str, lr: float, epochs: int, batch_size: int, init: str,
             root: Path, jobs: int) -> dict:
    from spectool.papers._context import EXPERIMENTS, Context, _as_dict, reduced_experiment, scaled_store
    from spectool.train import FitResult, cross_validate

    full, protocols = EXPERIMENTS[step]
    proto = dataclasses.replace(protocols[mode], labels=(label,), run_lr=((label, lr),),
                                run_epochs=((label, epochs),))
    exp = reduced_experiment(full, proto, mode)
    store = scaled_store(Context(mode=mode, progress=False), exp.datasets, proto.scale)  # the modes' own store
    exp.set = {**exp.set, "trainer.num_threads": 1, "data.store": str(store)}
    for r in exp.runs:
        r.set["trainer.batch_size"] = batch_size
        if init != "default":
            r.set["model.overrides"] = {**(r.set.get("model.overrides") or {}), "init": init}
    t0 = time.perf_counter()
    cv = cross_validate(_as_dict(exp), root=root, progress=False, jobs=jobs)
    out = {"step": step, "label": label, "mode": mode, "lr": lr, "epochs": epochs, "batch_size": batch_size,
           "init": init, "wall_seconds": round(time.perf_counter() - t0, 1), "folds": []}
    for _, row in cv.results.iterrows():
        p = FitResult.load(row["run_dir"]).predictions
        fold = {"fold": int(row["fold"]) + 1}
        for t in ("mass", "age"):
            truth, pred = p[f"true_{t}"].to_numpy(), p[t].to_numpy()
            fold[t] = {"mae": round(float(np.abs(pred - truth).mean()), 4),
                       "best_constant_mae": round(float(np.abs(truth - np.median(truth)).mean()), 4),
                       "pred_std": round(float(pred.std()), 4), "true_std": round(float(truth.std()), 4)}
        out["folds"].append(fold)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--step", default="spf_ablation", choices=["spf_models", "spf_ablation"])
    ap.add_argument("--label", required=True, help="run label, e.g. 'no star operator' or 'RAC-Net'")
    ap.add_argument("--mode", default="quick", choices=["quick", "medium"])
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--init", default="default", help="model init override (e.g. kaiming), or 'default'")
    ap.add_argument("--jobs", type=int, default=1, help="cells (folds) trained in parallel")
    ap.add_argument("--name", default=None, help="record name (default: derived from the arguments)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="spf_cells_") as tmp:
        rec = run_cell(a.step, a.label, a.mode, a.lr, a.epochs, a.batch_size, a.init, Path(tmp), a.jobs)
    rec["name"] = a.name or (f"{a.mode} {a.label} lr {a.lr:g} x {a.epochs} epochs, batch {a.batch_size}"
                             + (f", init {a.init}" if a.init != "default" else ""))
    rec["date"] = time.strftime("%Y-%m-%d")
    rec["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    data = json.loads(OUT.read_text()) if OUT.is_file() else {
        "what": "single SPFusion-step cells under other budgets; synthetic mock data only (see the script's "
                "docstring)", "records": []}
    data["records"] = [r for r in data["records"] if r["name"] != rec["name"]] + [rec]
    tmp_out = OUT.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(data, indent=1))
    tmp_out.replace(OUT)
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
