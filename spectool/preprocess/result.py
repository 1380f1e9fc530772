"""The result of a preprocessing recipe and the coercion of inputs into a Spectrum."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InvalidSpectrumError
from ..spectrum import Spectrum


@dataclass
class Preprocessed:
    """A model-ready spectrum plus everything needed to map it back to Angstrom.

    Attributes
    ----------
    flux
        Model input, float32 (L,). Units depend on the recipe (z-scored, min-max
        scaled to [0, 1] or continuum-normalised: all dimensionless).
    wavelength
        Vacuum wavelength in Angstrom of every output pixel, float64 (L,); NaN for
        padding. Rest-frame wavelengths when ``rest_frame`` is True (SCA-Net).
    ivar
        Inverse variance on the scale of ``flux`` (the original ivar times the
        square of every divisor applied to the flux); 0 for padding and bad pixels.
    mask
        True where the original pixel was bad (ivar == 0, and-mask set, or NaN)
        and was repaired or zeroed according to the bad-pixel policy.
    image
        Normalised (3, 128, 128) float32 photometric cutout (SPFusion), else None.
    meta
        The source spectrum's metadata (object_id, class, redshift, source_path, ...).
    steps
        Human-readable description of every step applied, in order.
    params
        Numbers the steps recorded (e.g. ``pad_left``, ``mean``, ``std``, ``scale_min``).
    rest_frame
        Whether ``wavelength`` has been divided by (1 + z).
    """

    flux: np.ndarray
    wavelength: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    image: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    rest_frame: bool = False

    def __len__(self) -> int:
        return int(self.flux.size)

    @property
    def padding(self) -> np.ndarray:
        """True for pixels that are padding (no wavelength)."""
        return ~np.isfinite(self.wavelength)

    @property
    def valid(self) -> np.ndarray:
        """True for real, good pixels (not padding, not repaired/zeroed)."""
        return ~self.padding & ~self.mask

    @property
    def source(self) -> str | None:
        return self.meta.get("source_path")

    def evolve(self, *, note: str | None = None, params: dict[str, Any] | None = None, **changes) -> "Preprocessed":
        """A copy with ``changes`` applied and ``note`` appended to :attr:`steps`."""
        new = replace(self, steps=list(self.steps) + ([note] if note else []), params={**self.params, **(params or {})},
                      **changes)
        return new

    def finalize(self) -> "Preprocessed":
        """Cast to the model dtypes: flux/ivar float32, remaining NaN flux (zeroed bad pixels) to 0.

        ivar beyond the float32 range saturates at its maximum; non-finite ivar becomes 0.
        """
        flux = np.where(np.isfinite(self.flux), self.flux, 0.0).astype(np.float32)
        ivar = np.where(np.isfinite(self.ivar), self.ivar, 0.0)
        ivar = np.minimum(ivar, np.finfo(np.float32).max).astype(np.float32)  # absurd ivar * scale**2 saturates
        image = None if self.image is None else np.asarray(self.image, np.float32)
        return replace(self, flux=flux, ivar=ivar, mask=self.mask.astype(bool), image=image,
                       wavelength=self.wavelength.astype(np.float64))

    def to_spectrum(self) -> Spectrum:
        """The non-padding pixels as a :class:`~spectool.Spectrum` (for plotting)."""
        keep = ~self.padding
        meta = dict(self.meta, preprocess_steps=list(self.steps), rest_frame=self.rest_frame)
        return Spectrum(self.wavelength[keep], self.flux[keep], self.ivar[keep], self.mask[keep], meta)

    def __repr__(self) -> str:
        real = int((~self.padding).sum())
        w = self.wavelength[~self.padding]
        rng = f"{w[0]:.2f}-{w[-1]:.2f} A" if w.size else "no wavelength map"
        return (f"Preprocessed({self.meta.get('object_id', '?')}, {len(self)} px, {real} real ({rng}), "
                f"{int(self.mask.sum())} bad, steps={len(self.steps)})")


def as_spectrum(spec: Any, wavelength: np.ndarray | None = None, ivar: np.ndarray | None = None,
                mask: np.ndarray | None = None, meta: dict[str, Any] | None = None) -> Spectrum:
    """Coerce the accepted inputs into a :class:`~spectool.Spectrum`.

    Accepted: a ``Spectrum``; a ``(2, L)`` array (row 0 vacuum Angstrom, row 1 flux,
    the SPFusion ``.npy`` layout) or ``(3, L)`` with ivar; a ``(wavelength, flux)``
    tuple; or a 1-D flux array together with ``wavelength=``.
    """
    if isinstance(spec, Spectrum):
        return spec
    meta = dict(meta or {})
    if isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
        arrs = [np.asarray(a, np.float64) for a in spec]
        return Spectrum(arrs[0], arrs[1], arrs[2] if len(arrs) == 3 else ivar, mask, meta)
    arr = np.asarray(spec, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] in (2, 3):
        return Spectrum(arr[0], arr[1], arr[2] if arr.shape[0] == 3 else ivar, mask, meta)
    if arr.ndim == 1:
        if wavelength is None:
            raise InvalidSpectrumError("a 1-D flux array needs wavelength= (vacuum Angstrom)", meta.get("source_path"))
        return Spectrum(np.asarray(wavelength, np.float64), arr, ivar, mask, meta)
    raise InvalidSpectrumError(f"cannot interpret an array of shape {arr.shape} as a spectrum", meta.get("source_path"))


def initial_state(spec: Spectrum) -> Preprocessed:
    """Validate ``spec`` (NaN/inf flux, all-zero ivar) and wrap it as pipeline state."""
    spec.validate()
    return Preprocessed(
        flux=spec.flux.astype(np.float64),
        wavelength=spec.wavelength.astype(np.float64),
        ivar=spec.ivar.astype(np.float64),
        mask=(spec.mask | (spec.ivar <= 0)).copy(),
        meta=dict(spec.meta),
        rest_frame=bool(spec.meta.get("rest_frame", False)),
    )
