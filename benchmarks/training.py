"""Training throughput per model: seconds per epoch and spectra per second.

For every model a few optimiser steps (forward, loss, backward, Adam step) are timed on
random inputs of the model's shape; the throughput gives seconds per epoch on the paper's
training-set sizes and on the quick mock sets. Inference throughput (eval, no grad) is
timed too. CPU always; CUDA as well when available (16-bit mixed precision, larger batch).

    python benchmarks/training.py [--steps 3] [--threads 2] [--models sscnn,racnet]

Printed, and written to benchmarks/results/training.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import spectool.models as models
from spectool.train.config import LossConfig, OptimConfig, SchedulerConfig
from spectool.train.lightning_module import SpectralTask

# name -> (create overrides, training-set size of the paper protocol, quick mock training-set size, note)
MODELS = {
    "mspcnet_sdss": ({"classes": [f"c{i}" for i in range(25)]}, 30000, 600, "SS-S>5: 25 classes"),
    "mspcnet_lamost": ({"classes": [f"c{i}" for i in range(37)]}, 44400, 888, "SS-L>5: 37 classes"),
    "sscnn": ({"classes": [f"c{i}" for i in range(25)]}, 30000, 600, "SS-S>5"),
    "racnet": ({"classes": [f"c{i}" for i in range(25)]}, 30000, 600, "SS-S>5"),
    "convnext1d": ({"classes": [f"c{i}" for i in range(25)]}, 30000, 600, "SS-S>5"),
    "spfusion": ({}, 25991, 140, "red clump: 2/3 of 55697 x 0.7 per fold"),
    "scanet_mmtt": ({"width": 0.125}, 8022, 111, "AFGK, 90% of 8913; width 0.125 (full width: GPU)"),
}


def _inputs(model: torch.nn.Module, batch: int, device: torch.device) -> tuple:
    x = torch.randn(batch, 1, model.input_length, device=device)
    image = torch.rand(batch, 3, 128, 128, device=device) if getattr(model, "needs_image", False) else None
    return x, image


def bench(name: str, device: torch.device, batch: int, steps: int, amp: bool) -> dict:
    overrides, n_paper, n_quick, note = MODELS[name]
    model = models.create(name, **overrides).to(device)
    reg = getattr(model, "task", "classification") == "regression"
    n_out = len(model.output_names)
    loss = LossConfig(name="mse" if reg else "cross_entropy")
    task = SpectralTask(model, task=model.task, loss=loss, optim=OptimConfig(), scheduler=SchedulerConfig(),
                        targets=list(model.output_names) if reg else [],
                        target_columns=list(range(n_out)) if reg else [], output_index=list(range(n_out)) if reg else [])
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, image = _inputs(model, batch, device)
    y = torch.rand(batch, n_out, device=device) if reg else torch.randint(0, n_out, (batch,), device=device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            out = task(x, image)
            loss_value = task.compute_loss(out, y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss_value).backward()
        scaler.step(opt)
        scaler.update()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.train()
    step()  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    train_sps = steps * batch / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=amp):
        task(x, image)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            task(x, image)
        sync()
        infer_sps = steps * batch / (time.perf_counter() - t0)
    return {"model": name, "device": device.type, "batch": batch, "amp": amp,
            "params": int(sum(p.numel() for p in model.parameters())),
            "train_spectra_per_s": round(train_sps, 2), "infer_spectra_per_s": round(infer_sps, 2),
            "s_per_epoch_paper": round(n_paper / train_sps, 1), "paper_train_size": n_paper,
            "s_per_epoch_quick_mock": round(n_quick / train_sps, 1), "quick_train_size": n_quick, "note": note}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu-batch", type=int, default=8)
    ap.add_argument("--gpu-batch", type=int, default=32)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "training.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    devices = [(torch.device("cpu"), args.cpu_batch, False)]
    if torch.cuda.is_available():
        devices.append((torch.device("cuda"), args.gpu_batch, True))
    rows = []
    for name in args.models.split(","):
        for device, batch, amp in devices:
            row = bench(name, device, batch, args.steps, amp)
            rows.append(row)
            print(f"{name:15s} {device.type:4s} batch {batch:3d}  train {row['train_spectra_per_s']:8.2f} spectra/s  "
                  f"infer {row['infer_spectra_per_s']:8.2f} spectra/s  epoch: {row['s_per_epoch_paper']:9.1f} s "
                  f"(paper, {row['paper_train_size']}) {row['s_per_epoch_quick_mock']:7.1f} s (quick mock)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": args.threads, "machine": platform.processor() or platform.machine(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "note": "random inputs; shared 2-core CPU: numbers vary with load"}
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
