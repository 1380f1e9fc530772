"""LAMOST low-resolution spectra: DR8+ (binary table) and DR1-DR7 (5-row image) layouts.

Both sit on a log10 grid of step 1e-4 dex (COEFF0 = 3.5682, ~3700-9100 Angstrom),
vacuum wavelengths, flux in relative (flux-calibrated up to a scale) units.
The catalogue labels (CLASS, SUBCLASS, Z, SNRU..SNRZ, OBSID) are primary-header keys.

The rows of the DR1-DR7 image are named by the header card ``EXTEN0``:
``'Flux, Inverse, Wavelength, Andmask, Ormask'`` in DR2-DR7, but
``'Flux Inverse Subcontinuum Andmask Ormask'`` in DR1, where row 2 is the
continuum-normalised flux and the wavelength comes from the header's log-linear
WCS (``COEFF0``/``COEFF1``, equal to ``CRVAL1``/``CD1_1``).

Per-band S/N keys differ by release: ``SNRU``..``SNRZ`` (DR2 on), ``SN_U``..``SN_Z``
(DR1); both fill ``meta["snr_bands"]`` (the catalogue S/N, e.g. ``snr_bands["r"]``),
while ``meta["snr"]`` is the median per-pixel S/N computed from flux and ivar.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import InvalidSpectrumError, MissingDataError, UnknownFormatError
from ..spectrum import Spectrum
from ._common import header_get, is_air, linear_snap, median_snr, to_vacuum
from .registry import Probe, register_reader

BANDS = ("u", "g", "r", "i", "z")


def _is_lamost(probe: Probe) -> bool:
    if not probe.is_fits:
        return False
    hdr = probe.primary_header
    return any("LAMOST" in str(hdr.get(k, "")).upper() for k in ("TELESCOP", "AUTHOR", "ORIGIN"))


#: Canonical name of each LAMOST row/column name found in EXTEN0 descriptors and table columns.
SYNONYMS = {
    "flux": "flux", "inverse": "inverse", "ivar": "inverse", "invvar": "inverse", "inverse_variance": "inverse",
    "wavelength": "wavelength", "wave": "wavelength", "lambda": "wavelength", "loglam": "loglam",
    "andmask": "andmask", "and_mask": "andmask", "ormask": "ormask", "or_mask": "ormask",
    "subcontinuum": "subcontinuum", "normalization": "normalization",
}


def _table_hdu(probe: Probe) -> int | None:
    """Index of the spectrum table: HDU 1 when it is a table with a FLUX column."""
    names = probe.column_names(1)
    return 1 if names is not None and "flux" in {c.lower() for c in names} else None


def _table_columns(probe: Probe, index: int) -> dict[str, str]:
    """Canonical name -> real column name of table HDU ``index`` (any letter case)."""
    return {SYNONYMS.get(c.lower(), c.lower()): c for c in probe.column_names(index) or []}


def _has_wcs(hdr) -> bool:
    """The header has a wavelength WCS: COEFF0/COEFF1, or CRVAL1 with CD1_1 or CDELT1."""
    def num(key: str) -> bool:
        return isinstance(hdr.get(key), (int, float)) and not isinstance(hdr.get(key), bool)

    return (num("COEFF0") and num("COEFF1")) or (num("CRVAL1") and (num("CD1_1") or num("CDELT1")))


def _is_lamost_dr8(probe: Probe) -> bool:
    if not _is_lamost(probe):
        return False
    index = _table_hdu(probe)
    if index is None:
        return False
    cols = _table_columns(probe, index)
    return "wavelength" in cols or "loglam" in cols or _has_wcs(probe.primary_header)


def _is_lamost_dr1(probe: Probe) -> bool:
    if not _is_lamost(probe):
        return False
    hdr = probe.primary_header
    return hdr.get("NAXIS") == 2 and int(hdr.get("NAXIS2", 0)) >= 2


def _meta(probe: Probe, flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray, layout: str) -> dict[str, Any]:
    hdr = probe.primary_header
    fname = header_get(hdr, "FILENAME") or probe.name
    bands = {b: header_get(hdr, f"SNR{b.upper()}", f"SN_{b.upper()}") for b in BANDS}
    bands = {b: float(v) for b, v in bands.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
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
        "snr_bands": bands,
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
    """Spectrum in vacuum Angstrom (air converted when VACUUM = F), ivar ones when absent."""
    hdr = probe.primary_header
    wave = np.asarray(wave, np.float64)
    if np.size(flux) == 0:
        raise MissingDataError("the spectrum has no pixels", probe.path)
    if wave.shape != np.shape(flux):
        raise MissingDataError(f"wavelength has {wave.size} pixels, flux {np.size(flux)}", probe.path)
    if not (np.all(np.isfinite(wave)) and np.all(wave > 0)):
        raise InvalidSpectrumError("wavelength has non-positive, NaN or inf values", probe.path)
    wave = to_vacuum(linear_snap(wave, header_get(hdr, "COEFF0"), header_get(hdr, "COEFF1")), is_air(hdr))
    flux = np.asarray(flux, np.float32)
    ivar = np.ones_like(flux) if ivar is None else np.asarray(ivar, np.float32)
    mask = np.zeros(flux.shape, bool) if andmask is None else np.asarray(andmask) != 0
    return Spectrum(wave, flux, ivar, mask, _meta(probe, flux, ivar, mask, layout))


@register_reader("lamost-lrs", _is_lamost_dr8, priority=100)
def read_lamost_dr8(probe: Probe) -> Spectrum | list[Spectrum]:
    """LAMOST low-resolution spectrum, DR8+ layout (table: FLUX, IVAR, WAVELENGTH, ANDMASK, ...).

    Column names in any letter case. The usual file has one row whose cells are
    arrays; a table of one pixel per row is read as one spectrum, and a table of
    several array rows as one spectrum per row. Without a WAVELENGTH column the
    wavelength comes from a LOGLAM column or the header WCS (COEFF0/COEFF1).
    """
    index = _table_hdu(probe)
    if index is None:
        raise MissingDataError("HDU 1 is not a table with a FLUX column", probe.path)
    if str(probe.hdu_name(index) or "").startswith("COADD_"):  # COADD_B / COADD_R: one arm of an MRS file
        raise UnknownFormatError(f"HDU {index} is {probe.hdu_name(index)}: a LAMOST medium-resolution (MRS) "
                                 "file; spectool reads the low-resolution survey (LRS) only", probe.path)
    cols = _table_columns(probe, index)
    data = probe.table(index)
    if len(data) == 0:
        raise MissingDataError(f"LAMOST table HDU {index} has no rows", probe.path)
    per_pixel = np.ndim(data[cols["flux"]]) == 1  # one pixel per row instead of one spectrum per row

    def one(rows) -> Spectrum:
        def col(name: str):
            return None if name not in cols else np.asarray(rows[cols[name]], np.float64 if "wave" in name or
                                                            name == "loglam" else None)

        flux = col("flux")
        wave = col("wavelength")
        if wave is None and "loglam" in cols:
            wave = 10.0 ** col("loglam")
        if wave is None:
            wave = _wcs_wavelength(probe, flux.size)
        return _finish(probe, wave, flux, col("inverse"), col("andmask"), "lamost-lrs-dr8")

    if per_pixel:
        return one(data)
    out = [one(row) for row in data]
    if len(out) > 1:
        for k, spec in enumerate(out):
            spec.meta["row"] = k
            spec.meta["object_id"] = f"{spec.meta['object_id']}-{k}"
    return out[0] if len(out) == 1 else out


#: Row names of the DR1-DR7 image when the header has no ``EXTEN0`` card (the DR2-DR7 order).
DEFAULT_ROWS = ("flux", "inverse", "wavelength", "andmask", "ormask")


def image_rows(header) -> dict[str, int]:
    """Row index of each named row of a DR1-DR7 image, read from ``EXTEN0``.

    Names are lower-cased and mapped to canonical names (``Inverse``/``IVAR`` ->
    ``inverse``, ``Wave`` -> ``wavelength``, ...); ``'Flux, Inverse, Wavelength, ...'``
    splits on commas (or semicolons, bars, slashes), ``'Flux Inverse Subcontinuum ...'``
    on blanks. Without ``EXTEN0`` the DR2-DR7 order :data:`DEFAULT_ROWS` is assumed
    (the caller checks that the ``wavelength`` row really is one).
    """
    desc = header_get(header, "EXTEN0")
    if not isinstance(desc, str):
        return {n: i for i, n in enumerate(DEFAULT_ROWS)}
    text = desc.strip().lower()
    parts = re.split(r"\s*[,;|/]\s*", text) if re.search(r"[,;|/]", text) else text.split()
    rows: dict[str, int] = {}
    for i, part in enumerate(parts):
        name = re.sub(r"[\s-]+", "_", part.strip())
        name = SYNONYMS.get(name, SYNONYMS.get(name.split("_")[0], name))
        rows.setdefault(name, i)
    return rows


def _wcs_wavelength(probe: Probe, npix: int) -> np.ndarray:
    """Wavelength (Angstrom) of each pixel from the header WCS.

    ``COEFF0``/``COEFF1`` (log10 of the first pixel's wavelength and the log10 step),
    else ``CRVAL1`` with ``CD1_1``/``CDELT1`` and ``CRPIX1``, log-linear when
    ``DC-FLAG = 1`` (or, without DC-FLAG, when CRVAL1 < 5, i.e. a log10 value)
    and linear in Angstrom otherwise.
    """
    hdr = probe.primary_header

    def number(*keys):
        v = header_get(hdr, *keys)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else None

    c0, c1 = number("COEFF0"), number("COEFF1")
    offset = 0.0
    log = True
    if c0 is None or c1 is None:
        c0, c1 = number("CRVAL1"), number("CD1_1", "CDELT1")
        offset = (number("CRPIX1") or 1.0) - 1.0
        flag = header_get(hdr, "DC-FLAG")
        log = flag == 1 if isinstance(flag, int) and not isinstance(flag, bool) else (c0 is not None and c0 < 5)
    if c0 is None or c1 is None or c1 <= 0:
        raise MissingDataError("no wavelength row/column and no usable COEFF0/COEFF1 (or CRVAL1/CD1_1) in the "
                               "header", probe.path)
    coord = c0 + (np.arange(npix) - offset) * c1
    if log and (coord[0] < 2.0 or coord[-1] > 6.0):  # 100 A .. 1e6 A; a garbled card must not overflow
        raise InvalidSpectrumError(f"log-linear WCS {c0} + i * {c1} is not a plausible log10 wavelength",
                                   probe.path)
    return 10.0 ** coord if log else coord


def _is_wavelength_row(row: np.ndarray) -> bool:
    """True when ``row`` can be a wavelength in Angstrom: finite, increasing, 1000-30000 A."""
    return bool(np.all(np.isfinite(row)) and np.all(np.diff(row) > 0) and 1000 < row[0] and row[-1] < 30000)


@register_reader("lamost-lrs-dr1", _is_lamost_dr1, priority=95)
def read_lamost_dr1(probe: Probe) -> Spectrum:
    """LAMOST low-resolution spectrum, DR1-DR7 layout (primary image, rows named by ``EXTEN0``).

    Rows ``flux``, ``inverse`` (ivar) and ``andmask`` are taken by name; the
    wavelength is the ``wavelength`` row when there is one (DR2-DR7) and the
    header WCS otherwise (DR1, whose row 2 is the continuum-normalised
    ``subcontinuum`` flux, not read: spectool normalises the flux itself).
    Without ``EXTEN0``, row 2 is used as the wavelength only if it looks like one.
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
        return np.asarray(img[i], np.float64 if name in ("wavelength", "loglam") else None) \
            if i is not None and i < img.shape[0] else None

    wave = row("wavelength")
    if wave is None and row("loglam") is not None:
        wave = 10.0 ** row("loglam")
    has_exten0 = isinstance(header_get(probe.primary_header, "EXTEN0"), str)
    if wave is not None and not has_exten0 and not _is_wavelength_row(wave):
        wave = None  # no descriptor and row 2 is not a wavelength (a DR1 file without EXTEN0)
    if wave is None:
        wave = _wcs_wavelength(probe, img.shape[1])
    elif not _is_wavelength_row(wave):
        raise InvalidSpectrumError(f"EXTEN0 names row {rows.get('wavelength', rows.get('loglam'))} the "
                                   "wavelength, but it is not an increasing wavelength in Angstrom", probe.path)
    return _finish(probe, wave, row("flux"), row("inverse"), row("andmask"), "lamost-lrs-dr1")
