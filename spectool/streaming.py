"""Survey-scale batch inference: spectrum files -> a parquet dataset, streamed, sharded, resumable.

``predict_files(model, inputs, out=...)`` (and ``spectool predict MODEL INPUT... --out OUT``)
classifies any number of spectrum files in constant memory:

1. **Inputs** (:func:`expand_inputs`): files, glob patterns (``**`` recurses), directories
   (searched recursively for spectrum files: FITS, ``.npy``, HDF5, text), text files listing
   one path per line (relative paths are taken from the list's folder; ``@list`` forces a
   file to be read as a list), or an ingested store directory (one input per row). Every
   input is named by its absolute path (``<store>#<row>`` for a store row); that name is the
   ``input`` column and the key for sharding and resuming. The list of input names is held
   in memory (about 200 bytes per input); spectra never are, beyond one chunk per worker.
2. **Shards**: ``shard=(i, n)`` keeps the inputs whose ``sha1(input) mod n == i``, a
   deterministic, disjoint partition: ``n`` Slurm array tasks with the same inputs and
   ``OUT`` cover every input exactly once without a scheduler.
3. **Chunks**: the inputs not yet in ``OUT`` are cut into chunks of ``chunk_size``. A chunk
   is read (``spectool.read``), preprocessed and inferred by :func:`spectool.predict` and its
   rows are written to ``OUT/part-<position>-<digest>.parquet`` through a temporary file and
   an atomic rename, so a part file is either complete or absent.
4. **Resume**: the inputs already present in complete part files are skipped. After a kill
   (even SIGKILL) the rerun redoes only chunks whose part file was not renamed into place;
   nothing is lost and nothing is written twice. A part file whose inputs all appear in
   other parts (two runs of the same shard at once) is removed.
5. **Errors**: an unreadable or truncated file, a missing image or a spectrum that the
   preprocessing rejects (e.g. the window is not covered) becomes a row with ``error`` set;
   when :func:`spectool.predict` raises for a whole chunk, the chunk is redone spectrum by
   spectrum so that only the bad inputs get error rows.
6. **Parallelism**: ``workers=N`` starts a Dask ``LocalCluster`` of N worker processes with
   one thread each; ``scheduler`` (an address such as ``tcp://host:8786`` or a
   ``distributed.Client``) uses an existing cluster whose workers see the same file system.
   Each worker loads the model once and writes its part files itself.

Output columns (one row per input; a file holding several spectra, e.g. an spPlate, gives
one row per spectrum numbered by ``index``): ``input``, ``index``, ``object_id``,
``error`` (null when fine), every column returned by :func:`spectool.predict` (labels,
probabilities or estimates in physical units, ``flag``, ``ood_score``, ...), the catalogue
labels read from the file (``cat_class``, ``cat_subclass``, ``cat_z`` = catalogue redshift,
``cat_snr`` = median S/N per pixel; the names :func:`spectool.predict` uses),
and provenance: ``model`` (name or path given), ``model_arch``, ``model_sha256`` (sha256 of
the weights file, or of the state dict's tensor bytes for an in-memory or untrained model),
``spectool_version``, ``preprocess`` and ``preprocess_options`` (JSON), ``trust`` (JSON:
the ``low_confidence`` threshold and the kind gate of a stars-only model), ``input_size``
(bytes) and ``input_mtime`` (UTC).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._atomic import atomic_path, atomic_write_text, sha256_file
from .errors import ConfigError, DatasetError, SpectoolWarning
from .io._common import is_number
from .trust import FLAG_FAILED, FLAG_UNREADABLE

#: File names searched for in input directories (case-insensitive).
SPECTRUM_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".npy",
                     ".h5", ".hdf5", ".txt", ".dat", ".csv", ".tsv")
#: Files that may list input paths, one per line (recognised by content, see _is_path_list).
LIST_SUFFIXES = (".txt", ".lst", ".list")
#: Temporary part files older than this (s) are left-overs of killed runs and are removed.
STALE_TMP_SECONDS = 3600.0
MANIFEST = "_spectool_predict.json"
_OWN_FIRST = ("input", "index", "object_id", "error")
_PROVENANCE = ("model", "model_arch", "model_sha256", "spectool_version", "preprocess", "preprocess_options",
               "trust", "input_size", "input_mtime")


@dataclass
class PredictSummary:
    """What one :func:`predict_files` call did.

    ``done`` inputs were predicted now (``errors`` of them have an error row), ``skipped``
    were already in ``out``; ``n_inputs`` = done + skipped (inputs of this shard).
    """

    out: Path
    n_inputs: int
    done: int
    errors: int
    skipped: int
    rows: int
    parts: int
    seconds: float
    shard: tuple[int, int] | None = None
    removed_duplicates: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Inputs predicted per second in this call (read + preprocess + infer + write)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        sh = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        return (f"{self.done} done ({self.errors} with errors), {self.skipped} skipped as already done, "
                f"of {self.n_inputs} inputs{sh}; {self.rows} rows in {self.parts} part files, "
                f"{self.seconds:.1f} s ({self.rate:.1f} inputs/s) -> {self.out}")

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "n_inputs": self.n_inputs, "done": self.done, "errors": self.errors,
                "skipped": self.skipped, "rows": self.rows, "parts": self.parts, "seconds": self.seconds,
                "shard": list(self.shard) if self.shard else None}


# ------------------------------------------------------------------- inputs
def _is_path_list(path: Path) -> bool:
    """True when ``path`` (.txt/.lst/.list) lists paths rather than holding a text spectrum."""
    if not path.name.lower().endswith(LIST_SUFFIXES):
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                tokens = line.replace(",", " ").split()
                return not all(is_number(t) for t in tokens)
    except OSError:
        return False
    return False


def _is_store(path: Path) -> bool:
    return path.is_dir() and (path / "info.json").is_file() and (path / "flux.npy").is_file()


def expand_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[tuple[str, int]]:
    """The inputs named by ``inputs`` as ``(absolute path, store row or -1)``, in order, once each.

    See the module docstring for what an input may be. A path that does not exist (or a
    glob matching nothing) is kept: it becomes an error row, never a silent omission.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    seen: set[tuple[str, int]] = set()
    items: list[tuple[str, int]] = []

    def add(path: str, row: int = -1) -> None:
        key = (path, row)
        if key not in seen:
            seen.add(key)
            items.append(key)

    def visit(text: str, base: Path | None, depth: int) -> None:
        forced_list = text.startswith("@")
        if forced_list:
            text = text[1:]
        p = Path(text).expanduser()
        if base is not None and not p.is_absolute():
            p = base / p
        if forced_list or (p.is_file() and depth < 4 and _is_path_list(p)):
            if not p.is_file():
                add(os.path.abspath(p))  # reported as "file not found"
                return
            with open(p, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        visit(line, p.parent, depth + 1)
            return
        if _is_store(p):
            from .store import SpectrumStore

            n = len(SpectrumStore.open(p))
            root = os.path.abspath(p)
            for r in range(n):
                add(root, r)
            return
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(part.startswith(".") for part in rel) \
                        and f.name.lower().endswith(SPECTRUM_SUFFIXES):
                    add(os.path.abspath(f))
            return
        if not p.exists() and glob.has_magic(str(p)):
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                add(os.path.abspath(p))
            for m in matches:
                visit(m, None, depth + 1)
            return
        add(os.path.abspath(p))

    for raw in inputs:
        visit(str(raw), None, 0)
    return items


def input_name(item: tuple[str, int]) -> str:
    """The ``input`` column value of an item: its path, or ``<store>#<row>`` for a store row."""
    path, row = item
    return path if row < 0 else f"{path}#{row}"


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"I/N"`` or ``(I, N)`` -> ``(I, N)`` with ``0 <= I < N``; None stays None."""
    if shard is None:
        return None
    try:
        i, n = (int(v) for v in (shard.split("/") if isinstance(shard, str) else shard))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"shard must be I/N (e.g. 0/4), got {shard!r}", "shard") from exc
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"shard {i}/{n}: need N >= 1 and 0 <= I < N", "shard")
    return i, n


def shard_of(name: str, n: int) -> int:
    """The shard (0..n-1) of an input name: sha1 of its UTF-8 bytes modulo ``n``."""
    return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big") % n


# -------------------------------------------------------------------- model
_LOADED: dict[Any, Any] = {}


def _load_model(spec: Any) -> Any:
    """A model from a pretrained name, a checkpoint path or an architecture name (cached)."""
    import torch

    from . import models

    if isinstance(spec, torch.nn.Module):
        return spec
    key = str(spec)
    cache_key = (key, os.stat(key).st_mtime_ns if os.path.isfile(key) else None)  # a rewritten file reloads
    if cache_key in _LOADED:
        return _LOADED[cache_key]
    if key not in models.list_pretrained() and not Path(key).exists() and key in models.list_models():
        warnings.warn(f"{key!r} is an architecture name: predicting with untrained weights (seed 0)",
                      SpectoolWarning, stacklevel=3)
        torch.manual_seed(0)
        model = models.create(key).eval()
    else:
        model = models.load(key)
    _LOADED[cache_key] = model
    return model


def weights_sha256(spec: Any, model: Any) -> str:
    """sha256 of the weights file behind ``spec`` (pretrained name or path), else of the
    model's state dict (tensor names, dtypes, shapes and bytes in key order)."""
    import torch

    from .models import list_pretrained
    from .models.pretrained import pretrained_path

    if isinstance(spec, (str, os.PathLike)):
        if str(spec) in list_pretrained():
            return sha256_file(pretrained_path(str(spec)))
        if Path(spec).is_file():
            return sha256_file(spec)
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _trust_settings(model: Any, min_confidence: float | None) -> dict[str, Any]:
    """What decides the flags beyond the model's card: the low-confidence threshold and the
    kind gate of a stars-only model (see :func:`spectool.predict`)."""
    from . import trust

    return {"min_confidence": trust.MIN_CONFIDENCE if min_confidence is None else float(min_confidence),
            "kind_gate": trust.kind_gate_name(model)}


def _recipe(model: Any, options: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    card = getattr(model, "card", None) or {}
    recipe = card.get("preprocess") or getattr(model, "preprocess", None)
    return recipe, {**(card.get("preprocess_options") or {}), **options}


# ------------------------------------------------------------------- schema
def _arrow_fields(model: Any, options: dict[str, Any]) -> list:
    """Arrow fields of every output column: ours with fixed types, and those of
    :func:`spectool.predict` found from one all-zero model-ready input (so that every part
    file has the same schema, even one holding only error rows)."""
    import pyarrow as pa

    from . import inference

    own = {"input": pa.string(), "index": pa.int64(), "object_id": pa.string(), "error": pa.string(),
           "cat_class": pa.string(), "cat_subclass": pa.string(), "cat_z": pa.float64(), "cat_snr": pa.float64(),
           "model": pa.string(), "model_arch": pa.string(), "model_sha256": pa.string(),
           "spectool_version": pa.string(), "preprocess": pa.string(), "preprocess_options": pa.string(),
           "trust": pa.string(),
           "input_size": pa.int64(), "input_mtime": pa.timestamp("us", tz="UTC")}
    predicted: list = []
    length = getattr(model, "input_length", None)
    if length:
        try:
            images = np.zeros((1, 3, 128, 128), np.float32) if getattr(model, "needs_image", False) else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                probe = inference.predict(model, np.zeros((1, int(length)), np.float32), images=images,
                                          device="cpu", progress=False, **options)
            for f in pa.Schema.from_pandas(probe, preserve_index=False):
                if f.name not in own:
                    predicted.append(pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type))
        except Exception as exc:  # noqa: BLE001 - the schema then follows the first real rows
            warnings.warn(f"could not probe the prediction columns ({exc}); part files take the columns "
                          "of their own rows", SpectoolWarning, stacklevel=3)
    first = [pa.field(n, own[n]) for n in _OWN_FIRST]
    rest = [pa.field(n, t) for n, t in own.items() if n not in _OWN_FIRST]
    return first + predicted + rest


def _to_table(df: pd.DataFrame, fields: list) -> Any:
    """``df`` as an Arrow table with ``fields`` (missing columns null) plus any other column."""
    import pyarrow as pa

    arrays, names = [], []
    known = set()
    for f in fields:
        known.add(f.name)
        col = df[f.name] if f.name in df.columns else pd.Series([None] * len(df), dtype=object)
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(pd.to_datetime(col, utc=True).dt.floor("us"), type=f.type))
        else:
            try:
                arrays.append(pa.array(col, type=f.type, from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
                values = col.astype(object).where(col.notna(), None).tolist()
                try:
                    arrays.append(pa.array(values, type=f.type))
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # the column changed type: keep the values
                    arrays.append(pa.array(values))
        names.append(f.name)
    for c in df.columns:
        if c not in known:
            a = pa.array(df[c], from_pandas=True)
            arrays.append(a.cast(pa.string()) if pa.types.is_null(a.type) else a)
            names.append(c)
    return pa.Table.from_arrays(arrays, names=names)


# ------------------------------------------------------------------- worker
def _reason(exc: BaseException) -> str:
    from .ingest.runner import _reason as reason

    return reason(exc)


def _stat(path: str) -> dict[str, Any]:
    try:
        st = os.stat(path)
    except OSError:
        return {"input_size": None, "input_mtime": None}
    return {"input_size": int(st.st_size), "input_mtime": pd.Timestamp(st.st_mtime, unit="s", tz="UTC")}


def _catalogue(meta: dict[str, Any]) -> dict[str, Any]:
    out = {}
    from .inference import CATALOGUE

    for col, key in CATALOGUE.items():
        v = meta.get(key)
        if v is not None and not (isinstance(v, float) and np.isnan(v)):
            out[col] = str(v) if col in ("cat_class", "cat_subclass") else float(v)
    return out


def _predict_units(call, n: int) -> tuple[pd.DataFrame | None, list[str | None]]:
    """Run ``call(selection)`` on all ``n`` units; if it raises, unit by unit.

    Returns (prediction frame with one row per unit or None, error reason per unit).
    """
    if n == 0:
        return None, []
    try:
        df = call(list(range(n)))
        if len(df) == n:
            return df.reset_index(drop=True), [None] * n
    except Exception:  # noqa: BLE001 - redo one by one so only the bad units fail
        pass
    frames, errors = [], []
    for i in range(n):
        try:
            one = call([i])
            if len(one) != 1:
                raise DatasetError(f"predict returned {len(one)} rows for one spectrum")
            frames.append(one)
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - batch contract: the input becomes an error row
            frames.append(pd.DataFrame({"object_id": [None]}))
            errors.append(_reason(exc))
    return pd.concat(frames, ignore_index=True), errors


def _merge(rows: list[dict[str, Any]], which: list[int], pred: pd.DataFrame | None,
           errors: list[str | None]) -> pd.DataFrame:
    """Our rows with the prediction columns placed at rows ``which``. Our identity and
    provenance columns win; ``error`` keeps the first reason (null when there is none);
    other shared columns (the catalogue labels ``cat_*``) take the prediction's value where
    it has one."""
    for j, e in zip(which, errors):
        if e is not None and rows[j].get("error") is None:
            rows[j]["error"] = e
            rows[j]["flag"] = FLAG_FAILED
    df = pd.DataFrame(rows)
    if pred is None or not len(which):
        return df
    keep = set(_OWN_FIRST) - {"error"} | set(_PROVENANCE)
    idx = np.asarray(which)
    for c in pred.columns:
        if c in keep:
            continue
        vals = pred[c].to_numpy(dtype=object)
        if c not in df.columns:
            col = np.full(len(df), None, dtype=object)
            col[idx] = vals
            df[c] = col
            continue
        col = df[c].to_numpy(dtype=object).copy()
        have = pd.notna(pd.Series(vals)).to_numpy().copy()
        if c == "error":  # spectool.predict writes "" when fine: null here
            have &= pd.isna(pd.Series(col[idx])).to_numpy() & (pd.Series(vals).astype(str) != "").to_numpy()
        col[idx[have]] = vals[have]
        df[c] = col
    return df


def read_files(items: list[tuple[str, int]], settings: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """Read a chunk of spectrum files: per item ``(file stem, size/mtime, (spectra, image) or the
    exception that made it unreadable)``. Never raises for a bad file."""
    from .ingest.runner import table_from_paths
    from .io import read

    image_dir = settings.get("images")
    stems = table_from_paths([it[0] for it in items])["object_id"].tolist()  # file name without .fits/.npy
    out = []
    for it, stem in zip(items, stems):
        path = it[0]
        try:
            got = read(path)
            specs = got if isinstance(got, list) else [got]
            if not specs:
                raise DatasetError("the file holds no spectrum", path)
            image = None
            if image_dir is not None:
                from .ingest.runner import _load_image

                image = _load_image(str(Path(image_dir) / f"{stem}.npy"))
            result: Any = (specs, image)
        except Exception as exc:  # noqa: BLE001 - batch contract: report the file and carry on
            result = exc
        out.append((stem, _stat(path), result))
    return out


def _chunk_frame(model: Any, items: list[tuple[str, int]], settings: dict[str, Any],
                 preread: list | None = None) -> pd.DataFrame:
    """Read, preprocess and predict one chunk (all files, or rows of one store); never raises
    for a bad input. ``preread``: the chunk's files already read by :func:`read_files`."""
    from . import __version__, inference

    prov = {**settings["provenance"], "spectool_version": __version__}
    kw = {"batch_size": settings["batch_size"], "device": settings["device"], "progress": False,
          "min_confidence": settings.get("min_confidence")}
    rows: list[dict[str, Any]] = []
    which: list[int] = []
    if items[0][1] >= 0:  # rows of one ingested store: model-ready already
        from .datasets import SpectralDataset
        from .store import SpectrumStore

        path = items[0][0]
        try:
            ds = SpectralDataset(SpectrumStore.open(path))
        except Exception as exc:  # noqa: BLE001
            return pd.DataFrame([{"input": input_name(it), "index": 0, "object_id": None, "error": _reason(exc),
                                  "flag": FLAG_UNREADABLE, **prov, **_stat(path)} for it in items])
        stat = _stat(str(Path(path) / "flux.npy"))
        prov = {**prov, "preprocess": ds.store.info.get("preprocess"),
                "preprocess_options": json.dumps(ds.store.info.get("preprocess_options") or {}, sort_keys=True,
                                                 default=str)}
        meta = ds.meta
        good = []
        for it in items:
            base = {"input": input_name(it), "index": 0, "error": None, **prov, **stat}
            if it[1] >= len(meta):
                rows.append({**base, "object_id": None, "error": f"row {it[1]} beyond the store's {len(meta)} rows"})
                continue
            m = meta.iloc[it[1]].to_dict()
            rows.append({**base, "object_id": str(m.get("object_id", it[1])), **_catalogue(m)})
            which.append(len(rows) - 1)
            good.append(it[1])
        rows_idx = np.asarray(good, dtype=np.int64)
        pred, errors = _predict_units(lambda sel: inference.predict(model, ds, indices=rows_idx[sel], **kw),
                                      len(good))
        return _merge(rows, which, pred, errors)

    spectra, images = [], []
    for it, (stem, stat, got) in zip(items, preread if preread is not None else read_files(items, settings)):
        base = {"input": input_name(it), "index": 0, "object_id": stem, "error": None, **prov, **stat}
        if isinstance(got, BaseException):
            rows.append({**base, "error": _reason(got), "flag": FLAG_UNREADABLE})
            continue
        specs, image = got
        for k, s in enumerate(specs):
            oid = s.meta.get("object_id")
            rows.append({**base, "index": k, "object_id": str(oid) if oid not in (None, "") else stem,
                         **_catalogue(s.meta)})
            which.append(len(rows) - 1)
            spectra.append(s)
            images.append(image)
    image_dir = settings.get("images")

    def call(sel: list[int]) -> pd.DataFrame:
        imgs = None if image_dir is None else np.stack([images[i] for i in sel])
        return inference.predict(model, [spectra[i] for i in sel], images=imgs, **kw, **settings["options"])

    pred, errors = _predict_units(call, len(spectra))
    return _merge(rows, which, pred, errors)


def part_name(items: list[tuple[str, int]], position: int) -> str:
    """``part-<position of the first input>-<digest of the chunk's inputs>.parquet``: files sort
    in input order, and the same chunk always gets the same name."""
    h = hashlib.sha1("\n".join(input_name(it) for it in items).encode("utf-8")).hexdigest()[:12]
    return f"part-{position:010d}-{h}.parquet"


def run_chunk(model_ref: Any, items: list[tuple[str, int]], position: int, out: str,
              settings: dict[str, Any], preread: list | None = None) -> dict[str, Any]:
    """Predict one chunk and write its part file atomically (runs in the worker)."""
    import pyarrow.parquet as pq

    if settings.get("threads"):
        import torch

        if torch.get_num_threads() != settings["threads"]:
            torch.set_num_threads(settings["threads"])
    model = _load_model(model_ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectoolWarning)
        df = _chunk_frame(model, items, settings, preread)
    table = _to_table(df, settings["fields"])
    name = part_name(items, position)
    with atomic_path(Path(out) / name) as tmp:
        pq.write_table(table, tmp)
    bad = df.loc[df["error"].notna(), "input"].nunique() if "error" in df.columns else 0
    return {"part": name, "inputs": len(items), "rows": len(df), "errors": int(bad)}


# ------------------------------------------------------------------- resume
def _scan_done(out: Path) -> tuple[set[str], list[str], int]:
    """(inputs in complete part files, redundant parts removed, number of parts kept).

    A part whose inputs all appear in earlier parts (two runs of one shard at once) is
    removed; an unreadable part is renamed ``.bad-<name>`` so its inputs are redone.
    """
    import pyarrow.parquet as pq

    done: set[str] = set()
    removed: list[str] = []
    kept = 0
    now = time.time()
    for tmp in out.glob(".part-*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                tmp.unlink()
        except OSError:
            pass
    for part in sorted(out.glob("part-*.parquet")):
        try:
            names = set(pq.read_table(part, columns=["input"]).column("input").to_pylist())
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"unreadable part file {part.name} ({exc}); its inputs are redone", SpectoolWarning,
                          stacklevel=3)
            os.replace(part, part.with_name(f".bad-{part.name}"))
            continue
        if names and names <= done:
            part.unlink(missing_ok=True)
            removed.append(part.name)
            continue
        overlap = len(names & done)
        if overlap:
            warnings.warn(f"{part.name} repeats {overlap} input(s) of other part files; drop duplicates on "
                          "'input' when reading", SpectoolWarning, stacklevel=3)
        done |= names
        kept += 1
    return done, removed, kept


def _check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    path = out / MANIFEST
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        for k in ("model_sha256", "preprocess", "preprocess_options", "trust"):
            if k in old and old.get(k) != manifest.get(k):
                raise ConfigError(f"{out} holds predictions made with {k}={old.get(k)!r}, this run has "
                                  f"{manifest.get(k)!r}; use another --out (or delete {out})", "out")
        return
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- executors
def _chunks(items: list[tuple[str, int]], positions: list[int], size: int
            ) -> Iterator[tuple[list[tuple[str, int]], int]]:
    """Consecutive chunks of at most ``size`` items, never mixing files with store rows or two stores."""
    chunk: list[tuple[str, int]] = []
    first = 0
    for it, pos in zip(items, positions):
        kind = it[0] if it[1] >= 0 else None
        if chunk and (len(chunk) >= size or (chunk[0][0] if chunk[0][1] >= 0 else None) != kind):
            yield chunk, first
            chunk = []
        if not chunk:
            first = pos
        chunk.append(it)
    if chunk:
        yield chunk, first


def local_cluster(workers: int):
    """The Dask ``LocalCluster`` that ``predict_files(workers=N)`` starts: ``workers`` processes
    of one thread each (one model copy per process), no dashboard, and the scheduler's HTTP
    routes on a free loopback port, so that two runs on one machine (two shards, say) do not
    both ask for port 8787. Pass its address, or a ``Client`` on it, as ``scheduler=`` to keep
    one cluster across several calls."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


def _execute(todo: list[tuple[tuple[str, int], int]], chunk_size: int, model_ref: Any, out: Path,
             settings: dict[str, Any], workers: int, scheduler: Any) -> Iterator[dict[str, Any]]:
    """Yield each chunk's result as it finishes: in this process, or on Dask.

    On Dask, chunks shrink (never grow) so that every worker thread gets at least two when
    there are few inputs."""
    items, positions = [t[0] for t in todo], [t[1] for t in todo]
    if scheduler is None and workers <= 1:
        # a reader thread reads the next chunk's files while this one is preprocessed and
        # inferred (torch releases the GIL; at most two chunks are in memory)
        from concurrent.futures import ThreadPoolExecutor

        def read_next(chunk: list[tuple[str, int]]) -> list | None:
            return read_files(chunk, settings) if chunk[0][1] < 0 else None

        chunks = _chunks(items, positions, chunk_size)
        with ThreadPoolExecutor(1, thread_name_prefix="spectool-read") as reader:
            nxt = next(chunks, None)
            pending = reader.submit(read_next, nxt[0]) if nxt else None
            while nxt is not None:
                chunk, pos = nxt
                preread = pending.result()
                nxt = next(chunks, None)
                pending = reader.submit(read_next, nxt[0]) if nxt else None
                yield run_chunk(model_ref, chunk, pos, str(out), settings, preread)
        return
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - a regular dependency
        raise ConfigError("workers/scheduler need dask[distributed]: pip install 'dask[distributed]'") from exc
    import torch

    cluster = client = None
    if scheduler is None:
        cluster = local_cluster(workers)
        client = Client(cluster)
        settings = {**settings, "threads": 1}
    elif isinstance(scheduler, Client):
        client = scheduler
    else:
        client = Client(scheduler)
    try:
        ref = client.scatter(model_ref, broadcast=True) if isinstance(model_ref, torch.nn.Module) else model_ref
        slots = 2 * max(1, sum(client.nthreads().values()))
        chunks = _chunks(items, positions, max(1, min(chunk_size, -(-len(items) // slots))))
        pending = as_completed()
        for _ in range(slots):
            nxt = next(chunks, None)
            if nxt is None:
                break
            pending.add(client.submit(run_chunk, ref, nxt[0], nxt[1], str(out), settings, pure=False))
        for fut in pending:
            yield fut.result()
            fut.release()
            nxt = next(chunks, None)
            if nxt is not None:
                pending.add(client.submit(run_chunk, ref, nxt[0], nxt[1], str(out), settings, pure=False))
    finally:
        if client is not scheduler:
            client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------- API
def predict_files(model: Any, inputs: str | os.PathLike | Iterable[str | os.PathLike], *, out: str | os.PathLike,
                  workers: int = 1, scheduler: Any = None, shard: str | tuple[int, int] | None = None,
                  batch_size: int = 64, chunk_size: int = 256, device: str | None = None,
                  images: str | os.PathLike | None = None, progress: bool | None = None,
                  min_confidence: float | None = None, **preprocess_options: Any) -> PredictSummary:
    """Predict every input into the parquet dataset ``out``; returns a :class:`PredictSummary`.

    Parameters
    ----------
    model
        A pretrained name (``spectool models list``), a checkpoint path (``.safetensors``),
        an architecture name (untrained weights, seed 0; for benchmarks) or a model object.
    inputs
        Files, globs, directories, path-list files or ingested stores (see module docstring).
    out
        Output directory; ``pandas.read_parquet(out)`` reads one row per input.
    workers, scheduler
        Dask ``LocalCluster`` of ``workers`` processes, or an existing cluster (address or
        ``distributed.Client``); neither: this process.
    shard
        ``"I/N"``: only the inputs of shard I of N (see :func:`shard_of`).
    batch_size, chunk_size
        Spectra per forward pass; inputs per part file (and per task; smaller on Dask when
        there are fewer than two chunks per worker thread).
    device
        Torch device for inference (default CUDA if available, else CPU).
    images
        Folder of SPFusion cutouts ``<file stem>.npy`` (3, 128, 128) for image models.
    progress
        tqdm progress bar (spectra/s); default on when stderr is a terminal.
    min_confidence
        Calibrated main-class probability below which a classification is flagged
        ``low_confidence`` (default :data:`spectool.trust.MIN_CONFIDENCE`). It and the kind
        gate of a stars-only model are recorded in the ``trust`` provenance column.
    preprocess_options
        Options for the model's preprocessing recipe (added to the card's).
    """
    import sys

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    sh = parse_shard(shard)
    if chunk_size < 1 or batch_size < 1 or workers < 1:
        raise ConfigError("chunk_size, batch_size and workers must be >= 1", "chunk_size")
    out = Path(os.path.abspath(out))  # workers of a cluster may run in other directories
    if out.exists() and not out.is_dir():
        raise ConfigError("--out must be a directory (a parquet dataset), not a file", out)
    if images is not None and not Path(images).is_dir():
        raise ConfigError("images must be a folder of <stem>.npy cutouts", images)
    ref: Any = model
    if isinstance(model, (str, os.PathLike)):  # workers load it themselves, once each
        ref = str(Path(model).resolve()) if Path(model).exists() else str(model)
    net = _load_model(ref)
    recipe, options = _recipe(net, preprocess_options)
    items = expand_inputs(inputs)
    if getattr(net, "needs_image", False) and images is None and any(r < 0 for _, r in items):
        raise ConfigError(f"{type(net).__name__} needs (3, 128, 128) images: pass images=/--images FOLDER "
                          "of <file stem>.npy cutouts", "images")
    sha = weights_sha256(model, net)
    card = getattr(net, "card", None) or {}
    arch = card.get("name", type(net).__name__)
    provenance = {"model": str(model) if isinstance(model, (str, os.PathLike)) else arch,
                  "model_arch": arch, "model_sha256": sha,
                  "preprocess": recipe, "preprocess_options": json.dumps(options, sort_keys=True, default=str),
                  "trust": json.dumps(_trust_settings(net, min_confidence), sort_keys=True)}
    out.mkdir(parents=True, exist_ok=True)
    _check_manifest(out, {**provenance, "created_by": "spectool predict"})
    done, removed, _ = _scan_done(out)
    positions = list(range(len(items)))
    if sh is not None:
        keep = [k for k, it in enumerate(items) if shard_of(input_name(it), sh[1]) == sh[0]]
        items, positions = [items[k] for k in keep], keep
    todo = [(it, p) for it, p in zip(items, positions) if input_name(it) not in done]
    skipped = len(items) - len(todo)
    settings = {"provenance": provenance, "options": dict(preprocess_options), "batch_size": batch_size,
                "min_confidence": min_confidence,
                "device": device, "images": None if images is None else os.path.abspath(images),
                "fields": _arrow_fields(net, options), "threads": None}
    show = sys.stderr.isatty() if progress is None else progress
    n_done = n_err = n_rows = n_parts = 0
    with tqdm(total=len(todo), disable=not show, unit="spectra", desc="predict", smoothing=0.1) as bar:
        for res in _execute(todo, chunk_size, ref, out, settings, workers, scheduler):
            n_done += res["inputs"]
            n_err += res["errors"]
            n_rows += res["rows"]
            n_parts += 1
            bar.update(res["inputs"])
    return PredictSummary(out, len(items), n_done, n_err, skipped, n_rows, n_parts, time.perf_counter() - t0,
                          sh, removed)
