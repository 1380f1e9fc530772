"""Batch versions of the three recipes for many spectra on ONE shared wavelength grid.

``mspcnet_batch``, ``spfusion_batch`` and ``scanet_batch`` take ``flux`` (N, L) on a shared
vacuum wavelength grid (L,) in Angstrom (with optional ``ivar`` / ``mask`` (N, L)) and apply
the same steps as :func:`~spectool.preprocess.mspcnet`, :func:`~spectool.preprocess.spfusion`
and :func:`~spectool.preprocess.scanet` row by row, vectorised across rows:

* MSPC-Net and SPFusion give bit-for-bit the arrays of the per-spectrum path
  (``recipe(Spectrum(wavelength, flux[i], ivar[i], mask[i]))``, finalised);
* SCA-Net gives the per-spectrum result to float32 rounding: the cubic spline is solved
  once on the shared observed-frame grid and evaluated at ``grid * (1 + z_i)`` (the same
  not-a-knot spline, since a cubic spline is unchanged by rescaling x), and the clipped
  continuum fits of all rows are solved together through their normal equations.

Inputs are cast like :class:`~spectool.Spectrum` does (flux and ivar to float32) and
validated like the per-spectrum path; errors name the offending row (``"row 17"``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, CoverageError, InvalidImageError, InvalidSpectrumError, SpectoolWarning
from .recipes import IMAGE_SHAPE, MODEL_LENGTH, MSPC_RANGE, SCANET_RANGE, SPFUSION_RANGE, scanet_grid
from .steps import BAD_PIXEL_POLICIES, CONTINUUM_METHODS

_IMAGE_BLOCK = 4  # cutouts normalised at a time: float64 scratch of ~1.5 MB stays in cache
_SPLINE_BLOCK = 256  # rows whose spline coefficients (4, L, rows) float64 are held at a time


@dataclass
class PreprocessedBatch:
    """Model-ready spectra of a batch on one shared output grid.

    Attributes
    ----------
    flux, ivar
        (N, L) float32 model inputs and inverse variances (0 for padding and bad pixels).
    mask
        (N, L) bool, True where the input pixel was bad (repaired or zeroed).
    wavelength
        (L,) float64 vacuum Angstrom of every output pixel (NaN for padding); rest frame
        when ``rest_frame`` is True (SCA-Net).
    image
        (N, 3, 128, 128) float32 per-band min-max cutouts (SPFusion), else None.
    params
        Per-row numbers of the steps, e.g. ``mean``/``std`` (z-score), ``min``/``max``,
        ``n_bad``, ``redshift``, plus the scalars ``pad_left``/``pad_right``/``n_real``.
    """

    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    wavelength: np.ndarray
    recipe: str
    image: np.ndarray | None = None
    params: dict[str, np.ndarray | int] = field(default_factory=dict)
    rest_frame: bool = False

    def __len__(self) -> int:
        return int(self.flux.shape[0])


def _row(i: int) -> str:
    return f"row {i}"


def _initial(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None,
             mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cast and validate like ``Spectrum`` + ``initial_state``: (wave, flux f64, ivar f64, mask)."""
    w = np.asarray(wavelength, np.float64)
    f32 = np.asarray(flux, np.float32)
    if w.ndim != 1 or f32.ndim != 2 or f32.shape[1] != w.size:
        raise InvalidSpectrumError(f"need a shared wavelength (L,) and flux (N, L); got {w.shape} and {f32.shape}",
                                   "batch")
    n, length = f32.shape
    if length == 0:
        raise InvalidSpectrumError("spectra are empty", "batch")
    if not np.all(np.isfinite(w)):
        raise InvalidSpectrumError("wavelength contains NaN or inf", "batch")
    if length > 1 and not np.all(np.diff(w) > 0):
        raise InvalidSpectrumError("wavelength is not strictly increasing", "batch")
    iv32 = np.ones((n, length), np.float32) if ivar is None else np.asarray(ivar, np.float32)
    mk = np.zeros((n, length), bool) if mask is None else np.asarray(mask).astype(bool)
    if iv32.shape != f32.shape or mk.shape != f32.shape:
        raise InvalidSpectrumError("ivar and mask must have the same shape as flux", "batch")
    finite = np.isfinite(f32)
    for rows, reason in ((~finite.all(1), lambda i: f"flux has {int((~finite[i]).sum())} NaN/inf pixels"),
                         (~(iv32 > 0).any(1), lambda i: "ivar is zero everywhere (no usable pixel)"),
                         ((iv32 < 0).any(1), lambda i: "ivar has negative values")):
        if rows.any():
            i = int(np.flatnonzero(rows)[0])
            raise InvalidSpectrumError(reason(i), _row(i))
    return w, f32.astype(np.float64), iv32.astype(np.float64), mk | (iv32 <= 0)


