"""Helpers shared by the readers: header values, log-lambda grids, S/N, air/vacuum."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..wavelength import air_to_vacuum


def clean(value: Any) -> Any:
    """A FITS value as a plain Python scalar (stripped str, int, float) or None if blank."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, np.ndarray):
        return [clean(v) for v in value]
    if isinstance(value, np.float32):
        return float(str(value)) if np.isfinite(value) else None  # shortest repr: 3.546e-4, not 3.5458776e-4...
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def header_get(header, *keys: str, default: Any = None) -> Any:
    """First non-blank value among ``keys`` of a FITS header."""
    for k in keys:
        if k in header:
            v = clean(header[k])
            if v is not None:
                return v
    return default


def is_air(header) -> bool:
    """True when the header says the wavelengths are in air (VACUUM = F, AIRORVAC = 'air', ...)."""
    vac = header.get("VACUUM")
    if isinstance(vac, bool):
        return not vac
    medium = str(header.get("AIRORVAC", header.get("WAVE_MED", header.get("MEDIUM", "")))).strip().lower()
    return medium.startswith("air")


def to_vacuum(wavelength: np.ndarray, air: bool) -> np.ndarray:
    """Convert to vacuum Angstrom when ``air`` is True, else return float64 unchanged."""
    w = np.asarray(wavelength, dtype=np.float64)
    return air_to_vacuum(w) if air else w


def _finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is missing or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return None
    return float(value) if np.isfinite(value) else None


def loglam_wavelength(loglam: np.ndarray | None, coeff0: float | None, coeff1: float | None, n: int) -> np.ndarray:
    """Vacuum Angstrom of a log-linear spectrum.

    When the header's COEFF0/COEFF1 describe the stored (float32) log-lambda values
    to within 1e-5 dex, the exact float64 grid ``10**(COEFF0 + i*COEFF1)`` is used, so
    pixels sit exactly on the survey's 1e-4 dex grid (a crop at 4000 and 9000 A then
    gives the same pixels for every file). Otherwise the stored values are used.
    """
    coeff0, coeff1 = _finite_number(coeff0), _finite_number(coeff1)  # a garbled card is ignored
    if coeff0 is not None and coeff1 is not None:
        grid, wave = _log_grid(coeff0, coeff1, n)
        if loglam is None or np.max(np.abs(np.asarray(loglam, np.float64) - grid)) < 1e-5:
            return wave.copy()
    if loglam is None:
        raise ValueError("neither loglam values nor COEFF0/COEFF1 are available")
    return 10.0 ** np.asarray(loglam, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def _log_grid(coeff0: float, coeff1: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(log10 grid ``COEFF0 + i*COEFF1``, its Angstrom ``10**grid``), read-only and cached: the
    files of one plate (or one mock survey) share a grid, and ``10**x`` costs more than a copy."""
    grid = coeff0 + np.arange(n) * coeff1
    wave = 10.0 ** grid
    grid.flags.writeable = wave.flags.writeable = False
    return grid, wave


def linear_snap(wavelength: np.ndarray, coeff0: float | None, coeff1: float | None) -> np.ndarray:
    """``wavelength`` (Angstrom, possibly float32) replaced by the exact log grid if it matches."""
    return loglam_wavelength(np.log10(np.asarray(wavelength, np.float64)), coeff0, coeff1, len(wavelength))


def median_snr(flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """Median per-pixel S/N, ``flux * sqrt(ivar)`` over pixels with ivar > 0 (and not masked).

    This is the definition of SDSS ``SN_MEDIAN_ALL``; spectool uses it for surveys
    that do not publish a median S/N (LAMOST publishes only per-band S/N).
    """
    good = (ivar > 0) & np.isfinite(flux)
    if mask is not None:
        good &= ~mask
    if not good.any():
        return None
    return float(np.median(flux[good] * np.sqrt(ivar[good])))


def is_number(token: str) -> bool:
    """True when ``token`` parses as a float (a data value rather than a column name or a path)."""
    try:
        float(token)
    except ValueError:
        return False
    return True
