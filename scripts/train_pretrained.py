"""Train the pretrained models shipped in ``spectool/data/pretrained/`` on the synthetic mock survey only.

Each model is trained from a seed on an enlarged quick mock set of its preset (``--scale`` x the
quick size, built by ``spectool.mock.build_preset(..., scale=...)`` under ``runs/mockdata``; mock
version ``spectool.mock.build.MOCK_VERSION``), fold 0, for a fixed number of epochs (a wall-time
cap stops it earlier on a slow machine; the card records the epochs actually run). It is evaluated
on the mock test split and, when ``../shared/data/real/validation`` exists, on those real spectra
(main-class accuracy; SCA-Net: fraction of A-M stars with Teff in the band of their MK type).
The real spectra are never used for training. Weights are stored in float16 safetensors
(<= 10 MB) with a card that states the training data (mock only), the recipe (command, seed,
epochs, wall time, machine) and both sets of figures. Card keys this script does not write (e.g.
``calibration``, added by ``scripts/calibrate_pretrained.py``) are kept.

A checkpoint that predicts one class for every real (or mock test) spectrum, or a regressor that
beats the best constant (median of the truth) by less than 10% on every target of the mock test
split, is not shipped: its files are removed and the run is reported as dropped. A regressor that
learned some targets but not others is shipped with the unlearned ones named in its card's
``limitations`` (and ``baseline_mae_<target>`` beside each ``mae_<target>`` in ``metrics``).

    python scripts/train_pretrained.py [--only 'convnext1d*'] [--seed 0] [--minutes 30] [--gpu]

``--gpu`` trains on the first CUDA device under bf16 autocast (batch ``--batch-size``, data
loader workers ``--workers``); ``scripts/gpu_retrain.sh`` runs every job that way on one GPU.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

import spectool
from spectool.datasets.presets import preset as get_preset
from spectool.mock.build import MOCK_VERSION, build_preset
from spectool.models.io import read_card
from spectool.models.pretrained import pretrained_dir
from spectool.train import fit
from spectool.train.config import DataConfig
from spectool.train.data import Splits, open_dataset
from spectool.train.fit import evaluate
from spectool.train.metrics import mae_vs_constant

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_real  # noqa: E402  (scripts/eval_real.py)

MAX_BYTES = 10 * 1024 * 1024
SETS = {"sc": "mspc/SC-S>5", "ss": "mspc/SS-S>5", "fc": "mspc/FC-S"}
#: training-time re-randomisation of the continuum (spectool.train.augment, on the model-ready rows): a new
#: flux-calibration tilt / reddening / noise / masked chunk every epoch, on top of the mock's own randomisation
AUGMENT = {"augment.tilt": {"p": 0.8, "max_slope": 0.4, "max_curvature": 0.2},
           "augment.extinction": {"p": 0.3, "ebv_max": 0.3},
           "augment.noise": {"p": 0.3, "sigma": [0.02, 0.2]},
           "augment.mask": {"p": 0.2, "n": [1, 3], "width": [10, 100]}}
#: model -> (config, overrides, card note, epochs)
CLASSIFIERS = {
    "mspcnet_sdss": ("mspcnet_quick", {"model.overrides": {"drop_path_rate": 0.1}}, "", 4),
    "sscnn": ("baselines_quick", {"model.name": "sscnn", "model.overrides": {"fc_hidden": 256}},
              "fc_hidden reduced from 1024 to 256 so the weights fit the 10 MB package limit", 4),
    "racnet": ("baselines_quick", {"model.name": "racnet"}, "", 4),
    "convnext1d": ("baselines_quick", {"model.name": "convnext1d"}, "", 3),
}
#: mock set size as a multiple of the quick size
SCALE = {"sc": 4, "ss": 1, "fc": 1, "redclump": 4, "afgk": 4, "am": 4}
JOBS: dict[str, tuple[str, dict, str, int, str]] = {
    f"{m}-mock-{k}": (cfg, {**ov, "data.dataset": ds}, note, ep, k)
    for m, (cfg, ov, note, ep) in CLASSIFIERS.items() for k, ds in SETS.items()
}
JOBS["spfusion-mock-redclump"] = (
    "spfusion_quick", {"model.overrides": {"drop_rate": 0.0, "spectral_dropout": 0.0}, "optim.lr": 3e-4,
                       "loss.init_bias": True},
    "trained without dropout / DropPath and at lr 3e-4 (the paper: 0.2-0.3 and 1e-3), because with the paper's "
    "values the network stays at the mean mass and age on the mock (docs/mock_survey.md); the image branch saw "
    "mock cutouts only, which carry no mass or age information", 20, "redclump")
JOBS["scanet_mmtt-mock-afgk"] = ("scanet_quick", {"model.overrides": {"width": 0.125}},
                                 "channels x 0.125 (CPU-friendly width) instead of the paper's full width", 10, "afgk")
JOBS["scanet_mmtt-mock-am"] = ("scanet_quick", {"model.overrides": {"width": 0.125}, "data.dataset": "scanet/AM"},
                               "channels x 0.125 (CPU-friendly width) instead of the paper's full width; trained on "
                               "A-M stars (3200-10000 K), wider than the paper's AFGK set", 10, "am")


def mock_store(dataset: str, scale: int, seed: int, root: Path) -> Path:
    """Build (once) the mock training store of ``dataset`` at ``scale`` x the quick size."""
    p = get_preset(dataset)
    out = root / f"{p.slug}-x{scale}-seed{seed}-v{MOCK_VERSION}"
    build_preset(p, size="quick", seed=seed, out=out, scale=scale, progress=False)
    return out


def _hms(minutes: float) -> tuple[int, int, int]:
    sec = int(round(minutes * 60))
    return sec // 3600, sec % 3600 // 60, sec % 60


def _machine(gpu: bool) -> str:
    import torch

    if gpu:
        return f"{torch.cuda.get_device_name(0)} GPU, bf16-mixed, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores (shared with other jobs), torch {torch.__version__}"


def train_one(name: str, seed: int, minutes: float, root: Path, out: Path, real, threads: int = 1,
              epochs: int | None = None, augment: bool = False, scale: int | None = None,
              max_train: int | None = None, gpu: bool = False, batch_size: int | None = None,
              workers: int = 0, anneal: bool = False) -> dict:
    cfg, overrides, note, default_epochs, key = JOBS[name]
    epochs = epochs or default_epochs
    scale = scale or SCALE[key]
    if augment:
        overrides = {**overrides, **AUGMENT}
    dataset = overrides.get("data.dataset") or {"redclump": "spfusion/redclump", "afgk": "scanet/AFGK"}[key]
    store = mock_store(dataset, scale, seed, root.parent / "mockdata")
    common = {"data.store": str(store), "trainer.max_epochs": epochs,
              "trainer.max_time": "00:{:02d}:{:02d}:{:02d}".format(*_hms(minutes)),
              "scheduler.T_0": epochs, "data.max_train": max_train, "data.max_val": 200, "data.max_test": 400,
              "early_stopping.enabled": False, "trainer.progress_bar": False, "trainer.num_threads": threads,
              "name": name, "seed": seed}
    if gpu:
        common.update({"trainer.accelerator": "gpu", "trainer.devices": 1, "trainer.precision": "bf16-mixed",
                       "data.num_workers": workers, "data.test_batch_size": 256})
    if batch_size:
        common["trainer.batch_size"] = batch_size
    if cfg.startswith("scanet"):
        common.pop("scheduler.T_0")
    if anneal:  # cosine from the config's rate to zero over the planned epochs
        common.update({"scheduler.name": "cosine", "scheduler.eta_min": 0.0})
        common.pop("scheduler.T_0", None)
    t0 = time.time()
    res = fit(cfg, {**common, **{k: v for k, v in overrides.items() if k != "data.dataset"}},
              run_dir=root / name, resume=False, progress=False)
    wall = time.time() - t0
    model = res.load_model()
    model.half().float()  # evaluate exactly the float16-rounded weights that are shipped
    ds = open_dataset(DataConfig(store=str(store)))
    rows = res.predictions["row"].to_numpy()
    empty = np.zeros(0, dtype=np.int64)
    pred, metrics, _ = evaluate(model, ds, Splits(empty, empty, rows), device="cuda" if gpu else "cpu")
    metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    real_fig = {}
    if real is not None and not getattr(model, "needs_image", False):  # the real set has no image cutouts
        r = eval_real.evaluate_model(model, *real)
        real_fig = {k: v for k, v in r.items() if k != "confusion"}
        real_fig["confusion"] = r.get("confusion")
    degenerate = ("n_pred_classes" in real_fig and real_fig["n_pred_classes"] < 2) or \
        ("pred_label" in pred and pred["pred_label"].nunique() < 2)
    skill = regression_skill(pred)
    metrics.update({f"baseline_mae_{t}": v["baseline_mae"] for t, v in skill.items()})
    unlearned = [t for t, v in skill.items() if not v["learned"]]
    if skill and len(unlearned) == len(skill):
        degenerate = True
    if unlearned and not degenerate:
        note = "; ".join(filter(None, [note, "NOT LEARNED on the mock test split: " + ", ".join(
            f"{t} (MAE {skill[t]['mae']:.3g} against the best constant's {skill[t]['baseline_mae']:.3g})"
            for t in unlearned) + "; do not use these outputs"]))
    training = dict(model.card["training"], epochs=res.done["epochs_completed"], train_seconds=res.done["seconds"],
                    source="mock", mock_version=MOCK_VERSION, mock_scale=scale, seed=seed,
                    n_train_store=len(ds))
    recipe = {"command": f"python scripts/train_pretrained.py --only '{name}' --seed {seed} --minutes {minutes:g} "
                         f"--epochs {epochs} --scale {scale}" + (" --augment" if augment else "")
                         + (" --anneal" if anneal else "")
                         + (f" --max-train {max_train}" if max_train else "")
                         + (f" --threads {threads}" if threads != 1 and not gpu else "")
                         + (f" --gpu --batch-size {batch_size} --workers {workers}" if gpu else
                            (f" --batch-size {batch_size}" if batch_size else "")),
              "augment": {k.split(".", 1)[1]: v for k, v in AUGMENT.items()} if augment else None,
              "config": cfg, "seed": seed, "epochs_planned": epochs, "epochs_run": res.done["epochs_completed"],
              "wall_seconds": round(wall, 1),
              "machine": _machine(gpu)}
    desc = (f"Trained ONLY on the synthetic spectool mock survey (mock v{MOCK_VERSION}, {dataset}, "
            f"{scale} x quick size, fold 0, seed {seed}); never on real survey spectra. 'metrics' are on the "
            "mock test split; 'real_data' are measured (not trained) on the 118 labelled real LAMOST/SDSS "
            "spectra of the validation set.")
    if degenerate:
        why = ("does not beat the best constant on any target" if skill else "predicts one class for every spectrum")
        return {"name": name, "dropped": why, "real": real_fig, "mock": metrics, "skill": skill}
    old = {}
    if (out / f"{name}.json").is_file():
        old = read_card(out / f"{name}.json")
    target = out / name
    fresh = spectool.models.save(model.half(), target, training=training, metrics=metrics, pretrained_name=name,
                                 description=desc, weights_dtype="float16", limitations=note or None,
                                 recipe=recipe, real_data=real_fig or None)
    new = read_card(fresh.with_suffix(".json"))
    kept = {k: v for k, v in old.items() if k not in new}
    if kept:  # e.g. "calibration": written by scripts/calibrate_pretrained.py, kept as it is
        new.update(kept)
        fresh.with_suffix(".json").write_text(json.dumps(new, indent=2, sort_keys=True))
    fresh.chmod(0o644)
    size = fresh.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{fresh}: {size / 2**20:.1f} MB exceeds the 10 MB limit")
    shutil.rmtree(root / name / "checkpoints", ignore_errors=True)
    return {"name": name, "MB": round(size / 2**20, 2), "mock": metrics,
            "real": {k: v for k, v in real_fig.items() if k != "confusion"}, "wall_s": round(wall)}


#: a regression target counts as learned when its mock test MAE is at most this fraction of the
#: best constant's (the median of the truth): at least 10% better than knowing nothing
LEARNED_FRACTION = 0.9


def regression_skill(pred) -> dict:
    """Per regression target of a prediction table (``true_<t>`` and ``<t>`` columns): the MAE,
    the best constant's MAE (median of the truth), their ratio and whether the target was
    learned (ratio <= :data:`LEARNED_FRACTION`). Empty for a classifier."""
    return {t: {"mae": mae, "baseline_mae": base, "ratio": mae / base if base > 0 else float("nan"),
                "learned": bool(mae <= LEARNED_FRACTION * base)} for t, (mae, base) in mae_vs_constant(pred).items()}


def score_real(name: str, out: Path, real) -> dict:
    """Measure the shipped checkpoint ``name`` on the real validation spectra (never trained on
    them) and write the figures to its card's ``real_data`` key; a checkpoint that predicts one
    class for every real spectrum is reported as dropped (its files are then removed)."""
    from spectool._atomic import atomic_write_text

    model = spectool.models.load(str(out / f"{name}.safetensors"))
    if getattr(model, "needs_image", False):  # the real validation set has no image cutouts
        return {"name": name, "real": "not measured: the model needs g, r, i images the real set lacks"}
    r = eval_real.evaluate_model(model, *real)
    if "n_pred_classes" in r and r["n_pred_classes"] < 2:
        return {"name": name, "dropped": "predicts one class for every real spectrum", "real": r}
    path = out / f"{name}.json"
    card = read_card(path)
    card["real_data"] = r
    atomic_write_text(path, json.dumps(card, indent=2, sort_keys=True))
    if "calibration" in card:  # keep the calibration block in its compact form (number lists on one line)
        from spectool import trust

        trust.write_calibration(path, card["calibration"])
    return {"name": name, "real": {k: v for k, v in r.items() if k != "confusion"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="*", help="glob over pretrained names")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=30.0, help="training wall-time cap per model")
    ap.add_argument("--root", type=Path, default=Path("runs/pretrained"))
    ap.add_argument("--out", type=Path, default=pretrained_dir())
    ap.add_argument("--no-real", action="store_true", help="skip the real-data figures")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (trainer.num_threads)")
    ap.add_argument("--epochs", type=int, default=None, help="override the model's epoch count")
    ap.add_argument("--scale", type=int, default=None, help="override the mock size (x quick)")
    ap.add_argument("--max-train", type=int, default=None, help="cap the training spectra (seeded, class-stratified)")
    ap.add_argument("--augment", action="store_true", help="train with the AUGMENT re-randomisation")
    ap.add_argument("--anneal", action="store_true",
                    help="cosine learning-rate schedule to zero over --epochs (the config's schedule otherwise)")
    ap.add_argument("--score-real", action="store_true",
                    help="do not train: measure the shipped checkpoints on the real validation spectra, write their cards")
    ap.add_argument("--gpu", action="store_true", help="train on the first CUDA device, bf16 autocast")
    ap.add_argument("--batch-size", type=int, default=None, help="override the config's batch size")
    ap.add_argument("--workers", type=int, default=4, help="data loader workers with --gpu")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    real = None
    if not args.no_real and (eval_real.VAL / "manifest.csv").is_file():
        real = eval_real.load_real()
    for name in [n for n in JOBS if fnmatch.fnmatch(n, args.only)]:
        if args.score_real:
            if real is None:
                raise SystemExit(f"--score-real needs the real validation set at {eval_real.VAL}")
            if not (args.out / f"{name}.safetensors").is_file():
                continue
            row = score_real(name, args.out, real)
        else:
            row = train_one(name, args.seed, args.minutes, args.root, args.out, real, args.threads, args.epochs,
                            args.augment, args.scale, args.max_train, args.gpu, args.batch_size, args.workers,
                            args.anneal)
        if "dropped" in row:
            for ext in (".safetensors", ".json"):
                (args.out / f"{name}{ext}").unlink(missing_ok=True)
        print(json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    main()
