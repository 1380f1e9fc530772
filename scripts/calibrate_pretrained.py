"""Fit the trust statistics of the shipped checkpoints on synthetic mock data.

For each pretrained model (default: all) the mock dataset named on its card
(``training.dataset``, ``size``, ``mock_seed``, ``fold``) is regenerated and the
``"calibration"`` key of its JSON card (``spectool/data/pretrained/<name>.json``) is
(re)written; the weights file is not touched. Rerun it after retraining a checkpoint:
the statistics record the sha256 of the weights they were fitted for, and
:func:`spectool.predict` ignores stale ones. Deterministic (fixed seeds), so a rerun on the
same weights writes the same card.

Data (all synthetic mock spectra, never real ones):

* fit set: the training rows of the card's fold (label ranges and S/N floor from all of
  them; feature statistics and the regression head ensemble from at most 1000);
* calibration set: the fold's validation rows plus 800 spectra of independent mock
  draws (generator seeds ``mock_seed + 1000``, ``+ 1002``, ... until 800 rows are
  reached): temperature, top-label map, OOD threshold (95th percentile), uncertainty
  scale;
* test set: the fold's test rows plus 800 spectra of further independent draws (seeds
  ``mock_seed + 1001``, ``+ 1003``, ...): ECE before/after, flagged fraction, 1-sigma
  coverage. (The quick presets hold 280-2198 spectra, too few for a stable ECE.)

Stars-only classifiers are also shown mock galaxies and QSOs (from ``mspc/FC-S``) to
measure how well the OOD score (Mahalanobis, and the energy score for comparison)
separates a kind of spectrum they never saw (ROC AUC).

    python scripts/calibrate_pretrained.py [NAME ...] [--threads 1] [--max-rows N]
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

import spectool
from spectool import trust
from spectool._atomic import sha256_file
from spectool.datasets import preset
from spectool.mock.build import MOCK_VERSION
from spectool.inference import _FORWARD, _INVERSE, _Rows, model_outputs, output_spec
from spectool.models.pretrained import list_pretrained, pretrained_card, pretrained_dir, pretrained_path

EXTRA_ROWS = 800
FIT_CAP = 1000
CAL_SEED, TEST_SEED = 1000, 1001
PROXY_CAP = 300
#: where the model runs (``--device``); the statistics do not depend on it beyond float round-off
DEVICE = "cpu"


def _pick(n: int, cap: int, seed: int) -> np.ndarray:
    idx = np.arange(n)
    if n <= cap:
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, cap, replace=False))


class Part:
    """Rows of one mock dataset: model outputs/features, labels and S/N."""

    def __init__(self, model: torch.nn.Module, ds: Any, rows: np.ndarray) -> None:
        self.rows = rows
        imgs = None if ds.images is None or not getattr(model, "needs_image", False) else _Rows(ds.images, rows)
        self.features, self.out = model_outputs(model, _Rows(ds.flux, rows), imgs, batch_size=32, device=DEVICE)
        self.labels = ds.labels[rows]
        self.snr = ds.snr[rows]


def _cat(parts: list[Part], attr: str) -> np.ndarray:
    return np.concatenate([getattr(p, attr) for p in parts if len(p.rows)])


def calibrate(name: str, max_rows: int | None = None) -> dict[str, Any]:
    """The calibration statistics of the pretrained model ``name``; ``max_rows`` caps every
    part (fit, validation, test, each extra draw, the galaxy/QSO proxy) for a quicker fit."""
    cap = max_rows or 10 ** 9
    card = pretrained_card(name)
    tr = card.get("training") or {}
    if tr.get("source") != "mock" or not tr.get("dataset"):
        raise SystemExit(f"{name}: card has no mock training dataset; cannot calibrate")
    dataset, size = tr["dataset"], tr.get("size", "quick")
    seed, fold = int(tr.get("mock_seed", 0)), int(tr.get("fold", 0))
    model = spectool.models.load(name)
    model.card.pop("calibration", None)
    ds0 = spectool.datasets.load(dataset, size=size, seed=seed)
    train = ds0.indices("train", fold)
    fit = Part(model, ds0, train[_pick(len(train), min(FIT_CAP, cap), seed)])
    seeds_used: dict[int, list[int]] = {}
    val, test = ds0.indices("val", fold), ds0.indices("test", fold)
    cal_parts = [Part(model, ds0, val[_pick(len(val), cap, seed)])]
    test_parts = [Part(model, ds0, test[_pick(len(test), cap, seed)])]
    for first, parts in ((CAL_SEED, cal_parts), (TEST_SEED, test_parts)):
        used = []
        for extra_seed in range(seed + first, seed + first + 40, 2):
            ds = spectool.datasets.load(dataset, size=size, seed=extra_seed)
            want = min(EXTRA_ROWS, cap) - sum(len(p.rows) for p in parts[1:])
            parts.append(Part(model, ds, _pick(len(ds), want, extra_seed)))
            used.append(extra_seed)
            if want <= len(ds):
                break
        seeds_used[first] = used
    cal_out, test_out = _cat(cal_parts, "out"), _cat(test_parts, "out")
    cal_feat, test_feat = _cat(cal_parts, "features"), _cat(test_parts, "features")
    cal_y, test_y = _cat(cal_parts, "labels"), _cat(test_parts, "labels")
    p = preset(dataset)
    snr_min = float(p.snr_min) if p.snr_min > 0 else float(np.nanpercentile(ds0.snr[train], 1))
    train_labels = ds0.labels[train]
    classifier = model.card.get("task", "classification") == "classification"
    ood = trust.fit_feature_density(fit.features, fit.labels if classifier else None)
    cal_score = trust.feature_distance(ood, cal_feat)
    test_score = trust.feature_distance(ood, test_feat)
    threshold = float(np.percentile(cal_score, trust.OOD_PERCENTILE))
    ood.update(threshold=threshold, percentile=trust.OOD_PERCENTILE, threshold_99=float(np.percentile(cal_score, 99)),
               mock_test_flagged=float(np.mean(test_score > threshold)))
    result: dict[str, Any] = {
        "fitted_on": {"source": "mock", "dataset": dataset, "size": size, "fold": fold, "mock_version": MOCK_VERSION,
                      "mock_seed": seed, "calibration_seeds": seeds_used[CAL_SEED],
                      "test_seeds": seeds_used[TEST_SEED], "max_rows": max_rows, "n_fit": int(len(fit.rows)),
                      "n_calibration": int(len(cal_out)), "n_test": int(len(test_out))},
        "snr_min": snr_min, "spectool_version": spectool.__version__,
        "weights_sha256": sha256_file(pretrained_path(name)),
    }
    if classifier:
        chosen = trust.fit_calibration(cal_out, cal_y, seed=seed)
        temperature = chosen["temperature"]
        pred = test_out.argmax(1)
        ece = {key: trust.expected_calibration_error(trust.calibrated_probabilities(test_out, c), test_y, pred=pred)
               for key, c in (("ece_before", None), ("ece_temperature", {"temperature": temperature}),
                              ("ece_after", chosen))}
        acc = float(np.mean(pred == test_y))
        result.update(chosen, **ece, ece_bins=trust.ECE_BINS, mock_test_accuracy=acc)
        energy_cal = trust.energy_score(cal_out, temperature)
        proxy = _stars_only_proxy(model, dataset, size, seed, min(PROXY_CAP, cap))
        if proxy is not None:
            feats, logits = proxy
            maha = trust.feature_distance(ood, feats)
            ood["proxy_galaxy_qso"] = {
                "n": int(len(feats)), "flagged": float(np.mean(maha > threshold)),
                "auroc_mahalanobis": trust.roc_auc(test_score, maha),
                "auroc_energy": trust.roc_auc(trust.energy_score(test_out, temperature),
                                              trust.energy_score(logits, temperature)),
                "energy_flagged_at_95th": float(np.mean(trust.energy_score(logits, temperature)
                                                        > np.percentile(energy_cal, trust.OOD_PERCENTILE)))}
    else:
        targets, index, transforms = output_spec(model)
        tcols = [ds0.targets.index(t) for t in targets]
        raw = np.zeros((len(fit.rows), fit.out.shape[1]))
        for t, i, trf, c in zip(targets, index, transforms, tcols):
            raw[:, i] = _FORWARD[trf](fit.labels[:, c].astype(np.float64))
        ens = trust.fit_head_ensemble(fit.features, raw)
        scale, coverage, range_ = {}, {}, {}
        cal_m, test_m = trust.ensemble_outputs(ens, cal_feat), trust.ensemble_outputs(ens, test_feat)
        outside = np.zeros(len(test_out), bool)
        for t, i, trf, c in zip(targets, index, transforms, tcols):
            lo, hi = float(np.min(train_labels[:, c])), float(np.max(train_labels[:, c]))
            range_[t] = [lo, hi]
            spread = np.std(_INVERSE[trf](cal_m[:, :, i]), axis=0)
            err = np.abs(_INVERSE[trf](cal_out[:, i].astype(np.float64)) - cal_y[:, c])
            scale[t] = float(np.median(err / np.maximum(spread, 1e-12)) / trust.GAUSS_MAD)
            tsig = np.std(_INVERSE[trf](test_m[:, :, i]), axis=0) * scale[t]
            tval = _INVERSE[trf](test_out[:, i].astype(np.float64))
            coverage[t] = float(np.mean(np.abs(tval - test_y[:, c]) <= tsig))
            outside |= (tval < lo) | (tval > hi)
        ens.update(scale=scale, mock_test_coverage_1sigma=coverage)
        result.update(ensemble=ens, label_range=range_, mock_test_outside_range=float(np.mean(outside)))
    result["ood"] = ood
    return result


def _stars_only_proxy(model: torch.nn.Module, dataset: str, size: str, seed: int, cap: int
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """Features and logits of mock galaxies and QSOs (``mspc/FC-S``) for a stars-only MSPC-recipe classifier."""
    names = set(model.card.get("output_names") or [])
    if names & {"GALAXY", "QSO"} or model.card.get("preprocess") != "mspcnet" or not dataset.startswith("mspc/"):
        return None
    fc = spectool.datasets.load("mspc/FC-S", size=size, seed=seed + TEST_SEED)
    rows = np.flatnonzero(fc.meta["label"].isin(["GALAXY", "QSO"]).to_numpy())
    rows = rows[_pick(len(rows), cap, seed)]  # the FC-S draw is unseen: test seed
    feats, logits = model_outputs(model, _Rows(fc.flux, rows), batch_size=32, device=DEVICE)
    return feats, logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="pretrained names or globs (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="torch device of the forward passes (e.g. cuda)")
    ap.add_argument("--max-rows", type=int, default=None,
                    help="cap every data part at this many spectra (quicker, noisier; recorded in the card)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = args.device
    import fnmatch

    names = []  # in the order of the patterns given
    for g in args.names or ["*"]:
        names += [n for n in list_pretrained() if fnmatch.fnmatch(n, g) and n not in names]
    for name in names:
        t0 = time.time()
        cal = calibrate(name, args.max_rows)
        trust.write_calibration(pretrained_dir() / f"{name}.json", cal)
        summary = {k: cal[k] for k in ("temperature", "method", "ece_before", "ece_temperature", "ece_after",
                                       "mock_test_accuracy",
                                       "mock_test_outside_range") if k in cal}
        if "ensemble" in cal:
            summary["coverage_1sigma"] = cal["ensemble"]["mock_test_coverage_1sigma"]
        summary["ood_threshold"] = cal["ood"]["threshold"]
        summary["mock_test_flagged_ood"] = cal["ood"]["mock_test_flagged"]
        if "proxy_galaxy_qso" in cal["ood"]:
            summary["proxy"] = cal["ood"]["proxy_galaxy_qso"]
        print(json.dumps({"name": name, **trust.round_floats(summary, 4), "seconds": round(time.time() - t0)}),
              flush=True)


if __name__ == "__main__":
    main()
