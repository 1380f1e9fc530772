"""Preprocessing steps: small callables ``Preprocessed -> Preprocessed`` that a
:class:`~spectool.preprocess.Pipeline` chains.

Each step has ONE implementation, :meth:`Step.batch`, on a
:class:`~spectool.preprocess.PreprocessedBatch` (N spectra on a shared wavelength grid,
(N, L) arrays). Calling a step on a single :class:`~spectool.preprocess.Preprocessed`
runs that implementation on a batch of one (:meth:`PreprocessedBatch.lift` and
:meth:`~PreprocessedBatch.lower`), so the per-spectrum recipes and the ``*_batch``
recipes share every line of arithmetic and validation. Errors name the file of a
single spectrum, or the row of a batch (``"row 17"``).

Every step keeps ``wavelength`` (vacuum Angstrom per pixel, NaN for padding),
``ivar`` and ``mask`` consistent with ``flux``:

* dividing the flux by a number or a curve multiplies ivar by its square;
* resampling interpolates ivar linearly and zeroes it where a bad input pixel
  contributes;
* padding adds pixels with flux 0, ivar 0, wavelength NaN.

Bad-pixel policy (:class:`RepairBadPixels`), for pixels with ivar == 0, a set
and-mask, or NaN flux:

``"interpolate"`` (default)
    flux replaced by linear interpolation in wavelength between the nearest good
    pixels (constant extrapolation at the ends); the pixel stays flagged in
    ``mask`` with ivar 0; normalisation statistics include the repaired values.
``"zero"``
    the pixel is excluded from every statistic (mean, std, min, max, continuum
    fit) and its model input is 0 after normalisation (the mean for z-scored
    input, the minimum for min-max input).
``"keep"``
    the raw values are used as they are, like the authors' code (which ignores
    ivar and masks); the pixel is still flagged in ``mask``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, CoverageError, InvalidSpectrumError, SpectoolWarning
from .continuum import percentile_continuum, polynomial_continuum
from .result import Preprocessed, PreprocessedBatch

BAD_PIXEL_POLICIES = ("interpolate", "zero", "keep")
CONTINUUM_METHODS = ("polynomial", "percentile", "minmax", "none")
_SPLINE_BLOCK = 256  # rows whose spline coefficients (4, L, rows) float64 are held at a time


class Step:
    """Base of the built-in steps: ``step(state)`` on one spectrum runs :meth:`batch` on a batch of one."""

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, state: Preprocessed) -> Preprocessed:
        return self.batch(PreprocessedBatch.lift(state)).lower(state)


def _grid(b: PreprocessedBatch, step: str) -> np.ndarray:
    """The shared wavelength of ``b`` (Angstrom); refused while a per-row rest-frame shift is pending."""
    if b.shift is not None:
        raise ConfigError(f"{step} needs one wavelength grid for the batch; after RestFrame, Resample first")
    return b.wavelength


def _use(b: PreprocessedBatch) -> np.ndarray:
    """(N, L) pixels that enter statistics: finite flux (zeroed bad pixels are NaN), not padding."""
    use = np.isfinite(b.flux)
    pad = b.padding
    if pad.any():
        use &= ~pad
    return use


def _row_stats(flux: np.ndarray, use: np.ndarray, stats) -> tuple[np.ndarray, ...]:
    """Per-row statistics ``stats(values, axis) -> tuple`` over the ``use`` pixels of each row."""
    if use.all():
        return stats(flux, axis=1)
    out = [stats(flux[i][use[i]], axis=None) for i in range(flux.shape[0])]
    return tuple(np.array(v) for v in zip(*out))


def _one(b: PreprocessedBatch, fmt: str, **values: np.ndarray) -> str:
    """``fmt`` filled with the values of a batch of one; for larger batches the text before " ("."""
    if len(b) == 1:
        return fmt.format(**{k: float(np.asarray(v).reshape(-1)[0]) for k, v in values.items()})
    return fmt.split(" (")[0]


@dataclass(frozen=True)
class RepairBadPixels(Step):
    """Apply the bad-pixel policy (``"interpolate"``, ``"zero"`` or ``"keep"``; see module docstring)."""

    policy: str = "interpolate"

    def __post_init__(self) -> None:
        if self.policy not in BAD_PIXEL_POLICIES:
            raise ConfigError(f"bad_pixels must be one of {BAD_PIXEL_POLICIES}, not {self.policy!r}")

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        bad = b.mask | ~np.isfinite(b.flux)
        n_bad = bad.sum(1)
        note = (f"bad pixels ({int(n_bad[0])}): {self.policy}" if len(b) == 1
                else f"bad pixels ({int(n_bad.sum())} in {len(b)} spectra): {self.policy}")
        if self.policy == "keep" or not bad.any():
            return b.evolve(mask=bad, note=note, params={"n_bad": n_bad})
        hopeless = bad.all(1)
        if hopeless.any():
            raise InvalidSpectrumError("every pixel is bad (ivar == 0 or masked)", b.where(b.first(hopeless)))
        w = _grid(b, "RepairBadPixels")
        ivar = np.where(bad, 0.0, b.ivar)
        flux = b.flux.copy()
        r, c = np.nonzero(bad)
        if self.policy == "zero":
            flux[r, c] = np.nan
        else:
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
        return b.evolve(flux=flux, ivar=ivar, mask=bad, note=note, params={"n_bad": n_bad})

    def __str__(self) -> str:
        return f"RepairBadPixels({self.policy!r})"


@dataclass(frozen=True)
class Crop(Step):
    """Keep pixels with ``lo < lambda < hi`` Angstrom (``inclusive`` uses <=).

    Raises :class:`~spectool.errors.CoverageError` when the spectrum does not reach
    ``lo`` or ``hi`` to within one pixel, so a crop never silently returns a
    shorter range.
    """

    lo: float
    hi: float
    inclusive: bool = False

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        w = _grid(b, "Crop")
        if w.size < 2:
            raise CoverageError(f"cannot crop {self.lo}-{self.hi} A from {w.size} pixel(s)", b.where())
        reach_lo = w[0] <= self.lo or (w[0] - self.lo) <= (w[1] - w[0])
        reach_hi = w[-1] >= self.hi or (self.hi - w[-1]) <= (w[-1] - w[-2])
        if not (reach_lo and reach_hi):
            raise CoverageError(
                f"spectrum covers {w[0]:.1f}-{w[-1]:.1f} A, which does not include {self.lo:g}-{self.hi:g} A",
                b.where())
        keep = (w >= self.lo) & (w <= self.hi) if self.inclusive else (w > self.lo) & (w < self.hi)
        cols = np.flatnonzero(keep)  # w increases (padding aside): usually one slice, so views
        if cols.size and cols[-1] - cols[0] + 1 == cols.size:
            cols = slice(int(cols[0]), int(cols[-1]) + 1)
        n = int(keep.sum())
        op = "<=" if self.inclusive else "<"
        return b.evolve(flux=b.flux[:, cols], wavelength=w[cols], ivar=b.ivar[:, cols], mask=b.mask[:, cols],
                        note=f"crop {self.lo:g} {op} lambda {op} {self.hi:g} A ({n} px)", params={"n_cropped": n})

    def __str__(self) -> str:
        return f"Crop({self.lo:g}, {self.hi:g}{', inclusive' if self.inclusive else ''})"


@dataclass(frozen=True)
class RestFrame(Step):
    """Divide wavelengths by (1 + z): ``redshift`` if given, else the catalogue redshift of each spectrum
    (``meta['redshift']``; the ``redshift=`` of a batch).

    A spectrum without a catalogue redshift is left as it is, with a
    :class:`~spectool.errors.SpectoolWarning`. In a batch the rows keep the shared
    observed-frame grid with a pending per-row shift until :class:`Resample`.
    """

    redshift: float | None = None

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        n = len(b)
        if self.redshift is not None:
            z = np.full(n, float(self.redshift))
        else:
            z = np.full(n, np.nan) if b.redshift is None else np.array(b.redshift, np.float64)
        missing = ~np.isfinite(z)
        if missing.any():
            if b.labels is not None:
                who = ", ".join(b.where(i) or "spectrum" for i in np.flatnonzero(missing))
                msg = f"{who}: no catalogue redshift; assuming it is already in the rest frame"
            else:
                msg = (f"{int(missing.sum())} spectra have no catalogue redshift; assuming they are already in the "
                       "rest frame")
            warnings.warn(msg, SpectoolWarning, stacklevel=3)
            z[missing] = 0.0
        if (z <= -1).any():
            i = b.first(z <= -1)
            raise InvalidSpectrumError(f"redshift {z[i]} <= -1 is unphysical", b.where(i))
        shift = 1.0 + z if b.shift is None else b.shift * (1.0 + z)
        return b.evolve(shift=shift, rest_frame=True, note="rest frame: lambda / (1 + z)" + (f", z = {z[0]:.6g}" if len(b) == 1 else ""),
                        params={"redshift": z})

    def __str__(self) -> str:
        return "RestFrame()" if self.redshift is None else f"RestFrame({self.redshift})"


def _interp_rows(y: np.ndarray, at: np.ndarray, dt: np.ndarray, dw: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray) -> np.ndarray:
    """``np.interp(t[i], w, y[i])`` for every row of ``y`` (N, L), with its arithmetic: ``at`` is the flat index
    of the left knot ``w[j]`` of each ``t``, ``dt = t - w[j]``, ``dw = w[j + 1] - w[j]``; ``lo`` / ``hi`` mark
    ``t <= w[j]`` / ``t >= w[j + 1]``, where np.interp returns the knot (or end) value itself."""
    y0, y1 = y.ravel().take(at), y.ravel().take(at + 1)
    out = (y1 - y0) / dw * dt + y0
    if lo.any():
        out[lo] = y0[lo]
    if hi.any():
        out[hi] = y1[hi]
    return out


@dataclass(frozen=True)
class Resample(Step):
    """Cubic-spline (scipy ``CubicSpline``, not-a-knot) resampling onto ``np.linspace(start, stop, num)`` Angstrom.

    ivar is interpolated linearly (as ``np.interp``); output pixels whose neighbouring
    input pixels include a bad one are flagged in ``mask`` with ivar 0. The grid must
    lie inside the spectrum (no extrapolation): :class:`~spectool.errors.CoverageError`
    otherwise.

    After :class:`RestFrame` in a batch (a pending shift ``1 + z_i`` per row), the
    spline of each row is solved once on the shared observed-frame grid and evaluated
    at ``grid * (1 + z_i)``: the same not-a-knot spline, since a cubic spline is
    unchanged by rescaling x, equal to the rest-frame spline to float64 rounding.
    The spline is evaluated with scipy's own arithmetic, so a single spectrum gives
    ``CubicSpline(w, flux)(grid)`` bit for bit.
    """

    start: float
    stop: float
    num: int

    @property
    def grid(self) -> np.ndarray:
        return np.linspace(self.start, self.stop, self.num)

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        from scipy.interpolate import CubicSpline

        w, grid, flux = b.wavelength, self.grid, b.flux
        n, length = flux.shape
        scale = np.ones(n) if b.shift is None else b.shift
        lo, hi = w[0] / scale, w[-1] / scale
        short = (lo > grid[0] + 1e-6) | (hi < grid[-1] - 1e-6)
        if short.any():
            i = b.first(short)
            frame = "rest-frame " if b.rest_frame else ""
            raise CoverageError(f"{frame}coverage {lo[i]:.1f}-{hi[i]:.1f} A does not include "
                                f"{self.start:g}-{self.stop:g} A", b.where(i))
        ok = np.isfinite(flux)
        if (ok.sum(1) < 4).any():
            raise InvalidSpectrumError("fewer than 4 usable pixels to fit a cubic spline",
                                       b.where(int(np.argmin(ok.sum(1)))))
        t = grid[None, :] if b.shift is None else grid[None, :] * scale[:, None]  # output pixels, input frame
        j = np.clip(np.searchsorted(w, t, side="right") - 1, 0, length - 2)
        j = np.broadcast_to(j, (n, grid.size))
        t = np.broadcast_to(t, (n, grid.size))
        at = j + (np.arange(n) * length)[:, None]  # flat index of the left knot in (n, L) arrays
        w0, w1 = w[j], w[j + 1]
        geometry = (t - w0, w1 - w0, t <= w0, t >= w1)
        bad = _interp_rows(b.mask.astype(np.float64), at, *geometry) > 0
        out_ivar = _interp_rows(b.ivar, at, *geometry)
        out_ivar[bad] = 0.0
        out = np.empty((n, grid.size))
        whole = ok.all(1)
        full = np.flatnonzero(whole)
        for s in range(0, full.size, _SPLINE_BLOCK):
            blk = full[s:s + _SPLINE_BLOCK]
            c = CubicSpline(w, flux[blk].T).c  # (4, L - 1, rows)
            flat = j[blk] * blk.size + np.arange(blk.size)[:, None]  # flat index into (L - 1, rows)
            d = geometry[0][blk]  # t - w[j]
            dd = d * d
            # scipy's PPoly evaluation, term by term (not Horner), so the rounding is scipy's
            out[blk] = ((c[3].ravel().take(flat) + c[2].ravel().take(flat) * d) + c[1].ravel().take(flat) * dd
                        + c[0].ravel().take(flat) * (dd * d))
        for i in np.flatnonzero(~whole):  # zero policy: each row has its own knots
            out[i] = CubicSpline(w[ok[i]] / scale[i], flux[i, ok[i]])(grid)
            out[i, bad[i]] = np.nan
        step = (self.stop - self.start) / (self.num - 1)
        return b.evolve(flux=out, wavelength=grid, ivar=out_ivar, mask=bad, shift=None,
                        note=f"cubic spline onto {self.start:g}-{self.stop:g} A, {self.num} px ({step:g} A/px)")

    def __str__(self) -> str:
        return f"Resample({self.start:g}, {self.stop:g}, {self.num})"


@dataclass(frozen=True)
class ZScore(Step):
    """(flux - mean) / std with the population std (ddof = 0) over the current pixels."""

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        flux = b.flux
        use = _use(b)
        if use.all():  # np.mean / np.std (ddof 0) step by step, sharing the deviations: the same arithmetic
            mean = np.add.reduce(flux, axis=1) / flux.shape[1]
            dev = flux - mean[:, None]
            std = np.sqrt(np.add.reduce(dev * dev, axis=1) / flux.shape[1])
        else:
            mean, std = _row_stats(flux, use, lambda a, axis: (np.mean(a, axis=axis), np.std(a, axis=axis)))
            dev = flux - mean[:, None]
        flat = ~np.isfinite(std) | (std == 0)
        if flat.any():
            raise InvalidSpectrumError("flux is constant; cannot z-score", b.where(b.first(flat)))
        return b.evolve(flux=np.divide(dev, std[:, None], out=dev), ivar=b.ivar * (std**2)[:, None],
                        note=_one(b, "z-score (mean {mean:.4g}, population std {std:.4g})", mean=mean, std=std),
                        params={"mean": mean, "std": std})

    def __str__(self) -> str:
        return "ZScore()"


@dataclass(frozen=True)
class MinMax(Step):
    """(flux - min) / (max - min) over the current pixels, giving [0, 1]."""

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        lo, hi = _row_stats(b.flux, _use(b), lambda a, axis: (np.min(a, axis=axis), np.max(a, axis=axis)))
        flat = hi == lo
        if flat.any():
            raise InvalidSpectrumError("flux is constant; cannot min-max scale", b.where(b.first(flat)))
        return b.evolve(flux=(b.flux - lo[:, None]) / (hi - lo)[:, None], ivar=b.ivar * ((hi - lo) ** 2)[:, None],
                        note=_one(b, "min-max (min {lo:.4g}, max {hi:.4g})", lo=lo, hi=hi),
                        params={"min": lo, "max": hi})

    def __str__(self) -> str:
        return "MinMax()"


@dataclass(frozen=True)
class ContinuumNormalize(Step):
    """Divide by a continuum estimate (``"polynomial"`` or ``"percentile"``; see :mod:`.continuum`)."""

    method: str = "polynomial"

    def __post_init__(self) -> None:
        if self.method not in ("polynomial", "percentile"):
            raise ConfigError(f"continuum method must be 'polynomial' or 'percentile', not {self.method!r}")

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        good = np.isfinite(b.flux) & ~b.mask & ~b.padding
        names = [b.where(i) for i in range(len(b))]
        if self.method == "polynomial":
            cont = polynomial_continuum(_grid(b, "ContinuumNormalize"), b.flux, good, labels=names)
        else:
            cont = percentile_continuum(b.flux, good, labels=names)
        med = np.median(cont, axis=1)
        return b.evolve(flux=b.flux / cont, ivar=b.ivar * cont**2, note=f"continuum-normalised ({self.method})",
                        params={"continuum_median": med})

    def __str__(self) -> str:
        return f"ContinuumNormalize({self.method!r})"


@dataclass(frozen=True)
class Pad(Step):
    """Zero-pad symmetrically to ``length`` pixels: left = floor((length - n) / 2), right = the rest.

    Padding pixels get flux 0, ivar 0 and wavelength NaN. A spectrum longer than
    ``length`` raises :class:`~spectool.errors.InvalidSpectrumError` (it is never
    truncated silently).
    """

    length: int

    def batch(self, b: PreprocessedBatch) -> PreprocessedBatch:
        n = b.flux.shape[1]
        if n > self.length:
            raise InvalidSpectrumError(f"{n} pixels do not fit the model length {self.length}", b.where())
        left = (self.length - n) // 2
        right = self.length - n - left
        pad = ((0, 0), (left, right))
        return b.evolve(
            flux=np.pad(b.flux, pad), ivar=np.pad(b.ivar, pad), mask=np.pad(b.mask, pad),
            wavelength=np.pad(b.wavelength, pad[1], constant_values=np.nan),
            note=f"zero-pad {n} -> {self.length} px ({left} left, {right} right)",
            params={"pad_left": left, "pad_right": right, "n_real": n})

    def __str__(self) -> str:
        return f"Pad({self.length})"
