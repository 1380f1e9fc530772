"""1-D <-> 2-D folding of SCA-Net inputs (4096 pixels <-> 64 x 64).

``order="s"`` (the paper's S-shaped fold, boustrophedon)
    row i holds pixels 64i .. 64i+63; even rows run left to right, odd rows are
    reversed: ``img[i, j] = x[64 i + j]`` for even i and ``x[64 i + 63 - j]`` for odd i.
``order="row"`` (what the authors' data loaders actually do)
    plain row-major reshape: ``img[i, j] = x[64 i + j]``.

Both work on numpy arrays and torch tensors with any leading batch dimensions
(``(..., 4096) <-> (..., 64, 64)``) and are exact inverses of each other. Any
per-pixel array (a wavelength map, an attribution) folds the same way, so 2-D
maps can always be mapped back to Angstrom.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidSpectrumError

ORDERS = ("s", "row")


@lru_cache(maxsize=16)
def _index(side: int, order: str) -> np.ndarray:
    """(side, side) array of the 1-D pixel index shown at each 2-D position."""
    if order not in ORDERS:
        raise ConfigError(f"fold order must be one of {ORDERS}, not {order!r}")
    idx = np.arange(side * side).reshape(side, side)
    if order == "s":
        idx[1::2] = idx[1::2, ::-1].copy()
    idx.setflags(write=False)
    return idx


def _side(n: int) -> int:
    side = int(round(np.sqrt(n)))
    if side * side != n:
        raise InvalidSpectrumError(f"cannot fold {n} pixels into a square (need a perfect square, e.g. 4096)")
    return side


def _take(x: Any, index: np.ndarray) -> Any:
    if type(x).__module__.startswith("torch"):
        import torch

        return x[..., torch.tensor(index, device=x.device)]
    return np.asarray(x)[..., index]


def fold(x: Any, order: str = "s") -> Any:
    """Fold ``(..., n*n)`` into ``(..., n, n)`` (numpy or torch); see the module docstring."""
    side = _side(x.shape[-1])
    return _take(x, _index(side, order))


def unfold(img: Any, order: str = "s") -> Any:
    """Inverse of :func:`fold`: ``(..., n, n)`` back to ``(..., n*n)``."""
    if img.shape[-1] != img.shape[-2]:
        raise InvalidSpectrumError(f"expected square images (..., n, n), got shape {tuple(img.shape)}")
    side = img.shape[-1]
    inverse = np.argsort(_index(side, order).ravel())
    flat = img.reshape(*img.shape[:-2], side * side)
    return _take(flat, inverse)


def fold_s(x: Any) -> Any:
    """S-shaped fold ``(..., 4096) -> (..., 64, 64)`` (odd rows reversed)."""
    return fold(x, "s")


def unfold_s(img: Any) -> Any:
    """Inverse of :func:`fold_s`."""
    return unfold(img, "s")
