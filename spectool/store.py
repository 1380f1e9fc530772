"""The cached spectrum store: one directory of memory-mapped arrays plus a table.

Layout of a store directory (all written atomically: a temporary directory
renamed into place)::

    info.json       name, task, class_names, targets, preprocessing recipe, provenance,
                    ``synthetic`` (True for mock data), n_folds, sha256 of every array
    wavelength.npy  (L,) float64 vacuum Angstrom of each model-input pixel (NaN = padding)
    flux.npy        (N, L) float32 model-ready flux (preprocessed as ``info['preprocess']``)
    ivar.npy        (N, L) float32 inverse variance on the same scale (optional)
    images.npy      (N, 3, 128, 128) float32 g,r,i cutouts (optional, SPFusion)
    meta.parquet    N rows: ``object_id`` (unique str), ``label`` / target columns, ``snr``,
                    survey columns and one ``fold_k`` column per fold with values
                    "train" / "val" / "test"

Arrays open memory-mapped, so a store far larger than RAM trains fine.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._atomic import atomic_path, sha256_file
from .errors import DatasetError

ARRAYS = ("wavelength", "flux", "ivar", "images")
FORMAT_VERSION = 1


@dataclass
class SpectrumStore:
    """An opened store. Create one with :meth:`write`, open one with :meth:`open`."""

    path: Path
    info: dict[str, Any]
    meta: pd.DataFrame
    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray | None = None
    images: np.ndarray | None = None
    _extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.flux.shape[0])

    @property
    def synthetic(self) -> bool:
        return bool(self.info.get("synthetic", False))

    @property
    def fold_columns(self) -> list[str]:
        return sorted((c for c in self.meta.columns if c.startswith("fold_")), key=lambda c: int(c[5:]))

    def split_indices(self, split: str, fold: int = 0) -> np.ndarray:
        """Row indices of ``split`` ("train", "val", "test") in fold ``fold``."""
        col = f"fold_{fold}"
        if col not in self.meta.columns:
            raise DatasetError(f"no fold {fold} (store has {self.fold_columns or 'no folds'})", self.path)
        if split not in ("train", "val", "test"):
            raise DatasetError(f"unknown split {split!r}; use train, val or test", self.path)
        return np.flatnonzero(self.meta[col].to_numpy() == split)

    # ------------------------------------------------------------------ write
    @classmethod
    def write(
        cls,
        path: str | Path,
        *,
        flux: np.ndarray,
        wavelength: np.ndarray,
        meta: pd.DataFrame,
        info: dict[str, Any],
        ivar: np.ndarray | None = None,
        images: np.ndarray | None = None,
    ) -> "SpectrumStore":
        """Validate and write a store atomically, then open it."""
        path = Path(path)
        flux = np.asarray(flux, dtype=np.float32)
        wavelength = np.asarray(wavelength, dtype=np.float64)
        if flux.ndim != 2 or flux.shape[1] != wavelength.shape[0]:
            raise DatasetError(f"flux {flux.shape} does not match wavelength {wavelength.shape}", path)
        if len(meta) != flux.shape[0]:
            raise DatasetError(f"meta has {len(meta)} rows for {flux.shape[0]} spectra", path)
        if "object_id" not in meta.columns:
            raise DatasetError("meta needs an 'object_id' column", path)
        ids = meta["object_id"].astype(str)
        if ids.duplicated().any():
            dup = ids[ids.duplicated()].iloc[0]
            raise DatasetError(f"duplicate object_id {dup!r}", path)
        if ivar is not None and np.shape(ivar) != flux.shape:
            raise DatasetError(f"ivar {np.shape(ivar)} does not match flux {flux.shape}", path)
        if images is not None and (np.ndim(images) != 4 or np.shape(images)[0] != flux.shape[0]):
            raise DatasetError(f"images must be (N, C, H, W) with N={flux.shape[0]}, got {np.shape(images)}", path)
        meta = meta.reset_index(drop=True).copy()
        meta["object_id"] = ids.to_numpy()
        arrays = {"wavelength": wavelength, "flux": flux, "ivar": ivar, "images": images}
        with atomic_path(path) as tmp:
            tmp.mkdir()
            sums = {}
            for name, arr in arrays.items():
                if arr is None:
                    continue
                np.save(tmp / f"{name}.npy", np.asarray(arr, dtype=np.float64 if name == "wavelength" else np.float32))
                sums[name] = sha256_file(tmp / f"{name}.npy")
            meta.to_parquet(tmp / "meta.parquet", index=False)
            full = dict(info)
            full.update(format_version=FORMAT_VERSION, n=int(flux.shape[0]), length=int(flux.shape[1]), sha256=sums)
            (tmp / "info.json").write_text(json.dumps(full, indent=2, default=_json_default))
        return cls.open(path)

    # ------------------------------------------------------------------- open
    @classmethod
    def open(cls, path: str | Path, mmap: bool = True, verify: bool = False) -> "SpectrumStore":
        """Open a store directory; ``verify=True`` checks every array's sha256."""
        path = Path(path)
        if not (path / "info.json").is_file():
            raise DatasetError("not a spectool store (info.json missing)", path)
        try:
            info = json.loads((path / "info.json").read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"info.json is corrupt: {exc}", path) from exc
        if verify:
            for name, digest in info.get("sha256", {}).items():
                if sha256_file(path / f"{name}.npy") != digest:
                    raise DatasetError(f"{name}.npy fails its checksum (file changed or truncated)", path)
        mode = "r" if mmap else None
        arrays = {}
        for name in ARRAYS:
            f = path / f"{name}.npy"
            if f.is_file():
                try:
                    arrays[name] = np.load(f, mmap_mode=mode, allow_pickle=False)
                except ValueError as exc:
                    raise DatasetError(f"{name}.npy is unreadable: {exc}", path) from exc
        if "flux" not in arrays or "wavelength" not in arrays:
            raise DatasetError("store lacks flux.npy or wavelength.npy", path)
        meta = pd.read_parquet(path / "meta.parquet")
        if len(meta) != arrays["flux"].shape[0]:
            raise DatasetError("meta.parquet and flux.npy disagree in length", path)
        return cls(path=path, info=info, meta=meta, **arrays)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


