"""LAMOST low-resolution spectra by ``obsid`` from the public data-release web service.

URL pattern (LRS, one spectrum per obsid)::

    https://www.lamost.org/{release}/{version}/spectrum/fits/{obsid}        e.g. dr10 / v2.0

The service answers with the gzip-compressed FITS file the archive ships as
``spec-MJD-PLANID_spNN-FFF.fits.gz`` (flux in relative units, wavelength in vacuum
Angstrom); spectool saves it as ``<dest>/lamost-{release}-{obsid}.fits.gz``. Releases
still under proprietary period need an access token, appended as ``?token=...``;
tokens are stripped from every message spectool prints.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ..errors import DownloadError
from .http import DownloadOptions, DownloadResult, DownloadTask, fetch_many

LAMOST_BASE = "https://www.lamost.org"
_RELEASE = re.compile(r"^dr\d{1,2}$")
_VERSION = re.compile(r"^v\d+(\.\d+)*$")


def parse_obsid(obsid: int | str) -> int:
    """A LAMOST ``obsid`` as a positive integer, or :class:`DownloadError` naming it."""
    text = str(obsid).strip()
    if not text.isdigit() or int(text) <= 0:
        raise DownloadError("a LAMOST obsid is a positive integer", text or "obsid")
    return int(text)


def lamost_spectrum_url(obsid: int | str, release: str = "dr10", version: str = "v2.0",
                        token: str | None = None, base_url: str = LAMOST_BASE) -> str:
    """The LRS FITS URL of one ``obsid`` (see module docstring)."""
    if not _RELEASE.match(release):
        raise DownloadError("LAMOST release must look like 'dr10'", release)
    if not _VERSION.match(version):
        raise DownloadError("LAMOST release version must look like 'v2.0'", version)
    url = f"{base_url.rstrip('/')}/{release}/{version}/spectrum/fits/{parse_obsid(obsid)}"
    return f"{url}?token={token}" if token else url


def lamost_filename(obsid: int | str, release: str = "dr10") -> str:
    """``lamost-{release}-{obsid}.fits.gz``."""
    return f"lamost-{release}-{parse_obsid(obsid)}.fits.gz"


def download_lamost_spectra(obsids: Iterable[int | str], dest: str | Path, release: str = "dr10",
                            version: str = "v2.0", token: str | None = None, workers: int = 4,
                            options: DownloadOptions | None = None, base_url: str = LAMOST_BASE,
                            raise_on_error: bool = False) -> list[DownloadResult]:
    """Download LAMOST LRS spectra into ``dest``; one :class:`DownloadResult` per obsid."""
    tasks = [DownloadTask(lamost_spectrum_url(o, release, version, token, base_url),
                          Path(dest) / lamost_filename(o, release)) for o in obsids]
    return fetch_many(tasks, options, workers=workers, raise_on_error=raise_on_error)


__all__ = ["download_lamost_spectra", "lamost_filename", "lamost_spectrum_url", "parse_obsid"]
