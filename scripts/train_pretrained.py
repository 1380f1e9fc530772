"""Train the pretrained models shipped in ``spectool/data/pretrained/`` (synthetic mock data).

Each model trains for at most ``--minutes`` (MSPC-Net twice that) on a CPU on the quick synthetic mock set of its
preset (fold 0), is evaluated on that set's test split, and is stored in float16
safetensors (each file <= 10 MB) with a model card saying it was trained on synthetic mock
data and giving its mock test metrics. SSCNN is stored with ``fc_hidden=256`` (1.9M
parameters instead of 7.5M: the paper-size FC layer alone is 29 MB in float32), as its
card says.

    python scripts/train_pretrained.py [--only 'mspcnet*'] [--minutes 2]
"""
from __future__ import annotations

import argparse
import fnmatch
import shutil
import time
from pathlib import Path

import numpy as np

import spectool
from spectool.models.pretrained import pretrained_dir
from spectool.train import fit
from spectool.train.data import Splits
from spectool.train.fit import evaluate

MAX_BYTES = 10 * 1024 * 1024
SETS = {"sc": "mspc/SC-S>5", "ss": "mspc/SS-S>5", "fc": "mspc/FC-S"}
CLASSIFIERS = {
    "mspcnet_sdss": ("mspcnet_quick", {"model.overrides": {"drop_path_rate": 0.1}}, ""),
    "sscnn": ("baselines_quick", {"model.name": "sscnn", "model.overrides": {"fc_hidden": 256}},
              "fc_hidden reduced from 1024 to 256 so the weights fit the 10 MB package limit"),
    "racnet": ("baselines_quick", {"model.name": "racnet"}, ""),
    "convnext1d": ("baselines_quick", {"model.name": "convnext1d"}, ""),
}
JOBS: dict[str, tuple[str, dict, str]] = {
    f"{m}-mock-{k}": (cfg, {**ov, "data.dataset": ds}, note)
    for m, (cfg, ov, note) in CLASSIFIERS.items() for k, ds in SETS.items()
}
JOBS["spfusion-mock-redclump"] = ("spfusion_quick", {}, "")
JOBS["scanet_mmtt-mock-afgk"] = ("scanet_quick", {"model.overrides": {"width": 0.125}},
                                 "channels x 0.125 (CPU-friendly width) instead of the paper's full width")


def train_one(name: str, minutes: float, root: Path, out: Path) -> dict:
    cfg, overrides, note = JOBS[name]
    if name.startswith("mspcnet"):
        minutes *= 2  # 2.1M parameters with 405-tap kernels at full resolution: the slowest per spectrum
    common = {"trainer.max_epochs": 40, "trainer.max_time": f"00:00:{int(minutes):02d}:{int(minutes % 1 * 60):02d}",
              "data.max_train": None, "data.max_val": 40, "data.max_test": 200, "early_stopping.enabled": False,
              "trainer.progress_bar": False, "name": name}
    res = fit(cfg, {**common, **overrides}, run_dir=root / name, resume=False, progress=False)
    model = res.load_model()
    model.half().float()  # evaluate exactly the float16-rounded weights that are shipped
    ds = spectool.datasets.load(res.metrics["dataset"], size="quick")
    rows = res.predictions["row"].to_numpy()
    empty = np.zeros(0, dtype=np.int64)
    _, metrics, _ = evaluate(model, ds, Splits(empty, empty, rows))
    metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    training = dict(model.card["training"], epochs=res.done["epochs_completed"],
                    train_seconds=res.done["seconds"])
    desc = (f"Trained on the synthetic spectool mock survey ({res.metrics['dataset']}, size quick, fold 0), "
            "NOT on real survey data. Metrics are on the mock test split and say nothing about real spectra.")
    path = spectool.models.save(model.half(), out / name, training=training, metrics=metrics, pretrained_name=name,
                                description=desc, weights_dtype="float16", limitations=note or None)
    path.chmod(0o644)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path}: {size / 2**20:.1f} MB exceeds the 10 MB limit")
    shutil.rmtree(root / name / "checkpoints", ignore_errors=True)
    return {"name": name, "MB": round(size / 2**20, 2), **metrics}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="*", help="glob over pretrained names")
    ap.add_argument("--minutes", type=float, default=2.0, help="training wall-time cap per model")
    ap.add_argument("--root", type=Path, default=Path("runs/pretrained"))
    ap.add_argument("--out", type=Path, default=pretrained_dir())
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in [n for n in JOBS if fnmatch.fnmatch(n, args.only)]:
        t0 = time.time()
        row = train_one(name, args.minutes, args.root, args.out)
        print({**row, "wall_s": round(time.time() - t0)}, flush=True)


if __name__ == "__main__":
    main()
