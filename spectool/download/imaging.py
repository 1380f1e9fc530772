"""SDSS g, r, i imaging cutouts for SPFusion: frame download, band alignment, 128x128 crop.

SPFusion (Sec. 2) takes the g, r and i "corrected frames" of the field holding the
target, aligns the three bands on the g band with astropy WCS + ``reproject``, and
crops 128 x 128 pixels (0.396"/pixel, about 50") centred on the target. Pixel values
are calibrated flux in nanomaggies per pixel; min-max scaling per band is part of
preprocessing, not of the cutout.

Frame URL pattern (``RUN6`` = run zero-padded to 6 digits, ``FIELD4`` to 4, rerun 301)::

    DR14-DR17  https://data.sdss.org/sas/{dr}/eboss/photoObj/frames/301/RUN/CAMCOL/frame-BAND-RUN6-CAMCOL-FIELD4.fits.bz2
    DR18       https://data.sdss.org/sas/dr18/prior-surveys/sdss4-dr17-eboss/photoObj/frames/301/RUN/CAMCOL/...

Which field covers a position (run, camcol, field) is a catalogue query, so it cannot
be worked out offline. Pass ``run``/``camcol``/``field`` yourself (e.g. from your
cross-match table) or let :func:`skyserver_locate` ask the SkyServer SQL service::

    https://skyserver.sdss.org/{dr}/SkyServerWS/SearchTools/SqlSearch?cmd=SQL&format=json

with ``SELECT TOP 1 p.run, p.camcol, p.field FROM PhotoPrimary p JOIN
dbo.fGetNearbyObjEq(ra, dec, radius_arcmin) n ON p.objID = n.objID ORDER BY n.distance``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlencode

import numpy as np

from .._atomic import atomic_path
from ..config import cache_dir
from ..errors import CorruptFileError, DownloadError, InvalidImageError, MissingDataError
from .http import DownloadOptions, DownloadResult, DownloadTask, fetch_many, get_json
from .sdss import SAS_BASE

SKYSERVER_BASE = "https://skyserver.sdss.org"
BANDS = ("g", "r", "i")
CUTOUT_SIZE = 128
_FRAME_TREE = {
    "dr14": "dr14/eboss/photoObj/frames",
    "dr15": "dr15/eboss/photoObj/frames",
    "dr16": "dr16/eboss/photoObj/frames",
    "dr17": "dr17/eboss/photoObj/frames",
    "dr18": "dr18/prior-surveys/sdss4-dr17-eboss/photoObj/frames",
}


def _release(release: str) -> str:
    r = release.lower()
    if r not in _FRAME_TREE:
        raise DownloadError(f"unknown SDSS imaging release {release!r}; choose one of {', '.join(_FRAME_TREE)}",
                            "release")
    return r


def frame_basename(band: str, run: int, camcol: int, field: int) -> str:
    """``frame-BAND-RUN6-CAMCOL-FIELD4.fits.bz2``."""
    if band not in "ugriz" or len(band) != 1:
        raise DownloadError("SDSS band must be one of u, g, r, i, z", band)
    if run <= 0 or not 1 <= camcol <= 6 or field < 0:
        raise DownloadError(f"run must be > 0, camcol 1..6, field >= 0 (got {run}, {camcol}, {field})",
                            "run/camcol/field")
    return f"frame-{band}-{run:06d}-{camcol:d}-{field:04d}.fits.bz2"


def sdss_frame_url(band: str, run: int, camcol: int, field: int, release: str = "dr17", rerun: int = 301,
                   base_url: str = SAS_BASE) -> str:
    """SAS URL of one corrected frame (see module docstring)."""
    tree = _FRAME_TREE[_release(release)]
    name = frame_basename(band, run, camcol, field)
    return f"{base_url.rstrip('/')}/{tree}/{rerun:d}/{run:d}/{camcol:d}/{name}"


def download_sdss_frames(run: int, camcol: int, field: int, dest: str | Path | None = None,
                         bands: Iterable[str] = BANDS, release: str = "dr17",
                         options: DownloadOptions | None = None, base_url: str = SAS_BASE,
                         workers: int = 3) -> list[DownloadResult]:
    """Download the frames of ``bands`` for one field into ``dest`` (default: the spectool cache)."""
    dest = Path(dest) if dest is not None else cache_dir() / "sdss-frames" / _release(release)
    tasks = [DownloadTask(sdss_frame_url(b, run, camcol, field, release, base_url=base_url),
                          dest / frame_basename(b, run, camcol, field)) for b in bands]
    return fetch_many(tasks, options, workers=workers, raise_on_error=True)


def skyserver_locate(ra: float, dec: float, release: str = "dr17", radius_arcmin: float = 0.05,
                     options: DownloadOptions | None = None,
                     base_url: str = SKYSERVER_BASE) -> tuple[int, int, int]:
    """``(run, camcol, field)`` of the primary photometric object nearest (ra, dec) [deg, ICRS].

    Needs the network (SkyServer SQL service); raises :class:`DownloadError` when no
    object lies within ``radius_arcmin``.
    """
    _check_radec(ra, dec)
    sql = (f"SELECT TOP 1 p.run, p.camcol, p.field FROM PhotoPrimary AS p "
           f"JOIN dbo.fGetNearbyObjEq({ra:.8f}, {dec:.8f}, {radius_arcmin:g}) AS n "
           f"ON p.objID = n.objID ORDER BY n.distance")
    url = (f"{base_url.rstrip('/')}/{_release(release)}/SkyServerWS/SearchTools/SqlSearch?"
           + urlencode({"cmd": sql, "format": "json"}))
    answer = get_json(url, options)
    try:
        row = answer[0]["Rows"][0]  # type: ignore[index]
        return int(row["run"]), int(row["camcol"]), int(row["field"])
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        raise DownloadError(f"SkyServer found no photometric object within {radius_arcmin:g} arcmin of "
                            f"ra={ra:.6f}, dec={dec:.6f}", url.split("?")[0]) from exc


def read_frame(path: str | Path):
    """``(data, wcs)`` of an SDSS frame (``.fits`` or ``.fits.bz2``): HDU 0 in nanomaggies/pixel."""
    from astropy.io import fits
    from astropy.wcs import WCS

    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            if hdul[0].data is None:
                raise MissingDataError("HDU 0 holds no image", path)
            data = np.asarray(hdul[0].data, dtype=np.float32)
            wcs = WCS(hdul[0].header)
    except (OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"cannot read SDSS frame ({exc})", path) from exc
    if data.ndim != 2 or not wcs.has_celestial:
        raise InvalidImageError(f"expected a 2-D image with a celestial WCS, got shape {data.shape}", path)
    return data, wcs.celestial


def _check_radec(ra: float, dec: float) -> None:
    if not (np.isfinite(ra) and np.isfinite(dec) and 0 <= ra < 360 and -90 <= dec <= 90):
        raise InvalidImageError(f"ra must be in [0, 360) and dec in [-90, 90] deg (got {ra}, {dec})", "ra/dec")


def align_cutout(frames: Mapping[str, tuple[np.ndarray, object]], ra: float, dec: float,
                 size: int = CUTOUT_SIZE, bands: Iterable[str] = BANDS, reference: str = "g") -> np.ndarray:
    """Cut ``size`` x ``size`` pixels around (ra, dec) from ``reference`` and reproject the other bands onto it.

    Parameters
    ----------
    frames
        ``band -> (image, astropy.wcs.WCS)``; images are 2-D arrays (nanomaggies/pixel).
    ra, dec
        Target position in degrees (ICRS).
    size
        Cutout side in pixels of the reference frame (SPFusion: 128).
    bands
        Output channel order (SPFusion: g, r, i).
    reference
        Band whose pixel grid defines the cutout (SPFusion: g).

    Returns
    -------
    (len(bands), size, size) float32 array. The reference band is an exact pixel crop;
    the others are bilinearly reprojected onto its WCS.

    Raises
    ------
    MissingDataError
        A band is missing from ``frames``.
    InvalidImageError
        A frame is not 2-D, has no celestial WCS, or does not fully cover the cutout
        (target too close to the frame edge), or holds non-finite pixels there.
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D
    from astropy.nddata.utils import NoOverlapError, PartialOverlapError
    from reproject import reproject_interp

    bands = tuple(bands)
    _check_radec(ra, dec)
    if size < 1:
        raise InvalidImageError(f"cutout size must be positive (got {size})", "size")
    for b in {*bands, reference}:
        if b not in frames:
            raise MissingDataError(f"no frame for band {b!r} (have {', '.join(sorted(frames)) or 'none'})",
                                   f"frames[{b!r}]")
        img, wcs = frames[b]
        if np.ndim(img) != 2 or not getattr(wcs, "has_celestial", False):
            raise InvalidImageError(f"band {b!r}: need a 2-D image with a celestial WCS "
                                    f"(got shape {np.shape(img)})", f"frames[{b!r}]")
    target = SkyCoord(ra, dec, unit="deg", frame="icrs")
    ref_img, ref_wcs = frames[reference]
    try:
        cut = Cutout2D(np.asarray(ref_img, dtype=np.float32), target, (size, size), wcs=ref_wcs,
                       mode="strict")
    except (NoOverlapError, PartialOverlapError) as exc:
        raise InvalidImageError(f"the {size}x{size} cutout around ra={ra:.6f}, dec={dec:.6f} is not fully "
                                f"inside the {reference!r} frame ({exc}); use a neighbouring field",
                                f"frames[{reference!r}]") from exc
    out = np.empty((len(bands), size, size), dtype=np.float32)
    for k, b in enumerate(bands):
        if b == reference:
            out[k] = cut.data
            continue
        img, wcs = frames[b]
        data, footprint = reproject_interp((np.asarray(img, dtype=np.float64), wcs), cut.wcs,
                                           shape_out=(size, size), return_footprint=True)
        if not np.all(footprint > 0):
            raise InvalidImageError(f"band {b!r} covers only {np.mean(footprint > 0):.0%} of the cutout",
                                    f"frames[{b!r}]")
        out[k] = data
    if not np.all(np.isfinite(out)):
        raise InvalidImageError("cutout holds non-finite pixels", "frames")
    return out


