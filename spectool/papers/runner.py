"""Regenerate every figure and table of the three papers: ``spectool figures``.

>>> from spectool import papers
>>> res = papers.compute("mspc-fig4", mode="quick", source="mock")   # the drawing input
>>> made = papers.run(["mspc-tab3"], mode="quick", out="figures")    # files + gallery

For each catalog id (:data:`spectool.papers.CATALOG`) the runner computes the missing
input with the id's step, caches it, draws it, and writes ``<out>/<id>.png`` + ``.pdf``
(figures) or ``<out>/<id>.csv`` + ``.md`` + ``.html`` (tables), then an ``index.html``
gallery with every caption (tables inline as HTML), ``summary.json`` (status per id) and
``timings.json`` (wall and CPU seconds of the run and of every step it computed; each
computed step is also appended to ``<cache>/<key>/timings.jsonl``).

Cache layout (``cache`` defaults to ``<out>/cache``; notebooks and the demo share one)::

    <cache>/<mode>-mock-seed<k>/           or <mode>-real-<path tag>/
        runs/<experiment>/...              training runs (resumable, see spectool.train;
                                           reduced modes keep no Lightning checkpoints)
        results/<step>/                    the step's Result: result.json + arrays.npz +
                                           frame_<k>.parquet (no pickle; see papers._cache)

A cached result is reused only while it is current: ``result.json`` keeps the step's
fingerprint (its mode, the mock generator's version and, for a training step, every cell
of its experiment) and those of every step and shipped checkpoint it used
(``Context.is_current``). After an experiment file, a reduced-mode protocol, the mock or a
checkpoint changes, the affected steps are recomputed; their unchanged training cells are
reused. Code changes that alter a result bump ``papers._cache.CACHE_VERSION``. Delete a
``results/<step>/`` folder to recompute that step anyway.
"""
from __future__ import annotations

import html
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .._atomic import atomic_path, atomic_write_text
from ._common import Result, Table
from ._context import MODES, Context, PapersError
from .catalog import ALIASES, CATALOG

#: Old name of :class:`~spectool.papers.PapersError` (``spectool.figures.FiguresError``).
FiguresError = PapersError


def expand_ids(ids: list[str] | None) -> list[str]:
    """Catalog ids in catalog order; accepts aliases (``spf-tab3..7``) and prefixes
    (``mspc``, ``spf``, ``sca``); ``None`` or empty = all."""
    if not ids:
        return list(CATALOG)
    out: list[str] = []
    for i in ids:
        if i in CATALOG:
            out.append(i)
        elif i in ALIASES:
            out += ALIASES[i]
        elif any(k.startswith(i + "-") for k in CATALOG):
            out += [k for k in CATALOG if k.startswith(i + "-")]
        else:
            raise PapersError(f"unknown catalog id {i!r}; known: {', '.join(CATALOG)}", "--only")
    return [k for k in CATALOG if k in set(out)]


def context(mode: str = "quick", source: str | Path = "mock", cache: str | Path | None = None, seed: int = 0,
            progress: bool = True) -> Context:
    """A :class:`~spectool.papers.Context` (``cache`` default: the user cache folder)."""
    if mode not in MODES:
        raise PapersError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", "--mode")
    if str(source) != "mock" and not Path(source).exists():
        raise PapersError("data source not found (give 'mock' or a directory of ingested real data)", str(source))
    if cache is None:
        from ..config import cache_dir

        cache = cache_dir() / "figures"
    return Context(mode=mode, source=str(source), cache=Path(cache), seed=seed, progress=progress)


def compute_step(name: str, ctx: Context) -> Result:
    """The result of step ``name`` (see :meth:`Context.get`)."""
    return ctx.get(name)


def compute(figure_id: str, mode: str = "quick", source: str | Path = "mock", cache: str | Path | None = None,
            ctx: Context | None = None) -> Result:
    """The plot input of catalog id ``figure_id`` (computed or read from the cache)."""
    if figure_id not in CATALOG:
        raise PapersError(f"unknown catalog id {figure_id!r}", figure_id)
    ctx = ctx or context(mode, source, cache)
    return ctx.get(CATALOG[figure_id].step)


def draw(figure_id: str, mode: str = "quick", source: str | Path = "mock", cache: str | Path | None = None,
         ctx: Context | None = None):
    """Compute (or load) and draw one catalog id: a Figure or a :class:`~spectool.papers.Table`."""
    return CATALOG[figure_id].function(compute(figure_id, mode, source, cache, ctx))


@dataclass
class Artefact:
    """What the runner made for one id."""

    id: str
    status: str  # "ok" or "failed"
    files: list[Path]
    caption: str
    seconds: float
    error: str = ""


