"""Safety helpers shared by the downloaders, loaders and archive handling.

* :func:`check_url` -- downloads go only over ``https`` to hosts on an allow-list
  (:data:`DEFAULT_ALLOWED_HOSTS`, extendable with ``$SPECTOOL_ALLOWED_HOSTS``,
  comma separated). Plain ``http`` is accepted only for the loopback address
  ``127.0.0.1`` and only when explicitly asked for (``allow_insecure_localhost=True``
  or ``$SPECTOOL_ALLOW_INSECURE_LOCALHOST=1``), which the test-suite uses.
* :func:`offline` / :func:`ensure_online` -- ``$SPECTOOL_OFFLINE=1`` forbids any download.
* :func:`safe_extract` -- unpack tar/zip archives refusing absolute paths, ``..``
  components, links that leave the destination and device files.
* :func:`redact_url` -- strip query strings (tokens) from URLs before they reach
  error messages or logs.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from .errors import DownloadError, UnsafeInputError

#: Hosts spectool downloads from by default (public SDSS SAS / SkyServer, LAMOST).
DEFAULT_ALLOWED_HOSTS: frozenset[str] = frozenset({
    "data.sdss.org",
    "dr17.sdss.org",
    "dr18.sdss.org",
    "skyserver.sdss.org",
    "www.lamost.org",
})

LOOPBACK_HOST = "127.0.0.1"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def allowed_hosts() -> frozenset[str]:
    """The default allow-list plus the comma-separated hosts in ``$SPECTOOL_ALLOWED_HOSTS``."""
    extra = {h.strip().lower() for h in os.environ.get("SPECTOOL_ALLOWED_HOSTS", "").split(",") if h.strip()}
    return DEFAULT_ALLOWED_HOSTS | extra


def insecure_localhost_allowed(flag: bool | None = None) -> bool:
    """Whether ``http://127.0.0.1`` is accepted: ``flag`` if given, else the environment."""
    return bool(flag) if flag is not None else _env_flag("SPECTOOL_ALLOW_INSECURE_LOCALHOST")


def redact_url(url: str) -> str:
    """``url`` without query string or fragment (they may carry access tokens)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def check_url(url: str, hosts: frozenset[str] | set[str] | None = None,
              allow_insecure_localhost: bool | None = None) -> str:
    """Return ``url`` if it may be downloaded, else raise :class:`UnsafeInputError`.

    Parameters
    ----------
    url
        The URL to check.
    hosts
        Allowed host names (default: :func:`allowed_hosts`).
    allow_insecure_localhost
        Accept ``http://127.0.0.1:PORT/...`` (tests). ``None`` reads
        ``$SPECTOOL_ALLOW_INSECURE_LOCALHOST``.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password:
        raise UnsafeInputError("URLs with embedded credentials are refused", redact_url(url))
    if host == LOOPBACK_HOST and insecure_localhost_allowed(allow_insecure_localhost):
        if parts.scheme not in ("http", "https"):
            raise UnsafeInputError(f"scheme {parts.scheme!r} is not allowed", redact_url(url))
        return url
    if parts.scheme != "https":
        raise UnsafeInputError(
            f"only https downloads are allowed (got scheme {parts.scheme or 'none'!r})", redact_url(url))
    allowed = allowed_hosts() if hosts is None else frozenset(h.lower() for h in hosts)
    if host not in allowed:
        raise UnsafeInputError(
            f"host {host!r} is not on the download allow-list ({', '.join(sorted(allowed))}); "
            "add it to $SPECTOOL_ALLOWED_HOSTS if you trust it", redact_url(url))
    return url


def offline() -> bool:
    """True when ``$SPECTOOL_OFFLINE`` is set to a true value."""
    return _env_flag("SPECTOOL_OFFLINE")


def ensure_online(url: str) -> None:
    """Raise :class:`DownloadError` naming ``url`` when offline mode is on."""
    if offline():
        raise DownloadError("offline mode is on ($SPECTOOL_OFFLINE=1); unset it to download",
                            redact_url(url))


# ---------------------------------------------------------------------- archives
def _safe_member_path(dest: Path, name: str, archive: Path) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and ":" in pure.parts[0]):
        raise UnsafeInputError(f"archive member {name!r} has an absolute path", archive)
    if ".." in pure.parts:
        raise UnsafeInputError(f"archive member {name!r} escapes the destination ('..')", archive)
    target = (dest / Path(*pure.parts)).resolve() if pure.parts else dest
    if target != dest and dest not in target.parents:
        raise UnsafeInputError(f"archive member {name!r} resolves outside {dest}", archive)
    return target


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract a tar (any compression) or zip ``archive`` into ``dest`` safely.

    Every member is checked before anything is written: absolute paths, ``..``
    components, symbolic/hard links pointing outside ``dest``, and device or FIFO
    entries raise :class:`UnsafeInputError` naming the archive and the member.
    Returns the extracted file paths.
    """
    archive = Path(archive)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    out: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeInputError(f"archive member {info.filename!r} is a symbolic link", archive)
                _safe_member_path(dest, info.filename, archive)
            for info in members:
                target = _safe_member_path(dest, info.filename, archive)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                out.append(target)
        return out
    try:
        tf = tarfile.open(archive)
    except (tarfile.TarError, OSError) as exc:
        raise UnsafeInputError(f"not a readable tar or zip archive ({exc})", archive) from exc
    with tf:
        members = tf.getmembers()
        for m in members:
            target = _safe_member_path(dest, m.name, archive)
            if m.isdev() or m.isfifo():
                raise UnsafeInputError(f"archive member {m.name!r} is a device or FIFO", archive)
            if m.issym() or m.islnk():
                link = PurePosixPath(m.linkname)
                base = target.parent if m.issym() else dest
                resolved = (base / Path(*link.parts)).resolve() if not link.is_absolute() else Path(link)
                if link.is_absolute() or (resolved != dest and dest not in resolved.parents):
                    raise UnsafeInputError(
                        f"archive member {m.name!r} links to {m.linkname!r} outside the destination", archive)
        for m in members:
            target = _safe_member_path(dest, m.name, archive)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                assert src is not None  # a regular member always has a file object
                with src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                out.append(target)
            # Links were validated above but are not materialised: spectool archives hold
            # only regular files, and skipping links removes the last escape route.
    return out


__all__ = [
    "DEFAULT_ALLOWED_HOSTS",
    "allowed_hosts",
    "check_url",
    "ensure_online",
    "insecure_localhost_allowed",
    "offline",
    "redact_url",
    "safe_extract",
]
