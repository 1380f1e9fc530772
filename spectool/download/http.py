"""The download engine: resumable, verified, atomic, retried, bounded-concurrency HTTP GETs.

One :class:`DownloadTask` names a URL (plus fallback URLs tried in order when the
server answers 404/410), a destination file and, when known, the expected size in
bytes and a sha256 / md5 checksum. :func:`fetch` runs one task, :func:`fetch_many`
runs many on a thread pool and reports each outcome as a :class:`DownloadResult`.

Guarantees
----------
* **Atomic**: bytes go to ``<dest>.part``; only a verified file is renamed onto
  ``dest`` (``os.replace``), so ``dest`` is never half written.
* **Resumable**: an existing ``.part`` is continued with ``Range: bytes=N-``; a server
  that ignores the range (HTTP 200) restarts the file, a wrong ``Content-Range``
  discards it.
* **Retried**: connection errors, truncated bodies, timeouts, HTTP 429 and 5xx are
  retried ``retries`` times with exponential backoff (``backoff * 2**k`` seconds,
  capped at ``max_backoff``) within an optional per-file ``deadline``; 4xx answers
  are final.
* **Verified**: size (declared or from ``Content-Length``/``Content-Range``) and
  sha256/md5 when given; a mismatch discards the ``.part``.
* **Skips** files already complete (present, and matching size/checksum if known).
* **Safe**: every URL and redirect target passes :func:`spectool.safety.check_url`
  (https + allow-list); ``$SPECTOOL_OFFLINE=1`` refuses all downloads.
"""
from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal
from urllib.parse import urljoin, urlsplit

import requests
from tqdm.auto import tqdm

from .. import __version__
from .._atomic import file_digest
from ..errors import DownloadError, SpectoolError, UnsafeInputError
from ..safety import LOOPBACK_HOST, check_url, ensure_online, redact_url

USER_AGENT = f"spectool/{__version__} (+https://github.com/spectool)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class DownloadTask:
    """One file to fetch.

    Parameters
    ----------
    url
        Primary URL.
    dest
        Destination file; ``<dest>.part`` holds the partial download.
    fallback_urls
        Tried in order when a URL answers 404/410 (e.g. other SDSS ``run2d`` trees).
    size
        Expected size in bytes, if known.
    sha256, md5
        Expected lowercase hex digests, if known.
    """

    url: str
    dest: Path
    fallback_urls: tuple[str, ...] = ()
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dest", Path(self.dest))

    @property
    def part(self) -> Path:
        return self.dest.with_name(self.dest.name + ".part")

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.fallback_urls)


@dataclass(frozen=True)
class DownloadOptions:
    """Knobs of the engine (seconds, bytes)."""

    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 30.0
    deadline: float | None = 600.0
    chunk_size: int = 1 << 16
    max_redirects: int = 5
    hosts: frozenset[str] | None = None
    allow_insecure_localhost: bool | None = None
    progress: bool = True


@dataclass
class DownloadResult:
    """Outcome of one task: ``status`` is "downloaded", "skipped" or "failed"."""

    task: DownloadTask
    status: Literal["downloaded", "skipped", "failed"]
    url: str | None = None
    nbytes: int = 0
    attempts: int = 0
    resumed: bool = False
    error: SpectoolError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def path(self) -> Path:
        return self.task.dest


class _Retryable(Exception):
    """A transient failure: try the same URL again after a backoff."""


class _NotFound(Exception):
    """HTTP 404/410: move on to the next candidate URL."""


@dataclass
class _State:
    attempts: int = 0
    resumed: bool = False
    nbytes: int = 0
    events: list[str] = field(default_factory=list)


_local = threading.local()


def _session(url: str) -> requests.Session:
    loopback = urlsplit(url).hostname == LOOPBACK_HOST
    key = "loopback" if loopback else "remote"
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    if key not in sessions:
        s = requests.Session()
        s.headers["User-Agent"] = USER_AGENT
        s.trust_env = not loopback  # never send loopback test traffic through a proxy
        sessions[key] = s
    return sessions[key]


def _mismatch(path: Path, task: DownloadTask, total: int | None = None) -> str | None:
    """Why ``path`` is not the file ``task`` describes, or None if it matches."""
    size = path.stat().st_size
    want = task.size if task.size is not None else total
    if want is not None and size != want:
        return f"size mismatch: got {size} bytes, expected {want}"
    for algo in ("sha256", "md5"):
        expected = getattr(task, algo)
        got = file_digest(path, algo) if expected else None
        if expected and got != expected.lower():
            return f"{algo} mismatch: got {got}, expected {expected.lower()}"
    return None


