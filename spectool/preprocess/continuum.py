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

from functools import lru_cache
from typing import Sequence

import numpy as np
from numpy.polynomial import legendre
from scipy.ndimage import median_filter, percentile_filter

from ..errors import InvalidSpectrumError


def _rows(flux: np.ndarray, good: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """``flux`` as float64 (N, L), the pixels allowed in the fit (finite and ``good``), and whether it was 1-D."""
    f = np.asarray(flux, np.float64)
    one = f.ndim == 1
    f = np.atleast_2d(f)
    ok = np.isfinite(f) if good is None else (np.atleast_2d(np.asarray(good, bool)) & np.isfinite(f))
    return f, ok, one


def _name(labels: Sequence[str | None] | None, flux_1d: bool, i: int) -> str | None:
    """Who an error is about: ``labels[i]``, else ``"row i"`` for a 2-D flux, else nobody."""
    if labels is not None:
        return labels[i]
    return None if flux_1d else f"row {i}"


def _floor(cont: np.ndarray, labels: Sequence[str | None] | None, one: bool) -> np.ndarray:
    """Floor each row at 1 % of its median; a row whose median is not positive raises."""
    med = np.median(cont, axis=1)
    neg = ~np.isfinite(med) | (med <= 0)
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise InvalidSpectrumError("continuum estimate is not positive (flux is zero or negative on average)",
                                   _name(labels, one, i))
    return np.maximum(cont, 0.01 * med[:, None])


@lru_cache(maxsize=8)
def _legendre(grid: bytes, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Legendre basis (L, degree + 1) on the float64 ``grid`` scaled to [-1, 1], and the distinct products
    ``B_i B_j`` (i <= j) of its columns (L, m (m + 1) / 2); cached, since recipes reuse one grid."""
    w = np.frombuffer(grid, np.float64)
    x = (w - w[0]) / (w[-1] - w[0]) * 2.0 - 1.0
    basis = legendre.legvander(x, degree)
    iu = np.triu_indices(degree + 1)
    outer = np.ascontiguousarray(basis[:, iu[0]] * basis[:, iu[1]])
    for a in (basis, outer):
        a.setflags(write=False)
    return basis, outer


def polynomial_continuum(wavelength: np.ndarray, flux: np.ndarray, good: np.ndarray | None = None, *,
                         degree: int = 9, low_sigma: float = 1.0, high_sigma: float = 4.0,
                         max_iter: int = 10, floor: bool = True,
                         labels: Sequence[str | None] | None = None) -> np.ndarray:
    """Iteratively clipped Legendre-polynomial continuum (see module docstring).

    Parameters
    ----------
    wavelength
        Pixel wavelengths (Angstrom), increasing, shared by every row: (L,).
    flux
        Flux (any units), one spectrum (L,) or a batch (N, L); the continuum is returned
        in the same units and shape.
    good
        Pixels allowed in the fit, shaped like ``flux`` (default: every finite pixel).
    degree, low_sigma, high_sigma, max_iter
        Polynomial degree; clip pixels below ``fit - low_sigma*sigma`` or above
        ``fit + high_sigma*sigma``; stop after ``max_iter`` iterations or when the
        kept set no longer changes (per row); ``max_iter=0`` is a plain least-squares fit.
    floor
        Floor each row at 1 % of its median, which must be positive (default, for fluxes);
        ``False`` returns the fit as it is (e.g. for z-scored input, whose median is ~0).
    labels
        Names of the rows in error messages (default ``"row i"`` for a batch, none for one spectrum).

    Raises
    ------
    InvalidSpectrumError
        A row has ``degree + 1`` usable pixels or fewer, or a continuum whose median is not positive.

    Notes
    -----
    The rows are solved together through their normal equations ``B^T K B c = B^T K f``
    (``B`` the Legendre basis on [-1, 1], well conditioned; ``K`` the kept pixels), built with
    one matrix product and updated with only the pixels that changed in later iterations.
    Unlike an SVD-based ``lstsq`` this spins up no BLAS threads, which matters when many
    worker processes share few cores.
    """
    from scipy import sparse

    grid = np.asarray(wavelength, np.float64)
    f, keep, one = _rows(flux, good)
    good = keep.copy()
    few = keep.sum(1) <= degree + 1
    if few.any():
        i = int(np.flatnonzero(few)[0])
        raise InvalidSpectrumError(f"only {int(keep[i].sum())} usable pixels for a degree-{degree} continuum fit",
                                   _name(labels, one, i))
    m = degree + 1
    basis, outer = _legendre(grid.tobytes(), degree)
    iu = np.triu_indices(m)
    f0 = np.where(keep, f, 0.0)

    def gram(weights) -> np.ndarray:
        return weights @ outer

    def solve(tri: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        lhs = np.empty((len(tri), m, m))
        lhs[:, iu[0], iu[1]] = tri
        lhs[:, iu[1], iu[0]] = tri
        return np.linalg.solve(lhs, rhs[..., None])[..., 0] @ basis.T

    tri = gram(keep.astype(np.float64))
    cont = solve(tri, (keep * f0) @ basis)
    n = f.shape[0]
    active = np.arange(n)
    for _ in range(max_iter):
        every = active.size == n  # rows rarely settle before max_iter: skip the gathers then
        resid = f0 - cont if every else f0[active] - cont[active]
        k = keep if every else keep[active]
        cnt = k.sum(1)
        rk = np.where(k, resid, 0.0)
        mean = rk.sum(1) / cnt
        sigma = np.sqrt(np.maximum(np.einsum("ij,ij->i", rk, rk) / cnt - mean**2, 0.0))[:, None]
        new = resid > -low_sigma * sigma
        new &= resid < high_sigma * sigma
        new &= good if every else good[active]
        flip = new != k
        go = (new.sum(1) > degree + 1) & flip.any(1)
        if not go.all():
            active, new, k, flip = active[go], new[go], k[go], flip[go]
        if active.size == 0:
            break
        t = tri[active]
        r, c = np.nonzero(flip)
        if r.size < 0.1 * flip.size:  # few pixels changed: update the normal equations sparsely
            t += sparse.csr_matrix((np.where(new[r, c], 1.0, -1.0), (r, c)), shape=flip.shape) @ outer
        else:
            t = gram(new.astype(np.float64))
        keep[active], tri[active] = new, t
        cont[active] = solve(t, (new * f0[active]) @ basis)
    out = _floor(cont, labels, one) if floor else cont
    return out[0] if one else out


def percentile_continuum(flux: np.ndarray, good: np.ndarray | None = None, *, window: int = 301,
                         percentile: float = 95.0, smooth: int = 101,
                         labels: Sequence[str | None] | None = None) -> np.ndarray:
    """Running-percentile continuum (window in pixels), then a running median of ``smooth`` pixels.

    ``flux`` is one spectrum (L,) or a batch (N, L) (each row filtered on its own);
    bad pixels (``good`` False) are first filled by linear interpolation from their
    neighbours so they do not pull the percentile. ``labels`` name the rows in errors.
    """
    f, ok, one = _rows(flux, good)
    f = f.copy()
    length = f.shape[1]
    idx = np.arange(length)
    for i in range(f.shape[0]):
        if ok[i].sum() < 2:
            raise InvalidSpectrumError("fewer than two usable pixels for a continuum estimate", _name(labels, one, i))
        f[i, ~ok[i]] = np.interp(idx[~ok[i]], idx[ok[i]], f[i, ok[i]])
    win = int(np.clip(window, 51, max(51, length // 2)))
    cont = np.stack([median_filter(percentile_filter(row, percentile, size=win, mode="nearest"),
                                   size=min(smooth, length), mode="nearest") for row in f])  # 1-D filters are fast
    out = _floor(cont, labels, one)
    return out[0] if one else out
