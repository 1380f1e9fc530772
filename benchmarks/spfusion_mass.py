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
  collapsed network predicts one value for every star);
* ``conditioning`` (with ``--conditioning``): why the networks collapse. On a store
  ``--scale`` x the quick size (fold 0, all training rows) a small 3-layer CNN
  (:class:`TinyCNN`, Adam, cosine schedule) is trained on the mass alone, same seed and steps, once on the
  model-ready min-max flux (the paper's input) and once on continuum-normalised flux
  (:func:`continuum_normalise`: flux over its running median, minus 1), with ridge on both
  inputs as the linear reference. Test MAE every ``--steps`` / 4 steps. This is a diagnosis,
  not a change of the paper's preprocessing.
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


def continuum_normalise(flux: np.ndarray, window: int = 101) -> np.ndarray:
    """Each spectrum divided by its running median over ``window`` pixels (1 A each for the
    SPFusion grid), minus 1: line depths remain, continuum shape and flux scale do not."""
    from scipy.ndimage import median_filter

    cont = median_filter(flux, size=(1, window), mode="nearest")
    return flux / np.maximum(cont, 1e-3) - 1.0


class TinyCNN(torch.nn.Module):
    """Three strided convolutions, global average pooling and a linear head (about 4,900 weights)."""

    def __init__(self, width: int = 16):
        super().__init__()
        layers, c = [], 1
        for k in (9, 9, 9):
            layers += [torch.nn.Conv1d(c, width, k, stride=2, padding=k // 2), torch.nn.BatchNorm1d(width),
                       torch.nn.ReLU()]
            c = width
        self.body = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.body(x[:, None])).squeeze(1)


def train_tiny(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, steps: int,
               seed: int = 0, batch: int = 32, lr: float = 1e-3) -> dict:
    """Test MAE (units of ``y``) of :class:`TinyCNN` trained with Adam (cosine-annealed to 0 over
    ``steps``) on standardised ``y``, recorded 4 times; and the spread of the final predictions."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mu, sd = float(y[train].mean()), float(y[train].std())
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(((y - mu) / sd).astype(np.float32))
    net, curve, t0 = TinyCNN(), {}, time.perf_counter()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(1, steps + 1):
        rows = torch.from_numpy(rng.choice(train, batch))
        net.train()
        loss = torch.nn.functional.mse_loss(net(xt[rows]), yt[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, steps // 4) == 0 or step == steps:
            net.eval()
            with torch.no_grad():
                pred = net(xt[torch.from_numpy(test)]).numpy() * sd + mu
            curve[str(step)] = round(float(np.abs(pred - y[test]).mean()), 4)
    return {"test_mae_by_step": curve, "pred_std": round(float(pred.std()), 4),
            "seconds": round(time.perf_counter() - t0, 1)}


def conditioning(scale: int, steps: int, root: Path) -> dict:
    """Min-max against continuum-normalised input, for a small CNN and for ridge (mass, Msun)."""
    from spectool.datasets.presets import preset
    from spectool.mock.build import build_preset

    store = root / f"redclump-x{scale}"
    build_preset(preset(DATASET), seed=0, out=store, scale=scale, progress=False)
    ds = spectool.datasets.load(DATASET, source=store)
    sp = make_splits(ds, DataConfig(dataset=DATASET, store=str(store), fold=0), 42)
    valid = np.isfinite(np.asarray(ds.wavelength))
    minmax = np.nan_to_num(np.asarray(ds.flux, dtype=np.float64)[:, valid])
    mass = np.asarray(ds.labels, dtype=np.float64)[:, list(ds.targets).index("mass")]
    out = {"scale": scale, "n_train": int(sp.train.size), "n_val": int(sp.val.size), "n_test": int(sp.test.size),
           "constant": round(float(np.abs(mass[sp.test] - np.median(mass[sp.test])).mean()), 4),
           "cnn": {"steps": steps, "batch": 32, "optimizer": "Adam lr 1e-3, cosine to 0", "loss": "MSE on standardised mass",
                   "seed": 0}}
    for name, x in (("minmax", minmax), ("continuum_normalised", continuum_normalise(minmax))):
        pred, alpha = ridge_baseline(x, mass[:, None], sp.train, sp.val, sp.test)
        out[name] = {"ridge": round(float(np.abs(pred[:, 0] - mass[sp.test]).mean()), 4), "ridge_alpha": alpha,
                     "cnn": train_tiny(x, mass, sp.train, sp.test, steps)}
        print(name, out[name], flush=True)
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
    ap.add_argument("--conditioning", action="store_true",
                    help="also run the min-max vs continuum-normalised diagnosis (a few minutes)")
    ap.add_argument("--scale", type=int, default=4, help="store size of --conditioning, x the quick size")
    ap.add_argument("--steps", type=int, default=2000, help="training steps of --conditioning")
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
    elif OUT.is_file() and "spfusion_quick" in json.loads(OUT.read_text()):
        result["spfusion_quick"] = json.loads(OUT.read_text())["spfusion_quick"]  # keep the last measured run
    if args.conditioning:
        with tempfile.TemporaryDirectory() as tmp:
            result["conditioning"] = conditioning(args.scale, args.steps, Path(tmp))
    result["machine"] = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.machine(),
                         "load_average": [round(v, 2) for v in os.getloadavg()],
                         "note": "2 shared cores, other jobs running: timings are disturbed"}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
