"""Benchmark / diagnosis of issue 16: does SPFusion learn red-clump mass on the mock (quick mode)?

Run: ``python benchmarks/spfusion_mass.py [--skip-train]``; writes
``benchmarks/results/spfusion_mass.json``. Everything here is **synthetic mock data**
(``spfusion/redclump``, quick size, mock seed 0); none of these numbers is a paper or
real-data result.

On the rows of fold 0 exactly as ``spectool figures --mode quick`` trains them (the
``spf_models`` quick protocol of :mod:`spectool.papers._context`: ``max_train`` 210,
``max_val`` 60, ``max_test`` 90, run seed 42) it measures, for mass (Msun) and age (Gyr):

* ``constant``: the best constant, the median of the evaluated truth (the papers'
  sanity gate, :func:`spectool.papers._context.sanity_gate`);
* ``ridge_flux``: ridge regression on the model-ready flux (``preprocess="spfusion"``:
  min-max, 4000-9000 A, padding dropped), fitted on the training rows with the ridge
  strength chosen on the validation rows (:func:`ridge_baseline`);
* ``ridge_cn_ch``: the same on 4000-4450 A only (CN 4216 A and CH G-band 4305 A, the
  mock's [C/N] features inside SPFusion's window);
* ``ridge_learning_curve``: ridge on 70 / all training rows (how the linear baseline
  scales with the training-set size);
* ``spfusion_quick`` (unless ``--skip-train``): the SPFusion run of the papers' quick
  protocol, through the same code (:func:`spectool.papers._context.reduced_experiment`
  and :func:`spectool.train.cross_validate`), with the spread of its predictions (a
  collapsed network predicts one value for every star).
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
import torch  # noqa: E402

import spectool  # noqa: E402
from spectool.train.config import DataConfig  # noqa: E402
from spectool.train.data import make_splits  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "spfusion_mass.json"
DATASET = "spfusion/redclump"
CN_CH_WINDOW = (4000.0, 4450.0)  # vacuum Angstrom: CN 4216 A band and CH G band (4305 A)


def quick_splits(ds):
    """Train / val / test rows of fold 0 as the papers' quick ``spf_models`` step draws them."""
    from spectool.papers._context import EXPERIMENTS

    p = EXPERIMENTS["spf_models"][1]["quick"]
    cfg = DataConfig(dataset=DATASET, size="quick", fold=p.folds[0], max_train=p.max_train, max_val=p.max_val,
                     max_test=p.max_test)
    return make_splits(ds, cfg, 42)


def ridge_baseline(x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, test: np.ndarray,
                   alphas=tuple(10.0 ** np.arange(-4, 4))) -> tuple[np.ndarray, float]:
    """Ridge predictions on ``test`` (columns centred on the training rows, strength chosen on
    ``val``), and the chosen strength. Dual form: the feature count exceeds the row count."""
    mu_x, mu_y = x[train].mean(0), y[train].mean(0)
    xt = x[train] - mu_x
    gram = xt @ xt.T
    best = None
    for a in alphas:
        coef = xt.T @ np.linalg.solve(gram + a * np.eye(len(train)), y[train] - mu_y)
        err = np.abs((x[val] - mu_x) @ coef + mu_y - y[val]).mean()
        if best is None or err < best[0]:
            best = (err, a, coef)
    _, a, coef = best
    return (x[test] - mu_x) @ coef + mu_y, float(a)


def _mae(pred: np.ndarray, truth: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in np.abs(np.asarray(pred) - truth).mean(0)]


def baselines(ds, sp) -> dict:
    targets = list(ds.targets)
    y = np.asarray(ds.labels, dtype=np.float64)
    wave = np.asarray(ds.wavelength)
    valid = np.isfinite(wave)
    flux = np.asarray(ds.flux, dtype=np.float64)
    test = sp.test
    out = {"targets": targets, "n_train": int(sp.train.size), "n_val": int(sp.val.size), "n_test": int(test.size)}
    out["constant"] = dict(zip(targets, _mae(np.median(y[test], 0)[None], y[test])))
    for name, sel in (("ridge_flux", valid), ("ridge_cn_ch", valid & (wave > CN_CH_WINDOW[0]) & (wave < CN_CH_WINDOW[1]))):
        pred, alpha = ridge_baseline(flux[:, sel], y, sp.train, sp.val, test)
        out[name] = {**dict(zip(targets, _mae(pred, y[test]))), "alpha": alpha, "pixels": int(sel.sum())}
    curve = {}
    for n in (70, sp.train.size):
        pred, _ = ridge_baseline(flux[:, valid], y, sp.train[:n], sp.val, test)
        curve[str(int(n))] = dict(zip(targets, _mae(pred, y[test])))
    out["ridge_learning_curve"] = curve
    return out


def spfusion_quick(root: Path) -> dict:
    """The SPFusion cell of the papers' quick ``spf_models`` step, trained on one thread."""
    from spectool.papers._context import EXPERIMENTS, _as_dict, reduced_experiment
    from spectool.train import FitResult, cross_validate

    full, protocols = EXPERIMENTS["spf_models"]
    proto = dataclasses.replace(protocols["quick"], labels=("SPFusion",))
    exp = reduced_experiment(full, proto, "quick")
    exp.set = {**exp.set, "trainer.num_threads": 1}
    t0 = time.perf_counter()
    cv = cross_validate(_as_dict(exp), root=root, progress=False, jobs=1)
    wall = time.perf_counter() - t0
    row = cv.results.iloc[0]
    fit = FitResult.load(row["run_dir"])
    p = fit.predictions
    res = {"wall_seconds": round(wall, 1), "epochs": int(fit.done["epochs_completed"]),
           "protocol": {"epochs": proto.epochs, "max_train": proto.max_train, "lr": proto.lr, "batch_size": 16}}
    for t in ("mass", "age"):
        truth, pred = p[f"true_{t}"].to_numpy(), p[t].to_numpy()
        res[t] = {"mae": round(float(np.abs(pred - truth).mean()), 4),
                  "pred_std": round(float(pred.std()), 5), "true_std": round(float(truth.std()), 4),
                  "corr": round(float(np.corrcoef(pred, truth)[0, 1]), 3) if pred.std() > 0 else None}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-train", action="store_true", help="baselines only (no SPFusion run)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = spectool.datasets.load(DATASET, source="mock", size="quick", seed=0)
    sp = quick_splits(ds)
    result = {"what": "issue 16: SPFusion red-clump mass on the synthetic mock, fold 0 of the papers' quick mode",
              "synthetic": True, "dataset": DATASET, "size": "quick", "mock_seed": 0,
              "mock_version": int(ds.info.get("mock", {}).get("version", 0)) if hasattr(ds, "info") else None,
              "units": {"mass": "Msun", "age": "Gyr"}, "baselines": baselines(ds, sp)}
    print(json.dumps(result["baselines"], indent=1))
    if not args.skip_train:
        with tempfile.TemporaryDirectory() as tmp:
            result["spfusion_quick"] = spfusion_quick(Path(tmp))
        print(json.dumps(result["spfusion_quick"], indent=1))
    result["machine"] = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.machine(),
                         "load_average": [round(v, 2) for v in os.getloadavg()],
                         "note": "2 shared cores, other jobs running: timings are disturbed"}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