def _open(url: str, headers: dict[str, str], opt: DownloadOptions) -> tuple[str, requests.Response]:
    """GET ``url`` following redirects by hand so each hop passes the allow-list."""
    for _ in range(opt.max_redirects + 1):
        check_url(url, opt.hosts, opt.allow_insecure_localhost)
        try:
            resp = _session(url).get(url, headers=headers, stream=True, timeout=opt.timeout,
                                     allow_redirects=False)
        except requests.exceptions.ConnectionError as exc:
            if "NameResolution" in repr(exc) or "getaddrinfo" in repr(exc):
                raise DownloadError(f"cannot resolve host {urlsplit(url).hostname!r} "
                                    "(no network? set $SPECTOOL_OFFLINE=1 to work offline)",
                                    redact_url(url)) from exc
            raise _Retryable(f"connection failed ({type(exc).__name__})") from exc
        except requests.exceptions.Timeout as exc:
            raise _Retryable(f"timed out after {opt.timeout:g} s") from exc
        if resp.status_code not in _REDIRECTS:
            return url, resp
        location = resp.headers.get("Location")
        resp.close()
        if not location:
            raise DownloadError(f"HTTP {resp.status_code} redirect without a Location", redact_url(url))
        target = urljoin(url, location)
        try:
            check_url(target, opt.hosts, opt.allow_insecure_localhost)
        except UnsafeInputError as exc:
            raise UnsafeInputError(f"refused redirect to {redact_url(target)}: {exc.reason}",
                                   redact_url(url)) from exc
        url = target
    raise DownloadError(f"more than {opt.max_redirects} redirects", redact_url(url))


def _transfer(url: str, task: DownloadTask, opt: DownloadOptions, st: _State, bar: tqdm | None) -> None:
    """One attempt at ``url``: continue ``task.part`` and leave a verified file there."""
    part = task.part
    offset = part.stat().st_size if part.exists() else 0
    if task.size is not None and offset > task.size:
        part.unlink()
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    final_url, resp = _open(url, headers, opt)
    where = redact_url(final_url)
    with resp:
        code = resp.status_code
        if code == 416 and offset:
            m = re.search(r"/(\d+)", resp.headers.get("Content-Range", ""))
            if m and int(m.group(1)) == offset:
                return _finish(task, offset, st, resumed=True)
            part.unlink()
            raise _Retryable("server refused the resume range; restarting from byte 0")
        if code in (404, 410):
            raise _NotFound(f"HTTP {code} (not found)")
        if code == 429 or code >= 500:
            raise _Retryable(f"HTTP {code} from server")
        if code == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                part.unlink()
                raise _Retryable(f"bad Content-Range {resp.headers.get('Content-Range')!r}; restarting")
            total = None if m.group(3) == "*" else int(m.group(3))
            mode, resumed = "ab", True
        elif code == 200:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode, resumed, offset = "wb", False, 0
        else:
            raise DownloadError(f"HTTP {code} ({resp.reason})", where)
        if task.size is not None and total is not None and total != task.size:
            raise DownloadError(f"server reports {total} bytes, expected {task.size}", where)
        if bar is not None:
            bar.reset(total=total)
            bar.update(offset)
        if resumed:
            st.events.append(f"resumed at byte {offset}")
        with open(part, mode) as fh:
            try:
                for chunk in resp.iter_content(opt.chunk_size):
                    fh.write(chunk)
                    st.nbytes += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            except (requests.exceptions.RequestException, OSError) as exc:
                fh.flush()
                raise _Retryable(f"connection dropped after {fh.tell()} bytes ({type(exc).__name__})") from exc
            fh.flush()
            os.fsync(fh.fileno())
        got = part.stat().st_size
        if total is not None and got != total:
            raise _Retryable(f"incomplete body: {got} of {total} bytes")
        return _finish(task, total, st, resumed=resumed or st.resumed)


def _finish(task: DownloadTask, total: int | None, st: _State, resumed: bool) -> None:
    st.resumed = resumed
    why = _mismatch(task.part, task, total)
    if why is not None:
        task.part.unlink()
        if resumed:  # the old partial bytes may be stale: one fresh try
            st.resumed = False
            raise _Retryable(f"{why} after resume; restarting from byte 0")
        raise DownloadError(why, redact_url(task.url))


def _try_url(url: str, task: DownloadTask, opt: DownloadOptions, st: _State, bar: tqdm | None,
             start: float) -> None:
    failures = 0
    while True:
        st.attempts += 1
        try:
            return _transfer(url, task, opt, st, bar)
        except _Retryable as exc:
            failures += 1
            st.events.append(str(exc))
            wait = min(opt.backoff * 2 ** (failures - 1), opt.max_backoff)
            late = opt.deadline is not None and time.monotonic() - start + wait > opt.deadline
            if failures > opt.retries or late:
                limit = f"{failures} attempts" if not late else f"the {opt.deadline:g} s deadline"
                raise DownloadError(f"gave up after {limit}: {exc}", redact_url(url)) from exc
            time.sleep(wait)


