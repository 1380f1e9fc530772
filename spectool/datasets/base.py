"""Dataset objects over a store: splits, labels, and a PyTorch view."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..spectrum import Spectrum
from ..store import SpectrumStore

if TYPE_CHECKING:
    from .presets import Preset


class SpectralDataset:
    """A store plus the task it serves (classification or regression).

    Attributes
    ----------
    store
        The underlying :class:`~spectool.store.SpectrumStore` (memory-mapped arrays).
    task
        ``"classification"`` or ``"regression"``.
    class_names
        Class order for classification (index = label id).
    targets
        Target column names for regression (e.g. ``["mass", "age"]``).
    """

    def __init__(self, store: SpectrumStore, preset: "Preset | None" = None) -> None:
        self.store = store
        info = store.info
        self.name: str = info.get("name") or (preset.name if preset else store.path.name)
        self.task: str = info.get("task") or (preset.task if preset else "classification")
        self.class_names: list[str] = list(info.get("class_names") or (preset.class_names if preset else []) or [])
        self.targets: list[str] = list(info.get("targets") or (preset.targets if preset else []) or [])
        self.preprocess: str = info.get("preprocess", "")
        self.preset = preset

    # -------------------------------------------------------------- accessors
    def __len__(self) -> int:
        return len(self.store)

    def __repr__(self) -> str:
        kind = "synthetic mock" if self.synthetic else "real"
        return f"SpectralDataset({self.name!r}, {len(self)} spectra, {self.task}, {kind}, folds={self.n_folds})"

    @property
    def synthetic(self) -> bool:
        return self.store.synthetic

    @property
    def info(self) -> dict:
        return self.store.info

    @property
    def meta(self) -> pd.DataFrame:
        return self.store.meta

    @property
    def wavelength(self) -> np.ndarray:
        return np.asarray(self.store.wavelength)

    @property
    def flux(self) -> np.ndarray:
        return self.store.flux

    @property
    def images(self) -> np.ndarray | None:
        return self.store.images

    @property
    def n_folds(self) -> int:
        return len(self.store.fold_columns)

    @property
    def labels(self) -> np.ndarray:
        """Integer class ids (classification) or (N, n_targets) float32 (regression)."""
        if self.task == "classification":
            if "label" not in self.meta.columns:
                raise DatasetError("classification store lacks a 'label' column", self.store.path)
            lookup = {c: i for i, c in enumerate(self.class_names)}
            try:
                return np.array([lookup[str(v)] for v in self.meta["label"]], dtype=np.int64)
            except KeyError as exc:
                raise DatasetError(f"label {exc.args[0]!r} is not in class_names {self.class_names}", self.store.path) from exc
        missing = [t for t in self.targets if t not in self.meta.columns]
        if missing:
            raise DatasetError(f"regression targets missing from meta: {missing}", self.store.path)
        return self.meta[self.targets].to_numpy(np.float32)

    @property
    def snr(self) -> np.ndarray:
        return self.meta["snr"].to_numpy(np.float32) if "snr" in self.meta.columns else np.full(len(self), np.nan, np.float32)

    def indices(self, split: str, fold: int = 0) -> np.ndarray:
        return self.store.split_indices(split, fold)

    def spectrum(self, i: int) -> Spectrum:
        """Row ``i`` as a :class:`~spectool.Spectrum` (padding pixels dropped)."""
        w = self.wavelength
        keep = np.isfinite(w)
        ivar = None if self.store.ivar is None else np.asarray(self.store.ivar[i])[keep]
        meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in self.meta.iloc[i].to_dict().items()}
        meta.update(synthetic=self.synthetic, dataset=self.name, preprocess=self.preprocess)
        return Spectrum(w[keep], np.asarray(self.flux[i])[keep], ivar, None, meta)

    def torch(self, split: str | None = None, fold: int = 0, transform: Callable | None = None) -> "TorchSpectra":
        """A ``torch.utils.data.Dataset`` over ``split`` of ``fold`` (all rows if split is None)."""
        idx = np.arange(len(self)) if split is None else self.indices(split, fold)
        return TorchSpectra(self, idx, transform=transform)


class TorchSpectra:
    """PyTorch dataset yielding dicts ``{"x": (1, L) float32, "y": label, "index": row}``,
    plus ``"image": (3, 128, 128)`` when the store has images.

    ``transform(x: np.ndarray, rng) -> np.ndarray`` (e.g. a training augmentation) is
    applied to the flux row before conversion to a tensor.
    """

    def __init__(self, dataset: SpectralDataset, indices: np.ndarray, transform: Callable | None = None) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transform = transform
        self._labels = dataset.labels
        self._rng = np.random.default_rng()

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, k: int) -> dict:
        import torch

        i = int(self.indices[k])
        x = np.array(self.dataset.flux[i], dtype=np.float32)
        if self.transform is not None:
            x = self.transform(x, self._rng).astype(np.float32, copy=False)
        item = {"x": torch.from_numpy(x)[None], "y": torch.as_tensor(np.array(self._labels[i])), "index": i}
        if self.dataset.images is not None:
            item["image"] = torch.from_numpy(np.array(self.dataset.images[i], dtype=np.float32))
        return item
