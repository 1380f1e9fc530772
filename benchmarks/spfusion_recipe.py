"""Which training settings let SPFusion learn red-clump mass on the mock? (issue 16 diagnosis)

Run: ``python benchmarks/spfusion_recipe.py --lr 3e-4 --no-dropout [--epochs 20] [--no-images]
[--flip-images]``; appends one record per run to ``benchmarks/results/spfusion_recipe.json``.
Everything here is **synthetic mock data** (``spfusion/redclump``, 16 x the quick size, mock
seed 0, fold 0: 2240 training stars, the first 400 test stars evaluated); none of these
numbers is a paper or real-data result.

The loop is the paper's objective written out (100 x MSE(mass) + MSE(age) in Msun and Gyr,
Adam with weight decay 1e-4, batch 32, a cosine schedule over all steps, the output bias
started at the training mean) so that single settings can be switched:

* ``--lr``: the paper uses 1e-3;
* ``--no-dropout``: every Dropout and DropPath of the network at 0 (the paper: 0.2 in the
  spectral ConvNeXt blocks, 0.3 in the fusion and later modules);
* ``--no-images``: zero images instead of the mock g, r, i cutouts;
* ``--flip-images``: a random 90-degree rotation and flip of every training cutout.

After every epoch it evaluates the test stars and records the mass and age MAE, the best
constant's (median of the truth) and the spread of the predicted masses (a network that
collapsed to the mean predicts one value for every star).

``--collapse-steps N`` instead trains N steps and prints, every N/2 steps, the spread
between stars of each spectral-branch stage's output against its mean magnitude: how fast
the spectral features stop depending on the input.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import spectool  # noqa: E402
from spectool._atomic import atomic_write_text  # noqa: E402
from spectool.datasets.presets import preset as get_preset  # noqa: E402
from spectool.mock.build import MOCK_VERSION, build_preset  # noqa: E402
from spectool.models.layers import DropPath  # noqa: E402
from spectool.train.config import DataConfig  # noqa: E402
from spectool.train.data import make_splits, open_dataset  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "spfusion_recipe.json"
LOSS_WEIGHTS = torch.tensor([100.0, 1.0])  # mass, age (the paper's)


def store(scale: int, seed: int, root: Path) -> Path:
    """The red-clump mock store at ``scale`` x quick (built once, as scripts/train_pretrained.py does)."""
    p = get_preset("spfusion/redclump")
    out = root / f"{p.slug}-x{scale}-seed{seed}-v{MOCK_VERSION}"
    build_preset(p, size="quick", seed=seed, out=out, scale=scale, progress=False)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--no-dropout", action="store_true")
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("--flip-images", action="store_true")
    ap.add_argument("--collapse-steps", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=int, default=16)
    ap.add_argument("--root", type=Path, default=ROOT / "runs" / "mockdata")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    path = store(a.scale, 0, a.root)
    ds = open_dataset(DataConfig(store=str(path)))
    sp = make_splits(ds, DataConfig(store=str(path), fold=0), 42)
    tr, te = sp.train, sp.test[:400]
    flux = np.asarray(ds.flux, np.float32)
    images = np.asarray(ds.images, np.float32)
    y = np.stack([ds.meta["mass"].to_numpy(), ds.meta["age"].to_numpy()], 1).astype(np.float32)
    model = spectool.models.create("spfusion")
    if a.no_dropout:
        for mod in model.modules():
            if isinstance(mod, (torch.nn.Dropout, DropPath)):
                mod.p = 0.0
    with torch.no_grad():
        model.head.linear.bias.copy_(torch.from_numpy(y[tr].mean(0)))
    opt = torch.optim.Adam(model.parameters(), a.lr, weight_decay=1e-4)
    per_epoch = int(np.ceil(len(tr) / 32))
    steps = a.collapse_steps or a.epochs * per_epoch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    rng = np.random.default_rng(a.seed)

    def batch_images(rows: np.ndarray, train: bool) -> torch.Tensor:
        if a.no_images:
            return torch.zeros(len(rows), 3, 128, 128)
        im = images[rows].copy()
        if train and a.flip_images:
            for j in range(len(rows)):
                im[j] = np.rot90(im[j], int(rng.integers(4)), axes=(1, 2))
                if rng.random() < 0.5:
                    im[j] = im[j][:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(im))

    def step(rows: np.ndarray) -> float:
        out = model(torch.from_numpy(flux[rows])[:, None], batch_images(rows, True))
        loss = (((out - torch.from_numpy(y[rows])) ** 2).mean(0) * LOSS_WEIGHTS).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return float(loss)

    if a.collapse_steps:
        stats: dict[str, tuple[float, float]] = {}
        for name, mod in model.named_modules():
            if name.startswith("spectral.stages.") and name.count(".") == 2:
                mod.register_forward_hook(lambda m, i, o, name=name: stats.__setitem__(
                    name, (float(o.detach().std(0).mean()), float(o.detach().abs().mean()))))
        for k in range(a.collapse_steps + 1):
            loss = step(np.sort(rng.choice(tr, 32, replace=False)))
            if k % max(1, a.collapse_steps // 2) == 0:
                print(k, round(loss, 2), {n: f"spread {s:.1e} of {m:.1e}" for n, (s, m) in stats.items()}, flush=True)
        return

    def predict(rows: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            out = [model(torch.from_numpy(flux[rows[i:i + 64]])[:, None], batch_images(rows[i:i + 64], False)).numpy()
                   for i in range(0, len(rows), 64)]
        model.train()
        return np.concatenate(out)

    const = np.abs(y[te] - np.median(y[te], 0)).mean(0)
    hist, t0 = [], time.time()
    for ep in range(a.epochs):
        perm = rng.permutation(tr)
        losses = [step(np.sort(perm[i:i + 32])) for i in range(0, len(perm), 32) if len(perm[i:i + 32]) > 1]
        p = predict(te)
        mae = np.abs(p - y[te]).mean(0)
        rec = {"epoch": ep + 1, "train_loss": round(float(np.mean(losses)), 3), "mae_mass": round(float(mae[0]), 4),
               "mae_age": round(float(mae[1]), 4), "pred_std_mass": float(f"{p[:, 0].std():.3g}"),
               "seconds": round(time.time() - t0)}
        hist.append(rec)
        print(rec, flush=True)
    record = {"synthetic": True, "dataset": "spfusion/redclump", "scale": a.scale, "mock_version": MOCK_VERSION,
              "n_train": int(len(tr)), "n_test": int(len(te)), "lr": a.lr, "dropout": not a.no_dropout,
              "images": "none" if a.no_images else ("flipped" if a.flip_images else "as stored"),
              "seed": a.seed, "threads": a.threads,
              "constant_mae": {"mass": round(float(const[0]), 4), "age": round(float(const[1]), 4)}, "history": hist}
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.is_file() else []
    atomic_write_text(RESULTS, json.dumps({"what": "issue 16: SPFusion training settings on the synthetic red-clump "
                                                   "mock (benchmarks/spfusion_recipe.py)", "units": {"mass": "Msun",
                                                                                                     "age": "Gyr"},
                                           "runs": [*runs, record]}, indent=1))


if __name__ == "__main__":
    main()
