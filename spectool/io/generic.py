"""Generic readers: FITS tables/images, text/CSV, SPFusion ``.npy`` and HDF5.

Wavelengths are taken to be vacuum Angstrom unless the file says otherwise:
FITS ``TUNITn``/``CUNIT1`` units are converted with astropy, a header with
``VACUUM = F`` or ``AIRORVAC = 'air'`` (HDF5 attribute ``medium = 'air'``, a text
column named like ``wavelength_air``) triggers the air-to-vacuum conversion, and
text columns named ``*_nm`` / ``*_um`` are scaled to Angstrom.
"""
from __future__ import annotations

import gzip
import io
import re
from typing import Any

import numpy as np

from ..errors import CorruptFileError, InvalidSpectrumError, MissingDataError, UnsafeInputError
from ..spectrum import Spectrum
from ._common import clean, header_get, is_air, is_number, median_snr, to_vacuum
from .registry import Probe, register_reader

WAVE_NAMES = ("wavelength", "wave", "lambda", "wavelen", "lam", "wl", "loglam")
FLUX_NAMES = ("flux", "flux_density", "f", "fnu", "flam", "spectrum")
IVAR_NAMES = ("ivar", "inverse_variance", "invvar")
ERR_NAMES = ("error", "err", "sigma", "flux_err", "uncertainty", "noise")
MASK_NAMES = ("mask", "and_mask", "andmask")
#: Metadata keys copied from FITS headers / HDF5 attributes when present (case-insensitive).
META_KEYS = {"object_id": ("OBJECT_ID", "OBJID", "OBJECT", "OBSID"), "class": ("CLASS",), "subclass": ("SUBCLASS",),
             "redshift": ("Z", "REDSHIFT"), "snr": ("SNR", "SN_MEDIAN_ALL"), "ra": ("RA",), "dec": ("DEC",),
             "survey": ("SURVEY",)}


