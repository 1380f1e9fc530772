"""Benchmark of spectool.explain: sliding-window importance vs captum, and t-SNE / UMAP.

Sliding windows: the MSPC-Net comparison's ConvNeXt-1D (``convnext1d``, 7 classes,
3584-pixel input, random weights: throughput does not depend on training) on spectra
of the synthetic mock survey ``mspc/SC-S>5`` (quick). Windows are 15 pixels with a
5-pixel stride (a 1 A/pixel grid: 714 windows), because captum's ``Occlusion`` takes pixel
windows; the continuum fill serves as captum's baselines, so both run the same
perturbations. A *window-evaluation* is one perturbed spectrum through the model.

Timed in one run, in alternation (each round runs every contender once, after one
warm-up each; a shared machine's speed drifts, so the ratios are medians of the paired
per-round ratios):

* ``spectool_one_output``: ``sliding_window_importance(..., outputs=0)``, default batch size;
* ``spectool_all_outputs``: the same for all 7 class probabilities;
* ``captum_one_output``: captum ``Occlusion(...).attribute(target=0,
  perturbations_per_eval=64)`` (64 window positions x the spectra per forward);
  captum explains one target per call, so all outputs cost 7 calls;
* ``model_forward``: the model's own throughput, plain ``model(x)`` under
  ``torch.inference_mode`` on batches of the same size as spectool's (the ceiling).

Embeddings: t-SNE (openTSNE, FFT gradients) and UMAP (umap-learn) of 20,000 synthetic
224-dimensional points (a 7-component Gaussian mixture, the size of ConvNeXt-1D's
penultimate vector).

Usage: ``python benchmarks/explain.py [--threads 2] [--spectra 2] [--rounds 3]
[--skip-embeddings]``; updates ``benchmarks/results/explain.json`` (a skipped section
keeps its former numbers). The GPU section runs only with CUDA.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).with_name("results") / "explain.json"


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _paired(fns: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds of each function per round, after one warm-up each; functions take turns."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            _sync()
            t0 = time.perf_counter()
            fn()
            _sync()
            times[name].append(time.perf_counter() - t0)
    return times


def sliding_benchmark(device: str, n_spectra: int, rounds: int) -> dict:
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
    batch = 64 if device == "cpu" else 2048   # spectool's default batch size
    base = fill_values(x, grid, "continuum")
    probs = lambda inp: torch.softmax(model(inp), 1)  # noqa: E731
    copies = x.repeat_interleave(-(-evals // n_spectra), dim=0)[:evals]

    def ours(outputs):
        return lambda: sliding_window_importance(model, x, grid, window=15, step=5, outputs=outputs,
                                                 progress=False)

    def captum():
        with torch.no_grad():
            Occlusion(probs).attribute(x, sliding_window_shapes=(1, 15), strides=(1, 5), baselines=base,
                                       target=0, perturbations_per_eval=64)

    def forward():
        with torch.inference_mode():
            for chunk in copies.split(batch):
                probs(chunk)

    times = _paired({"spectool_one_output": ours(0), "spectool_all_outputs": ours(None),
                     "captum_one_output": captum, "model_forward": forward}, rounds)
    out: dict = {"device": device, "model": "convnext1d (7 classes, 3584 px)", "spectra": n_spectra,
                 "windows_per_spectrum": n_win, "window_evaluations": evals, "batch": batch,
                 "rounds": rounds, "data": "mspc/SC-S>5 quick (synthetic mock)",
                 "load_average_before": os.getloadavg()}
    for name, t in times.items():
        out[f"{name}_s_median"] = statistics.median(t)
        out[f"{name}_evals_per_s"] = evals / statistics.median(t)
        out[f"{name}_s_all"] = t

    def ratio(num: str, den: str, scale: float = 1.0) -> float:
        return statistics.median(scale * d / n for n, d in zip(times[num], times[den]))

    out["speedup_one_output_vs_captum"] = ratio("spectool_one_output", "captum_one_output")
    out["speedup_all_outputs_vs_captum"] = ratio("spectool_all_outputs", "captum_one_output", 7.0)
    out["fraction_of_model_throughput"] = ratio("spectool_one_output", "model_forward")
    out["captum_fraction_of_model_throughput"] = ratio("captum_one_output", "model_forward")
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
    ap.add_argument("--spectra", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-embeddings", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result = {"torch": torch.__version__, "threads": args.threads, "machine": platform.machine(),
              "cpu_count": os.cpu_count(),
              "note": "wall-clock; the machine may be shared with other jobs (see load_average_before)",
              "sliding_cpu": sliding_benchmark("cpu", args.spectra, args.rounds)}
    if torch.cuda.is_available():
        result["sliding_gpu"] = sliding_benchmark("cuda", 64, args.rounds)
        result["gpu_name"] = torch.cuda.get_device_name()
    if not args.skip_embeddings:
        result["embeddings"] = embedding_benchmark()
    elif "embeddings" in old:
        result["embeddings"] = old["embeddings"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for section, vals in result.items():
        if isinstance(vals, dict):
            print(f"[{section}]")
            for k, v in vals.items():
                if not isinstance(v, list):
                    print(f"  {k:45s} {v:.3f}" if isinstance(v, float) else f"  {k:45s} {v}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
