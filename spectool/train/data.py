"""Dataset, splits and data loaders of a training run."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..datasets import SpectralDataset
from ..errors import ConfigError
from .augment import Augmenter
from .config import DataConfig


def open_dataset(cfg: DataConfig) -> SpectralDataset:
    """The dataset named by the ``data`` section (a store path, or a preset)."""
    if cfg.store is not None:
        from ..store import SpectrumStore

        return SpectralDataset(SpectrumStore.open(Path(cfg.store)))
    from ..datasets import load

    return load(cfg.dataset, source=cfg.source, size=cfg.size, seed=cfg.mock_seed)


@dataclass
class Splits:
    """Row indices of each split of one fold; ``eval_split`` names the split scored at the end."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def eval_split(self) -> str:
        return "test" if self.test.size else "val"

    @property
    def eval(self) -> np.ndarray:
        return self.test if self.test.size else self.val


def _stratified_take(idx: np.ndarray, labels: np.ndarray | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``idx`` drawn at random, balanced across classes when ``labels`` is given."""
    if n >= idx.size:
        return idx
    perm = rng.permutation(idx)
    if labels is None:
        return np.sort(perm[:n])
    lab = labels[perm]
    rank = np.empty(perm.size, dtype=np.int64)
    for c in np.unique(lab):  # position of each row within its class (random order)
        sel = np.flatnonzero(lab == c)
        rank[sel] = np.arange(sel.size)
    order = np.lexsort((rng.random(perm.size), rank))
    return np.sort(perm[order[:n]])


def make_splits(ds: SpectralDataset, cfg: DataConfig, seed: int) -> Splits:
    """Train/val/test rows of ``cfg.fold``, with the optional validation carve-out and caps."""
    if cfg.fold >= max(ds.n_folds, 1):
        raise ConfigError(f"field 'data.fold': {cfg.fold} but {ds.name!r} has {ds.n_folds} fold(s)")
    train, val, test = (ds.indices(s, cfg.fold) for s in ("train", "val", "test"))
    rng = np.random.default_rng([seed, cfg.fold])
    labels = ds.labels if ds.task == "classification" else None
    if val.size == 0:
        if cfg.val_fraction is None:
            raise ConfigError(f"fold {cfg.fold} of {ds.name!r} has no validation rows; set 'data.val_fraction'")
        n_val = max(1, int(round(cfg.val_fraction * train.size)))
        val = _stratified_take(train, labels, n_val, rng)
        train = np.setdiff1d(train, val)
    if train.size == 0:
        raise ConfigError(f"fold {cfg.fold} of {ds.name!r} has no training rows")
    caps = {"train": cfg.max_train, "val": cfg.max_val, "test": cfg.max_test}
    out = {"train": train, "val": val, "test": test}
    for name, cap in caps.items():
        if cap is not None:
            out[name] = _stratified_take(out[name], labels, cap, rng)
    return Splits(**out)


class SeededTransform:
    """Adapter giving an :class:`Augmenter` reproducible random numbers.

    In the main process it draws from its own generator (saved in checkpoints by
    :class:`~spectool.train.callbacks.RNGState`); inside a DataLoader worker from a
    generator seeded with that worker's torch seed, which differs per worker and epoch.
    """

    def __init__(self, augmenter: Augmenter, seed: int) -> None:
        self.augmenter = augmenter
        self.generator = np.random.default_rng(seed)
        self._worker: tuple[tuple[int, int], np.random.Generator] | None = None

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        info = torch.utils.data.get_worker_info()
        if info is None:
            return self.augmenter(x, self.generator)
        key = (info.id, info.seed)
        if self._worker is None or self._worker[0] != key:
            self._worker = (key, np.random.default_rng(info.seed))
        return self.augmenter(x, self._worker[1])


def make_loader(ds: SpectralDataset, rows: np.ndarray, batch_size: int, *, shuffle: bool, num_workers: int,
                pin_memory: bool, transform: SeededTransform | None = None) -> DataLoader:
    """A DataLoader over ``rows`` of ``ds`` yielding TorchSpectra dicts."""
    from ..datasets.base import TorchSpectra

    return DataLoader(TorchSpectra(ds, rows, transform=transform), batch_size=batch_size, shuffle=shuffle,
                      num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0)
