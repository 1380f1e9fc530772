"""Benchmark: inference and training-step throughput (spectra/s) of every registered model.

Run: ``python benchmarks/models.py [--models 'mspcnet_*'] [--batch 32] [--threads 2]``.

CPU: batch 32, 2 threads, random inputs (synthetic: only the speed is measured). The
inference pass is ``model.eval()`` under ``torch.inference_mode``; a training step is
forward + loss + backward + Adam step in train mode. MSPC-Net is timed three ways:
``fused`` (its inference copy ``model.fused()``, what ``spectool.models.for_inference``
returns), ``fft`` (the plain ``forward`` with the FFT token mixer, default build) and
``direct`` (the plain ``forward`` with direct convolutions, ``fast=False``: the authors'
code path); their inference passes alternate, so that all see the same machine (a shared
machine's speed drifts by +-20% within minutes) and each ratio over ``direct`` is the
median of the paired ratios. Training is timed on ``fft`` and ``direct`` (the fused copy
does not train). Each figure is the best and the median of
``--iters`` timed repetitions after one warm-up (SCA-Net variants, ~60M parameters, get
one repetition). Wall-clock and process CPU time are both recorded, with the load
average. With CUDA, the same is measured on the GPU under bf16 autocast.

Updates ``benchmarks/results/models.json``: rows of the models measured are replaced,
the others kept (each row carries its own date and load average).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import spectool.models as models

RESULTS = Path(__file__).resolve().parent / "results" / "models.json"
IMAGE_SIZE = 128  # g, r, i cutouts (B, 3, 128, 128) for models with needs_image


def _inputs(model: torch.nn.Module, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, model.input_length, generator=g).to(device)
    image = torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g).to(device) if model.needs_image else None
    return x, image


def _loss(model: torch.nn.Module, out: torch.Tensor) -> torch.Tensor:
    if model.task == "classification":
        return F.cross_entropy(out.float(), torch.zeros(out.shape[0], dtype=torch.long, device=out.device))
    return out.float().pow(2).mean()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timings(fns: list, iters: int, device: torch.device) -> list[dict]:
    """Wall and process-CPU seconds of ``iters`` calls of each of ``fns`` after one warm-up
    each; the functions take turns, so that drifts of the machine's speed hit all alike."""
    for fn in fns:
        fn()
    _sync(device)
    walls: list[list[float]] = [[] for _ in fns]
    cpus: list[list[float]] = [[] for _ in fns]
    for _ in range(iters):
        for fn, wall, cpu in zip(fns, walls, cpus):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            _sync(device)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    return [{"best": min(w), "median": statistics.median(w), "cpu": min(c), "all": w}
            for w, c in zip(walls, cpus)]


def _model(name: str, path: str, device: torch.device) -> torch.nn.Module:
    """``path``: "-" (the model), "fft" / "direct" (MSPC-Net built with ``fast`` True / False)
    or "fused" (the default build's fused inference copy)."""
    torch.manual_seed(0)
    overrides = {"fast": path != "direct"} if path in ("fft", "direct") else {}
    model = models.create(name, **overrides).to(device).eval()   # same weights for every path
    return models.for_inference(model) if path == "fused" else model


def _autocast(device: torch.device, amp: torch.dtype | None):
    return torch.autocast(device.type, dtype=amp) if amp else torch.autocast(device.type, enabled=False)


def bench(name: str, paths: list[str], batch: int, iters: int, device: torch.device,
          amp: torch.dtype | None, train: list[bool]) -> list[dict]:
    """Throughput of one model on each of ``paths`` (fused/fft/direct, or "-"); result rows."""
    nets = [_model(name, path, device) for path in paths]
    x, image = _inputs(nets[0], batch, device)

    def infer(model: torch.nn.Module):
        def run() -> None:
            with torch.inference_mode(), _autocast(device, amp):
                model(x, image)
        return run

    rows = []
    for path, model, timing in zip(paths, nets, _timings([infer(m) for m in nets], iters, device)):
        rows.append({"model": name, "path": path,
                     "device": device.type, "amp": str(amp).replace("torch.", "") if amp else None,
                     "batch": batch, "params": sum(p.numel() for p in model.parameters()),
                     "infer_spectra_per_s": batch / timing["best"],
                     "infer_spectra_per_s_median": batch / timing["median"],
                     "infer_ms_per_spectrum_cpu_time": 1e3 * timing["cpu"] / batch,
                     "_infer_walls": timing["all"]})
    for row, model, do_train in zip(rows, nets, train):
        if not do_train:
            continue
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with _autocast(device, amp):
                loss = _loss(model, model(x, image))
            loss.backward()
            opt.step()

        model.train()
        timing = _timings([step], max(1, iters - 1), device)[0]
        row.update(train_spectra_per_s=batch / timing["best"],
                   train_ms_per_spectrum_cpu_time=1e3 * timing["cpu"] / batch)
    return rows


