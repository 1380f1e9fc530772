"""Parallel, resumable conversion of a table of files into a :class:`~spectool.store.SpectrumStore`.

How a run works (:func:`run_ingest`):

1. The work directory ``<parent>/.<store name>.ingest/`` holds ``job.json`` (a
   fingerprint of the recipe, options and item list) and numbered shards
   ``shard-NNNNN.npz``, each written atomically, with the preprocessed rows of the
   files finished so far and the files that failed (with the reason).
2. Items already present in a shard are skipped, so an interrupted run (Ctrl-C,
   a killed job, ``stop_after``) resumes where it stopped.
3. The remaining items are read and preprocessed in chunks by worker processes
   (``ProcessPoolExecutor``, ``workers``) or on a Dask cluster (``scheduler``:
   an address such as ``tcp://10.0.0.1:8786`` or a ``distributed.Client``).
4. The shards are assembled, row by row into memory-mapped arrays, into the store
   (written atomically), with ``ingest_report.csv`` listing every file that was
   skipped and why. Rows whose wavelength map differs from the store's (the most
   common map) are skipped too. The work directory is then removed.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import warnings
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from .._atomic import atomic_path, atomic_write_text
from ..errors import ConfigError, DatasetError, SpectoolError, SpectoolWarning
from ..store import SpectrumStore, StoreWriter

#: Reader metadata copied into the store's meta table (float columns first).
READER_FLOAT_META = ("redshift", "snr", "ra", "dec")
READER_TEXT_META = ("survey", "class", "subclass", "obsid", "plate", "mjd", "fiber")


@dataclass
class IngestResult:
    """Outcome of :func:`run_ingest`.

    ``complete`` is False when the run stopped early (``stop_after``); call it
    again to resume. ``store`` is the opened store once complete.
    """

    path: Path
    store: SpectrumStore | None
    n_items: int
    n_ok: int
    n_failed: int
    n_resumed: int
    n_processed: int
    complete: bool
    report: Path | None

    def __repr__(self) -> str:
        state = "complete" if self.complete else "partial (re-run to resume)"
        return (f"IngestResult({self.path}, {state}: {self.n_ok} ingested, {self.n_failed} skipped of {self.n_items}; "
                f"{self.n_processed} processed now, {self.n_resumed} resumed)")


# --------------------------------------------------------------------- worker
def _load_image(path: str) -> np.ndarray:
    from ..errors import InvalidImageError, MissingDataError

    if not Path(path).is_file():
        raise MissingDataError("image file not found", path)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InvalidImageError(f"cannot load image array: {exc}", path) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SpectoolError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def process_chunk(items: list[dict[str, Any]], recipe: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Read and preprocess ``items`` (dicts with object_id, path[, image_path]); never raises.

    Each result is ``{"object_id", "ok": True, "flux", "ivar", "wavelength", "image", "meta"}``
    or ``{"object_id", "ok": False, "file", "reason"}``. Every exception of a file
    becomes its reason, so one bad file never stops a batch.
    """
    from ..io import read
    from ..preprocess import apply

    out = []
    for it in items:
        try:
            spec = read(it["path"])
            if isinstance(spec, list):
                raise DatasetError(f"file holds {len(spec)} spectra; ingest expects one spectrum per file", it["path"])
            kwargs = dict(options)
            if recipe == "spfusion" and it.get("image_path"):
                kwargs["image"] = _load_image(it["image_path"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SpectoolWarning)
                x = apply(recipe, spec, **kwargs)
            meta = {k: spec.meta.get(k) for k in READER_FLOAT_META + READER_TEXT_META}
            out.append({"object_id": it["object_id"], "ok": True, "flux": x.flux, "ivar": x.ivar,
                        "wavelength": x.wavelength, "image": x.image, "meta": meta})
        except Exception as exc:  # noqa: BLE001 - batch contract: report the file and carry on
            out.append({"object_id": it["object_id"], "ok": False, "file": it["path"], "reason": _reason(exc)})
    return out


def _limit_threads() -> None:
    """Worker initializer: one BLAS thread per process (avoids oversubscribing cores)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass


# ---------------------------------------------------------------- executors
def _dask_executor(scheduler: Any) -> tuple[Executor, Any]:
    """(concurrent.futures executor, client to close or None) for a Dask scheduler address or Client."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise DatasetError("Dask ingest needs the 'dask' extra: pip install 'spectool[dask]'") from exc
    if isinstance(scheduler, Client):
        return scheduler.get_executor(), None
    client = Client(scheduler)
    return client.get_executor(), client


def _run_chunks(chunks: list[list[dict]], recipe: str, options: dict, workers: int,
                scheduler: Any) -> Iterator[list[dict]]:
    """Yield the result list of every chunk as it completes."""
    if scheduler is None and workers <= 1:
        for chunk in chunks:
            yield process_chunk(chunk, recipe, options)
        return
    client = None
    if scheduler is not None:
        executor, client = _dask_executor(scheduler)
    else:
        executor = ProcessPoolExecutor(max_workers=workers, initializer=_limit_threads)
    futures: list = []
    try:
        futures = [executor.submit(process_chunk, c, recipe, options) for c in chunks]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        if scheduler is None:
            executor.shutdown(wait=True, cancel_futures=True)
        else:
            for fut in futures:
                fut.cancel()
            if client is not None:  # a client we opened ourselves (from an address)
                client.close()


# ------------------------------------------------------------------- shards
def _work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.ingest"


def _fingerprint(table: pd.DataFrame, recipe: str, options: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps({"recipe": recipe, "options": options}, sort_keys=True, default=str).encode())
    for col in ("object_id", "path", "image_path"):
        if col in table.columns:
            h.update("\x1f".join(table[col].astype(str)).encode())
    return h.hexdigest()


def _write_shard(work: Path, results: list[dict]) -> Path:
    index = len(list(work.glob("shard-*.npz")))
    ok = [r for r in results if r["ok"]]
    bad = [r for r in results if not r["ok"]]
    maps: dict[bytes, int] = {}
    wave_index = []
    for r in ok:
        key = np.asarray(r["wavelength"], np.float64).tobytes()
        wave_index.append(maps.setdefault(key, len(maps)))
    length = ok[0]["flux"].size if ok else 0
    arrays = {
        "ids": np.array([r["object_id"] for r in ok], dtype=str),
        "flux": np.array([r["flux"] for r in ok], np.float32).reshape(len(ok), length),
        "ivar": np.array([r["ivar"] for r in ok], np.float32).reshape(len(ok), length),
        "wave_maps": np.array([np.frombuffer(k, np.float64) for k in maps], np.float64).reshape(len(maps), length),
        "wave_index": np.array(wave_index, np.int64),
        "meta_json": np.array(json.dumps([r["meta"] for r in ok], default=_plain)),
        "failed_ids": np.array([r["object_id"] for r in bad], dtype=str),
        "failed_files": np.array([r["file"] for r in bad], dtype=str),
        "failed_reasons": np.array([r["reason"] for r in bad], dtype=str),
    }
    if ok and ok[0]["image"] is not None:
        arrays["images"] = np.array([r["image"] for r in ok], np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = work / f"shard-{index:05d}.npz"
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())
    return path


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _done_ids(work: Path) -> tuple[set[str], set[str]]:
    """(ids finished successfully, ids that failed) according to the shards in ``work``."""
    ok: set[str] = set()
    bad: set[str] = set()
    for shard in sorted(work.glob("shard-*.npz")):
        with np.load(shard, allow_pickle=False) as z:
            ok.update(z["ids"].tolist())
            bad.update(z["failed_ids"].tolist())
    return ok, bad


# ------------------------------------------------------------------- assembly
def _assemble(table: pd.DataFrame, out: Path, work: Path, info: dict[str, Any],
              fingerprint: str) -> tuple[SpectrumStore | None, pd.DataFrame]:
    shards = sorted(work.glob("shard-*.npz"))
    located: dict[str, tuple[int, int]] = {}
    wave_of: dict[str, bytes] = {}
    reader_meta: dict[str, dict] = {}
    failed: list[dict] = []
    counts: Counter = Counter()
    length, image_shape = None, None
    for s, shard in enumerate(shards):
        with np.load(shard, allow_pickle=False) as z:
            ids = z["ids"].tolist()
            maps = [m.tobytes() for m in z["wave_maps"]]
            metas = json.loads(str(z["meta_json"]))
            for r, (oid, wi) in enumerate(zip(ids, z["wave_index"].tolist())):
                located[oid] = (s, r)
                wave_of[oid] = maps[wi]
                reader_meta[oid] = metas[r]
                counts[maps[wi]] += 1
            if ids:
                length = z["flux"].shape[1]
                if "images" in z.files:
                    image_shape = tuple(z["images"].shape[1:])
            failed += [{"object_id": i, "file": f, "reason": why} for i, f, why in
                       zip(z["failed_ids"].tolist(), z["failed_files"].tolist(), z["failed_reasons"].tolist())]
    paths = dict(zip(table["object_id"].astype(str), table["path"].astype(str)))
    reference = counts.most_common(1)[0][0] if counts else None
    if reference is not None:
        ref = np.frombuffer(reference, np.float64)
        for oid in [o for o, key in wave_of.items() if key != reference]:
            w = np.frombuffer(wave_of[oid], np.float64)
            failed.append({"object_id": oid, "file": paths.get(oid, ""), "reason":
                           f"wavelength map differs from the store's ({_span(w)} vs {_span(ref)})"})
            del located[oid]
    report = pd.DataFrame(failed, columns=["object_id", "file", "reason"])
    keep = table[table["object_id"].astype(str).isin(located.keys())].reset_index(drop=True)
    if keep.empty:
        return None, report
    info = {**info, "ingest": {"fingerprint": fingerprint, "n_items": len(table), "n_ok": len(keep),
                               "n_failed": len(report)}}
    position = {oid: i for i, oid in enumerate(keep["object_id"].astype(str))}
    meta = keep.drop(columns=[c for c in ("path", "image_path") if c in keep.columns]).copy()
    meta["file"] = keep["path"].astype(str).to_numpy()
    _merge_reader_meta(meta, [reader_meta[o] for o in meta["object_id"].astype(str)])
    with StoreWriter(out, n=len(keep), length=length, ivar=True, image_shape=image_shape) as w:
        for s, shard in enumerate(shards):
            with np.load(shard, allow_pickle=False) as z:
                rows = [(position[oid], r) for r, oid in enumerate(z["ids"].tolist())
                        if located.get(oid, (-1,))[0] == s]
                if not rows:
                    continue
                dst, src = (np.array(v, np.int64) for v in zip(*rows))
                w.flux[dst] = z["flux"][src]
                w.ivar[dst] = z["ivar"][src]
                if image_shape is not None:
                    w.images[dst] = z["images"][src]
        w.commit(wavelength=np.frombuffer(reference, np.float64), meta=meta, info=info)
    return SpectrumStore.open(out), report


def _span(w: np.ndarray) -> str:
    real = w[np.isfinite(w)]
    return f"{real.size} px {real[0]:.2f}-{real[-1]:.2f} A" if real.size else "no wavelength map"


def _merge_reader_meta(meta: pd.DataFrame, rows: list[dict]) -> None:
    """Add reader metadata columns; catalogue columns win (the reader's snr becomes ``snr_file``)."""
    for key in READER_FLOAT_META:
        values = pd.to_numeric(pd.Series([r.get(key) for r in rows], dtype=object), errors="coerce").to_numpy()
        if np.isfinite(values.astype(np.float64)).any():
            meta[key if key not in meta.columns else f"{key}_file"] = values
    for key in READER_TEXT_META:
        values = ["" if r.get(key) is None else str(r.get(key)) for r in rows]
        if key not in meta.columns and any(values):
            meta[key] = values


# ------------------------------------------------------------------- driver
def run_ingest(table: pd.DataFrame, out: str | Path, *, preprocess: str, options: dict[str, Any] | None = None,
               info: dict[str, Any] | None = None, workers: int = 1, scheduler: Any = None,
               shard_size: int = 256, shard_seconds: float = 30.0, chunk_size: int | None = None,
               stop_after: int | None = None, restart: bool = False, progress: bool = True,
               keep_shards: bool = False) -> IngestResult:
    """Ingest the files listed in ``table`` into the store at ``out`` (see the module docstring).

    Parameters
    ----------
    table
        One row per spectrum: ``object_id`` (unique), ``path`` (file to read),
        optional ``image_path`` (SPFusion cutout ``.npy``) and the columns to keep in
        the store's meta table (``label`` or targets, ``snr``, ``fold_k``, ...).
    out
        Store directory to create (replaced atomically if it exists).
    preprocess, options
        Preprocessing recipe of :mod:`spectool.preprocess` ("mspcnet", "spfusion",
        "scanet") and its keyword options.
    info
        Base ``info.json`` content (name, task, class_names / targets, source).
    workers
        Worker processes (1 = in this process).
    scheduler
        Dask scheduler address or ``distributed.Client``; overrides ``workers``.
    shard_size, shard_seconds
        A shard (the unit of resumption) is written every ``shard_size`` finished
        files or ``shard_seconds`` seconds, whichever comes first.
    chunk_size
        Files per task sent to a worker (default: balanced, at most 32).
    stop_after
        Process at most this many new files, then stop without building the store
        (``complete=False``); a later call resumes.
    restart
        Discard the shards of an unfinished run with different settings.
    progress
        Show a tqdm progress bar.
    keep_shards
        Keep the work directory after the store is built.
    """
    from tqdm.auto import tqdm

    from ..preprocess import PIPELINES

    recipe = preprocess
    out = Path(out)
    options = dict(options or {})
    if recipe not in PIPELINES:
        raise ConfigError(f"unknown preprocessing recipe {recipe!r}; choose from {', '.join(PIPELINES)}", "recipe")
    try:
        pipeline = PIPELINES[recipe](**options)  # validates the options before any work starts
    except TypeError as exc:
        raise ConfigError(f"invalid options for recipe {recipe!r}: {exc}", "options") from exc
    if "object_id" not in table.columns or "path" not in table.columns:
        raise DatasetError("the ingest table needs 'object_id' and 'path' columns", out)
    ids = table["object_id"].astype(str)
    if ids.duplicated().any():
        raise DatasetError(f"duplicate object_id {ids[ids.duplicated()].iloc[0]!r} in the ingest table", out)
    fingerprint = _fingerprint(table, recipe, options)
    if (out / "info.json").is_file():
        try:
            existing = SpectrumStore.open(out)
        except DatasetError:
            existing = None
        if existing is not None and existing.info.get("ingest", {}).get("fingerprint") == fingerprint:
            stats = existing.info["ingest"]
            report = out / "ingest_report.csv"
            return IngestResult(out, existing, len(table), stats["n_ok"], stats["n_failed"], len(table), 0, True,
                                report if report.is_file() else None)
    work = _work_dir(out)
    job = work / "job.json"
    if job.is_file() and json.loads(job.read_text()).get("fingerprint") != fingerprint:
        if not restart:
            raise DatasetError(f"an unfinished ingest with different settings is in {work}; pass restart=True "
                               "(--restart) to discard it", out)
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not job.is_file():
        atomic_write_text(job, json.dumps({"fingerprint": fingerprint, "recipe": recipe, "options": options,
                                           "n_items": len(table), "out": str(out)}, indent=2, default=str))
    ok_ids, bad_ids = _done_ids(work)
    done = ok_ids | bad_ids
    cols = ["object_id", "path"] + (["image_path"] if "image_path" in table.columns else [])
    items = [dict(zip(cols, (str(v) for v in row))) for row in table[cols].itertuples(index=False)]
    todo = [it for it in items if it["object_id"] not in done]
    n_resumed = len(items) - len(todo)
    if stop_after is not None:
        todo = todo[: max(0, int(stop_after))]
    size = chunk_size or max(1, min(32, -(-len(todo) // max(1, 4 * max(workers, 1)))))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    buffer: list[dict] = []
    last = time.monotonic()
    try:
        with tqdm(total=len(todo), desc=f"ingest {out.name}", unit="file", disable=not progress) as bar:
            for results in _run_chunks(chunks, recipe, options, workers, scheduler):
                buffer.extend(results)
                bar.update(len(results))
                if len(buffer) >= shard_size or time.monotonic() - last > shard_seconds:
                    _write_shard(work, buffer)
                    buffer, last = [], time.monotonic()
    finally:
        if buffer:  # keep finished work even when interrupted
            _write_shard(work, buffer)
    n_processed = len(todo)
    if n_resumed + n_processed < len(items):
        ok_ids, bad_ids = _done_ids(work)
        return IngestResult(out, None, len(items), len(ok_ids), len(bad_ids), n_resumed, n_processed, False, None)
    full_info = dict(info or {})
    full_info.update(
        preprocess=recipe, preprocess_options=options, preprocess_steps=pipeline.to_dict()["steps"],
        synthetic=False, n_folds=len([c for c in table.columns if c.startswith("fold_")]),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    full_info.setdefault("provenance", f"ingested by spectool from {len(items)} real survey files")
    store, report = _assemble(table, out, work, full_info, fingerprint)
    report_path = (out if store is not None else work) / "ingest_report.csv"
    if store is None:
        report.to_csv(report_path, index=False)
        raise DatasetError(f"no spectrum could be ingested ({len(report)} failures); see {report_path}", out)
    atomic_write_text(report_path, report.to_csv(index=False))
    if not keep_shards:
        shutil.rmtree(work, ignore_errors=True)
    if len(report):
        warnings.warn(f"{len(report)} file(s) skipped; reasons in {report_path}", SpectoolWarning, stacklevel=2)
    return IngestResult(out, store, len(items), len(store), len(report), n_resumed, n_processed, True, report_path)


def table_from_paths(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """A minimal ingest table (object_id = file name without .fits/.gz) from a list of files."""
    paths = [str(p) for p in paths]
    ids = [Path(p).name.split(".fits")[0].split(".npy")[0] for p in paths]
    return pd.DataFrame({"object_id": ids, "path": paths})