def fetch(task: DownloadTask, options: DownloadOptions | None = None) -> DownloadResult:
    """Download one task (see the module docstring); raise a :class:`SpectoolError` on failure.

    Returns a :class:`DownloadResult` with status "downloaded" or "skipped".
    """
    opt = options or DownloadOptions()
    start = time.monotonic()
    for url in task.urls:  # refuse bad URLs before touching the network or the disk
        check_url(url, opt.hosts, opt.allow_insecure_localhost)
    if task.dest.is_file() and _mismatch(task.dest, task) is None:
        return DownloadResult(task, "skipped", url=redact_url(task.url))
    ensure_online(task.url)
    task.dest.parent.mkdir(parents=True, exist_ok=True)
    st = _State()
    bar = tqdm(total=task.size, unit="B", unit_scale=True, desc=task.dest.name, leave=False,
               disable=not opt.progress)
    not_found: list[str] = []
    try:
        for url in task.urls:
            try:
                _try_url(url, task, opt, st, bar, start)
            except _NotFound as exc:
                not_found.append(f"{redact_url(url)}: {exc}")
                continue
            os.replace(task.part, task.dest)
            return DownloadResult(task, "downloaded", url=redact_url(url), nbytes=st.nbytes,
                                  attempts=st.attempts, resumed=st.resumed,
                                  seconds=time.monotonic() - start)
    finally:
        bar.close()
    if len(not_found) == 1:
        raise DownloadError("HTTP 404 (not found)", redact_url(task.url))
    raise DownloadError("not found at any candidate URL: " + "; ".join(not_found), redact_url(task.url))


def get_json(url: str, options: DownloadOptions | None = None) -> object:
    """GET a small JSON document (e.g. a SkyServer query) with the same policy and retries."""
    opt = options or DownloadOptions()
    check_url(url, opt.hosts, opt.allow_insecure_localhost)
    ensure_online(url)
    where = redact_url(url)
    last = "no attempt"
    for k in range(opt.retries + 1):
        try:
            final, resp = _open(url, {"Accept": "application/json"}, opt)
            with resp:
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _Retryable(f"HTTP {resp.status_code} from server")
                if resp.status_code != 200:
                    raise DownloadError(f"HTTP {resp.status_code} ({resp.reason})", redact_url(final))
                try:
                    return resp.json()
                except ValueError as exc:
                    raise DownloadError(f"answer is not JSON ({exc})", redact_url(final)) from exc
        except _Retryable as exc:
            last = str(exc)
            if k < opt.retries:
                time.sleep(min(opt.backoff * 2 ** k, opt.max_backoff))
    raise DownloadError(f"gave up after {opt.retries + 1} attempts: {last}", where)


def fetch_many(tasks: Iterable[DownloadTask], options: DownloadOptions | None = None, workers: int = 4,
               raise_on_error: bool = False) -> list[DownloadResult]:
    """Run ``tasks`` on at most ``workers`` threads (1-16); one result per task, in order.

    Failures are reported in the results (``status == "failed"``, ``error`` set) so the
    other files still download; with ``raise_on_error`` a :class:`DownloadError`
    summarising the failures is raised at the end.
    """
    opt = options or DownloadOptions()
    tasks = list(tasks)
    seen: dict[Path, str] = {}
    for t in tasks:
        key = t.dest.resolve()
        if key in seen and seen[key] != t.url:
            raise DownloadError(f"two different URLs target the same file ({seen[key]} and {t.url})", t.dest)
        seen[key] = t.url
    single = replace(opt, progress=opt.progress and len(tasks) == 1)
    results: list[DownloadResult | None] = [None] * len(tasks)
    workers = max(1, min(int(workers), 16, len(tasks) or 1))

    def run(i: int) -> DownloadResult:
        t0 = time.monotonic()
        try:
            return fetch(tasks[i], single)
        except SpectoolError as exc:
            return DownloadResult(tasks[i], "failed", url=redact_url(tasks[i].url), error=exc,
                                  seconds=time.monotonic() - t0)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spectool-dl") as pool, \
            tqdm(total=len(tasks), unit="file", desc="download", disable=not opt.progress or len(tasks) < 2) as bar:
        futures = {pool.submit(run, i): i for i in range(len(tasks))}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            bar.update(1)
    out = [r for r in results if r is not None]
    failed = [r for r in out if not r.ok]
    if raise_on_error and failed:
        first = failed[0].error
        raise DownloadError(f"{len(failed)} of {len(out)} downloads failed; first: {first}",
                            failed[0].task.dest)
    return out


__all__ = ["DownloadOptions", "DownloadResult", "DownloadTask", "fetch", "fetch_many", "get_json"]
