"""The results cache: each step's :class:`~spectool.papers.Result` as plain data files.

A cached result is a folder ``<step>/`` holding

- ``result.json``: the object tree (dicts, lists, tuples, numbers, strings and a few
  spectool dataclasses, by name) with references to
- ``arrays.npz``: every numpy array (saved and loaded with ``allow_pickle=False``), and
- ``frame_<k>.parquet``: every pandas DataFrame.

Nothing here can execute code when read: JSON and parquet are data formats, ``np.load``
refuses object arrays, and a dataclass is rebuilt only when its name is in
:data:`DATACLASSES` (an allow-list of spectool's plain-data containers), by calling the
class with the stored fields. Anything else raises :class:`~spectool.errors.CacheError`
naming the file, so a damaged or foreign cache is recomputed, never trusted.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_path
from ..errors import SpectoolError

#: Bump when a step's output format or the codec changes, so old cached results are recomputed.
CACHE_VERSION = 9  # 9: spf_overlay holds the overlay and a mass attribution; 8: results carry their fingerprint (meta); 6-7: the sanity gate became a paired test (gate_z columns); 5: SlidingWindowResult lost "cached"


class CacheError(SpectoolError):
    """A results-cache folder is unreadable or holds something the codec does not allow."""


def _dataclasses() -> dict[str, type]:
    from ..explain.feature_maps import FeatureMap
    from ..explain.attributions import Attribution
    from ..explain.overlay import AttentionOverlay
    from ..explain.receptive import ReceptiveField
    from ..explain.sliding import SlidingWindowResult
    from ..lines import Line
    from ..preprocess.result import Preprocessed
    from ..spectrum import Spectrum
    from ._common import Result, RunSet, Source

    return {c.__name__: c for c in (Result, Source, RunSet, Spectrum, Preprocessed, FeatureMap, AttentionOverlay, Attribution,
                                    ReceptiveField, SlidingWindowResult, Line)}


#: Names of the dataclasses a cache may rebuild (filled on first use: see :func:`_dataclasses`).
DATACLASSES: dict[str, type] = {}


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.frames: list[pd.DataFrame] = []

    def enc(self, obj: Any) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            v = float(obj)
            return v if math.isfinite(v) else {"__float__": repr(v)}
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, Path):
            return {"__path__": str(obj)}
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                obj = obj.astype(str)
            key = f"a{len(self.arrays)}"
            self.arrays[key] = obj
            return {"__array__": key}
        if isinstance(obj, pd.DataFrame):
            self.frames.append(obj)
            return {"__frame__": len(self.frames) - 1}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.enc(v) for v in obj]}
        if isinstance(obj, list):
            return [self.enc(v) for v in obj]
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj):
                return {"__dict__": {k: self.enc(v) for k, v in obj.items()}}
            return {"__items__": [[self.enc(k), self.enc(v)] for k, v in obj.items()]}
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            name = type(obj).__name__
            if _allowed().get(name) is not type(obj):
                raise CacheError(f"the results cache cannot store {type(obj).__qualname__}", name)
            return {"__dataclass__": name,
                    "fields": {f.name: self.enc(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}}
        raise CacheError(f"the results cache cannot store a {type(obj).__qualname__}", type(obj).__name__)


def _allowed() -> dict[str, type]:
    if not DATACLASSES:
        DATACLASSES.update(_dataclasses())
    return DATACLASSES


def _frame_out(df: pd.DataFrame, path: Path) -> None:
    """Parquet needs string column names; the original names and index go in the JSON side."""
    flat = df.copy()
    flat.columns = [f"c{i}" for i in range(flat.shape[1])]
    flat = flat.reset_index(drop=True)
    for c in flat.columns:  # mixed-type object columns: store their text
        if flat[c].dtype == object and not flat[c].map(lambda v: v is None or isinstance(v, str)).all():
            flat[c] = flat[c].astype(str)
    flat.to_parquet(path, index=False)


def save_result(obj: Any, folder: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``obj`` into ``folder`` (replaced atomically); returns the folder. ``meta``: a
    JSON-able mapping kept beside the object (:func:`load_meta`), for example what the
    result was computed from."""
    folder = Path(folder)
    w = _Writer()
    tree = w.enc(obj)
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        frames_meta = []
        for k, df in enumerate(w.frames):
            _frame_out(df, tmp / f"frame_{k}.parquet")
            frames_meta.append({"columns": [w.enc(_plain_label(c)) for c in df.columns],
                                "multi": isinstance(df.columns, pd.MultiIndex),
                                "index": None if isinstance(df.index, pd.RangeIndex) else w.enc(df.index.to_numpy()),
                                "index_names": [w.enc(n) for n in df.index.names]})
        np.savez(tmp / "arrays.npz", **w.arrays)
        (tmp / "result.json").write_text(json.dumps({"version": CACHE_VERSION, "meta": meta or {},
                                                     "frames": frames_meta, "tree": tree}))
    return folder