class StoreWriter:
    """Fill a store row by row in memory-mapped arrays, then commit it atomically.

    For stores larger than RAM (ingest of real surveys)::

        with StoreWriter(path, n=N, length=L, ivar=True) as w:
            w.flux[i] = row            # (N, L) float32 memmaps: flux, ivar, images
            ...
            w.commit(wavelength=wave, meta=meta, info=info)
        store = SpectrumStore.open(path)

    Nothing appears at ``path`` unless :meth:`commit` ran and the block exited
    without an exception (the temporary directory is then renamed into place).
    """

    def __init__(self, path: str | Path, *, n: int, length: int, ivar: bool = False,
                 image_shape: tuple[int, ...] | None = None) -> None:
        self.path = Path(path)
        self.n, self.length = int(n), int(length)
        self._want_ivar, self._image_shape = ivar, image_shape
        self._committed = False
        self.flux = self.ivar = self.images = None

    def __enter__(self) -> "StoreWriter":
        from numpy.lib.format import open_memmap

        self._ctx = atomic_path(self.path)
        self.tmp = self._ctx.__enter__()
        self.tmp.mkdir()
        self.flux = open_memmap(self.tmp / "flux.npy", "w+", np.float32, (self.n, self.length))
        if self._want_ivar:
            self.ivar = open_memmap(self.tmp / "ivar.npy", "w+", np.float32, (self.n, self.length))
        if self._image_shape is not None:
            self.images = open_memmap(self.tmp / "images.npy", "w+", np.float32, (self.n, *self._image_shape))
        return self

    def commit(self, *, wavelength: np.ndarray, meta: pd.DataFrame, info: dict[str, Any]) -> None:
        """Validate ``meta``/``wavelength``, write them with ``info.json`` and the checksums."""
        wavelength = np.asarray(wavelength, dtype=np.float64)
        if wavelength.shape != (self.length,):
            raise DatasetError(f"wavelength {wavelength.shape} does not match length {self.length}", self.path)
        if len(meta) != self.n:
            raise DatasetError(f"meta has {len(meta)} rows for {self.n} spectra", self.path)
        if "object_id" not in meta.columns:
            raise DatasetError("meta needs an 'object_id' column", self.path)
        ids = meta["object_id"].astype(str)
        if ids.duplicated().any():
            raise DatasetError(f"duplicate object_id {ids[ids.duplicated()].iloc[0]!r}", self.path)
        meta = meta.reset_index(drop=True).copy()
        meta["object_id"] = ids.to_numpy()
        np.save(self.tmp / "wavelength.npy", wavelength)
        sums = {}
        for name in ARRAYS:
            arr = getattr(self, name) if name != "wavelength" else None
            if arr is not None:
                arr.flush()
            if (self.tmp / f"{name}.npy").is_file():
                sums[name] = sha256_file(self.tmp / f"{name}.npy")
        meta.to_parquet(self.tmp / "meta.parquet", index=False)
        full = dict(info)
        full.update(format_version=FORMAT_VERSION, n=self.n, length=self.length, sha256=sums)
        (self.tmp / "info.json").write_text(json.dumps(full, indent=2, default=_json_default))
        self._committed = True

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.flux = self.ivar = self.images = None  # release the memmaps before the rename
        if exc_type is None and not self._committed:
            exc_type, exc = DatasetError, DatasetError("StoreWriter closed without commit()", self.path)
            self._ctx.__exit__(exc_type, exc, None)
            raise exc
        return bool(self._ctx.__exit__(exc_type, exc, tb))
