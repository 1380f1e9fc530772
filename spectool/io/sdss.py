"""SDSS / BOSS / eBOSS readers: ``spec-PLATE-MJD-FIBER.fits`` (full and lite) and ``spPlate``.

Units: flux in 1e-17 erg/s/cm^2/Angstrom, ivar in its inverse square, vacuum
wavelengths in Angstrom on the log10 grid of step 1e-4 dex (COEFF0/COEFF1).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingDataError
from ..spectrum import Spectrum
from ._common import clean, header_get, is_air, loglam_wavelength, median_snr, to_vacuum
from .registry import Probe, register_reader

#: Names of the one-row catalogue HDU in spec files (SPECOBJ up to DR16-ish SDSS, SPALL in BOSS/eBOSS).
META_HDUS = ("SPECOBJ", "SPALL")
UGRIZ = ("u", "g", "r", "i", "z")


def sdss_object_id(plate: Any, mjd: Any, fiber: Any) -> str | None:
    """The MSPC-Net basename convention ``spec-PPPP-MMMMM-FFFF``."""
    try:
        return f"spec-{int(plate):04d}-{int(mjd):05d}-{int(fiber):04d}"
    except (TypeError, ValueError):
        return None


def _columns(names) -> dict[str, str]:
    """Lower-case column name -> real column name."""
    return {c.lower(): c for c in names}


def _is_spec(probe: Probe) -> bool:
    """HDU 1 is the coadd table: named COADD, or unnamed (some files carry no EXTNAME)
    with ``loglam`` and ``flux`` columns in any letter case."""
    if not probe.is_fits or probe.hdu_name(1) not in ("COADD", None, ""):
        return False
    cols = _columns(probe.column_names(1) or [])
    return "loglam" in cols and "flux" in cols


def _row(probe: Probe) -> tuple[dict[str, Any], str | None]:
    """The catalogue row (HDU 2: SPECOBJ or SPALL) as an upper-case dict and the HDU name.

    Without an EXTNAME, HDU 2 is taken by content (a table with CLASS and Z columns)
    and named after the layout it matches (SPALL when it has a FIBER_RA column).
    """
    name = probe.hdu_name(2)
    cols = {c.upper() for c in probe.column_names(2) or []}
    if name not in META_HDUS:
        if name or not {"CLASS", "Z"} <= cols:
            return {}, None
        name = "SPALL" if "FIBER_RA" in cols else "SPECOBJ"
    data = probe.table(2)
    if len(data):
        rec = data[0]
        return {n.upper(): rec[n] for n in data.dtype.names}, name
    return {}, None


@register_reader("sdss-spec", _is_spec, priority=100)
def read_sdss_spec(probe: Probe) -> Spectrum:
    """SDSS/BOSS/eBOSS spec-PLATE-MJD-FIBER file (full or lite; SPECOBJ or SPALL table)."""
    hdr = probe.primary_header
    data = probe.table(1)
    cols = _columns(data.dtype.names)
    loglam = np.asarray(data[cols["loglam"]], dtype=np.float64)
    flux = np.asarray(data[cols["flux"]], dtype=np.float32)
    ivar = np.asarray(data[cols["ivar"]], dtype=np.float32) if "ivar" in cols else None
    mask = np.asarray(data[cols["and_mask"]]) != 0 if "and_mask" in cols else None
    wave = to_vacuum(
        loglam_wavelength(loglam, header_get(hdr, "COEFF0"), header_get(hdr, "COEFF1"), loglam.size), is_air(hdr)
    )

    row, meta_hdu = _row(probe)
    plate = clean(row.get("PLATE")) or header_get(hdr, "PLATEID", "PLATE")
    mjd = clean(row.get("MJD")) or header_get(hdr, "MJD")
    fiber = clean(row.get("FIBERID")) or header_get(hdr, "FIBERID")
    sn_bands = clean(row.get("SN_MEDIAN"))
    snr = clean(row.get("SN_MEDIAN_ALL"))
    meta: dict[str, Any] = {
        "survey": str(clean(row.get("SURVEY")) or "sdss").lower(),
        "object_id": sdss_object_id(plate, mjd, fiber) or probe.name.rsplit(".fits", 1)[0],
        "class": clean(row.get("CLASS")),
        "subclass": clean(row.get("SUBCLASS")),
        "redshift": clean(row.get("Z")),
        "redshift_err": clean(row.get("Z_ERR")),
        "zwarning": clean(row.get("ZWARNING")),
        "snr": snr if snr is not None else median_snr(flux, ivar if ivar is not None else np.ones_like(flux), mask),
        "snr_bands": dict(zip(UGRIZ, sn_bands)) if isinstance(sn_bands, list) and len(sn_bands) == 5 else {},
        "ra": clean(row.get("PLUG_RA")) or clean(row.get("RA")) or header_get(hdr, "PLUG_RA", "RA"),
        "dec": clean(row.get("PLUG_DEC")) or clean(row.get("DEC")) or header_get(hdr, "PLUG_DEC", "DEC"),
        "plate": plate,
        "mjd": mjd,
        "fiber": fiber,
        "specobjid": clean(row.get("SPECOBJID")) or header_get(hdr, "SPEC_ID"),
        "run2d": clean(row.get("RUN2D")) or header_get(hdr, "RUN2D"),
        "flux_unit": "1e-17 erg / (s cm2 Angstrom)",
        "source_path": str(probe.path),
        # lite files stop after HDU 3 (SPZLINE); full files add one HDU per exposure from HDU 4
        "format": "sdss-spec" if probe.header(4) is not None else "sdss-spec-lite",
        "meta_hdu": meta_hdu,
    }
    return Spectrum(wave, flux, ivar, mask, meta)


def _is_spplate(probe: Probe) -> bool:
    if not probe.is_fits:
        return False
    hdr = probe.primary_header
    telescope = str(hdr.get("TELESCOP", "")).upper()
    return (
        hdr.get("NAXIS") == 2
        and "COEFF0" in hdr
        and "COEFF1" in hdr
        and "LAMOST" not in telescope
        and ("SDSS" in telescope or "PLATEID" in hdr or probe.name.startswith("spPlate"))
    )


def _plugmap(probe: Probe):
    """The plug-map table of an spPlate file (HDU named PLUGMAP, else HDU 5 if it is a table)."""
    if "PLUGMAP" in probe.hdu_names:
        return probe.table(probe.hdu_names.index("PLUGMAP"))
    if probe.column_names(5) is not None:
        return probe.table(5)
    return None


@register_reader("sdss-spplate", _is_spplate, priority=90)
def read_sdss_spplate(probe: Probe) -> list[Spectrum]:
    """SDSS spPlate image: one row per fiber (HDU0 flux, HDU1 ivar, HDU2 and-mask, plug map)."""
    hdr = probe.primary_header
    flux = np.atleast_2d(np.asarray(probe.image(0), dtype=np.float32))
    nfiber, npix = flux.shape
    if probe.header(1) is None:
        raise MissingDataError("spPlate has no inverse-variance HDU (HDU 1)", probe.path)
    ivar = np.atleast_2d(np.asarray(probe.image(1), dtype=np.float32))
    has_mask = probe.header(2) is not None and int(probe.header(2).get("NAXIS", 0)) == 2
    andmask = np.atleast_2d(probe.image(2)) if has_mask else None
    if ivar.shape != flux.shape or (andmask is not None and andmask.shape != flux.shape):
        raise MissingDataError(f"ivar/and-mask shape differs from flux {flux.shape}", probe.path)
    wave = to_vacuum(loglam_wavelength(None, float(hdr["COEFF0"]), float(hdr["COEFF1"]), npix), is_air(hdr))
    plug = _plugmap(probe)
    plate, mjd = header_get(hdr, "PLATEID", "PLATE"), header_get(hdr, "MJD")
    names = set(plug.dtype.names) if plug is not None else set()
    out = []
    for i in range(nfiber):
        rec = plug[i] if plug is not None and i < len(plug) else None

        def get(key: str, rec=rec):
            return clean(rec[key]) if rec is not None and key in names else None

        fiber = get("FIBERID") or i + 1
        mask = andmask[i] != 0 if andmask is not None else None
        meta = {
            "survey": "sdss",
            "object_id": sdss_object_id(plate, mjd, fiber),
            "class": None,
            "subclass": None,
            "redshift": None,
            "objtype": get("OBJTYPE"),
            "snr": median_snr(flux[i], ivar[i], mask),
            "snr_bands": {},
            "ra": get("RA"),
            "dec": get("DEC"),
            "plate": plate,
            "mjd": mjd,
            "fiber": fiber,
            "flux_unit": "1e-17 erg / (s cm2 Angstrom)",
            "source_path": str(probe.path),
            "format": "sdss-spplate",
        }
        out.append(Spectrum(wave, flux[i], ivar[i], mask, meta))
    return out
