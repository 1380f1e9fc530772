"""Fine-tuning demonstration: a mock-pretrained checkpoint adapted to the `finetune` split of the real
validation set (../shared/data/real/validation), evaluated on its `eval` split before and after.

    python scripts/finetune_demo.py [--model convnext1d-mock-fc] [--recipe cv|head|full] [--epochs 40] [--lr 1e-3]

``--recipe cv`` (default) chooses between fine-tuning the whole network (``full``) and only its last
linear layer (``head``, ``freeze_backbone=True``) by a 5-fold stratified cross-validation *inside the
finetune split*; the eval split never influences the choice (the recipe not chosen is measured on it
too, for the record only).

Writes ``benchmarks/results/finetune.json`` and the fine-tuned weights under ``runs/finetune/``
(git-ignored: they are trained on real spectra and are NOT shipped as ``-mock-`` checkpoints).
Main class: O..M, GALAXY, QSO (subclasses summed); WD and CV spectra have no output class and are
left out of both splits. Timings are on a shared, loaded CPU.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import spectool
from spectool._atomic import atomic_write_text
from spectool.train import finetune

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_real  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "finetune.json"
DEFAULT_MODEL = "convnext1d-mock-fc"
RECIPES = {"full": {"freeze_backbone": False}, "head": {"freeze_backbone": True}}


def cross_validate(base, man, spectra, rows: np.ndarray, recipe: dict, epochs: int, lr: float, seed: int,
                   folds: int = 5) -> dict:
    """Stratified k-fold accuracy of one recipe over the given (finetune-split) rows only."""
    from sklearn.model_selection import StratifiedKFold

    y = man["main_class"].to_numpy()[rows]
    hits = np.zeros(rows.size, bool)
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, y):
        res = finetune(base, [spectra[i] for i in rows[tr]], y[tr].tolist(), epochs=epochs, lr=lr, seed=seed,
                       **recipe)
        pred = spectool.predict(res.model, [spectra[i] for i in rows[te]])
        hits[te] = pred["pred_main_class"].to_numpy(dtype=object) == y[te]
    return {"accuracy": float(hits.mean()), "n": int(rows.size), "folds": folds,
            "per_class": {c: float(hits[y == c].mean()) for c in sorted(set(y))}}


def main() -> None:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipe", choices=("cv",) + tuple(RECIPES), default="cv")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"results JSON (default {RESULTS.relative_to(RESULTS.parents[2])}, or finetune_<model>.json "
                         "beside it for another --model)")
    a = ap.parse_args()
    if a.out is None:
        a.out = RESULTS if a.model == DEFAULT_MODEL else RESULTS.with_name(f"finetune_{a.model}.json")
    man, spectra = eval_real.load_real()
    base = spectool.models.load(a.model)
    ok = eval_real.usable(base, spectra)
    classes = set(eval_real.STAR) | {"GALAXY", "QSO"}
    ft = np.flatnonzero((man["split"] == "finetune").to_numpy() & ok & man["main_class"].isin(classes).to_numpy())
    ev = (man["split"] == "eval").to_numpy()
    man_ev = man[ev].reset_index(drop=True)
    sp_ev = [s for s, e in zip(spectra, ev) if e]
    before = eval_real.evaluate_model(base, man_ev, sp_ev)
    cv = {}
    if a.recipe == "cv":
        for name, recipe in RECIPES.items():
            t0 = time.time()
            cv[name] = cross_validate(base, man, spectra, ft, recipe, a.epochs, a.lr, a.seed)
            print(f"CV inside the finetune split, {name}: {cv[name]['accuracy']:.3f} ({time.time() - t0:.0f} s)")
        # ties go to 'head' (fewer trained parameters)
        chosen = max(RECIPES, key=lambda n: (cv[n]["accuracy"], n == "head"))
    else:
        chosen = a.recipe
    y_ft = man["main_class"].to_numpy()[ft].tolist()
    # the chosen recipe (saved), then, for the record, the one CV did not choose: both on the same eval spectra,
    # which never influence the choice
    fits = {}
    for name in [chosen] + [n for n in cv if n != chosen]:
        t0 = time.time()
        res = finetune(base, [spectra[i] for i in ft], y_ft, epochs=a.epochs, lr=a.lr, seed=a.seed,
                       out=Path("runs/finetune") / f"{a.model}-ft" if name == chosen else None, **RECIPES[name])
        fits[name] = (res, time.time() - t0, eval_real.evaluate_model(res.model, man_ev, sp_ev))
    res, seconds, after = fits[chosen]
    others = {n: f[2] for n, f in fits.items() if n != chosen}
    call = (f"spectool.train.finetune({a.model!r}, <{ft.size} finetune-split spectra>, <their main classes>, "
            f"epochs={a.epochs}, lr={a.lr}, freeze_backbone={RECIPES[chosen]['freeze_backbone']}, seed={a.seed}, "
            f"out='runs/finetune/{a.model}-ft')")
    out = {
        "model": a.model, "model_saved_at": base.card.get("saved_at"), "call": call,
        "recipe": chosen, "recipe_cv": cv or None,
        "recipe_selection": ("5-fold stratified CV inside the finetune split (eval split unused)" if cv
                             else "given on the command line"),
        "n_finetune": int(ft.size), "n_eval": before["n"], "finetune_seconds": round(seconds, 1),
        "machine": "2 shared CPU cores (loaded by other jobs), 1 torch thread",
        "before": before, "after": after, "after_not_chosen": others or None,
        "history": res.history.to_dict(orient="list"),
        "note": "Real spectra: the fine-tuned weights are a demonstration, not shipped. Labels are the surveys' "
                "pipeline labels (main class).",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out, json.dumps(out, indent=1, default=float))
    print({"recipe": chosen, "before_eval": before["accuracy"], "after_eval": after["accuracy"],
           "seconds": round(seconds), **{f"after_eval_{n}": o["accuracy"] for n, o in others.items()}})


if __name__ == "__main__":
    main()
