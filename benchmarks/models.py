"""Benchmark: inference and training-step throughput (spectra/s) of every registered model.

Run: ``python benchmarks/models.py [--models 'mspcnet_*'] [--batch 32] [--threads 2]``.

CPU: batch 32, 2 threads, random inputs (synthetic: only the speed is measured). The
inference pass is ``model.eval()`` under ``torch.inference_mode``; a training step is
forward + loss + backward + Adam step in train mode. MSPC-Net is timed on both its fast
(FFT) and direct paths. Each figure is the best of ``--iters`` timed repetitions after
one warm-up (SCA-Net variants, ~60M parameters, get one repetition). Wall-clock and
process CPU time are both recorded, with the load average, because the machine may be
shared. With CUDA, the same is measured on the GPU under bf16 autocast.

Writes ``benchmarks/results/models.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import spectool.models as models
from spectool.models.mspcnet import MSPCNet

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


def _time(fn, iters: int, device: torch.device) -> tuple[float, float]:
    """Best wall and process-CPU seconds of ``iters`` calls of ``fn`` after one warm-up."""
    fn()
    _sync(device)
    best_wall = best_cpu = float("inf")
    for _ in range(iters):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def bench(name: str, fast: bool | None, batch: int, iters: int, device: torch.device,
          amp: torch.dtype | None, train: bool) -> dict:
    """Throughput of one model configuration; returns a result row."""
    torch.manual_seed(0)
    model = models.create(name).to(device)
    if isinstance(model, MSPCNet) and fast is not None:
        model.set_fast(fast)
    x, image = _inputs(model, batch, device)
    ctx = (lambda: torch.autocast(device.type, dtype=amp)) if amp else (lambda: torch.autocast(device.type, enabled=False))

    def infer() -> None:
        with torch.inference_mode(), ctx():
            model(x, image)

    model.eval()
    wall, cpu = _time(infer, iters, device)
    row = {"model": name, "path": {True: "fast", False: "direct", None: "-"}[fast], "device": device.type,
           "amp": str(amp).replace("torch.", "") if amp else None, "batch": batch,
           "params": sum(p.numel() for p in model.parameters()),
           "infer_spectra_per_s": batch / wall, "infer_ms_per_spectrum_cpu_time": 1e3 * cpu / batch}
    if train:
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with ctx():
                loss = _loss(model, model(x, image))
            loss.backward()
            opt.step()

        model.train()
        wall, cpu = _time(step, max(1, iters - 1), device)
        row.update(train_spectra_per_s=batch / wall, train_ms_per_spectrum_cpu_time=1e3 * cpu / batch)
    return row


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
        for fast in ((True, False) if name.startswith("mspcnet") else (None,)):
            train = not args.no_train and not (fast is False and args.no_direct_train)
            plans.append((name, fast, iters, torch.device("cpu"), None, train))
            if torch.cuda.is_available():
                plans.append((name, fast, args.iters, torch.device("cuda"), torch.bfloat16, train))
    load_before = os.getloadavg()
    rows = [bench(name, fast, args.batch, iters, device, amp, train)
            for name, fast, iters, device, amp, train in tqdm(plans, desc="models")]
    load_after = os.getloadavg()

    header = f"{'model':16s} {'path':6s} {'dev':4s} {'params':>11s} {'infer/s':>9s} {'train/s':>9s} {'infer ms cpu':>12s}"
    print(header)
    print("-" * len(header))
    for r in rows:
        train = f"{r['train_spectra_per_s']:9.1f}" if "train_spectra_per_s" in r else f"{'-':>9s}"
        print(f"{r['model']:16s} {r['path']:6s} {r['device']:4s} {r['params']:11,d} "
              f"{r['infer_spectra_per_s']:9.1f} {train} {r['infer_ms_per_spectrum_cpu_time']:12.1f}")
    speedups = {}
    for r in rows:
        if r["path"] == "fast":
            d = next(q for q in rows if q["model"] == r["model"] and q["path"] == "direct"
                     and q["device"] == r["device"])
            speedups[f"{r['model']}/{r['device']}"] = {
                k: r[k] / d[k] for k in ("infer_spectra_per_s", "train_spectra_per_s") if k in r and k in d}
    for key, s in speedups.items():
        print(f"fast/direct {key}: " + ", ".join(f"{k.split('_')[0]} x{v:.1f}" for k, v in s.items()))

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "note": "random (synthetic) inputs; best of repeated timings; wall-clock spectra/s",
        "batch": args.batch, "threads": args.threads, "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": load_after,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "results": rows, "fast_over_direct": speedups}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
