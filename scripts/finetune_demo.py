"""Fine-tuning demonstration: a mock-pretrained checkpoint adapted to the `finetune` split of the real
validation set (../shared/data/real/validation), evaluated on its `eval` split before and after.

    python scripts/finetune_demo.py [--model convnext1d-mock-fc] [--epochs 15] [--lr 3e-4]

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
from spectool.train import finetune

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_real  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "finetune.json"


def main() -> None:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="convnext1d-mock-fc")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    man, spectra = eval_real.load_real()
    base = spectool.models.load(a.model)
    ok = eval_real.usable(base, spectra)
    classes = set(eval_real.STAR) | {"GALAXY", "QSO"}
    ft = np.flatnonzero((man["split"] == "finetune").to_numpy() & ok & man["main_class"].isin(classes).to_numpy())
    ev = (man["split"] == "eval").to_numpy()
    man_ev = man[ev].reset_index(drop=True)
    sp_ev = [s for s, e in zip(spectra, ev) if e]
    before = eval_real.evaluate_model(base, man_ev, sp_ev)
    t0 = time.time()
    res = finetune(base, [spectra[i] for i in ft], man["main_class"].to_numpy()[ft].tolist(), epochs=a.epochs,
                   lr=a.lr, seed=a.seed, out=Path("runs/finetune") / f"{a.model}-ft")
    seconds = time.time() - t0
    after = eval_real.evaluate_model(res.model, man_ev, sp_ev)
    call = (f"spectool.train.finetune({a.model!r}, <{ft.size} finetune-split spectra>, <their main classes>, "
            f"epochs={a.epochs}, lr={a.lr}, seed={a.seed}, out='runs/finetune/{a.model}-ft')")
    out = {
        "model": a.model, "model_saved_at": base.card.get("saved_at"), "call": call,
        "n_finetune": int(ft.size), "n_eval": before["n"], "finetune_seconds": round(seconds, 1),
        "machine": "2 shared CPU cores (loaded by other jobs), 1 torch thread",
        "before": before, "after": after, "history": res.history.to_dict(orient="list"),
        "note": "Real spectra: the fine-tuned weights are a demonstration, not shipped. Labels are the surveys' "
                "pipeline labels (main class).",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, default=float))
    print({"before_eval": before["accuracy"], "after_eval": after["accuracy"], "seconds": round(seconds)})


if __name__ == "__main__":
    main()