def _ratios(rows: list[dict]) -> dict:
    """Each path over ``direct``: inference as the median of paired ratios (with the
    range), training best over best."""
    direct = next(r for r in rows if r["path"] == "direct")
    out = {}
    for row in rows:
        if row is direct:
            continue
        paired = [d / f for f, d in zip(row["_infer_walls"], direct["_infer_walls"])]
        ratio = {"infer_paired_median": statistics.median(paired), "infer_paired_min": min(paired),
                 "infer_paired_max": max(paired)}
        if "train_spectra_per_s" in row and "train_spectra_per_s" in direct:
            ratio["train_best"] = row["train_spectra_per_s"] / direct["train_spectra_per_s"]
        out[f"{row['path']}_over_direct"] = ratio
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="*", help="glob over registered model names")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--no-train", action="store_true", help="skip training-step timing")
    ap.add_argument("--no-direct-train", action="store_true", help="skip MSPC-Net direct-path training (slow)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    plans = []
    for name in models.list_models(args.models):
        iters = 1 if name.startswith("scanet") else args.iters
        mspc = name.startswith("mspcnet")
        paths = ["fused", "fft", "direct"] if mspc else ["-"]
        train = [not args.no_train and path != "fused" and not (path == "direct" and args.no_direct_train)
                 for path in paths]
        plans.append((name, paths, iters, torch.device("cpu"), None, train))
        if torch.cuda.is_available():
            plans.append((name, paths, args.iters, torch.device("cuda"), torch.bfloat16, train))
    load_before = os.getloadavg()
    rows, speedups = [], {}
    for name, paths, iters, device, amp, train in tqdm(plans, desc="models"):
        measured = bench(name, paths, args.batch, iters, device, amp, train)
        if len(measured) > 1:
            speedups[f"{name}/{device.type}"] = _ratios(measured)
        for row in measured:
            row.pop("_infer_walls", None)
            row.update(date=time.strftime("%Y-%m-%d %H:%M"), load_average_before=load_before)
        rows += measured

    header = (f"{'model':16s} {'path':6s} {'dev':4s} {'params':>11s} {'infer/s':>9s} {'median':>8s} "
              f"{'train/s':>9s} {'infer ms cpu':>12s}")
    print(header)
    print("-" * len(header))
    for r in rows:
        train = f"{r['train_spectra_per_s']:9.1f}" if "train_spectra_per_s" in r else f"{'-':>9s}"
        print(f"{r['model']:16s} {r['path']:6s} {r['device']:4s} {r['params']:11,d} "
              f"{r['infer_spectra_per_s']:9.1f} {r['infer_spectra_per_s_median']:8.1f} {train} "
              f"{r['infer_ms_per_spectrum_cpu_time']:12.1f}")
    for key, s in speedups.items():
        for path, ratio in s.items():
            print(f"{key} {path}: " + ", ".join(f"{k} x{v:.2f}" for k, v in ratio.items()))

    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    keep = [r for r in old.get("results", []) if not any(
        (r["model"], r["path"], r["device"]) == (q["model"], q["path"], q["device"]) for q in rows)
        and r["path"] != "fast"]   # the former fused-in-forward path (now "fused")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "note": ("random (synthetic) inputs; wall-clock spectra/s, best and median of repeated "
                 "timings; MSPC-Net fused, fft and direct inference timed in alternation; "
                 "the machine may be shared (see load_average_before)"),
        "batch": args.batch, "threads": args.threads, "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "results": sorted(keep + rows, key=lambda r: (r["model"], r["path"], r["device"])),
        "speedups": {**old.get("speedups", {}), **speedups}}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
