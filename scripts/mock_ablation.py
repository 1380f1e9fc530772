"""Ablation of the mock-version-2 survey randomisation and of the stellar population: real-data
accuracy of a cheap model (ConvNeXt-1D) trained on the mock with and without each change.

For every variant the script builds the ``mspc/SC-S>5`` mock store (``--scale`` x the quick size,
seed 0) with the :class:`spectool.mock.survey.Randomisation` switches and the
:class:`spectool.mock.stars.Population` of that variant, trains ConvNeXt-1D from ``--seed`` for ``--epochs`` epochs on it (mock only), and measures main-class accuracy
on the 78 real LAMOST A-M stars of ``../shared/data/real/validation`` (never trained on).
*Region* variants (``mask_red``, ``mask_blue``, ``mask_blue_red``, ``mask_balmer``) train on the
v2 store with the z-scored flux of some wavelength ranges set to 0, and evaluate the real spectra
with the same ranges zeroed (a forward pre-hook on the network). Writes
``benchmarks/results/mock_ablation.json``. Everything trained here is on synthetic data;
the real spectra only evaluate. Timings on a shared, loaded CPU.

    python scripts/mock_ablation.py [--variants v1,v2,no_fluxcal,no_extinction] [--scale 4] [--epochs 4] [--seed 0]

Results are keyed ``variant@x<scale>-<epochs>ep[-seed<N>]`` (entries without ``@`` are from
the first runs: scale 2, 3 epochs, seed 0).
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from spectool._atomic import atomic_write_text
from spectool.datasets.base import SpectralDataset
from spectool.datasets.presets import preset as get_preset
from spectool.mock.build import MOCK_VERSION, build_preset
from spectool.train import fit
from spectool.train.config import DataConfig
from spectool.train.data import open_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_real  # noqa: E402

survey = importlib.import_module("spectool.mock.survey")  # the module (spectool.mock.survey is also a function name)
stars = importlib.import_module("spectool.mock.stars")

OFF = survey.Randomisation(False, False, False, False, False, False)
VARIANTS = {
    "v1": OFF,  # mock version 1 survey effects (stars are the same emulator)
    "v2": survey.Randomisation(),
    "no_fluxcal": replace(survey.Randomisation(), flux_calibration=False, dichroic=False),
    "no_extinction": replace(survey.Randomisation(), extinction=False),
    "only_fluxcal": replace(OFF, flux_calibration=True, dichroic=True),
    "no_telluric": replace(survey.Randomisation(), telluric=False),
    "only_telluric": replace(OFF, telluric=True),
    "ism_nad": replace(survey.Randomisation(), interstellar=True),
    "lsf_random": replace(survey.Randomisation(), lsf=True),
}
V2_STARS = stars.Population()
#: Stellar-population variants (survey effects as in v2): a near-solar [Fe/H] prior like the
#: LAMOST disk population, and more G/K giants in the SDSS-style sets the checkpoints train on.
POPULATIONS = {
    "feh_solar": replace(V2_STARS, feh_mean=-0.05, feh_sd=0.3),
    "giants_0.3": replace(V2_STARS, giant_fraction_sdss=0.3),
    "feh_solar_giants_0.3": replace(V2_STARS, feh_mean=-0.05, feh_sd=0.3, giant_fraction_sdss=0.3),
    "early_m": replace(V2_STARS, m_subtype_scale=2.0),
    "teff_0.98": replace(V2_STARS, teff_scale=0.98),
    "teff_0.95": replace(V2_STARS, teff_scale=0.95),
    "teff_afg_0.95": replace(V2_STARS, teff_scale=0.95, teff_scale_classes="AFG"),
}
#: Variants that change both (survey effects from VARIANTS, population from POPULATIONS).
COMBINED = {"ism_nad_early_m": ("ism_nad", "early_m")}
_BALMER = (4102.9, 4341.7, 4862.7, 6564.6)  # H delta .. H alpha, vacuum A
#: Input-region variants (mock v2 store): the z-scored flux in these vacuum-Angstrom ranges is set to
#: 0 for training *and* on the real spectra (a forward pre-hook on the trained network), so the
#: model can use nothing there. Which part of the spectrum carries the mock -> real type offset?
REGIONS = {
    "mask_red": [(7300.0, 9100.0)],  # the hand-set extension beyond the MILES range (CaT, TiO, Paschen)
    "mask_blue": [(3900.0, 4500.0)],  # blue end: G band, H gamma, H delta, Ca I 4227
    "mask_blue_red": [(3900.0, 4500.0), (7300.0, 9100.0)],  # only 4500-7300 A seen
    "mask_balmer": [(c - 50.0, c + 50.0) for c in _BALMER],
}
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "mock_ablation.json"


def _keep(wavelength: np.ndarray, regions: list) -> np.ndarray:
    """float32 1/0 per input pixel: 0 inside any of ``regions`` (vacuum A), 1 elsewhere (padding too)."""
    w = np.nan_to_num(np.asarray(wavelength, float), nan=0.0)
    out = np.ones(w.size, np.float32)
    for lo, hi in regions:
        out[(w >= lo) & (w <= hi)] = 0.0
    return out


class _Masked(SpectralDataset):
    """The store's (z-scored) flux times ``keep``, held in memory."""

    def __init__(self, base: SpectralDataset, keep: np.ndarray) -> None:
        super().__init__(base.store, base.preset)
        self._flux = np.asarray(base.flux, np.float32) * keep

    @property
    def flux(self) -> np.ndarray:
        return self._flux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="v1,v2,no_fluxcal,no_extinction")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0, help="training seed (the mock store is always seed 0)")
    ap.add_argument("--minutes", type=int, default=30, help="training wall-time cap per variant")
    ap.add_argument("--root", type=Path, default=Path("runs/ablation"))
    a = ap.parse_args()
    unknown = set(a.variants.split(",")) - set(VARIANTS) - set(POPULATIONS) - set(COMBINED) - set(REGIONS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; known: {', '.join([*VARIANTS, *POPULATIONS, *COMBINED, *REGIONS])}")
    real = eval_real.load_real()
    for v in a.variants.split(","):
        rv, pv = COMBINED.get(v, (v, v))
        survey.RANDOMISATION = VARIANTS.get(rv, VARIANTS["v2"])
        stars.POPULATION = POPULATIONS.get(pv, V2_STARS)
        key = f"{v}@x{a.scale}-{a.epochs}ep" + (f"-seed{a.seed}" if a.seed else "")
        store = a.root / f"SC-x{a.scale}-{'v2' if v in REGIONS else v}"
        if v not in REGIONS or not (store / "info.json").is_file():  # region variants share the v2 store
            build_preset(get_preset("mspc/SC-S>5"), seed=0, out=store, scale=a.scale, progress=False, rebuild=True)
        ds = open_dataset(DataConfig(store=str(store)))
        keep = _keep(ds.wavelength, REGIONS.get(v, []))
        if v in REGIONS:
            ds = _Masked(ds, keep)
        t0 = time.time()
        res = fit("baselines_quick", {"model.name": "convnext1d", "data.store": str(store), "seed": a.seed,
                                      "trainer.max_epochs": a.epochs, "scheduler.T_0": a.epochs,
                                      "trainer.max_time": f"00:00:{a.minutes:02d}:00",
                                      "data.max_train": None, "data.max_val": 40, "data.max_test": 100,
                                      "early_stopping.enabled": False, "trainer.progress_bar": False,
                                      "trainer.num_threads": 1, "name": f"ablation-{v}"},
                  run_dir=a.root / f"run-{key}", resume=False, progress=False, dataset=ds)
        model = res.load_model()
        if v in REGIONS:
            k = torch.as_tensor(keep)
            model.register_forward_pre_hook(lambda _m, args: (args[0] * k,) + tuple(args[1:]))
        r = eval_real.evaluate_model(model, *real)
        row = {"masked_regions_A": REGIONS.get(v, []), "masked_pixels": int((keep == 0).sum()),
                    "switches": asdict(survey.RANDOMISATION), "population": asdict(stars.POPULATION),
                    "train_seed": a.seed, "mock_version": MOCK_VERSION, "scale": a.scale,
                    "epochs": res.done["epochs_completed"], "train_seconds": round(time.time() - t0),
                    "mock_test_accuracy": res.metrics.get("accuracy"), "real_star_accuracy": r["accuracy"],
                    "real_eval_split_accuracy": r.get("accuracy_eval"), "confusion": r["confusion"]}
        print(key, {k: row[k] for k in ("mock_test_accuracy", "real_star_accuracy", "train_seconds")}, flush=True)
        # re-read before writing: two runs (e.g. two seeds) may share the file; an interrupted run keeps the rest
        latest = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        atomic_write_text(RESULTS, json.dumps({**latest, key: row}, indent=1))


if __name__ == "__main__":
    main()
