"""Benchmark of spectool.explain: sliding-window importance vs captum, and t-SNE / UMAP.

Sliding windows: the MSPC-Net comparison's ConvNeXt-1D (``convnext1d``, 7 classes,
3584-pixel input, random weights: throughput does not depend on training) on spectra
of the synthetic mock survey ``mspc/SC-S>5`` (quick). Windows are 15 pixels with a
5-pixel stride (a 1 A/pixel grid), because captum's ``Occlusion`` takes pixel windows;
the continuum fill serves as captum's baselines, so both run the same perturbations.
A *window-evaluation* is one perturbed spectrum through the model. spectool explains
all 7 class probabilities per evaluation; captum explains one target per call, so its
rate for all outputs is its single-target rate / 7 (reported as ``per_all_outputs``).

Embeddings: t-SNE (openTSNE, FFT gradients) and UMAP (umap-learn) of 20,000 synthetic
224-dimensional points (a 7-component Gaussian mixture, the size of ConvNeXt-1D's
penultimate vector).

Usage: ``python benchmarks/explain.py [--threads 2] [--spectra 4] [--skip-embeddings]``;
writes ``benchmarks/results/explain.json``. The GPU section runs only with CUDA.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).with_name("results") / "explain.json"


def _rate(fn, n_evals: int, repeat: int = 1) -> float:
    """Window-evaluations per second of ``fn`` (best of ``repeat`` runs)."""
    best = np.inf
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return n_evals / best


def sliding_benchmark(device: str, n_spectra: int, captum_default_spectra: int) -> dict:
    from captum.attr import Occlusion

    import spectool.datasets
    import spectool.models
    from spectool.explain import fill_values, sliding_window_importance, windows

    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    x = torch.tensor(np.asarray(ds.flux[:n_spectra]), dtype=torch.float32)[:, None].to(device)
    L = x.shape[-1]
    grid = 4000.0 + np.arange(L, dtype=float)  # 1 A per pixel: 15 A windows == 15 px
    torch.manual_seed(0)
    model = spectool.models.create("convnext1d", num_classes=7).eval().to(device)
    n_win = len(windows(grid, 15, 5)[0])
    evals = n_spectra * n_win
    out: dict = {"device": device, "model": "convnext1d (7 classes, 3584 px)", "spectra": n_spectra,
                 "windows_per_spectrum": n_win, "data": "mspc/SC-S>5 quick (synthetic mock)"}

    def ours(cache, bs, amp=True):
        return lambda: sliding_window_importance(model, x, grid, window=15, step=5, cache=cache, batch_size=bs,
                                                 amp=amp, progress=False)

    sizes = (64, 256) if device == "cpu" else (256, 2048)
    for bs in sizes:
        out[f"spectool_plain_bs{bs}"] = _rate(ours(False, bs), evals)
        out[f"spectool_cached_bs{bs}"] = _rate(ours(True, bs), evals)
    probs = lambda inp: torch.softmax(model(inp), 1)  # noqa: E731
    base = fill_values(x, grid, "continuum")

    def captum(ppe, xs, bs):
        def run():
            with torch.no_grad():
                Occlusion(probs).attribute(xs, sliding_window_shapes=(1, 15), strides=(1, 5), baselines=bs,
                                           target=0, perturbations_per_eval=ppe)
        return run

    out["captum_occlusion_ppe64"] = _rate(captum(64, x, base), evals)
    xd = x[:captum_default_spectra]
    out["captum_occlusion_default_ppe1"] = _rate(captum(1, xd, base[:captum_default_spectra]),
                                                 captum_default_spectra * n_win)
    best = max(v for k, v in out.items() if k.startswith("spectool_"))
    out["spectool_best"] = best
    out["speedup_vs_captum_ppe64_one_target"] = best / out["captum_occlusion_ppe64"]
    out["speedup_vs_captum_default_one_target"] = best / out["captum_occlusion_default_ppe1"]
    out["speedup_vs_captum_ppe64_per_all_outputs"] = 7 * best / out["captum_occlusion_ppe64"]
    return out


def embedding_benchmark(n: int = 20_000, dim: int = 224, seed: int = 0) -> dict:
    from spectool.explain import embed

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (7, dim))
    feats = (centres[rng.integers(0, 7, n)] + rng.normal(0, 1, (n, dim))).astype(np.float32)
    out = {"points": n, "dim": dim, "data": "synthetic Gaussian mixture"}
    t0 = time.perf_counter()
    embed(feats, "tsne", seed=seed)
    out["tsne_openTSNE_fft_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed(feats, "umap", seed=None)
    out["umap_parallel_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spectra", type=int, default=4)
    ap.add_argument("--skip-embeddings", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = {"torch": torch.__version__, "threads": args.threads, "machine": platform.machine(),
              "sliding_cpu": sliding_benchmark("cpu", args.spectra, captum_default_spectra=1)}
    if torch.cuda.is_available():
        result["sliding_gpu"] = sliding_benchmark("cuda", 64, captum_default_spectra=4)
        result["gpu_name"] = torch.cuda.get_device_name()
    if not args.skip_embeddings:
        result["embeddings"] = embedding_benchmark()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    for section, vals in result.items():
        if isinstance(vals, dict):
            print(f"[{section}]")
            for k, v in vals.items():
                print(f"  {k:45s} {v:.1f}" if isinstance(v, float) else f"  {k:45s} {v}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
