"""Wavelength helpers: vacuum/air conversion and log-lambda grids.

All wavelengths in spectool are in Angstrom, **in vacuum**, unless a function
says otherwise. SDSS and LAMOST both publish vacuum wavelengths.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

#: SDSS and LAMOST low-resolution spectra sample log10(lambda) in steps of 1e-4 dex.
LOGLAM_STEP = 1e-4


def vacuum_to_air(wavelength: np.ndarray | float) -> np.ndarray:
    """Convert vacuum wavelengths (Angstrom) to air (Morton 2000 / IAU standard).

    Wavelengths below 2000 A are returned unchanged (the conversion is defined
    for air, which does not transmit in the far UV).
    """
    w = np.asarray(wavelength, dtype=np.float64)
    s2 = (1e4 / w) ** 2
    n = 1.0 + 0.0000834254 + 0.02406147 / (130.0 - s2) + 0.00015998 / (38.9 - s2)
    return np.where(w < 2000.0, w, w / n)


def air_to_vacuum(wavelength: np.ndarray | float) -> np.ndarray:
    """Convert air wavelengths (Angstrom) to vacuum (inverse of :func:`vacuum_to_air`,
    Piskunov's fit as used by VALD/SDSS; accurate to < 1e-4 A in the optical)."""
    w = np.asarray(wavelength, dtype=np.float64)
    s2 = (1e4 / w) ** 2
    n = 1.0 + 0.00008336624212083 + 0.02408926869968 / (130.1065924522 - s2) + 0.0001599740894897 / (
        38.92568793293 - s2
    )
    return np.where(w < 2000.0, w, w * n)


def loglam_grid(start: float, stop: float, step: float = LOGLAM_STEP) -> np.ndarray:
    """Vacuum wavelengths (Angstrom) of a log-lambda grid anchored on multiples of ``step``.

    Pixels are at 10**(k*step) for every integer k with start <= lambda <= stop,
    exactly like the SDSS/LAMOST coadds (their COEFF0 is a multiple of 1e-4).
    """
    k0 = int(np.ceil(np.log10(start) / step - 1e-9))
    k1 = int(np.floor(np.log10(stop) / step + 1e-9))
    return 10.0 ** (np.arange(k0, k1 + 1) * step)


@lru_cache(maxsize=None)
def c_kms() -> float:
    """The speed of light in km/s: :data:`astropy.constants.c` (exact by the SI definition), imported on first use
    so that ``import spectool`` does not load astropy."""
    from astropy.constants import c

    return float(c.to_value("km/s"))


def doppler_shift(wavelength: np.ndarray, velocity_kms: float) -> np.ndarray:
    """Relativistic Doppler shift of wavelengths (Angstrom) for a radial velocity (km/s)."""
    beta = velocity_kms / c_kms()
    return np.asarray(wavelength) * np.sqrt((1 + beta) / (1 - beta))
