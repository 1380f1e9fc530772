"""Benchmark: synthetic mock spectra per second on ONE core, raw and built into a store.

Run: ``python benchmarks/mock.py [--stars 4000]``; prints spectra/s and writes
``benchmarks/results/mock.json``. Everything generated here is synthetic.

The figure per core is ``spectra / CPU seconds`` of this process (``time.process_time``)
with every BLAS/OpenMP/torch pool limited to one thread, so a loaded machine (other
processes competing for the cores) does not distort it; wall-clock spectra/s are
reported next to it together with the load average.

Three workloads:

* ``raw_stars``: :func:`spectool.mock.generate_stars`, SDSS-like stars on the 3522-pixel
  4000-9000 A grid with every survey effect (resolution, RV, extinction, flux-calibration
  distortion, sky and telluric residuals, noise, masks), chunks of 1000;
* ``store_<preset>``: :func:`spectool.mock.build_preset` of the "quick" size of a preset into a
  fresh store directory (planning, generation, preprocessing, splits, writing);
* ``store_mspc/FC-S`` is the mixed workload (stars of 52 subclasses + galaxies + QSOs, low S/N);
* ``preprocess_mspcnet``: MSPC-Net preprocessing of 1000 generated stars, per spectrum
  (:func:`spectool.preprocess.mspcnet`) and batched (:func:`spectool.preprocess.mspcnet_batch`, as the
  store builder does, in blocks of ``spectool.mock.build.PREP_BLOCK`` rows).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from spectool import preprocess as pp  # noqa: E402
from spectool.datasets.presets import SS_S5, preset  # noqa: E402
from spectool.mock import build_preset, generate_stars  # noqa: E402
from spectool.mock.generate import galaxy_model, qso_model, stellar_emulator  # noqa: E402
from spectool.mock.build import PREP_BLOCK  # noqa: E402
from spectool.mock.stars import draw_subclass_labels  # noqa: E402
from spectool.spectrum import Spectrum  # noqa: E402

STORE_PRESETS = ("mspc/SS-S>5", "mspc/FC-S", "spfusion/redclump", "scanet/AFGK")


def _timed(fn) -> tuple[object, float, float]:
    """(result, CPU seconds of this process, wall seconds) of ``fn()``."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - t0


def _row(n: int, cpu: float, wall: float, **extra) -> dict:
    return {"spectra": n, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "spectra_per_cpu_s": round(n / cpu, 1), "spectra_per_wall_s": round(n / wall, 1), **extra}


def raw_stars(n: int, chunk: int = 1000) -> dict:
    """Generate ``n`` SDSS-like stars (3522 px) in chunks of ``chunk``."""
    rng = np.random.default_rng(0)
    labels = draw_subclass_labels(rng.choice(SS_S5, n), SS_S5, rng)
    snr = 5 + rng.lognormal(np.log(15), 0.7, n)
    generate_stars(labels.iloc[:chunk], "sdss", snr[:chunk], rng, wave_range=(4000.01, 8999.99))  # warm caches

    def run():
        for s in range(0, n, chunk):
            obs, _ = generate_stars(labels.iloc[s:s + chunk], "sdss", snr[s:s + chunk], rng,
                                    wave_range=(4000.01, 8999.99))
        return obs

    obs, cpu, wall = _timed(run)
    return _row(n, cpu, wall, pixels=int(obs.wave.size))


def preprocess(n: int = 1000) -> dict:
    """MSPC-Net preprocessing of ``n`` SDSS-like stars: one by one and batched."""
    rng = np.random.default_rng(1)
    labels = draw_subclass_labels(rng.choice(SS_S5, n), SS_S5, rng)
    obs, _ = generate_stars(labels, "sdss", 5 + rng.lognormal(np.log(15), 0.7, n), rng)

    def single():
        for i in range(n):
            pp.mspcnet(Spectrum(obs.wave, obs.flux[i], obs.ivar[i], obs.mask[i])).finalize()

    def batched():
        for s in range(0, n, PREP_BLOCK):
            pp.mspcnet_batch(obs.wave, obs.flux[s:s + PREP_BLOCK], obs.ivar[s:s + PREP_BLOCK], obs.mask[s:s + PREP_BLOCK])

    return {"per_spectrum": _row(n, *_timed(single)[1:]), "batch": _row(n, *_timed(batched)[1:], block=PREP_BLOCK)}


def store(name: str, tmp: Path) -> dict:
    """Build the quick size of preset ``name`` into a fresh store under ``tmp``."""
    p = preset(name)
    st, cpu, wall = _timed(lambda: build_preset(p, "quick", seed=0, out=tmp / p.slug, progress=False))
    return _row(len(st), cpu, wall, preprocess=p.preprocess, length=int(st.flux.shape[1]),
                classes=sorted(set(st.meta["class"])))


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=4000, help="spectra for the raw generation benchmark")
    args = parser.parse_args()
    stellar_emulator(), galaxy_model(), qso_model()  # load weights and model bases outside the timing
    results: dict = {"benchmark": "spectool.mock generation (synthetic data)", "synthetic": True, "threads": 1,
                     "raw_stars": raw_stars(args.stars)}
    r = results["raw_stars"]
    print(f"raw stars        : {r['spectra']} x {r['pixels']} px: {r['spectra_per_cpu_s']:8.0f} spectra/CPU-s, "
          f"{r['spectra_per_wall_s']:8.0f} spectra/wall-s")
    results["preprocess_mspcnet"] = prep = preprocess()
    for k, r in prep.items():
        print(f"mspcnet {k:12s}: {r['spectra']} spectra: {r['spectra_per_cpu_s']:8.0f} spectra/CPU-s, "
              f"{r['spectra_per_wall_s']:8.0f} spectra/wall-s")
    tmp = Path(tempfile.mkdtemp(prefix="spectool-mockbench-"))
    try:
        build_preset(preset("spfusion/redclump"), "quick", out=tmp / "warm", progress=False)  # imports, filter curves
        for name in STORE_PRESETS:
            r = results[f"store_{name}"] = store(name, tmp)
            print(f"store {name:18s}: {r['spectra']:5d} x {r['length']} px ({r['preprocess']}): "
                  f"{r['spectra_per_cpu_s']:8.0f} spectra/CPU-s, {r['spectra_per_wall_s']:8.0f} spectra/wall-s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = {"cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
                          "python": platform.python_version(), "numpy": np.__version__}
    results["date"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (CPU-time figures are per core)")
    out = Path(__file__).with_name("results") / "mock.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
