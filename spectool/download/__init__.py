"""Downloads from the public SDSS and LAMOST archives, and SPFusion image cutouts.

* :func:`download_sdss_spectra` -- ``spec-PLATE-MJD-FIBER.fits`` (lite) from the SDSS SAS,
  release ``dr14`` ... ``dr18`` (default ``dr17``); URL patterns in :mod:`.sdss`.
* :func:`download_lamost_spectra` -- LRS spectra by ``obsid`` from the LAMOST DR web
  service (default DR10 v2.0); URL pattern in :mod:`.lamost`.
* :func:`sdss_cutout` / :func:`align_cutout` -- g, r, i frames aligned on g and cut to
  128 x 128 around a target; frame URL pattern and the SkyServer look-up in :mod:`.imaging`.
* :func:`fetch` / :func:`fetch_many` -- the engine: resumable (``.part`` + HTTP Range),
  retried with exponential backoff, size/sha256/md5 verified, atomically renamed,
  bounded thread pool, tqdm progress; see :mod:`.http`.

Only ``https`` URLs on the allow-list (:mod:`spectool.safety`) are fetched, and
``$SPECTOOL_OFFLINE=1`` turns every download into a :class:`~spectool.errors.DownloadError`.
Failures name the URL and the reason.
"""
from __future__ import annotations

from .http import DownloadOptions, DownloadResult, DownloadTask, fetch, fetch_many, get_json
from .imaging import (align_cutout, download_sdss_frames, read_frame, sdss_cutout, sdss_frame_url,
                      skyserver_locate)
from .lamost import download_lamost_spectra, lamost_spectrum_url
from .sdss import download_sdss_spectra, parse_spec_id, sdss_spectrum_urls

__all__ = [
    "DownloadOptions",
    "DownloadResult",
    "DownloadTask",
    "align_cutout",
    "download_lamost_spectra",
    "download_sdss_frames",
    "download_sdss_spectra",
    "fetch",
    "fetch_many",
    "get_json",
    "lamost_spectrum_url",
    "parse_spec_id",
    "read_frame",
    "sdss_cutout",
    "sdss_frame_url",
    "sdss_spectrum_urls",
    "skyserver_locate",
]