def _pick(names: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    """Real column name matching one of ``candidates`` (names maps lower-case -> real)."""
    for c in candidates:
        if c in names:
            return names[c]
    for low, real in names.items():  # e.g. "wavelength_nm", "flux_1e-17"
        if any(low.startswith(c + "_") for c in candidates):
            return real
    return None


def _scale_from_name(name: str) -> float:
    low = name.lower()
    if re.search(r"(^|_)(nm|nanometer)s?($|_)", low):
        return 10.0
    if re.search(r"(^|_)(um|micron|microns)($|_)", low):
        return 1e4
    return 1.0


def _build(wave, flux, ivar, mask, meta: dict[str, Any], *, loglam: bool = False, air: bool = False) -> Spectrum:
    wave = np.asarray(wave, np.float64)
    if loglam:
        wave = 10.0 ** wave
    wave = to_vacuum(wave, air)
    flux = np.asarray(flux, np.float32)
    where = meta.get("source_path")
    if wave.shape != flux.shape:
        raise InvalidSpectrumError(f"wavelength {wave.shape} and flux {flux.shape} differ in shape", where)
    if wave.size > 1 and np.all(np.diff(wave) < 0):  # stored red-to-blue: flip everything
        wave, flux = wave[::-1], flux[::-1]
        ivar = None if ivar is None else np.asarray(ivar)[::-1]
        mask = None if mask is None else np.asarray(mask)[::-1]
    spec = Spectrum(wave, flux, ivar, mask, meta)
    if spec.meta.get("snr") is None:
        spec.meta["snr"] = median_snr(spec.flux, spec.ivar, spec.mask) if ivar is not None else None
    return spec


def _base_meta(probe: Probe, fmt: str) -> dict[str, Any]:
    return {"survey": None, "object_id": probe.name.split(".")[0], "class": None, "subclass": None, "redshift": None,
            "snr": None, "snr_bands": {}, "ra": None, "dec": None, "source_path": str(probe.path), "format": fmt}


def _header_meta(meta: dict[str, Any], getter) -> dict[str, Any]:
    for key, candidates in META_KEYS.items():
        for c in candidates:
            v = getter(c)
            if v is not None:
                meta[key] = str(v) if key in ("object_id", "class", "subclass", "survey") else v
                break
    return meta


# ---------------------------------------------------------------- FITS tables
def _fits_table(probe: Probe):
    """(hdu index, lower->real column map, wave column, flux column) of the first spectral binary table."""
    for i in range(1, probe.n_hdus()):
        columns = probe.column_names(i)
        if not columns:
            continue
        names = {c.lower(): c for c in columns}
        w, f = _pick(names, WAVE_NAMES), _pick(names, FLUX_NAMES)
        if w and f:
            return i, names, w, f
    return None


def _is_fits_table(probe: Probe) -> bool:
    return probe.is_fits and _fits_table(probe) is not None


def _unit_scale(header: dict, column: str) -> float:
    """Factor converting a column's TUNITn to Angstrom (1 if absent or unknown)."""
    import astropy.units as u

    k = next((k for k in range(1, int(header.get("TFIELDS", 0)) + 1)
              if str(header.get(f"TTYPE{k}", "")).strip() == column), None)
    unit = header.get(f"TUNIT{k}") if k is not None else None
    if not isinstance(unit, str) or not unit.strip():
        return 1.0
    try:
        return float(u.Unit(unit.strip()).to(u.AA, equivalencies=u.spectral()))
    except (ValueError, u.UnitsError):
        return 1.0


@register_reader("fits-table", _is_fits_table, priority=10)
def read_fits_table(probe: Probe) -> Spectrum | list[Spectrum]:
    """Generic FITS binary table with wavelength + flux columns (one pixel per row, or array columns)."""
    idx, names, wcol, fcol = _fits_table(probe)
    data = probe.table(idx)  # typed CorruptFileError on truncated or damaged data, never a raw TypeError
    hdr0, hdr = probe.primary_header, probe.header(idx)
    loglam = wcol.lower() == "loglam"
    scale = 1.0 if loglam else _unit_scale(hdr, wcol)
    icol, ecol, mcol = _pick(names, IVAR_NAMES), _pick(names, ERR_NAMES), _pick(names, MASK_NAMES)
    air = is_air(hdr0) or is_air(hdr)

    def one(wave, flux, ivar_v, err_v, mask_v, k: int | None) -> Spectrum:
        if ivar_v is None and err_v is not None:
            err_v = np.asarray(err_v, np.float64)
            with np.errstate(divide="ignore"):
                ivar_v = np.where(err_v > 0, 1.0 / err_v**2, 0.0)
        meta = _header_meta(_base_meta(probe, "fits-table"), lambda c: header_get(hdr, c) or header_get(hdr0, c))
        if k is not None:
            meta["object_id"] = f"{meta['object_id']}-{k}"
            meta["row"] = k
        w = np.asarray(wave, np.float64) * scale
        mask_b = None if mask_v is None else np.asarray(mask_v) != 0
        return _build(w, flux, ivar_v, mask_b, meta, loglam=loglam, air=air)

    def get(column: str | None, src):
        return None if column is None else src[column]

    if np.ndim(data[wcol]) == 1:  # one pixel per row
        return one(data[wcol], data[fcol], get(icol, data), get(ecol, data), get(mcol, data), None)
    out = [one(r[wcol], r[fcol], get(icol, r), get(ecol, r), get(mcol, r), k if len(data) > 1 else None)
           for k, r in enumerate(data)]
    return out[0] if len(out) == 1 else out


# ---------------------------------------------------------------- FITS images
def _image_hdu(probe: Probe):
    """Index of the first 1-D image (or image of at most 3 rows) with a wavelength WCS."""
    for i in range(probe.n_hdus()):
        h = probe.header(i)
        if str(h.get("XTENSION", "IMAGE")).strip() not in ("IMAGE", "IUEIMAGE"):
            continue
        if h.get("NAXIS", 0) in (1, 2) and ("CRVAL1" in h or "COEFF0" in h):
            if h.get("NAXIS") == 1 or int(h.get("NAXIS2", 0)) <= 3:
                return i
    return None


def _is_fits_image(probe: Probe) -> bool:
    return probe.is_fits and _image_hdu(probe) is not None


@register_reader("fits-image", _is_fits_image, priority=5)
def read_fits_image(probe: Probe) -> Spectrum:
    """Generic 1-D FITS image with a linear or log-linear wavelength WCS (CRVAL1/CDELT1/CRPIX1, DC-FLAG)."""
    idx = _image_hdu(probe)
    h = probe.header(idx)
    data = np.atleast_2d(np.asarray(probe.image(idx), np.float64))  # typed error when truncated
    if data.ndim != 2 or data.size == 0:
        raise MissingDataError(f"image HDU {idx} has no pixels (shape {data.shape})", probe.path)
    flux = data[0]
    n = flux.size
    crpix = float(h.get("CRPIX1", 1.0))
    if "CRVAL1" in h:
        start, step = float(h["CRVAL1"]), float(h.get("CDELT1", h.get("CD1_1", 1.0)))
    else:
        start, step = float(h["COEFF0"]), float(h["COEFF1"])
    coord = start + (np.arange(n) + 1 - crpix) * step
    loglam = int(h.get("DC-FLAG", 0)) == 1 or "COEFF0" in h and "CRVAL1" not in h
    if not loglam:
        import astropy.units as u

        unit = str(h.get("CUNIT1", "Angstrom")).strip() or "Angstrom"
        try:
            coord = coord * float(u.Unit(unit).to(u.AA, equivalencies=u.spectral()))
        except (ValueError, u.UnitsError) as exc:
            raise MissingDataError(f"unknown wavelength unit CUNIT1={unit!r}", probe.path) from exc
    ivar = None
    if data.shape[0] >= 2:  # second row: inverse variance when the header says so, else sigma
        second = data[1]
        kind = str(h.get("ROW2", "ivar")).lower()
        with np.errstate(divide="ignore"):
            ivar = second if kind.startswith("ivar") else np.where(second > 0, 1.0 / second**2, 0.0)
    h0 = probe.primary_header
    meta = _header_meta(_base_meta(probe, "fits-image"), lambda c: header_get(h, c) or header_get(h0, c))
    return _build(coord, flux, ivar, None, meta, loglam=loglam, air=is_air(h) or is_air(h0))


# ----------------------------------------------------------------------- text
def _is_text(probe: Probe) -> bool:
    return probe.is_text


@register_reader("text", _is_text, priority=1)
def read_text(probe: Probe) -> Spectrum:
    """Two-or-more-column text/CSV: wavelength (Angstrom), flux[, ivar | error]; optional header row."""
    import pandas as pd

    raw = gzip.open(probe.path, "rb").read() if probe.gzipped else probe.path.read_bytes()
    text = raw.decode("utf-8", "replace")
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    tokens = [t for t in re.split(r"[,\s;]+", first.strip()) if t]
    has_header = any(not is_number(t) for t in tokens)
    try:
        df = pd.read_csv(io.StringIO(text), sep=r"[,\s;]+", engine="python", comment="#",
                         header=0 if has_header else None)
    except (ValueError, pd.errors.ParserError) as exc:
        raise CorruptFileError(f"cannot parse text table: {exc}", probe.path) from exc
    if df.shape[1] < 2 or len(df) < 2:
        raise MissingDataError(f"need at least two columns (wavelength, flux) and two rows, got {df.shape}", probe.path)
    if has_header:
        names = {str(c).strip().lower(): c for c in df.columns}
        wcol = _pick(names, WAVE_NAMES) or df.columns[0]
        fcol = _pick(names, FLUX_NAMES) or df.columns[1]
        icol, ecol, mcol = _pick(names, IVAR_NAMES), _pick(names, ERR_NAMES), _pick(names, MASK_NAMES)
    else:
        wcol, fcol, icol, ecol, mcol = 0, 1, (2 if df.shape[1] > 2 else None), None, None
    try:
        w = df[wcol].to_numpy(np.float64)
        f = df[fcol].to_numpy(np.float64)
    except ValueError as exc:
        raise CorruptFileError(f"non-numeric wavelength/flux values: {exc}", probe.path) from exc
    ivar = None if icol is None else df[icol].to_numpy(np.float64)
    if ivar is None and ecol is not None:
        e = df[ecol].to_numpy(np.float64)
        with np.errstate(divide="ignore"):
            ivar = np.where(e > 0, 1.0 / e**2, 0.0)
    wname = str(wcol)
    air = "air" in wname.lower()
    mask = None if mcol is None else df[mcol].to_numpy() != 0
    return _build(w * _scale_from_name(wname), f, ivar, mask, _base_meta(probe, "text"),
                  loglam=wname.lower() == "loglam", air=air)


# ----------------------------------------------------------------------- npy
def _is_npy(probe: Probe) -> bool:
    return probe.is_npy


@register_reader("npy", _is_npy, priority=1)
def read_npy(probe: Probe) -> Spectrum:
    """SPFusion ``.npy``: float array (2, L) = wavelength (vacuum Angstrom), flux; (3, L) adds ivar."""
    src = gzip.open(probe.path, "rb") if probe.gzipped else open(probe.path, "rb")
    with src as fh:
        try:
            arr = np.load(io.BytesIO(fh.read()), allow_pickle=False)
        except ValueError as exc:
            if "pickle" in str(exc).lower():
                raise UnsafeInputError("refusing to load a pickled .npy (allow_pickle=False)", probe.path) from exc
            raise CorruptFileError(f"cannot decode .npy: {exc}", probe.path) from exc
    if arr.ndim != 2 or (arr.shape[0] not in (2, 3) and arr.shape[1] not in (2, 3)):
        raise MissingDataError(f"expected a (2, L) or (3, L) array (wavelength, flux[, ivar]), got {arr.shape}",
                               probe.path)
    if arr.shape[0] not in (2, 3):
        arr = arr.T
    ivar = arr[2] if arr.shape[0] == 3 else None
    return _build(arr[0], arr[1], ivar, None, _base_meta(probe, "npy"))


# ---------------------------------------------------------------------- HDF5
def _is_hdf5(probe: Probe) -> bool:
    return probe.is_hdf5


@register_reader("hdf5", _is_hdf5, priority=1)
def read_hdf5(probe: Probe) -> Spectrum | list[Spectrum]:
    """HDF5 with datasets ``wavelength`` and ``flux`` ((L,) or (N, L)), optional ``ivar``/``mask``; attrs as meta."""
    import h5py

    with h5py.File(probe.path, "r") as f:
        names = {k.lower(): k for k in f.keys()}
        wk, fk = _pick(names, WAVE_NAMES), _pick(names, FLUX_NAMES)
        if wk is None or fk is None:
            raise MissingDataError(f"HDF5 needs 'wavelength' and 'flux' datasets, found {sorted(f.keys())}", probe.path)
        wave = np.asarray(f[wk][()], np.float64)
        flux = np.asarray(f[fk][()], np.float64)
        ik, mk = _pick(names, IVAR_NAMES), _pick(names, MASK_NAMES)
        ivar = None if ik is None else np.asarray(f[ik][()])
        mask = None if mk is None else np.asarray(f[mk][()])
        attrs = {k.lower(): clean(v) for k, v in f.attrs.items()}
        ids = None
        if "object_id" in names:
            ids = [clean(v) for v in np.atleast_1d(f[names["object_id"]][()])]
    air = str(attrs.get("medium", attrs.get("airorvac", ""))).lower().startswith("air") or attrs.get("vacuum") is False
    unit = str(attrs.get("wavelength_unit", "")).replace(" ", "_")
    scale = _scale_from_name(unit) if unit else 1.0
    meta0 = _header_meta(_base_meta(probe, "hdf5"), lambda c: attrs.get(c.lower()))
    if flux.ndim == 1:
        return _build(wave * scale, flux, ivar, mask, meta0, loglam=wk.lower() == "loglam", air=air)
    out = []
    for k in range(flux.shape[0]):
        meta = dict(meta0, row=k, object_id=str(ids[k]) if ids else f"{meta0['object_id']}-{k}")
        w = wave[k] if wave.ndim == 2 else wave
        out.append(_build(w * scale, flux[k], None if ivar is None else ivar[k], None if mask is None else mask[k],
                          meta, loglam=wk.lower() == "loglam", air=air))
    return out
