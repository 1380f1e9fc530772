"""Preprocessing steps: small callables ``Preprocessed -> Preprocessed`` that a
:class:`~spectool.preprocess.Pipeline` chains.

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
from .result import Preprocessed

BAD_PIXEL_POLICIES = ("interpolate", "zero", "keep")
CONTINUUM_METHODS = ("polynomial", "percentile", "minmax", "none")


def _finite(state: Preprocessed) -> np.ndarray:
    """Pixels that enter statistics: finite flux (zeroed bad pixels are NaN) and not padding."""
    return np.isfinite(state.flux) & ~state.padding


@dataclass(frozen=True)
class RepairBadPixels:
    """Apply the bad-pixel policy (``"interpolate"``, ``"zero"`` or ``"keep"``; see module docstring)."""

    policy: str = "interpolate"

    def __post_init__(self) -> None:
        if self.policy not in BAD_PIXEL_POLICIES:
            raise ConfigError(f"bad_pixels must be one of {BAD_PIXEL_POLICIES}, not {self.policy!r}")

    def __call__(self, state: Preprocessed) -> Preprocessed:
        bad = state.mask | ~np.isfinite(state.flux)
        nbad = int(bad.sum())
        note = f"bad pixels ({nbad}): {self.policy}"
        if self.policy == "keep" or nbad == 0:
            return state.evolve(mask=bad, note=note, params={"n_bad": nbad})
        good = ~bad
        if not good.any():
            raise InvalidSpectrumError("every pixel is bad (ivar == 0 or masked)", state.source)
        flux = state.flux.copy()
        ivar = state.ivar.copy()
        ivar[bad] = 0.0
        if self.policy == "interpolate":
            flux[bad] = np.interp(state.wavelength[bad], state.wavelength[good], state.flux[good])
        else:
            flux[bad] = np.nan
        return state.evolve(flux=flux, ivar=ivar, mask=bad, note=note, params={"n_bad": nbad})

    def __str__(self) -> str:
        return f"RepairBadPixels({self.policy!r})"


@dataclass(frozen=True)
class Crop:
    """Keep pixels with ``lo < lambda < hi`` Angstrom (``inclusive`` uses <=).

    Raises :class:`~spectool.errors.CoverageError` when the spectrum does not reach
    ``lo`` or ``hi`` to within one pixel, so a crop never silently returns a
    shorter range.
    """

    lo: float
    hi: float
    inclusive: bool = False

    def __call__(self, state: Preprocessed) -> Preprocessed:
        w = state.wavelength
        if w.size < 2:
            raise CoverageError(f"cannot crop {self.lo}-{self.hi} A from {w.size} pixel(s)", state.source)
        reach_lo = w[0] <= self.lo or (w[0] - self.lo) <= (w[1] - w[0])
        reach_hi = w[-1] >= self.hi or (self.hi - w[-1]) <= (w[-1] - w[-2])
        if not (reach_lo and reach_hi):
            raise CoverageError(
                f"spectrum covers {w[0]:.1f}-{w[-1]:.1f} A, which does not include {self.lo:g}-{self.hi:g} A",
                state.source)
        keep = (w >= self.lo) & (w <= self.hi) if self.inclusive else (w > self.lo) & (w < self.hi)
        op = "<=" if self.inclusive else "<"
        return state.evolve(flux=state.flux[keep], wavelength=w[keep], ivar=state.ivar[keep], mask=state.mask[keep],
                            note=f"crop {self.lo:g} {op} lambda {op} {self.hi:g} A ({int(keep.sum())} px)",
                            params={"n_cropped": int(keep.sum())})

    def __str__(self) -> str:
        return f"Crop({self.lo:g}, {self.hi:g}{', inclusive' if self.inclusive else ''})"


@dataclass(frozen=True)
class RestFrame:
    """Divide wavelengths by (1 + z): ``redshift`` if given, else the catalogue ``meta['redshift']``.

    A spectrum without a catalogue redshift is left as it is, with a
    :class:`~spectool.errors.SpectoolWarning`.
    """

    redshift: float | None = None

    def __call__(self, state: Preprocessed) -> Preprocessed:
        z = self.redshift if self.redshift is not None else state.meta.get("redshift")
        if z is None or not np.isfinite(float(z)):
            warnings.warn(f"{state.source or 'spectrum'}: no catalogue redshift; assuming it is already in the rest "
                          "frame", SpectoolWarning, stacklevel=2)
            z = 0.0
        z = float(z)
        if z <= -1:
            raise InvalidSpectrumError(f"redshift {z} <= -1 is unphysical", state.source)
        return state.evolve(wavelength=state.wavelength / (1.0 + z), rest_frame=True,
                            note=f"rest frame: lambda / (1 + z), z = {z:.6g}", params={"redshift": z})

    def __str__(self) -> str:
        return "RestFrame()" if self.redshift is None else f"RestFrame({self.redshift})"


@dataclass(frozen=True)
class Resample:
    """Cubic-spline (scipy ``CubicSpline``, not-a-knot) resampling onto ``np.linspace(start, stop, num)`` Angstrom.

    ivar is interpolated linearly; output pixels whose neighbouring input pixels
    include a bad one are flagged in ``mask`` with ivar 0. The grid must lie
    inside the spectrum (no extrapolation): :class:`~spectool.errors.CoverageError`
    otherwise.
    """

    start: float
    stop: float
    num: int

    @property
    def grid(self) -> np.ndarray:
        return np.linspace(self.start, self.stop, self.num)

    def __call__(self, state: Preprocessed) -> Preprocessed:
        from scipy.interpolate import CubicSpline

        w, grid = state.wavelength, self.grid
        if w[0] > grid[0] + 1e-6 or w[-1] < grid[-1] - 1e-6:
            frame = "rest-frame " if state.rest_frame else ""
            raise CoverageError(f"{frame}coverage {w[0]:.1f}-{w[-1]:.1f} A does not include "
                                f"{self.start:g}-{self.stop:g} A", state.source)
        ok = np.isfinite(state.flux)
        if ok.sum() < 4:
            raise InvalidSpectrumError("fewer than 4 usable pixels to fit a cubic spline", state.source)
        flux = CubicSpline(w[ok], state.flux[ok])(grid)
        bad = np.interp(grid, w, state.mask.astype(np.float64)) > 0
        ivar = np.interp(grid, w, state.ivar)
        ivar[bad] = 0.0
        if not ok.all():  # zero policy: bad pixels stay excluded
            flux[bad] = np.nan
        step = (self.stop - self.start) / (self.num - 1)
        return state.evolve(flux=flux, wavelength=grid, ivar=ivar, mask=bad,
                            note=f"cubic spline onto {self.start:g}-{self.stop:g} A, {self.num} px ({step:g} A/px)")

    def __str__(self) -> str:
        return f"Resample({self.start:g}, {self.stop:g}, {self.num})"


@dataclass(frozen=True)
class ZScore:
    """(flux - mean) / std with the population std (ddof = 0) over the current pixels."""

    def __call__(self, state: Preprocessed) -> Preprocessed:
        use = _finite(state)
        mean = float(np.mean(state.flux[use]))
        std = float(np.std(state.flux[use]))
        if not np.isfinite(std) or std == 0:
            raise InvalidSpectrumError("flux is constant; cannot z-score", state.source)
        return state.evolve(flux=(state.flux - mean) / std, ivar=state.ivar * std**2,
                            note=f"z-score (mean {mean:.4g}, population std {std:.4g})",
                            params={"mean": mean, "std": std})

    def __str__(self) -> str:
        return "ZScore()"


@dataclass(frozen=True)
class MinMax:
    """(flux - min) / (max - min) over the current pixels, giving [0, 1]."""

    def __call__(self, state: Preprocessed) -> Preprocessed:
        use = _finite(state)
        lo, hi = float(np.min(state.flux[use])), float(np.max(state.flux[use]))
        if hi == lo:
            raise InvalidSpectrumError("flux is constant; cannot min-max scale", state.source)
        return state.evolve(flux=(state.flux - lo) / (hi - lo), ivar=state.ivar * (hi - lo) ** 2,
                            note=f"min-max (min {lo:.4g}, max {hi:.4g})", params={"min": lo, "max": hi})

    def __str__(self) -> str:
        return "MinMax()"


@dataclass(frozen=True)
class ContinuumNormalize:
    """Divide by a continuum estimate (``"polynomial"`` or ``"percentile"``; see :mod:`.continuum`)."""

    method: str = "polynomial"

    def __post_init__(self) -> None:
        if self.method not in ("polynomial", "percentile"):
            raise ConfigError(f"continuum method must be 'polynomial' or 'percentile', not {self.method!r}")

    def __call__(self, state: Preprocessed) -> Preprocessed:
        good = np.isfinite(state.flux) & ~state.mask & ~state.padding
        try:
            if self.method == "polynomial":
                cont = polynomial_continuum(state.wavelength, state.flux, good)
            else:
                cont = percentile_continuum(state.flux, good)
        except InvalidSpectrumError as exc:
            raise InvalidSpectrumError(exc.reason, state.source) from exc
        return state.evolve(flux=state.flux / cont, ivar=state.ivar * cont**2,
                            note=f"continuum-normalised ({self.method})",
                            params={"continuum_median": float(np.median(cont))})

    def __str__(self) -> str:
        return f"ContinuumNormalize({self.method!r})"


@dataclass(frozen=True)
class Pad:
    """Zero-pad symmetrically to ``length`` pixels: left = floor((length - n) / 2), right = the rest.

    Padding pixels get flux 0, ivar 0 and wavelength NaN. A spectrum longer than
    ``length`` raises :class:`~spectool.errors.InvalidSpectrumError` (it is never
    truncated silently).
    """

    length: int

    def __call__(self, state: Preprocessed) -> Preprocessed:
        n = len(state)
        if n > self.length:
            raise InvalidSpectrumError(f"{n} pixels do not fit the model length {self.length}", state.source)
        left = (self.length - n) // 2
        right = self.length - n - left
        pad = (left, right)
        return state.evolve(
            flux=np.pad(state.flux, pad), ivar=np.pad(state.ivar, pad), mask=np.pad(state.mask, pad),
            wavelength=np.pad(state.wavelength, pad, constant_values=np.nan),
            note=f"zero-pad {n} -> {self.length} px ({left} left, {right} right)",
            params={"pad_left": left, "pad_right": right, "n_real": n})

    def __str__(self) -> str:
        return f"Pad({self.length})"