def _repair(w: np.ndarray, flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray, policy: str,
            params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch :class:`~spectool.preprocess.steps.RepairBadPixels` (the same arithmetic as ``np.interp``)."""
    if policy not in BAD_PIXEL_POLICIES:
        raise ConfigError(f"bad_pixels must be one of {BAD_PIXEL_POLICIES}, not {policy!r}")
    bad = mask | ~np.isfinite(flux)
    params["n_bad"] = bad.sum(1)
    if policy == "keep" or not bad.any():
        return flux, ivar, bad
    hopeless = bad.all(1)
    if hopeless.any():
        raise InvalidSpectrumError("every pixel is bad (ivar == 0 or masked)", _row(int(np.flatnonzero(hopeless)[0])))
    ivar = np.where(bad, 0.0, ivar)
    flux = flux.copy()
    r, c = np.nonzero(bad)
    if policy == "zero":
        flux[r, c] = np.nan
        return flux, ivar, bad
    # runs of consecutive bad pixels (np.nonzero is row-major): the good neighbours of a run are
    # its start - 1 and its end + 1; a run touching an edge takes the value of its one neighbour
    new_run = np.ones(r.size, bool)
    new_run[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1] + 1)
    run = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], r.size) - 1
    lo, hi = (c[starts] - 1)[run], (c[ends] + 1)[run]
    lo_c, hi_c = np.maximum(lo, 0), np.minimum(hi, w.size - 1)
    fl, fr = flux[r, lo_c], flux[r, hi_c]
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = (fr - fl) / (w[hi_c] - w[lo_c]) * (w[c] - w[lo_c]) + fl  # np.interp's formula
    flux[r, c] = np.where(lo < 0, fr, np.where(hi >= w.size, fl, inner))
    return flux, ivar, bad


def _crop(w: np.ndarray, lo: float, hi: float) -> slice:
    """Columns kept by :class:`~spectool.preprocess.steps.Crop` (its coverage check included); a slice,
    since the grid increases."""
    if w.size < 2:
        raise CoverageError(f"cannot crop {lo}-{hi} A from {w.size} pixel(s)", "batch")
    if not ((w[0] <= lo or (w[0] - lo) <= (w[1] - w[0])) and (w[-1] >= hi or (hi - w[-1]) <= (w[-1] - w[-2]))):
        raise CoverageError(f"spectrum covers {w[0]:.1f}-{w[-1]:.1f} A, which does not include {lo:g}-{hi:g} A",
                            "batch")
    cols = np.flatnonzero((w > lo) & (w < hi))
    return slice(int(cols[0]), int(cols[-1]) + 1) if cols.size else slice(0, 0)


def _row_stats(flux: np.ndarray, use: np.ndarray, stats) -> tuple[np.ndarray, ...]:
    """Per-row statistics ``stats(values, axis) -> tuple`` over the ``use`` pixels of each row."""
    if use.all():
        return stats(flux, axis=1)
    out = [stats(flux[i][use[i]], axis=None) for i in range(flux.shape[0])]
    return tuple(np.array(v) for v in zip(*out))


def _zscore(flux: np.ndarray, ivar: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray]:
    use = np.isfinite(flux)
    if use.all():  # np.mean / np.std (ddof 0) step by step, sharing the deviations: the same arithmetic
        mean = np.add.reduce(flux, axis=1) / flux.shape[1]
        dev = flux - mean[:, None]
        std = np.sqrt(np.add.reduce(dev * dev, axis=1) / flux.shape[1])
    else:
        mean, std = _row_stats(flux, use, lambda a, axis: (np.mean(a, axis=axis), np.std(a, axis=axis)))
        dev = flux - mean[:, None]
    flat = ~np.isfinite(std) | (std == 0)
    if flat.any():
        raise InvalidSpectrumError("flux is constant; cannot z-score", _row(int(np.flatnonzero(flat)[0])))
    params.update(mean=mean, std=std)
    return np.divide(dev, std[:, None], out=dev), ivar * (std**2)[:, None]


def _minmax(flux: np.ndarray, ivar: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray]:
    use = np.isfinite(flux)
    lo, hi = _row_stats(flux, use, lambda a, axis: (np.min(a, axis=axis), np.max(a, axis=axis)))
    flat = hi == lo
    if flat.any():
        raise InvalidSpectrumError("flux is constant; cannot min-max scale", _row(int(np.flatnonzero(flat)[0])))
    params.update(min=lo, max=hi)
    return (flux - lo[:, None]) / (hi - lo)[:, None], ivar * ((hi - lo) ** 2)[:, None]


def _pad(length: int, w: np.ndarray, flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray, params: dict):
    n = w.size
    if n > length:
        raise InvalidSpectrumError(f"{n} pixels do not fit the model length {length}", "batch")
    left = (length - n) // 2
    pad = ((0, 0), (left, length - n - left))
    params.update(pad_left=left, pad_right=length - n - left, n_real=n)
    return (np.pad(w, pad[1], constant_values=np.nan), np.pad(flux, pad), np.pad(ivar, pad), np.pad(mask, pad))


def _to_float32(a: np.ndarray, nonfinite_to: float, saturate: bool) -> np.ndarray:
    """``np.minimum(np.where(np.isfinite(a), a, nonfinite_to), f32max).astype(float32)`` (minimum only when
    ``saturate``), computed as one cast plus a fix-up of the few entries that are not finite after it."""
    out = a.astype(np.float32, order="C")
    odd = np.flatnonzero(~np.isfinite(out))
    if odd.size:
        v = a.ravel()[odd]
        v = np.where(np.isfinite(v), v, nonfinite_to)
        out.ravel()[odd] = np.minimum(v, np.finfo(np.float32).max) if saturate else v
    return out


def _finalize(recipe: str, w: np.ndarray, flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray, params: dict,
              **kw) -> PreprocessedBatch:
    """Like :meth:`Preprocessed.finalize`: float32, remaining NaN flux -> 0, ivar saturated at the float32 max."""
    return PreprocessedBatch(_to_float32(flux, 0.0, False), _to_float32(ivar, 0.0, True), mask.astype(bool),
                             w.astype(np.float64), recipe, params=params, **kw)


def mspcnet_batch(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
                  mask: np.ndarray | None = None, *, order: str = "crop_first", length: int = MODEL_LENGTH,
                  bad_pixels: str = "interpolate") -> PreprocessedBatch:
    """:func:`~spectool.preprocess.mspcnet` for every row of ``flux`` (N, L) on the shared vacuum grid
    ``wavelength`` (L,) Angstrom: crop 4000 < lambda < 9000 A, z-score, zero-pad to ``length``.

    Bit-for-bit equal to the per-spectrum recipe. Raises the same errors (naming the row).
    """
    if order not in ("crop_first", "normalize_first"):
        raise ConfigError(f"order must be 'crop_first' or 'normalize_first', not {order!r}")
    params: dict = {}
    w, f, iv, mk = _initial(wavelength, flux, ivar, mask)
    f, iv, mk = _repair(w, f, iv, mk, bad_pixels, params)
    keep = _crop(w, *MSPC_RANGE)
    if order == "crop_first":
        f, iv = _zscore(f[:, keep], iv[:, keep], params)
    else:
        f, iv = _zscore(f, iv, params)
        f, iv = f[:, keep], iv[:, keep]
    params["n_cropped"] = w[keep].size
    return _finalize("mspcnet", *_pad(length, w[keep], f, iv, mk[:, keep], params), params)


def normalize_images(images: np.ndarray) -> np.ndarray:
    """:func:`~spectool.preprocess.normalize_image` of every (3, 128, 128) cutout in ``images`` (N, 3, 128, 128)."""
    arr = np.asarray(images)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidImageError(f"image dtype {arr.dtype} is not numeric", "images")
    if arr.ndim != 4 or arr.shape[1:] != IMAGE_SHAPE:
        raise InvalidImageError(f"images must have shape (N, {', '.join(map(str, IMAGE_SHAPE))}), got {arr.shape}",
                                "images")
    out = np.empty(arr.shape, np.float32)
    for s in range(0, arr.shape[0], _IMAGE_BLOCK):
        img = arr[s:s + _IMAGE_BLOCK].astype(np.float64)
        finite = np.isfinite(img).all((1, 2, 3))
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise InvalidImageError(f"image contains {int((~np.isfinite(img[i])).sum())} NaN/inf pixels",
                                    f"image {s + i}")
        lo = img.min(axis=(2, 3), keepdims=True)
        hi = img.max(axis=(2, 3), keepdims=True)
        flat = np.argwhere((hi - lo)[..., 0, 0] == 0)
        if flat.size:
            i, b = (int(v) for v in flat[0])
            raise InvalidImageError(f"image band {'gri'[b]} (channel {b}) is constant: min == max", f"image {s + i}")
        out[s:s + _IMAGE_BLOCK] = (img - lo) / (hi - lo)
    return out


def spfusion_batch(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
                   mask: np.ndarray | None = None, images: np.ndarray | None = None, *, length: int = MODEL_LENGTH,
                   bad_pixels: str = "interpolate",
                   crop: tuple[float, float] | None = SPFUSION_RANGE) -> PreprocessedBatch:
    """:func:`~spectool.preprocess.spfusion` for every row: crop 4000 < lambda < 9000 A (``crop=None``
    keeps every pixel), min-max to [0, 1], zero-pad to ``length``; ``images`` (N, 3, 128, 128) are
    min-max scaled per band. Bit-for-bit equal to the per-spectrum recipe."""
    params: dict = {}
    w, f, iv, mk = _initial(wavelength, flux, ivar, mask)
    if images is not None and len(images) != f.shape[0]:
        raise InvalidImageError(f"{len(images)} images for {f.shape[0]} spectra", "images")
    f, iv, mk = _repair(w, f, iv, mk, bad_pixels, params)
    if crop:
        keep = _crop(w, *crop)
        w, f, iv, mk = w[keep], f[:, keep], iv[:, keep], mk[:, keep]
        params["n_cropped"] = w.size
    f, iv = _minmax(f, iv, params)
    image = None if images is None else normalize_images(images)
    return _finalize("spfusion", *_pad(length, w, f, iv, mk, params), params, image=image)


def _redshifts(redshift: np.ndarray | float | None, n: int) -> np.ndarray:
    z = np.full(n, np.nan) if redshift is None else np.broadcast_to(np.asarray(redshift, np.float64), (n,)).copy()
    missing = ~np.isfinite(z)
    if missing.any():
        warnings.warn(f"{int(missing.sum())} spectra have no catalogue redshift; assuming they are already in the "
                      "rest frame", SpectoolWarning, stacklevel=3)
        z[missing] = 0.0
    if (z <= -1).any():
        i = int(np.flatnonzero(z <= -1)[0])
        raise InvalidSpectrumError(f"redshift {z[i]} <= -1 is unphysical", _row(i))
    return z


def _resample(w: np.ndarray, z: np.ndarray, flux: np.ndarray, ivar: np.ndarray, mask: np.ndarray):
    """Batch :class:`~spectool.preprocess.steps.Resample` onto the SCA-Net grid from rest-frame ``w / (1 + z)``."""
    from scipy.interpolate import CubicSpline

    grid = scanet_grid()
    lo, hi = w[0] / (1.0 + z), w[-1] / (1.0 + z)
    short = (lo > grid[0] + 1e-6) | (hi < grid[-1] - 1e-6)
    if short.any():
        i = int(np.flatnonzero(short)[0])
        raise CoverageError(f"rest-frame coverage {lo[i]:.1f}-{hi[i]:.1f} A does not include "
                            f"{SCANET_RANGE[0]:g}-{SCANET_RANGE[1]:g} A", _row(i))
    n, length = flux.shape
    t = grid[None, :] * (1.0 + z)[:, None]  # output pixels in the observed frame of each row
    j = np.clip(np.searchsorted(w, t, side="right") - 1, 0, length - 2)
    dx = t - w[j]
    frac = dx / (w[j + 1] - w[j])
    at = j + (np.arange(n) * length)[:, None]  # flat index of the left knot in (n, L) arrays
    m0, m1 = (mask.ravel().take(at + d).astype(np.float64) for d in (0, 1))
    bad = (m0 + frac * (m1 - m0)) > 0
    v0, v1 = ivar.ravel().take(at), ivar.ravel().take(at + 1)
    out_ivar = v0 + frac * (v1 - v0)
    out_ivar[bad] = 0.0
    out = np.empty((n, grid.size))
    ok = np.isfinite(flux)
    whole = ok.all(1)
    if (ok.sum(1) < 4).any():
        raise InvalidSpectrumError("fewer than 4 usable pixels to fit a cubic spline", _row(int(np.argmin(ok.sum(1)))))
    full = np.flatnonzero(whole)
    for s in range(0, full.size, _SPLINE_BLOCK):
        blk = full[s:s + _SPLINE_BLOCK]
        c = CubicSpline(w, flux[blk].T).c  # (4, L - 1, rows)
        flat = j[blk] * blk.size + np.arange(blk.size)[:, None]  # flat index into (L - 1, rows)
        d = dx[blk]
        out[blk] = ((c[0].ravel().take(flat) * d + c[1].ravel().take(flat)) * d
                    + c[2].ravel().take(flat)) * d + c[3].ravel().take(flat)
    for i in np.flatnonzero(~whole):  # zero policy: each row has its own knots, like the per-spectrum path
        out[i] = CubicSpline(w[ok[i]] / (1.0 + z[i]), flux[i, ok[i]])(grid)
        out[i, bad[i]] = np.nan
    return grid, out, out_ivar, bad


def _polynomial_continuum(grid: np.ndarray, flux: np.ndarray, good: np.ndarray, degree: int = 9,
                          low_sigma: float = 1.0, high_sigma: float = 4.0, max_iter: int = 10) -> np.ndarray:
    """:func:`~spectool.preprocess.polynomial_continuum` of every row (shared grid), solved together.

    The normal equations ``B^T K B c = B^T K f`` of all rows are built with one matrix product
    (``K`` = the kept pixels); later iterations update them with the pixels that changed.
    """
    from numpy.polynomial import legendre
    from scipy import sparse

    keep = good & np.isfinite(flux)
    few = keep.sum(1) <= degree + 1
    if few.any():
        i = int(np.flatnonzero(few)[0])
        raise InvalidSpectrumError(f"only {int(keep[i].sum())} usable pixels for a degree-{degree} continuum fit",
                                   _row(i))
    m = degree + 1
    x = (grid - grid[0]) / (grid[-1] - grid[0]) * 2.0 - 1.0
    basis = legendre.legvander(x, degree)
    iu = np.triu_indices(m)
    outer = basis[:, iu[0]] * basis[:, iu[1]]  # (L, m (m + 1) / 2): the distinct products B_i B_j
    f0 = np.where(np.isfinite(flux), flux, 0.0)

    def gram(weights) -> np.ndarray:
        return weights @ outer

    def solve(tri: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        lhs = np.empty((len(tri), m, m))
        lhs[:, iu[0], iu[1]] = tri
        lhs[:, iu[1], iu[0]] = tri
        return np.linalg.solve(lhs, rhs[..., None])[..., 0] @ basis.T

    tri = gram(keep.astype(np.float64))
    cont = solve(tri, (keep * f0) @ basis)
    n = flux.shape[0]
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
    med = np.median(cont, axis=1)
    neg = ~np.isfinite(med) | (med <= 0)
    if neg.any():
        raise InvalidSpectrumError("continuum estimate is not positive (flux is zero or negative on average)",
                                   _row(int(np.flatnonzero(neg)[0])))
    return np.maximum(cont, 0.01 * med[:, None])


def _percentile_continuum(flux: np.ndarray, good: np.ndarray) -> np.ndarray:
    """:func:`~spectool.preprocess.percentile_continuum` of every row (a loop: the filters are per row anyway)."""
    from .continuum import percentile_continuum

    return np.stack([percentile_continuum(flux[i], good[i]) for i in range(flux.shape[0])])


def scanet_batch(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
                 mask: np.ndarray | None = None, redshift: np.ndarray | float | None = None, *,
                 continuum: str = "polynomial", bad_pixels: str = "interpolate") -> PreprocessedBatch:
    """:func:`~spectool.preprocess.scanet` for every row: rest frame with ``redshift`` (N,) (NaN/None =
    already rest frame, with a warning), cubic spline onto 4000-8095 A at 1 A (4096 px), continuum
    normalisation. Equal to the per-spectrum recipe to float32 rounding (see the module docstring)."""
    if continuum not in CONTINUUM_METHODS:
        raise ConfigError(f"continuum must be one of {CONTINUUM_METHODS}, not {continuum!r}")
    params: dict = {}
    w, f, iv, mk = _initial(wavelength, flux, ivar, mask)
    z = _redshifts(redshift, f.shape[0])
    params["redshift"] = z
    f, iv, mk = _repair(w, f, iv, mk, bad_pixels, params)
    grid, f, iv, mk = _resample(w, z, f, iv, mk)
    if continuum in ("polynomial", "percentile"):
        good = np.isfinite(f) & ~mk
        cont = _polynomial_continuum(grid, f, good) if continuum == "polynomial" else _percentile_continuum(f, good)
        params["continuum_median"] = np.median(cont, axis=1)
        f, iv = f / cont, iv * cont**2
    elif continuum == "minmax":
        f, iv = _minmax(f, iv, params)
    return _finalize("scanet", grid, f, iv, mk, params, rest_frame=True)

