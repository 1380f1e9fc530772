"""SDSS optical spectra (``spec-PLATE-MJD-FIBER.fits``, "lite" flavour) from the public SAS.

URL patterns (``PLATE4`` = plate zero-padded to at least 4 digits, ``FIBER4`` = fiber
zero-padded to 4, ``MJD`` as is)::

    DR14/DR15  https://data.sdss.org/sas/{dr}/sdss/spectro/redux/{26|103|104}/spectra/lite/PLATE4/spec-PLATE4-MJD-FIBER4.fits
               https://data.sdss.org/sas/{dr}/eboss/spectro/redux/v5_10_0/spectra/lite/PLATE4/...
    DR16       .../sas/dr16/sdss/spectro/redux/{26|103|104}/spectra/lite/...   (SDSS-I/II, SEGUE)
               .../sas/dr16/eboss/spectro/redux/v5_13_0/spectra/lite/...       (BOSS / eBOSS)
    DR17       .../sas/dr17/sdss/spectro/redux/{26|103|104}/spectra/lite/...
               .../sas/dr17/eboss/spectro/redux/v5_13_2/spectra/lite/...
    DR18       .../sas/dr18/spectro/sdss/redux/{26|103|104|v5_13_2}/spectra/lite/...

``run2d`` 26 is the SDSS-I/II legacy reduction, 103/104 the SEGUE stellar plates and
``v5_x_y`` the BOSS/eBOSS idlspec2d version. When ``run2d`` is not given the plate
number picks the order in which the trees are tried (plates below 3510 are
SDSS-I/II: 26, 103, 104; later plates are BOSS/eBOSS); a 404 moves on to the next
candidate, so a mis-guess costs one request, not a failure.

Spectra are saved as ``<dest>/spec-PLATE4-MJD-FIBER4.fits`` (flux in 1e-17 erg/s/cm^2/A,
``loglam`` = log10 of the vacuum wavelength in Angstrom).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import DownloadError
from .http import DownloadOptions, DownloadResult, DownloadTask, fetch_many

SAS_BASE = "https://data.sdss.org/sas"

#: Per release: (SAS tree of the legacy run2d, SAS tree of BOSS/eBOSS, BOSS/eBOSS run2d).
RELEASES: dict[str, tuple[str, str, str]] = {
    "dr14": ("sdss/spectro/redux", "eboss/spectro/redux", "v5_10_0"),
    "dr15": ("sdss/spectro/redux", "eboss/spectro/redux", "v5_10_0"),
    "dr16": ("sdss/spectro/redux", "eboss/spectro/redux", "v5_13_0"),
    "dr17": ("sdss/spectro/redux", "eboss/spectro/redux", "v5_13_2"),
    "dr18": ("spectro/sdss/redux", "spectro/sdss/redux", "v5_13_2"),
}
LEGACY_RUN2D = ("26", "103", "104")
LAST_LEGACY_PLATE = 3509
_ID = re.compile(r"^(?:spec-)?(\d{3,6})-(\d{5})-(\d{1,4})(?:\.fits)?$")


def parse_spec_id(spec: str | Sequence[int]) -> tuple[int, int, int]:
    """``(plate, mjd, fiber)`` from ``"spec-0324-51616-0159.fits"``, ``"324-51616-159"`` or a triple."""
    if isinstance(spec, str):
        m = _ID.match(Path(spec.strip()).name)
        if not m:
            raise DownloadError("not an SDSS spectrum id; expected PLATE-MJD-FIBER or "
                                "spec-PLATE-MJD-FIBER.fits", spec)
        plate, mjd, fiber = (int(g) for g in m.groups())
    else:
        if len(spec) != 3:
            raise DownloadError("an SDSS spectrum id needs exactly (plate, mjd, fiber)", str(spec))
        plate, mjd, fiber = (int(v) for v in spec)
    if plate <= 0 or mjd <= 0 or not 1 <= fiber <= 1000:
        raise DownloadError(f"plate/mjd must be positive and fiber in 1..1000 (got {plate}, {mjd}, {fiber})",
                            str(spec))
    return plate, mjd, fiber


def spec_basename(plate: int, mjd: int, fiber: int) -> str:
    """``spec-PLATE4-MJD-FIBER4.fits``."""
    return f"spec-{plate:04d}-{mjd:d}-{fiber:04d}.fits"


def sdss_spectrum_urls(plate: int, mjd: int, fiber: int, release: str = "dr17",
                       run2d: str | None = None, base_url: str = SAS_BASE) -> list[str]:
    """Candidate SAS URLs of one lite spectrum, most likely first (see module docstring)."""
    release = release.lower()
    if release not in RELEASES:
        raise DownloadError(f"unknown SDSS release {release!r}; choose one of {', '.join(RELEASES)}",
                            "release")
    legacy_tree, boss_tree, boss_run2d = RELEASES[release]
    if run2d is not None:
        order = [str(run2d)]
    elif plate <= LAST_LEGACY_PLATE:
        order = [*LEGACY_RUN2D, boss_run2d]
    else:
        order = [boss_run2d, *LEGACY_RUN2D]
    name = spec_basename(plate, mjd, fiber)
    urls = []
    for r in order:
        tree = boss_tree if r.startswith("v") else legacy_tree
        urls.append(f"{base_url.rstrip('/')}/{release}/{tree}/{r}/spectra/lite/{plate:04d}/{name}")
    return urls


def sdss_spectrum_task(spec: str | Sequence[int], dest: str | Path, release: str = "dr17",
                       run2d: str | None = None, base_url: str = SAS_BASE) -> DownloadTask:
    """The :class:`DownloadTask` of one spectrum into directory ``dest``."""
    plate, mjd, fiber = parse_spec_id(spec)
    urls = sdss_spectrum_urls(plate, mjd, fiber, release, run2d, base_url)
    return DownloadTask(urls[0], Path(dest) / spec_basename(plate, mjd, fiber), fallback_urls=tuple(urls[1:]))


def download_sdss_spectra(specs: Iterable[str | Sequence[int]], dest: str | Path, release: str = "dr17",
                          run2d: str | None = None, workers: int = 4,
                          options: DownloadOptions | None = None, base_url: str = SAS_BASE,
                          raise_on_error: bool = False) -> list[DownloadResult]:
    """Download SDSS lite spectra into ``dest``; one :class:`DownloadResult` per id.

    ``specs`` holds ids as accepted by :func:`parse_spec_id`. Files already present
    are skipped; failures (404, offline, ...) are reported per file.
    """
    tasks = [sdss_spectrum_task(s, dest, release, run2d, base_url) for s in specs]
    return fetch_many(tasks, options, workers=workers, raise_on_error=raise_on_error)


__all__ = ["RELEASES", "download_sdss_spectra", "parse_spec_id", "sdss_spectrum_task",
           "sdss_spectrum_urls", "spec_basename"]
