"""Lightning callbacks that make runs resumable and their histories exact.

* :class:`EpochHistory` keeps one row per finished epoch (lr, train and validation
  metrics) in its checkpointed state and writes ``history.csv`` atomically, so a
  killed and resumed run has exactly one row per epoch (CSVLogger's ``metrics.csv``
  would be cleared or duplicated on restart).
* :class:`RNGState` saves and restores the Python, NumPy, torch and augmentation
  random states in the checkpoint, so a resumed run draws the same shuffles and
  augmentations it would have drawn without the interruption.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch

from .._atomic import atomic_write_text


class EpochHistory(L.Callback):
    """Record ``trainer.callback_metrics`` at the end of each training epoch (after
    validation) to ``path`` as CSV; the rows travel inside checkpoints."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row: dict[str, Any] = {"epoch": int(trainer.current_epoch) + 1}
        for k, v in sorted(trainer.callback_metrics.items()):
            if k.endswith("_step"):
                continue
            row[k.removesuffix("_epoch")] = float(v.detach().cpu()) if isinstance(v, torch.Tensor) else float(v)
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            self.write()

    def write(self) -> None:
        atomic_write_text(self.path, self.frame().to_csv(index=False))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))


class RNGState(L.Callback):
    """Checkpoint the global random states and an optional augmentation generator."""

    def __init__(self, generator: np.random.Generator | None = None) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        state = {"python": random.getstate(), "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
                 "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        if self.generator is not None:
            state["augment"] = self.generator.bit_generator.state
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        if "augment" in state_dict and self.generator is not None:
            self.generator.bit_generator.state = state_dict["augment"]
