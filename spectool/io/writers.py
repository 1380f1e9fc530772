"""Write a :class:`~spectool.Spectrum` in the survey layouts the readers understand.

Useful to export processed or synthetic spectra so that survey tools (and
spectool's own readers) can open them. The spectrum must sit on a log10 grid of
constant step (SDSS/LAMOST: 1e-4 dex); COEFF0/COEFF1 are derived from it. Files
are written atomically; a ``.gz`` suffix gives a gzip-compressed file.
"""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_bytes
from ..errors import ConfigError, InvalidSpectrumError
from ..spectrum import Spectrum


def _log_grid(spec: Spectrum) -> tuple[float, float]:
    """COEFF0, COEFF1 of ``spec``'s log10 wavelength grid (raises if it is not log-linear)."""
    loglam = np.log10(spec.wavelength)
    step = float(np.round(np.median(np.diff(loglam)), 8))
    c0 = float(np.round(loglam[0], 6))
    if np.max(np.abs(loglam - (c0 + np.arange(loglam.size) * step))) > 1e-5:
        raise InvalidSpectrumError("wavelengths are not on a log-linear grid (needed for SDSS/LAMOST layouts)",
                                   spec.meta.get("source_path"))
    return c0, step


def _write(hdul, path: str | os.PathLike) -> Path:
    path = Path(path)
    buf = io.BytesIO()
    hdul.writeto(buf)
    data = buf.getvalue()
    atomic_write_bytes(path, gzip.compress(data, compresslevel=6) if path.name.endswith(".gz") else data)
    return path


def _meta_value(meta: dict[str, Any], key: str, default: Any) -> Any:
    v = meta.get(key)
    return default if v is None else v


def write_sdss_spec(spec: Spectrum, path: str | os.PathLike, *, lite: bool = True, table: str = "SPECOBJ") -> Path:
    """Write an SDSS ``spec-PLATE-MJD-FIBER`` file (lite: COADD + catalogue HDU only).

    ``table`` names the one-row catalogue HDU: ``"SPECOBJ"`` (SDSS-I/II) or ``"SPALL"``
    (BOSS/eBOSS). CLASS, SUBCLASS, Z, SN_MEDIAN_ALL, SN_MEDIAN (ugriz), PLATE, MJD,
    FIBERID, PLUG_RA/PLUG_DEC come from ``spec.meta``; a full (non-lite) file adds
    an SPZLINE stand-in and one per-exposure HDU holding the coadd.
    """
    from astropy.io import fits

    c0, c1 = _log_grid(spec)
    m = spec.meta
    plate, mjd, fiber = int(_meta_value(m, "plate", 0)), int(_meta_value(m, "mjd", 0)), int(_meta_value(m, "fiber", 1))
    hdr = fits.Header()
    hdr.update(TELESCOP="SDSS 2.5-M", PLATEID=plate, MJD=mjd, FIBERID=fiber, COEFF0=c0, COEFF1=c1,
               VACUUM=True, BUNIT="1E-17 erg/cm^2/s/Ang", PLUG_RA=float(_meta_value(m, "ra", 0.0)),
               PLUG_DEC=float(_meta_value(m, "dec", 0.0)))
    if m.get("synthetic"):
        hdr["COMMENT"] = "SYNTHETIC spectrum written by spectool (not an observation)"
    n = len(spec)
    coadd = fits.BinTableHDU.from_columns([
        fits.Column("flux", "E", array=spec.flux),
        fits.Column("loglam", "E", array=np.log10(spec.wavelength).astype(np.float32)),
        fits.Column("ivar", "E", array=spec.ivar),
        fits.Column("and_mask", "J", array=spec.mask.astype(np.int32) * 2**22),
        fits.Column("or_mask", "J", array=spec.mask.astype(np.int32) * 2**22),
        fits.Column("wdisp", "E", array=np.ones(n, np.float32)),
        fits.Column("sky", "E", array=np.zeros(n, np.float32)),
        fits.Column("model", "E", array=spec.flux),
    ], name="COADD")
    bands = m.get("snr_bands") or {}
    snr = float(_meta_value(m, "snr", 0.0))
    catalogue = fits.BinTableHDU.from_columns([
        fits.Column("SURVEY", "8A", array=[str(_meta_value(m, "survey", "sdss"))]),
        fits.Column("PLATE", "J", array=[plate]),
        fits.Column("MJD", "J", array=[mjd]),
        fits.Column("FIBERID", "J", array=[fiber]),
        fits.Column("PLUG_RA", "D", array=[float(_meta_value(m, "ra", 0.0))]),
        fits.Column("PLUG_DEC", "D", array=[float(_meta_value(m, "dec", 0.0))]),
        fits.Column("CLASS", "6A", array=[str(_meta_value(m, "class", ""))]),
        fits.Column("SUBCLASS", "21A", array=[str(_meta_value(m, "subclass", ""))]),
        fits.Column("Z", "E", array=[float(_meta_value(m, "redshift", 0.0))]),
        fits.Column("Z_ERR", "E", array=[float(_meta_value(m, "redshift_err", 0.0))]),
        fits.Column("ZWARNING", "J", array=[0]),
        fits.Column("SN_MEDIAN_ALL", "E", array=[snr]),
        fits.Column("SN_MEDIAN", "5E", array=[[float(bands.get(b, snr)) for b in "ugriz"]]),
    ], name=table)
    hdus = [fits.PrimaryHDU(header=hdr), coadd, catalogue]
    if not lite:
        hdus.append(fits.BinTableHDU.from_columns([fits.Column("LINENAME", "13A", array=["Halpha"])], name="SPZLINE"))
        hdus.append(fits.BinTableHDU.from_columns(coadd.columns[:5], name="B1-00000001-00000001-00000001"))
    return _write(fits.HDUList(hdus), path)


