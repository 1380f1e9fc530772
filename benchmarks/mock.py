"""Benchmark: synthetic mock stars generated per second on one core (3522-pixel SDSS spectra).

Run: ``python benchmarks/mock.py``; prints spectra/s and writes benchmarks/results/mock.json.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from spectool.mock import generate_stars  # noqa: E402
from spectool.mock.generate import stellar_emulator  # noqa: E402
from spectool.mock.stars import draw_subclass_labels  # noqa: E402
from spectool.datasets.presets import SS_S5  # noqa: E402


def main(n: int = 4000, chunk: int = 1000) -> dict:
    rng = np.random.default_rng(0)
    stellar_emulator()  # load weights outside the timing
    labels = draw_subclass_labels(rng.choice(SS_S5, n), SS_S5, rng)
    snr = 5 + rng.lognormal(np.log(15), 0.7, n)
    t0 = time.perf_counter()
    for s in range(0, n, chunk):
        obs, _ = generate_stars(labels.iloc[s:s + chunk], "sdss", snr[s:s + chunk], rng, wave_range=(4000.01, 8999.99))
    dt = time.perf_counter() - t0
    res = {"spectra": n, "pixels": int(obs.wave.size), "seconds": round(dt, 3), "spectra_per_s": round(n / dt, 1), "threads": 1,
           "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    print(f"mock stars: {n} spectra x {obs.wave.size} px in {dt:.2f} s = {n / dt:.0f} spectra/s (1 thread, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    out = Path(__file__).with_name("results") / "mock.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
