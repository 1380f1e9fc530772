"""CPU time of the preprocessing recipes on 1000 synthetic (mock) SDSS-like stars, batched and one by one.

Run from a checkout root: ``python benchmarks/preprocess_batch.py [label]``; appends one run (minimum
CPU seconds of several repeats, ``time.process_time``, one BLAS/OpenMP thread) to
``benchmarks/results/preprocess_batch.json``. Everything measured here is on synthetic data.
To compare two versions, run the script from both checkouts alternately on the same machine: the
machine load changes the figures by tens of per cent (the load average is recorded with each run).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.getcwd())
from spectool import preprocess as pp  # noqa: E402
from spectool.mock import generate_stars  # noqa: E402
from spectool.mock.stars import draw_subclass_labels  # noqa: E402
from spectool.spectrum import Spectrum  # noqa: E402

N, BLOCK = 1000, 64


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return round(best, 4)


def main(label: str) -> dict:
    rng = np.random.default_rng(0)
    vocab = ["A0", "B5", "F5", "G2", "K5", "M2"]
    labels = draw_subclass_labels(np.array((vocab * (N // len(vocab) + 1))[:N]), vocab, rng)
    obs, meta = generate_stars(labels, "sdss", rng.uniform(5.0, 60.0, N), rng)
    z = meta["redshift"].to_numpy()

    def blocks(fn):
        for s in range(0, N, BLOCK):
            fn(slice(s, s + BLOCK))

    def one(recipe, n, **kw):
        for i in range(n):
            recipe(Spectrum(obs.wave, obs.flux[i], obs.ivar[i], obs.mask[i], {"redshift": z[i]}), **kw)

    run = {
        "label": label, "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "load_average": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(), "spectra": N, "block": BLOCK,
        "mspcnet_batch_cpu_s": _best(lambda: blocks(lambda b: pp.mspcnet_batch(
            obs.wave, obs.flux[b], obs.ivar[b], obs.mask[b])), 7),
        "spfusion_batch_cpu_s": _best(lambda: blocks(lambda b: pp.spfusion_batch(
            obs.wave, obs.flux[b], obs.ivar[b], obs.mask[b])), 5),
        "scanet_batch_cpu_s": _best(lambda: blocks(lambda b: pp.scanet_batch(
            obs.wave, obs.flux[b], obs.ivar[b], obs.mask[b], redshift=z[b])), 3),
        "mspcnet_one_by_one_cpu_s": _best(lambda: one(pp.mspcnet, N), 3),
        "scanet_one_by_one_200_cpu_s": _best(lambda: one(pp.scanet, 200), 1),
    }
    return run


if __name__ == "__main__":
    result = main(sys.argv[1] if len(sys.argv) > 1 else "run")
    print(json.dumps(result))
    out = Path(__file__).with_name("results") / "preprocess_batch.json"
    doc = json.loads(out.read_text()) if out.is_file() else {
        "benchmark": "spectool.preprocess recipes, batched vs one by one (synthetic mock stars)", "synthetic": True,
        "runs": []}
    doc["runs"].append(result)
    out.write_text(json.dumps(doc, indent=2) + "\n")
