"""Evaluate shipped (or given) checkpoints on the real validation spectra (../shared/data/real/validation).

Main-class accuracy (O..M, GALAXY, QSO; subclasses like 'K5' map to 'K'; stars-only checkpoints
on stars only), confusion matrices, and for SCA-Net the fraction of A-M stars whose predicted
Teff lies in the band of their MK type. Private helper of the mock/retraining work; the public
benchmark is ``benchmarks/real_spectra.py``.

    python scripts/eval_real.py [--models 'convnext1d*'] [--dir DIR] [--split all|eval|finetune] [--out JSON]
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import spectool
from spectool.mock.spectype import MK_TEFF_BANDS
from spectool.train.finetune import main_class

VAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "validation"
STAR = tuple("OBAFGKM")


def load_real(split: str = "all", root: Path = VAL) -> tuple[pd.DataFrame, list]:
    man = pd.read_csv(root / "manifest.csv")
    if split != "all":
        man = man[man["split"] == split].reset_index(drop=True)
    spectra = [spectool.read(root / "files" / f) for f in man["file"]]
    return man, spectra


def usable(model, spectra: list) -> np.ndarray:
    """Rows whose spectrum passes the model's preprocess recipe (others are counted as wrong)."""
    from spectool.preprocess import apply

    recipe = (getattr(model, "card", {}) or {}).get("preprocess") or model.preprocess
    ok = np.ones(len(spectra), bool)
    for i, s in enumerate(spectra):
        try:
            apply(recipe, s)
        except Exception:  # noqa: BLE001 - reported as a failed row
            ok[i] = False
    return ok


def _predict(model, spectra: list) -> tuple[pd.DataFrame, np.ndarray]:
    """``spectool.predict`` on every spectrum and the rows it could predict (the others are error
    rows: window not covered, preprocessing failure; they count as wrong)."""
    pred = spectool.predict(model, spectra)
    return pred, pred["error"].fillna("").eq("").to_numpy()


def evaluate_model(model, man: pd.DataFrame, spectra: list) -> dict:
    card = getattr(model, "card", {}) or {}
    if card.get("task") == "regression":
        sel = man["main_class"].isin(list(MK_TEFF_BANDS)).to_numpy()
        idx = np.flatnonzero(sel)
        pred, _ = _predict(model, [spectra[i] for i in idx])
        if "teff" not in pred:
            return {}
        cls = man["main_class"].to_numpy()[idx]
        t = pred["teff"].to_numpy(dtype=float)  # NaN on error rows
        ok = np.array([MK_TEFF_BANDS[c][0] <= v <= MK_TEFF_BANDS[c][1] for c, v in zip(cls, t)])
        per = {c: float(ok[cls == c].mean()) for c in MK_TEFF_BANDS if (cls == c).any()}
        return {"teff_in_band": float(ok.mean()), "n": int(ok.size), "per_type": per,
                "median_teff": {c: float(np.nanmedian(t[cls == c])) for c in MK_TEFF_BANDS if (cls == c).any()}}
    names = [main_class(n) for n in model.output_names]
    stars_only = not ({"GALAXY", "QSO"} & set(names))
    keep = man["main_class"].isin(STAR if stars_only else STAR + ("GALAXY", "QSO")).to_numpy()
    idx = np.flatnonzero(keep)
    pred, g = _predict(model, [spectra[i] for i in idx])
    # predict's main class (the main class whose subclasses together are most probable), as a user gets it
    yhat = np.where(g, pred["pred_main_class"].to_numpy(dtype=object), "FAILED").astype(object)
    y = man["main_class"].to_numpy()[idx]
    labels = [c for c in STAR + ("GALAXY", "QSO", "FAILED") if c in set(y) | set(yhat)]
    cm = pd.crosstab(pd.Series(y, name="true"), pd.Series(yhat, name="pred")).reindex(index=labels, columns=labels, fill_value=0)
    res = {"accuracy": float((yhat == y).mean()), "n": int(idx.size), "n_failed": int((~g).sum()), "n_pred_classes": int(len(set(yhat))),
           "stars_only": stars_only, "confusion": {"labels": labels, "matrix": cm.to_numpy().tolist()}}
    if not stars_only:
        st = np.isin(y, STAR)
        res["accuracy_stars"] = float((yhat[st] == y[st]).mean())
        res["accuracy_gal_qso"] = float((yhat[~st] == y[~st]).mean())
        for sv in ("LAMOST", "SDSS"):
            m = man["survey"].to_numpy()[idx] == sv
            res[f"accuracy_{sv.lower()}"] = float((yhat[m] == y[m]).mean()) if m.any() else None
    if "split" in man:
        ev = man["split"].to_numpy()[idx] == "eval"
        res["accuracy_eval"] = float((yhat[ev] == y[ev]).mean()) if ev.any() else None
    return res


def main(argv=None) -> dict:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="*")
    ap.add_argument("--dir", type=Path, default=None, help="directory of NAME.safetensors instead of the package")
    ap.add_argument("--split", default="all")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--confusion", action="store_true")
    a = ap.parse_args(argv)
    man, spectra = load_real(a.split)
    if a.dir is None:
        names = [n for n in spectool.models.list_pretrained() if fnmatch.fnmatch(n, a.models)]
        paths = {n: n for n in names}
    else:
        paths = {p.stem: str(p) for p in sorted(a.dir.glob("*.safetensors")) if fnmatch.fnmatch(p.stem, a.models)}
    out = {}
    for n, p in paths.items():
        if n.startswith("spfusion"):
            continue
        model = spectool.models.load(p)
        r = evaluate_model(model, man, spectra)
        out[n] = r
        short = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k not in ("confusion",)}
        print(n, short, flush=True)
        if a.confusion and "confusion" in r:
            c = r["confusion"]
            print(pd.DataFrame(c["matrix"], index=c["labels"], columns=c["labels"]).to_string(), flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
