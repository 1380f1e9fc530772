"""LAMOST low-resolution spectra: DR8+ (binary table) and DR1-DR7 (5-row image) layouts.

Both sit on a log10 grid of step 1e-4 dex (COEFF0 = 3.5682, ~3700-9100 Angstrom),
vacuum wavelengths, flux in relative (flux-calibrated up to a scale) units.
The catalogue labels (CLASS, SUBCLASS, Z, SNRU..SNRZ, OBSID) are primary-header keys.
"""
from __future__ import annotations

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


@register_reader("lamost-lrs-dr1", _is_lamost_dr1, priority=95)
def read_lamost_dr1(probe: Probe) -> Spectrum:
    """LAMOST low-resolution spectrum, DR1-DR7 layout (primary image rows: flux, ivar, wavelength, andmask, ormask)."""
    img = np.asarray(probe.image(0))
    if img.ndim != 2 or img.shape[0] < 3:
        raise MissingDataError(f"expected a (5, N) primary image, got shape {img.shape}", probe.path)
    andmask = img[3] if img.shape[0] > 3 else np.zeros(img.shape[1])
    return _finish(probe, img[2], img[0], img[1], andmask, "lamost-lrs-dr1")
