"""How the shipped (mock-trained) checkpoints do on REAL spectra, and whether their flags help.

Reads ``../shared/data/real/validation`` (``manifest.csv``: 118 real LAMOST and SDSS
spectra with the surveys' own pipeline labels) and, for every shipped checkpoint,
prints and writes to ``benchmarks/results/real_spectra.json``:

* files read and rows with an ``error`` (e.g. window not covered), by flag;
* classifiers: main-class accuracy (O..M, GALAXY, QSO: predict's ``pred_main_class``, the
  main class whose subclasses together are most probable; stars-only
  checkpoints are scored on stars only), the confusion matrix (catalogue main class x predicted main class), the
  accuracy among unflagged predictions, the flagged fraction, the OOD-flagged
  fraction of spectra of a kind the checkpoint never saw (galaxies, QSOs, white dwarfs,
  CVs for stars-only checkpoints; ``ood`` includes the kind gate's verdict, see
  :mod:`spectool.trust`), the ROC AUC of the OOD score for telling wrong from right
  predictions, the margin of unflagged over overall accuracy, and the same predictions
  under low-confidence thresholds 0.5-0.9 (``min_confidence_sweep``; the default is 0.8);
* SCA-Net: the fraction of stars whose predicted Teff lies in the Teff band of their
  catalogued MK type (A 7300-10500 K, F 5900-7500, G 5100-6200, K 3800-5400,
  M 2300-4100), overall and among unflagged predictions, and the out-of-range count.

Every figure is given for all files and for the ``eval`` split. The fine-tuning runs that
``scripts/finetune_demo.py`` recorded (``benchmarks/results/finetune*.json``) are added as a
before/after table (``finetuned``). The checkpoints were
trained on synthetic mock data only; these are real-data numbers of mock-trained models.

Hook for other models (e.g. fine-tuned ones)::

    from benchmarks.real_spectra import load_real_set, evaluate_model
    data = load_real_set()
    row = evaluate_model(my_model_or_checkpoint_name, data, label="mspcnet-finetuned")

    python benchmarks/real_spectra.py [--only 'mspcnet*' ...] [--root DIR] [--out FILE]
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import spectool  # noqa: E402
from spectool._atomic import atomic_write_text  # noqa: E402
from spectool.mock.spectype import MK_TEFF_BANDS  # noqa: E402

DEFAULT_ROOT = ROOT.parent / "shared" / "data" / "real" / "validation"
RESULTS = ROOT / "benchmarks" / "results" / "real_spectra.json"
STARS = ["O", "B", "A", "F", "G", "K", "M"]
MAIN_CLASSES = STARS + ["GALAXY", "QSO"]


@dataclass
class RealSet:
    """The validation spectra: manifest rows and, per row, the Spectrum or the file path when it did not read."""

    manifest: pd.DataFrame
    inputs: list[Any]
    read_errors: dict[str, str]


def load_real_set(root: str | Path = DEFAULT_ROOT) -> RealSet:
    """Read every file of ``root/manifest.csv`` once (unreadable ones stay as paths: predict reports them)."""
    root = Path(root)
    manifest = pd.read_csv(root / "manifest.csv", keep_default_na=False)
    inputs, errors = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in manifest["file"]:
            path = root / "files" / f
            try:
                got = spectool.read(path)
                inputs.append(got[0] if isinstance(got, list) else got)
            except Exception as exc:  # noqa: BLE001 - reported, and predict turns the path into an error row
                errors[f] = f"{type(exc).__name__}: {exc}"
                inputs.append(path)
    return RealSet(manifest, inputs, errors)


def _confusion(true: list[str], pred: list[str]) -> dict[str, dict[str, int]]:
    rows = [c for c in MAIN_CLASSES + sorted(set(true) - set(MAIN_CLASSES)) if c in set(true)]
    cols = [c for c in MAIN_CLASSES if c in set(pred) | set(true)]
    return {t: {p: int(sum(1 for a, b in zip(true, pred) if a == t and b == p)) for p in cols} for t in rows}


def _finite(v: float) -> float | str:
    """A float for JSON: non-finite values (2**huge log Teff overflows) as a string."""
    v = float(v)
    return v if np.isfinite(v) else str(v)


def _frac(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if len(x) else None


def _classifier_scores(df: pd.DataFrame, man: pd.DataFrame, names: list[str]) -> dict[str, Any]:
    stars_only = not ({"GALAXY", "QSO"} & set(names))
    known = set(STARS) if stars_only else set(MAIN_CLASSES)
    truth = man["main_class"].to_numpy()
    pred = df["pred_main_class"].to_numpy(dtype=object)
    has = (df["error"] == "").to_numpy()
    flagged = (df["flag"] != "").to_numpy()
    scored = has & np.isin(truth, list(known))
    correct = (pred == truth) & scored
    unseen = np.isin(truth, list(set(MAIN_CLASSES + ["WD", "CV"]) - known))
    ood = np.array(["ood" in f.split(";") for f in df["flag"]])
    from spectool.trust import roc_auc

    score = df["ood_score"].to_numpy()
    ok = scored & np.isfinite(score)
    # the same predictions under other low-confidence thresholds (the other flags unchanged)
    other = np.array([any(f and f != "low_confidence" for f in s.split(";")) for s in df["flag"]])
    main_prob = df["pred_main_prob"].to_numpy(dtype=float)
    sweep = {}
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        fl = other | (main_prob < t)
        sweep[str(t)] = {"unflagged_accuracy": _frac(correct[scored & ~fl]), "flagged_fraction": _frac(fl[scored])}
    acc, unfl = _frac(correct[scored]), _frac(correct[scored & ~flagged])
    return {
        "evaluated_on": "stars (O..M)" if stars_only else "O..M, GALAXY, QSO",
        "n_scored": int(scored.sum()),
        "accuracy": _frac(correct[scored]),
        "flagged_fraction": _frac(flagged[scored]),
        "n_unflagged": int((scored & ~flagged).sum()),
        "unflagged_accuracy": _frac(correct[scored & ~flagged]),
        "flagged_accuracy": _frac(correct[scored & flagged]),
        "unflagged_minus_overall_pp": None if acc is None or unfl is None else round(100 * (unfl - acc), 1),
        "min_confidence_sweep": sweep,
        "ood_flagged_fraction": _frac(ood[scored]),
        "low_confidence_fraction": _frac(np.array(["low_confidence" in f.split(";") for f in df["flag"]])[scored]),
        "unseen_kind_n": int((unseen & has).sum()),
        "unseen_kind_ood_flagged": _frac(ood[unseen & has]),
        "unseen_kind_flagged": _frac(flagged[unseen & has]),
        "ood_auroc_wrong_vs_right": roc_auc(score[ok & correct], score[ok & ~correct]) if ok.any() else None,
        "confusion": _confusion(list(truth[scored]), list(pred[scored])),
    }


def _teff_scores(df: pd.DataFrame, man: pd.DataFrame) -> dict[str, Any]:
    truth = man["main_class"].to_numpy()
    has = (df["error"] == "").to_numpy()
    flagged = (df["flag"] != "").to_numpy()
    stars = has & np.isin(truth, list(MK_TEFF_BANDS))
    teff = df["teff"].to_numpy()
    lo = np.array([MK_TEFF_BANDS.get(t, (np.nan, np.nan))[0] for t in truth])
    hi = np.array([MK_TEFF_BANDS.get(t, (np.nan, np.nan))[1] for t in truth])
    inband = (teff >= lo) & (teff <= hi)
    outside = np.array(["outside_training_labels" in f.split(";") for f in df["flag"]])
    rng = {t: [_finite(np.nanmin(df[t])), _finite(np.nanmax(df[t]))] if has.any() else None
           for t in ("teff", "logg", "feh") if t in df}
    nonstar = has & ~np.isin(truth, STARS)
    return {
        "n_stars_A_to_M": int(stars.sum()),
        "teff_in_mk_band": _frac(inband[stars]),
        "flagged_fraction": _frac(flagged[stars]),
        "n_unflagged": int((stars & ~flagged).sum()),
        "teff_in_mk_band_unflagged": _frac(inband[stars & ~flagged]),
        "teff_in_mk_band_flagged": _frac(inband[stars & flagged]),
        "outside_training_labels": int(outside[has].sum()),
        "predicted_range": rng,
        "median_teff_err_K": float(np.nanmedian(df["teff_err"][has])) if has.any() else None,
        "nonstar_n": int(nonstar.sum()),
        "nonstar_flagged": _frac(flagged[nonstar]),
        "by_mk_type": {t: {"n": int((stars & (truth == t)).sum()),
                           "median_teff": float(np.nanmedian(teff[stars & (truth == t)]))
                           if (stars & (truth == t)).any() else None,
                           "in_band": _frac(inband[stars & (truth == t)])} for t in MK_TEFF_BANDS},
    }


def evaluate_model(model: Any, data: RealSet, label: str | None = None, splits: tuple[str, ...] = ("all", "eval"),
                   batch_size: int = 32) -> dict[str, Any]:
    """Predict every validation spectrum with ``model`` (a checkpoint name, path or model) and score it.

    Returns a JSON-ready dict: ``name``, ``files``/``read``/``errors``, and per split
    (``all``, ``eval``) the classifier or SCA-Net figures described in the module docstring.
    """
    t0 = time.time()
    net = spectool.models.load(model) if isinstance(model, (str, Path)) else model
    card = getattr(net, "card", None) or {}
    name = label or card.get("pretrained_name") or str(model)
    out: dict[str, Any] = {"name": name, "files": len(data.manifest),
                           "read": len(data.manifest) - len(data.read_errors),
                           "trained_on": (card.get("training") or {}).get("source")}
    if getattr(net, "needs_image", False):
        out["skipped"] = "needs g,r,i image cutouts; the validation set has none"
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = spectool.predict(net, data.inputs, batch_size=batch_size, progress=False)
    out["calibrated"] = bool(df.attrs.get("calibrated"))
    out["errors"] = {str(k): int(v) for k, v in df.loc[df["error"] != "", "flag"].value_counts().items()}
    out["flags"] = {f: int(sum(f in s.split(";") for s in df["flag"])) for f in
                    ("ood", "low_snr", "low_confidence", "outside_training_labels", "window_not_covered",
                     "unreadable", "failed")}
    task = card.get("task", getattr(net, "task", "classification"))
    for split in splits:
        sel = np.ones(len(df), bool) if split == "all" else (data.manifest["split"] == split).to_numpy()
        d, m = df[sel].reset_index(drop=True), data.manifest[sel].reset_index(drop=True)
        if task == "classification":
            out[split] = _classifier_scores(d, m, list(getattr(net, "output_names", [])))
        elif "teff" in d.columns:
            out[split] = _teff_scores(d, m)
    out["seconds"] = round(time.time() - t0, 1)
    return out


def _print(row: dict[str, Any]) -> None:
    print(f"\n== {row['name']}  (files {row['files']}, read {row['read']}, error rows {row.get('errors', {})})")
    if "skipped" in row:
        print(f"   skipped: {row['skipped']}")
        return
    for split in ("all", "eval"):
        s = row.get(split)
        if not s:
            continue
        if "accuracy" in s:
            def pct(v):
                return "n/a" if v is None else f"{100 * v:.1f}%"
            print(f"   [{split}] {s['evaluated_on']}: n {s['n_scored']}, accuracy {pct(s['accuracy'])}, "
                  f"unflagged accuracy {pct(s['unflagged_accuracy'])} (n {s['n_unflagged']}; "
                  f"{s['unflagged_minus_overall_pp']:+.1f} pp), "
                  f"flagged {pct(s['flagged_fraction'])} (OOD {pct(s['ood_flagged_fraction'])}); "
                  f"unseen kinds OOD-flagged {pct(s['unseen_kind_ood_flagged'])} of {s['unseen_kind_n']}; "
                  f"OOD AUROC wrong-vs-right {s['ood_auroc_wrong_vs_right']}")
            if split == "all":
                conf = pd.DataFrame(s["confusion"]).T.fillna(0).astype(int)
                print("   confusion (rows: catalogue main class, columns: predicted):")
                print("   " + conf.to_string().replace("\n", "\n   "))
        else:
            print(f"   [{split}] A-M stars {s['n_stars_A_to_M']}: Teff in MK band {s['teff_in_mk_band']}, "
                  f"unflagged {s['teff_in_mk_band_unflagged']} (n {s['n_unflagged']}), flagged "
                  f"{s['flagged_fraction']}; outside training labels {s['outside_training_labels']}; "
                  f"non-stars flagged {s['nonstar_flagged']} of {s['nonstar_n']}; predicted ranges "
                  f"{s['predicted_range']}")


def finetune_table(results_dir: Path = RESULTS.parent) -> list[dict[str, Any]]:
    """The fine-tuning runs of ``scripts/finetune_demo.py`` (``finetune*.json``), one row per
    pretrained model: main-class accuracy on the ``eval`` split before and after, the recipe
    chosen by cross-validation inside the ``finetune`` split, and the recipe not chosen."""
    rows = []
    for f in sorted(results_dir.glob("finetune*.json")):
        d = json.loads(f.read_text())
        cv = d.get("recipe_cv") or {}
        rows.append({"model": d["model"], "n_finetune": d["n_finetune"], "n_eval": d["n_eval"],
                     "before_eval": d["before"]["accuracy"], "recipe": d.get("recipe", "full"),
                     "cv_accuracy": {k: v["accuracy"] for k, v in cv.items()},
                     "after_eval": d["after"]["accuracy"],
                     "after_eval_not_chosen": {k: v["accuracy"] for k, v in (d.get("after_not_chosen") or {}).items()},
                     "after_confusion": d["after"]["confusion"], "source": f.name})
    return rows


def _print_finetune(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("\nno fine-tuning runs (python scripts/finetune_demo.py [--model M] writes them)")
        return
    print("\nfine-tuned on the finetune split (real spectra; weights not shipped), main class on the eval split:")
    for r in rows:
        cv = ", ".join(f"{k} {v:.1%}" for k, v in r["cv_accuracy"].items()) or "not run"
        other = ", ".join(f"{k} {v:.1%}" for k, v in r["after_eval_not_chosen"].items()) or "-"
        print(f"  {r['model']:<24} before {r['before_eval']:.1%} -> after {r['after_eval']:.1%} "
              f"(recipe {r['recipe']}; CV in the finetune split: {cv}; not chosen, for the record: {other})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="glob over pretrained names (repeatable; default all)")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if not (args.root / "manifest.csv").is_file():
        raise SystemExit(f"no validation set at {args.root}")
    t0 = time.time()
    data = load_real_set(args.root)
    print(f"read {len(data.manifest) - len(data.read_errors)} of {len(data.manifest)} files "
          f"({time.time() - t0:.1f} s); unreadable: {data.read_errors or 'none'}")
    rows = []
    globs = args.only or ["*"]
    for name in spectool.models.list_pretrained():
        if any(fnmatch.fnmatch(name, g) for g in globs):
            row = evaluate_model(name, data)
            _print(row)
            rows.append(row)
    result = {"what": "shipped checkpoints (trained on SYNTHETIC mock data) evaluated on REAL validation spectra",
              "validation_root": str(args.root), "n_files": len(data.manifest),
              "spectool_version": spectool.__version__, "seconds": round(time.time() - t0, 1), "models": rows,
              "finetuned": finetune_table()}
    _print_finetune(result["finetuned"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.only and previous.get("models"):  # a partial run keeps the other models' rows
        keep = [r for r in previous["models"] if not any(fnmatch.fnmatch(r["name"], g) for g in globs)]
        result["models"] = sorted(keep + rows, key=lambda r: r["name"])
    atomic_write_text(args.out, json.dumps(result, indent=2, default=float) + "\n")
    print(f"\n-> {args.out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