def save(obj, figure_id: str, out: Path) -> list[Path]:
    """Write a Figure as PNG + PDF, or a :class:`Table` as CSV + Markdown + HTML; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(obj, Table):
        csv, md, page = out / f"{figure_id}.csv", out / f"{figure_id}.md", out / f"{figure_id}.html"
        atomic_write_text(csv, obj.flat().to_csv(index=False))
        atomic_write_text(md, obj.to_markdown())
        atomic_write_text(page, obj.to_html())
        return [csv, md, page]
    import matplotlib.pyplot as plt

    paths = []
    for ext in ("png", "pdf"):
        p = out / f"{figure_id}.{ext}"
        with atomic_path(p) as tmp:
            obj.savefig(tmp, format=ext)
        paths.append(p)
    plt.close(obj)
    return paths


def run(ids: list[str] | None = None, mode: str = "quick", source: str | Path = "mock", out: str | Path = "figures",
        cache: str | Path | None = None, progress: bool = True, keep_going: bool = True) -> list[Artefact]:
    """Make the artefacts of ``ids`` (default all) under ``out`` and write ``index.html``.

    A failing id is reported (status ``failed`` with the error) and the others go on,
    unless ``keep_going`` is False.
    """
    import matplotlib

    matplotlib.use("Agg")
    from tqdm.auto import tqdm

    from ._context import _cpu_seconds

    out = Path(out)
    ctx = context(mode, source, Path(cache) if cache is not None else out / "cache", progress=progress)
    todo = expand_ids(ids)
    t_start, cpu_start = time.perf_counter(), _cpu_seconds()
    made: list[Artefact] = []
    bar = tqdm(todo, desc="figures", unit="id", disable=not progress)
    for fid in bar:
        bar.set_postfix_str(fid)
        entry = CATALOG[fid]
        t0 = time.time()
        try:
            res = ctx.get(entry.step)
            obj = entry.function(res)
            caption = entry.caption + (f" {res.note}" if res.note else "") + f" [{res.source.label}]"
            made.append(Artefact(fid, "ok", save(obj, fid, out), caption, time.time() - t0))
        except Exception as exc:  # noqa: BLE001 - report and continue with the other ids
            if not keep_going:
                raise
            made.append(Artefact(fid, "failed", [], entry.caption, time.time() - t0,
                                 f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"))
    shown = {a.id: a for a in _previous(out)}
    shown.update({a.id: a for a in made})
    everything = [shown[k] for k in CATALOG if k in shown]
    write_gallery(everything, out, ctx)
    atomic_write_text(out / "summary.json", json.dumps(
        [{"id": a.id, "status": a.status, "files": [p.name for p in a.files], "caption": a.caption,
          "seconds": round(a.seconds, 2), "error": a.error} for a in everything], indent=2))
    atomic_write_text(out / "timings.json", json.dumps(
        {"mode": mode, "wall_s": round(time.perf_counter() - t_start, 1),
         "cpu_s": round(_cpu_seconds() - cpu_start, 1), "steps": ctx.timings,
         "artefacts": {a.id: round(a.seconds, 2) for a in made}}, indent=2))
    return made


def _previous(out: Path) -> list[Artefact]:
    """Artefacts of earlier runs into ``out`` whose files still exist (so the gallery keeps them)."""
    path = out / "summary.json"
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
    except ValueError:
        return []
    return [Artefact(r["id"], r["status"], [out / f for f in r["files"]], r.get("caption", ""), r["seconds"],
                     r.get("error", "")) for r in rows
            if r.get("id") in CATALOG and all((out / f).is_file() for f in r["files"])]


def write_gallery(made: list[Artefact], out: Path, ctx: Context) -> Path:
    """``<out>/index.html``: every artefact with its caption (tables inline as HTML)."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>spectool figures ({html.escape(ctx.src.label)})</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}figure{border-bottom:1px solid #ccc;"
             "padding:1em 0}img{max-width:100%}pre{white-space:pre-wrap;font-size:12px}"
             ".failed{color:#a00}table.spectool-table{border-collapse:collapse;font-size:12px;margin:.5em 0}"
             "table.spectool-table td,table.spectool-table th{border:1px solid #ccc;padding:2px 6px;"
             "text-align:right}</style>",
             f"<h1>spectool: figures and tables of the three papers</h1><p>Data: <b>{html.escape(ctx.src.label)}</b>. "
             + ("Synthetic mock data: numbers show the shape of each result, never the papers' values. " if ctx.synthetic
                else "") + f"{sum(a.status == 'ok' for a in made)} of {len(made)} artefacts made.</p>"]
    for a in made:
        parts.append(f"<figure id='{a.id}'><h2>{a.id}</h2>")
        if a.status != "ok":
            parts.append(f"<p class='failed'>failed: <pre>{html.escape(a.error)}</pre></p>")
        for p in a.files:
            if p.suffix == ".png":
                parts.append(f"<img src='{p.name}' alt='{a.id}'>")
            elif p.suffix == ".html":
                parts.append(p.read_text())
        links = " ".join(f"<a href='{p.name}'>{p.suffix[1:]}</a>" for p in a.files)
        parts.append(f"<figcaption>{html.escape(a.caption)} {links}</figcaption></figure>")
    path = out / "index.html"
    atomic_write_text(path, "\n".join(parts))
    return path