def _plain_label(c: Any) -> Any:
    return tuple(c) if isinstance(c, tuple) else c


class _Reader:
    def __init__(self, folder: Path, arrays: Any, frames: list[pd.DataFrame]) -> None:
        self.folder, self.arrays, self.frames = folder, arrays, frames

    def dec(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.dec(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__path__" in obj:
            return Path(obj["__path__"])
        if "__array__" in obj:
            return self.arrays[obj["__array__"]]
        if "__frame__" in obj:
            return self.frames[obj["__frame__"]]
        if "__tuple__" in obj:
            return tuple(self.dec(v) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: self.dec(v) for k, v in obj["__dict__"].items()}
        if "__items__" in obj:
            return {self.dec(k): self.dec(v) for k, v in obj["__items__"]}
        if "__dataclass__" in obj:
            cls = _allowed().get(obj["__dataclass__"])
            if cls is None:
                raise CacheError(f"results cache names an unknown type {obj['__dataclass__']!r}; delete it to "
                                 "recompute", self.folder)
            return cls(**{k: self.dec(v) for k, v in obj["fields"].items()})
        raise CacheError("results cache holds an unknown JSON object; delete it to recompute", self.folder)


def load_meta(folder: str | Path) -> dict[str, Any] | None:
    """The ``meta`` mapping saved with a result (``{}`` when it has none); ``None`` when the
    folder is absent, unreadable or from another :data:`CACHE_VERSION`."""
    try:
        stored = json.loads((Path(folder) / "result.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("version") != CACHE_VERSION:
        return None
    meta = stored.get("meta") or {}
    return meta if isinstance(meta, dict) else None


def load_result(folder: str | Path) -> Any:
    """Read a result written by :func:`save_result`; ``None`` when the folder is absent or
    from another :data:`CACHE_VERSION`. A damaged folder raises :class:`CacheError`."""
    folder = Path(folder)
    meta_path = folder / "result.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("version") != CACHE_VERSION:
            return None
        frames = []
        for k, fm in enumerate(meta["frames"]):
            df = pd.read_parquet(folder / f"frame_{k}.parquet")
            cols = [tuple(c["__tuple__"]) if isinstance(c, dict) and "__tuple__" in c else c for c in fm["columns"]]
            df.columns = pd.MultiIndex.from_tuples(cols) if fm["multi"] else cols
            frames.append(df)
        with np.load(folder / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        reader = _Reader(folder, arrays, frames)
        for df, fm in zip(frames, meta["frames"]):
            if fm["index"] is not None:
                df.index = pd.Index(reader.dec(fm["index"]))
                names = [reader.dec(n) for n in fm["index_names"]]
                if len(names) == 1:
                    df.index.name = names[0]
        return reader.dec(meta["tree"])
    except CacheError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CacheError(f"results cache is unreadable ({type(exc).__name__}: {exc}); delete it to recompute",
                         folder) from exc


def clear(folder: str | Path) -> None:
    """Delete one cached result folder (it is recomputed on the next use)."""
    shutil.rmtree(folder, ignore_errors=True)
