"""Safety helpers shared by the downloaders, loaders and archive handling.

* :func:`check_url` -- downloads go only over ``https`` to hosts on an allow-list
  (:data:`DEFAULT_ALLOWED_HOSTS`, extendable with ``$SPECTOOL_ALLOWED_HOSTS``,
  comma separated). Plain ``http`` is accepted only for the loopback address
  ``127.0.0.1`` and only when explicitly asked for (``allow_insecure_localhost=True``
  or ``$SPECTOOL_ALLOW_INSECURE_LOCALHOST=1``), which the test-suite uses.
* :func:`offline` / :func:`ensure_online` -- ``$SPECTOOL_OFFLINE=1`` forbids any download.
* :func:`redact_url` -- strip query strings (tokens) from URLs before they reach
  error messages or logs.

spectool unpacks no archives; code that does must use the standard library's
``tarfile`` data filter (``extractall(filter="data")``), which the source scan in
``tests/test_crash_safety.py`` enforces.
"""
from __future__ import annotations

import os
from pathlib import Path
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


__all__ = [
    "DEFAULT_ALLOWED_HOSTS",
    "allowed_hosts",
    "check_url",
    "ensure_online",
    "insecure_localhost_allowed",
    "offline",
    "redact_url",
]
