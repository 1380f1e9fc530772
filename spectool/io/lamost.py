"""LAMOST low-resolution spectra: DR8+ (binary table) and DR1-DR7 (5-row image) layouts.

Both sit on a log10 grid of step 1e-4 dex (COEFF0 = 3.5682, ~3700-9100 Angstrom),
vacuum wavelengths, flux in relative (flux-calibrated up to a scale) units.
The catalogue labels (CLASS, SUBCLASS, Z, SNRU..SNRZ, OBSID) are primary-header keys.

The rows of the DR1-DR7 image are named by the header card ``EXTEN0``:
``'Flux, Inverse, Wavelength, Andmask, Ormask'`` in DR2-DR7, but
``'Flux Inverse Subcontinuum Andmask Ormask'`` in DR1, where row 2 is the
continuum-normalised flux and the wavelength comes from the header's log-linear
WCS (``COEFF0``/``COEFF1``, equal to ``CRVAL1``/``CD1_1``).
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import MissingDataError
from ..spectrum import Spectrum
from ._common import header_get, is_air, linear_snap, median_snr, to_vacuum
from .registry import Probe, register_reader

BANDS = ("u", "g", "r", "i", "z")


def _is_lamost(probe: Probe) -> bool:
    if not probe.is_fits:
        return False
    hdr = probe.primary_header
    return "LAMOST" in str(hdr.get("TELESCOP", "")).upper() or "LAMOST" in str(hdr.get("AUTHOR", "")).upper()


def _table_columns(probe: Probe) -> dict[str, str] | None:
    names = probe.column_names(1)
    return None if names is None else {c.upper(): c for c in names}


def _is_lamost_dr8(probe: Probe) -> bool:
    if not _is_lamost(probe):
        return False
    cols = _table_columns(probe)
    return cols is not None and "FLUX" in cols and "WAVELENGTH" in cols


def _is_lamost_dr1(probe: Probe) -> bool:
    if not _is_lamost(probe):
        return False
    hdr = probe.primary_header
    return hdr.get("NAXIS") == 2 and int(hdr.get("NAXIS2", 0)) >= 3


def _meta(probe: Probe, flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray, layout: str) -> dict[str, Any]:
    hdr = probe.primary_header
    fname = header_get(hdr, "FILENAME") or probe.name
    bands = {b: header_get(hdr, f"SNR{b.upper()}") for b in BANDS}
    obsid = header_get(hdr, "OBSID")
    return {
        "survey": "lamost",
        "object_id": str(fname).rsplit(".fits", 1)[0],
        "obsid": str(obsid) if obsid is not None else None,
        "class": header_get(hdr, "CLASS"),
        "subclass": header_get(hdr, "SUBCLASS"),
        "redshift": header_get(hdr, "Z"),
        "redshift_err": header_get(hdr, "Z_ERR"),
        "snr": median_snr(flux, ivar, mask),
        "snr_bands": {b: v for b, v in bands.items() if v is not None},
        "ra": header_get(hdr, "RA", "RA_OBS"),
        "dec": header_get(hdr, "DEC", "DEC_OBS"),
        "mjd": header_get(hdr, "MJD"),
        "lmjd": header_get(hdr, "LMJD"),
        "planid": header_get(hdr, "PLANID"),
        "spid": header_get(hdr, "SPID"),
        "fiber": header_get(hdr, "FIBERID"),
        "data_release": header_get(hdr, "DATA_V"),
        "flux_unit": "relative flux (LAMOST)",
        "source_path": str(probe.path),
        "format": layout,
    }


def _finish(probe: Probe, wave, flux, ivar, andmask, layout: str) -> Spectrum:
    hdr = probe.primary_header
    wave = to_vacuum(linear_snap(wave, header_get(hdr, "COEFF0"), header_get(hdr, "COEFF1")), is_air(hdr))
    flux = np.asarray(flux, np.float32)
    ivar = np.asarray(ivar, np.float32)
    mask = np.asarray(andmask) != 0
    return Spectrum(wave, flux, ivar, mask, _meta(probe, flux, ivar, mask, layout))


@register_reader("lamost-lrs", _is_lamost_dr8, priority=100)
def read_lamost_dr8(probe: Probe) -> Spectrum:
    """LAMOST low-resolution spectrum, DR8+ layout (one-row table: FLUX, IVAR, WAVELENGTH, ANDMASK, ...)."""
    cols = _table_columns(probe)
    data = probe.table(1)
    if len(data) == 0:
        raise MissingDataError("LAMOST table HDU 1 has no rows", probe.path)
    row = data[0]

    def col(name: str, default=None):
        return np.asarray(row[cols[name]]) if name in cols else default

    flux = col("FLUX")
    ivar = col("IVAR", np.ones_like(flux))
    andmask = col("ANDMASK", np.zeros_like(flux))
    return _finish(probe, col("WAVELENGTH"), flux, ivar, andmask, "lamost-lrs-dr8")


#: Row names of the DR1-DR7 image when the header has no ``EXTEN0`` card.
DEFAULT_ROWS = ("flux", "inverse", "wavelength", "andmask", "ormask")


def image_rows(header) -> dict[str, int]:
    """Row index of each named row of a DR1-DR7 image, read from ``EXTEN0``.

    Names are lower-cased; ``'Flux, Inverse, Wavelength, ...'`` and
    ``'Flux Inverse Subcontinuum ...'`` both split on commas and blanks.
    """
    desc = header_get(header, "EXTEN0")
    names = re.split(r"[\s,;]+", str(desc).strip().lower()) if desc else list(DEFAULT_ROWS)
    return {n: i for i, n in enumerate(n for n in names if n)}


def _wcs_wavelength(probe: Probe, npix: int) -> np.ndarray:
    """Wavelength (Angstrom) of each pixel from the header's log-linear WCS."""
    hdr = probe.primary_header
    c0 = header_get(hdr, "COEFF0", "CRVAL1")
    c1 = header_get(hdr, "COEFF1", "CD1_1", "CDELT1")
    try:
        c0, c1 = float(c0), float(c1)
    except (TypeError, ValueError):
        raise MissingDataError("no wavelength row and no COEFF0/COEFF1 (or CRVAL1/CD1_1) in the header",
                               probe.path) from None
    crpix = header_get(hdr, "CRPIX1", default=1)
    try:
        offset = float(crpix) - 1.0 if "COEFF0" not in hdr else 0.0
    except (TypeError, ValueError):
        offset = 0.0
    return 10.0 ** (c0 + (np.arange(npix) - offset) * c1)