def write_lamost(spec: Spectrum, path: str | os.PathLike, *, layout: str = "dr8") -> Path:
    """Write a LAMOST low-resolution file: ``layout="dr8"`` (table HDU) or ``"dr1"`` (5-row image in the
    DR2-DR7 row order named by ``EXTEN0``: flux, inverse variance, wavelength, and-mask, or-mask).

    CLASS, SUBCLASS, Z, SNRU..SNRZ, OBSID, RA, DEC come from ``spec.meta``.
    """
    from astropy.io import fits

    if layout not in ("dr8", "dr1"):
        raise ConfigError(f"layout must be 'dr8' or 'dr1', not {layout!r}")
    c0, c1 = _log_grid(spec)
    m = spec.meta
    hdr = fits.Header()
    hdr.update(TELESCOP="LAMOST", AUTHOR="LAMOST Pipeline", FILENAME=f"{_meta_value(m, 'object_id', 'spec')}.fits",
               OBSID=int(_meta_value(m, "obsid", 0)), RA=float(_meta_value(m, "ra", 0.0)),
               DEC=float(_meta_value(m, "dec", 0.0)), FIBERID=int(_meta_value(m, "fiber", 1)), VACUUM=True,
               COEFF0=c0, COEFF1=c1, CLASS=str(_meta_value(m, "class", "")),
               SUBCLASS=str(_meta_value(m, "subclass", "")), Z=float(_meta_value(m, "redshift", 0.0)))
    for b, v in (m.get("snr_bands") or {}).items():
        hdr[f"SNR{b.upper()}"] = float(v)
    if m.get("synthetic"):
        hdr["COMMENT"] = "SYNTHETIC spectrum written by spectool (not an observation)"
    wave = spec.wavelength.astype(np.float32)
    andmask = spec.mask.astype(np.float32)
    if layout == "dr1":
        img = np.vstack([spec.flux, spec.ivar, wave, andmask, andmask]).astype(np.float32)
        hdr["EXTEN0"] = "Flux, Inverse, Wavelength, Andmask, Ormask"  # the DR2-DR7 row descriptor
        hdul = fits.HDUList([fits.PrimaryHDU(img, header=hdr)])
    else:
        n = len(spec)
        fmt = f"{n}E"
        table = fits.BinTableHDU.from_columns([
            fits.Column("FLUX", fmt, array=spec.flux[None]),
            fits.Column("IVAR", fmt, array=spec.ivar[None]),
            fits.Column("WAVELENGTH", fmt, array=wave[None]),
            fits.Column("ANDMASK", fmt, array=andmask[None]),
            fits.Column("ORMASK", fmt, array=andmask[None]),
            fits.Column("NORMALIZATION", fmt, array=np.ones((1, n), np.float32)),
        ], name="COADD")
        hdul = fits.HDUList([fits.PrimaryHDU(header=hdr), table])
    return _write(hdul, path)
