"""Input plumbing shared by the explain modules: tensors, wavelength grids, devices, targets.

Every explain function accepts either a batch tensor ``(N, 1, L)`` / ``(N, L)`` of
model-ready flux with its wavelength grid ``(L,)`` (vacuum Angstrom, NaN for padding),
or a list of :class:`~spectool.Spectrum` objects that are already model-ready (same
length, same grid: the output of a ``spectool.preprocess`` recipe).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn as nn

from ..errors import InvalidSpectrumError, ModelError
from ..spectrum import Spectrum


def as_batch(x, wavelength: np.ndarray | None = None, where: str = "x",
             dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, np.ndarray]:
    """Return ``(x (N, 1, L) tensor of ``dtype``, wavelength (L,) float64)``.

    Explain functions pass the dtype of the model's parameters (:func:`model_dtype`).

    ``x`` may also be a :class:`~spectool.datasets.SpectralDataset` (all its spectra are
    loaded into memory; its ``wavelength`` is the grid; see :func:`dataset_rows` to
    load only some rows).

    ``wavelength`` defaults to ``arange(L)`` (pixel index) for tensors and to the
    spectra's own grid for :class:`Spectrum` lists, which must all share one grid.
    """
    if hasattr(x, "store") and hasattr(x, "flux") and hasattr(x, "wavelength"):  # SpectralDataset
        wavelength = x.wavelength if wavelength is None else wavelength
        x = np.asarray(x.flux, dtype=np.float32)
    if isinstance(x, Spectrum):
        x = [x]
    if isinstance(x, (list, tuple)) and x and all(isinstance(s, Spectrum) for s in x):
        grid = x[0].wavelength
        for s in x[1:]:
            if s.wavelength.shape != grid.shape or not np.allclose(s.wavelength, grid, equal_nan=True):
                raise InvalidSpectrumError(
                    "spectra must share one model-input wavelength grid (preprocess them first)",
                    s.meta.get("object_id") or s.meta.get("source_path") or where)
        flux = torch.from_numpy(np.stack([s.flux for s in x]))
        wavelength = grid if wavelength is None else wavelength
        x = flux
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        if not x.flags.writeable:  # e.g. rows of a read-only memory-mapped store: torch wants its own copy
            x = x.copy()
    t = torch.as_tensor(x).to(dtype)
    if t.dim() == 1:
        t = t[None, None]
    elif t.dim() == 2:
        t = t[:, None]
    if t.dim() != 3 or t.shape[1] != 1:
        raise InvalidSpectrumError(f"expected flux of shape (N, 1, L) or (N, L), got {tuple(t.shape)}", where)
    if t.shape[0] == 0:
        raise InvalidSpectrumError("the batch is empty", where)
    if not torch.isfinite(t).all():
        raise InvalidSpectrumError("flux contains NaN or inf (model inputs must be finite)", where)
    L = t.shape[-1]
    grid = np.arange(L, dtype=np.float64) if wavelength is None else np.asarray(wavelength, dtype=np.float64)
    if grid.shape != (L,):
        raise InvalidSpectrumError(f"wavelength has shape {grid.shape}, flux length is {L}", "wavelength")
    finite = np.isfinite(grid)
    if finite.sum() < 2 or np.any(np.diff(grid[finite]) <= 0):
        raise InvalidSpectrumError("wavelength must be strictly increasing where finite (NaN marks padding)",
                                   "wavelength")
    return t, grid


def dataset_rows(data, indices, image=None) -> tuple[object, np.ndarray | None, object]:
    """For a :class:`~spectool.datasets.SpectralDataset`: ``(flux rows, grid, images)`` of
    ``indices`` (all rows if None), loading only those rows; other inputs pass through."""
    if not hasattr(data, "store"):
        if indices is not None:
            data = data[np.asarray(indices)] if not isinstance(data, (list, tuple)) else [data[i] for i in indices]
            image = None if image is None else image[np.asarray(indices)]
        return data, None, image
    rows = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    if image is None and data.images is not None:
        image = np.asarray(data.images[rows], dtype=np.float32)
    return np.asarray(data.flux[rows], dtype=np.float32), data.wavelength, image


def as_image(image, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """``None`` or a (N, 3, H, W) tensor of ``dtype`` matching the batch size ``n``."""
    if image is None:
        return None
    img = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).to(dtype)
    if img.dim() == 3:
        img = img[None]
    if img.dim() != 4 or img.shape[0] != n:
        raise InvalidSpectrumError(f"image must be (N={n}, 3, H, W), got {tuple(img.shape)}", "image")
    return img


def model_device(model: nn.Module, device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``device`` if given, else where the model's parameters live."""
    if device is not None:
        return torch.device(device)
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters (float32 for a model without any):
    explain functions cast their inputs to it."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def check_image(model: nn.Module, image) -> None:
    if getattr(model, "needs_image", False) and image is None:
        raise ModelError(f"{type(model).__name__} needs an image cutout (pass image=...)", "image")


def task_of(model: nn.Module) -> str:
    return getattr(model, "task", "regression")


def output_names(model: nn.Module, n_outputs: int) -> list[str]:
    names = list(getattr(model, "output_names", []) or [])
    return names if len(names) == n_outputs else [f"output_{i}" for i in range(n_outputs)]


def resolve_targets(model: nn.Module, targets, n_outputs: int) -> list[int]:
    """Output indices from ``None`` (all), an int, a name, or a list of them."""
    return resolve_names(output_names(model, n_outputs), targets)


def resolve_names(names: list[str], targets) -> list[int]:
    """Indices into ``names`` from ``None`` (all), an int, a name, or a list of them."""
    if targets is None:
        return list(range(len(names)))
    out = []
    for t in [targets] if isinstance(targets, (int, str, np.integer)) else list(targets):
        if isinstance(t, str):
            if t not in names:
                raise ModelError(f"unknown output {t!r}; the model has {names}", "target")
            out.append(names.index(t))
        elif 0 <= int(t) < len(names):
            out.append(int(t))
        else:
            raise ModelError(f"output index {t} out of range (model has {len(names)} outputs)", "target")
    return out


def batches(n: int, size: int) -> Iterator[slice]:
    for i in range(0, n, size):
        yield slice(i, min(i + size, n))


def progress(iterable, total: int | None, desc: str, enabled: bool):
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` (tqdm.auto, notebook-friendly)."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


def progress_bar(total: int, desc: str, enabled: bool):
    """A manual tqdm bar (``.update(n)``, ``.close()``), disabled when not ``enabled``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=not enabled)
