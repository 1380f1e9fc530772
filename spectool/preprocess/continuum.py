"""Continuum estimation for continuum normalisation (SCA-Net recipe).

Two estimators, both returning the continuum in the flux's own units on the
input pixels (divide by it to normalise):

``polynomial_continuum`` (default of :func:`spectool.preprocess.scanet`)
    Follows the kind of method Lee et al. (2008, AJ 136, 2022; the SSPP paper
    SCA-Net cites for its continuum step) use: a polynomial fitted iteratively
    with *asymmetric* sigma clipping, so absorption lines (pixels well below the
    fit) are rejected and the fit settles on the upper envelope. spectool's
    parameters (its own choice, not taken from either paper): a Legendre series
    of degree 9 in wavelength scaled to [-1, 1], at most 10 iterations,
    rejecting pixels more than 1 sigma below or 4 sigma above the current fit
    (sigma = standard deviation of the residuals of the pixels kept). Bad
    pixels never enter the fit.

``percentile_continuum``
    A running 95th-percentile filter (window 301 pixels, shrunk to at most half
    the spectrum) followed by a running median of 101 pixels, as in the
    continuum routine left commented out in the SCA-Net authors' code.

Both floor the continuum at 1 % of its median so a division never blows up
where the flux approaches zero (very red or very blue ends of cool stars).
"""
from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre
from scipy.ndimage import median_filter, percentile_filter

from ..errors import InvalidSpectrumError


def _floor(cont: np.ndarray) -> np.ndarray:
    med = float(np.median(cont))
    if not np.isfinite(med) or med <= 0:
        raise InvalidSpectrumError("continuum estimate is not positive (flux is zero or negative on average)")
    return np.maximum(cont, 0.01 * med)


def polynomial_continuum(wavelength: np.ndarray, flux: np.ndarray, good: np.ndarray | None = None, *,
                         degree: int = 9, low_sigma: float = 1.0, high_sigma: float = 4.0,
                         max_iter: int = 10) -> np.ndarray:
    """Iteratively clipped Legendre-polynomial continuum (see module docstring).

    Parameters
    ----------
    wavelength
        Pixel wavelengths (Angstrom), increasing.
    flux
        Flux (any units); the continuum is returned in the same units.
    good
        Pixels allowed in the fit (default: every finite pixel).
    degree, low_sigma, high_sigma, max_iter
        Polynomial degree; clip pixels below ``fit - low_sigma*sigma`` or above
        ``fit + high_sigma*sigma``; stop after ``max_iter`` iterations or when the
        kept set no longer changes.
    """
    w = np.asarray(wavelength, np.float64)
    f = np.asarray(flux, np.float64)
    keep = np.isfinite(f) if good is None else (np.asarray(good, bool) & np.isfinite(f))
    if keep.sum() <= degree + 1:
        raise InvalidSpectrumError(f"only {int(keep.sum())} usable pixels for a degree-{degree} continuum fit")
    x = (w - w[0]) / (w[-1] - w[0]) * 2.0 - 1.0
    basis = legendre.legvander(x, degree)  # (n, degree + 1), well conditioned on [-1, 1]
    fit = _lsq(basis, f, keep)
    for _ in range(max_iter):
        resid = f - fit
        sigma = float(np.std(resid[keep]))
        new = np.isfinite(f) & (resid > -low_sigma * sigma) & (resid < high_sigma * sigma)
        if good is not None:
            new &= good
        if new.sum() <= degree + 1 or np.array_equal(new, keep):
            break
        keep = new
        fit = _lsq(basis, f, keep)
    return _floor(fit)


def _lsq(basis: np.ndarray, f: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Least-squares fit of ``f[keep]`` on the basis columns, evaluated on every pixel.

    Solved through the (tiny) normal equations: with a Legendre basis on [-1, 1]
    they are well conditioned, and unlike an SVD-based ``lstsq`` they do not spin
    up BLAS threads, which matters when many worker processes share few cores.
    """
    b = basis[keep]
    coef = np.linalg.solve(b.T @ b, b.T @ f[keep])
    return basis @ coef


def percentile_continuum(flux: np.ndarray, good: np.ndarray | None = None, *, window: int = 301,
                         percentile: float = 95.0, smooth: int = 101) -> np.ndarray:
    """Running-percentile continuum (window in pixels), then a running median of ``smooth`` pixels.

    Bad pixels (``good`` False) are first filled by linear interpolation from their
    neighbours so they do not pull the percentile.
    """
    f = np.asarray(flux, np.float64).copy()
    ok = np.isfinite(f) if good is None else (np.asarray(good, bool) & np.isfinite(f))
    if ok.sum() < 2:
        raise InvalidSpectrumError("fewer than two usable pixels for a continuum estimate")
    idx = np.arange(f.size)
    f[~ok] = np.interp(idx[~ok], idx[ok], f[ok])
    win = int(np.clip(window, 51, max(51, f.size // 2)))
    cont = percentile_filter(f, percentile, size=win, mode="nearest")
    cont = median_filter(cont, size=min(smooth, f.size), mode="nearest")
    return _floor(cont)