@register_reader("lamost-lrs-dr1", _is_lamost_dr1, priority=95)
def read_lamost_dr1(probe: Probe) -> Spectrum:
    """LAMOST low-resolution spectrum, DR1-DR7 layout (primary image, rows named by ``EXTEN0``).

    Rows ``flux``, ``inverse`` (ivar) and ``andmask`` are taken by name; the
    wavelength is the ``wavelength`` row when there is one (DR2-DR7) and the
    header WCS otherwise (DR1, whose row 2 is the continuum-normalised
    ``subcontinuum`` flux, not read: spectool normalises the flux itself).
    """
    img = np.asarray(probe.image(0))
    if img.ndim != 2 or img.shape[0] < 2:
        raise MissingDataError(f"expected a (5, N) primary image, got shape {img.shape}", probe.path)
    rows = image_rows(probe.primary_header)
    if "flux" not in rows or "inverse" not in rows or max(rows["flux"], rows["inverse"]) >= img.shape[0]:
        raise MissingDataError(f"EXTEN0 names rows {list(rows)}, which lack flux/inverse in a "
                               f"{img.shape[0]}-row image", probe.path)

    def row(name: str):
        i = rows.get(name)
        return img[i] if i is not None and i < img.shape[0] else None

    wave = row("wavelength")
    if wave is None:
        wave = _wcs_wavelength(probe, img.shape[1])
    andmask = row("andmask")
    return _finish(probe, wave, row("flux"), row("inverse"),
                   andmask if andmask is not None else np.zeros(img.shape[1]), "lamost-lrs-dr1")