def sdss_cutout(ra: float, dec: float, out: str | Path | None = None, *, run: int | None = None,
                camcol: int | None = None, field: int | None = None, release: str = "dr17",
                size: int = CUTOUT_SIZE, frames_dir: str | Path | None = None,
                options: DownloadOptions | None = None, base_url: str = SAS_BASE,
                skyserver_url: str = SKYSERVER_BASE) -> np.ndarray:
    """Download the g, r, i frames of a target and return the aligned (3, size, size) cutout.

    ``run``/``camcol``/``field`` name the SDSS field; if any is None the SkyServer is
    asked (:func:`skyserver_locate`, needs the network). Frames are cached in
    ``frames_dir`` (default ``<cache>/sdss-frames/<release>``). With ``out`` the
    cutout is also written (atomically) as a ``.npy`` file.
    """
    if run is None or camcol is None or field is None:
        run, camcol, field = skyserver_locate(ra, dec, release, options=options, base_url=skyserver_url)
    results = download_sdss_frames(run, camcol, field, frames_dir, BANDS, release, options, base_url)
    frames = {b: read_frame(r.path) for b, r in zip(BANDS, results)}
    cube = align_cutout(frames, ra, dec, size=size)
    if out is not None:
        with atomic_path(out, suffix=".npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, cube)
    return cube


__all__ = ["BANDS", "CUTOUT_SIZE", "align_cutout", "download_sdss_frames", "frame_basename", "read_frame",
           "sdss_cutout", "sdss_frame_url", "skyserver_locate"]
