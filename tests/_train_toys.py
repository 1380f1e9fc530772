"""Toy stores and tiny models for the training tests (fast, learnable, synthetic).

``register_tiny()`` adds ``tiny_cls`` / ``tiny_reg`` to the model registry and returns a
function that removes them again, so other tests see the real registry.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from spectool.models import SpectralModel
from spectool.models import _registry
from spectool.store import SpectrumStore

CLASSES = ["A", "F", "K"]


def toy_store(path: str | Path, task: str = "classification", n: int = 90, length: int = 64,
              n_folds: int = 2, seed: int = 0) -> SpectrumStore:
    """A learnable synthetic store: classes differ by the position of a Gaussian line;
    regression targets (teff in K, logg in dex) set the amplitudes of two patterns."""
    rng = np.random.default_rng(seed)
    w = np.linspace(4000.0, 9000.0, length)
    w[:2] = np.nan
    w[-2:] = np.nan
    x = np.arange(length)
    meta = pd.DataFrame({"object_id": [f"toy-{i:04d}" for i in range(n)], "snr": rng.uniform(3, 130, n)})
    if task == "classification":
        y = np.arange(n) % len(CLASSES)
        flux = np.exp(-0.5 * ((x[None] - (15 + 15 * y[:, None])) / 4.0) ** 2) + 0.1 * rng.normal(size=(n, length))
        meta["label"] = [CLASSES[i] for i in y]
        info = {"name": "toy/cls", "task": "classification", "class_names": CLASSES, "preprocess": "mspcnet"}
    else:
        teff, logg = rng.uniform(4000, 7000, n), rng.uniform(1, 5, n)
        flux = ((teff[:, None] / 7000) * np.sin(x[None] / 5.0) + (logg[:, None] / 5) * np.cos(x[None] / 7.0)
                + 0.02 * rng.normal(size=(n, length)))
        meta["teff"], meta["logg"] = teff, logg
        info = {"name": "toy/reg", "task": "regression", "targets": ["teff", "logg"], "preprocess": "scanet"}
    info.update(synthetic=True, provenance="synthetic toy store for tests")
    flux[:, :2] = 0.0
    flux[:, -2:] = 0.0
    for k in range(n_folds):
        split = np.array(["train"] * n, dtype=object)
        split[(np.arange(n) + k) % 5 == 0] = "val"
        split[(np.arange(n) + k) % 5 == 1] = "test"
        meta[f"fold_{k}"] = split
    return SpectrumStore.write(path, flux=flux.astype(np.float32), wavelength=w, meta=meta, info=info)


class Tiny(SpectralModel):
    """Conv + pooled linear head for 64-pixel toy spectra; ``delay`` seconds of sleep per
    forward (kill tests)."""

    input_length = 64

    def __init__(self, classes=None, task: str = "classification", width: int = 8, delay: float = 0.0) -> None:
        super().__init__()
        self.task = task
        self.output_names = list(classes) if classes else ["log_teff", "logg"]
        self.teff_log_base = 10.0
        self.delay = delay
        self.conv = nn.Conv1d(1, width, 5, padding=2)
        self.pool = nn.AdaptiveAvgPool1d(8)
        self.fc = nn.Linear(width * 8, len(self.output_names))

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        return self.pool(torch.relu(self.conv(x))).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


def tiny_cls(**kw) -> Tiny:
    return Tiny(**kw)


def tiny_reg(**kw) -> Tiny:
    return Tiny(task="regression", **kw)


def register_tiny():
    """Register the tiny models; returns the function that unregisters them."""
    _registry.register_model(tiny_cls)
    _registry.register_model(tiny_reg)

    def remove() -> None:
        _registry._MODELS.pop("tiny_cls", None)
        _registry._MODELS.pop("tiny_reg", None)
    return remove


def tiny_config(store: Path, root: Path, **sections) -> dict:
    """A small training config mapping for the toy store."""
    cfg = {"name": "toy", "output_root": str(root), "seed": 7,
           "data": {"store": str(store)},
           "model": {"name": "tiny_cls"},
           "optim": {"name": "adam", "lr": 0.01},
           "trainer": {"max_epochs": 2, "batch_size": 16, "progress_bar": False, "num_sanity_val_steps": 0,
                       "log_every_n_steps": 1, "num_threads": 1},
           "checkpoint": {"monitor": "val_loss", "mode": "min"}}
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg
