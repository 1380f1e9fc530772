"""The result of a preprocessing recipe (one spectrum or a batch on a shared grid) and the coercion of
inputs into a Spectrum."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidSpectrumError
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
        image = None if self.image is None else np.asarray(self.image, np.float32)
        return replace(self, flux=to_float32(self.flux, 0.0, False), ivar=to_float32(self.ivar, 0.0, True),
                       mask=self.mask.astype(bool), image=image, wavelength=self.wavelength.astype(np.float64))

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
    """Validate ``spec`` (NaN/inf flux, all-zero or negative ivar) and wrap it as pipeline state.

    The validation is :meth:`PreprocessedBatch.from_arrays` on a batch of one, so a single
    spectrum and a batch are checked by the same code.
    """
    src = spec.meta.get("source_path")
    b = PreprocessedBatch.from_arrays(spec.wavelength, spec.flux[None], spec.ivar[None], spec.mask[None],
                                      labels=[src], source=src)
    return Preprocessed(flux=b.flux[0], wavelength=b.wavelength, ivar=b.ivar[0], mask=b.mask[0],
                        meta=dict(spec.meta), rest_frame=bool(spec.meta.get("rest_frame", False)))


def to_float32(a: np.ndarray, nonfinite_to: float, saturate: bool) -> np.ndarray:
    """``np.minimum(np.where(np.isfinite(a), a, nonfinite_to), f32max).astype(float32)`` (minimum only when
    ``saturate``), computed as one cast plus a fix-up of the few entries that are not finite after it."""
    out = np.asarray(a).astype(np.float32, order="C")
    odd = np.flatnonzero(~np.isfinite(out))
    if odd.size:
        v = np.asarray(a).ravel()[odd]
        v = np.where(np.isfinite(v), v, nonfinite_to)
        out.ravel()[odd] = np.minimum(v, np.finfo(np.float32).max) if saturate else v
    return out


def _scalar(v: Any) -> Any:
    """A per-row parameter of a batch of one as a Python scalar (``params`` of :class:`Preprocessed`)."""
    a = np.asarray(v)
    return a.reshape(-1)[0].item() if a.size == 1 else (a.item() if a.ndim == 0 else v)


@dataclass
class PreprocessedBatch:
    """Spectra of a batch on one shared wavelength grid: the state every preprocessing step works on.

    A single spectrum is a batch of one (``N = 1``): each step of :mod:`.steps` has one
    implementation, :meth:`~.steps.Step.batch`, on this type, and the per-spectrum
    :class:`Preprocessed` steps call it through :meth:`lift` and :meth:`lower`.

    Attributes
    ----------
    flux, ivar
        (N, L) model inputs and inverse variances (float32 once finalised; 0 for padding and bad pixels).
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
    steps
        Description of every step applied, in order.
    redshift
        (N,) catalogue redshift of each row (NaN where unknown), read by :class:`~.steps.RestFrame`.
    shift
        (N,) ``1 + z`` of a rest-frame shift not yet applied to the shared observed-frame
        ``wavelength`` (set by :class:`~.steps.RestFrame`, consumed by :class:`~.steps.Resample`:
        rows with different redshifts have no shared rest-frame grid); None otherwise.
    labels
        Names of the rows in error messages (default ``"row i"``); ``source`` names the batch.
    """

    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    wavelength: np.ndarray
    recipe: str = "custom"
    image: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    rest_frame: bool = False
    steps: list[str] = field(default_factory=list)
    redshift: np.ndarray | None = None
    shift: np.ndarray | None = None
    labels: list[str | None] | None = field(default=None, repr=False)
    source: str | None = field(default="batch", repr=False)

    def __len__(self) -> int:
        return int(self.flux.shape[0])

    @property
    def padding(self) -> np.ndarray:
        """(L,) True for columns that are padding (no wavelength)."""
        return ~np.isfinite(self.wavelength)

    def where(self, row: int | None = None) -> str | None:
        """The name of ``row`` (or of the whole batch) for error messages."""
        if row is None:
            return self.source
        return self.labels[row] if self.labels is not None else f"row {row}"

    def first(self, rows: np.ndarray) -> int:
        """Index of the first True entry of the (N,) bool ``rows``."""
        return int(np.flatnonzero(rows)[0])

    def evolve(self, *, note: str | None = None, params: dict[str, Any] | None = None,
               **changes) -> "PreprocessedBatch":
        """A copy with ``changes`` applied and ``note`` appended to :attr:`steps`."""
        return replace(self, steps=list(self.steps) + ([note] if note else []),
                       params={**self.params, **(params or {})}, **changes)

    def finalize(self, recipe: str | None = None) -> "PreprocessedBatch":
        """Like :meth:`Preprocessed.finalize`: float32, remaining NaN flux -> 0, ivar saturated at the float32 max.

        A rest-frame shift still pending (no :class:`~.steps.Resample` after
        :class:`~.steps.RestFrame`) cannot give one shared grid and raises
        :class:`~spectool.errors.ConfigError`.
        """
        if self.shift is not None:
            raise ConfigError("a batch pipeline that shifts to the rest frame must resample onto a shared grid "
                              "(RestFrame without a following Resample)")
        image = None if self.image is None else np.asarray(self.image, np.float32)
        return replace(self, flux=to_float32(self.flux, 0.0, False), ivar=to_float32(self.ivar, 0.0, True),
                       mask=self.mask.astype(bool), wavelength=self.wavelength.astype(np.float64), image=image,
                       recipe=recipe or self.recipe)

    @classmethod
    def from_arrays(cls, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
                    mask: np.ndarray | None = None, redshift: np.ndarray | float | None = None, *,
                    labels: list[str | None] | None = None, source: str | None = "batch") -> "PreprocessedBatch":
        """Cast like :class:`~spectool.Spectrum` (flux and ivar to float32, then float64 for the arithmetic)
        and validate: shared increasing finite ``wavelength`` (L,) Angstrom, ``flux`` (N, L) without NaN/inf,
        ``ivar`` (N, L) not negative and positive somewhere in each row. Pixels with ivar <= 0 join ``mask``.

        Raises :class:`~spectool.errors.InvalidSpectrumError` naming the row (``labels[i]`` or ``"row i"``).
        """
        w = np.asarray(wavelength, np.float64)
        f32 = np.asarray(flux, np.float32)
        if w.ndim != 1 or f32.ndim != 2 or f32.shape[1] != w.size:
            raise InvalidSpectrumError(f"need a shared wavelength (L,) and flux (N, L); got {w.shape} and "
                                       f"{f32.shape}", source)
        n, length = f32.shape
        if length == 0:
            raise InvalidSpectrumError("spectrum is empty", source)
        if not np.all(np.isfinite(w)):
            raise InvalidSpectrumError("wavelength contains NaN or inf", source)
        if length > 1 and not np.all(np.diff(w) > 0):
            raise InvalidSpectrumError("wavelength is not strictly increasing", source)
        iv32 = np.ones((n, length), np.float32) if ivar is None else np.asarray(ivar, np.float32)
        mk = np.zeros((n, length), bool) if mask is None else np.asarray(mask).astype(bool)
        if iv32.shape != f32.shape or mk.shape != f32.shape:
            raise InvalidSpectrumError("ivar and mask must have the same shape as flux", source)
        z = np.full(n, np.nan) if redshift is None else np.broadcast_to(np.asarray(redshift, np.float64), (n,)).copy()
        out = cls(f32.astype(np.float64), iv32.astype(np.float64), mk | (iv32 <= 0), w, redshift=z,
                  labels=labels, source=source)
        finite = np.isfinite(f32)
        for rows, reason in ((~finite.all(1), lambda i: f"flux has {int((~finite[i]).sum())} NaN/inf pixels"),
                             (~(iv32 > 0).any(1), lambda i: "ivar is zero everywhere (no usable pixel)"),
                             ((iv32 < 0).any(1), lambda i: "ivar has negative values")):
            if rows.any():
                i = out.first(rows)
                raise InvalidSpectrumError(reason(i), out.where(i))
        return out

    @classmethod
    def lift(cls, state: Preprocessed) -> "PreprocessedBatch":
        """``state`` as a batch of one (views, no copies); errors name ``state.source``."""
        z = state.meta.get("redshift")
        try:
            z = np.nan if z is None else float(z)
        except (TypeError, ValueError):
            z = np.nan
        return cls(state.flux[None], state.ivar[None], state.mask[None], state.wavelength, image=state.image,
                   rest_frame=state.rest_frame, redshift=np.array([z]), labels=[state.source], source=state.source)

    def lower(self, state: Preprocessed) -> Preprocessed:
        """Row 0 as the successor of ``state``: new arrays, the steps and params added since :meth:`lift`
        (per-row params as Python scalars); a pending rest-frame shift is applied to the wavelength."""
        w = self.wavelength if self.shift is None else self.wavelength / self.shift[0]
        return replace(state, flux=self.flux[0], ivar=self.ivar[0], mask=self.mask[0], wavelength=w,
                       image=self.image, rest_frame=self.rest_frame, steps=list(state.steps) + self.steps,
                       params={**state.params, **{k: _scalar(v) for k, v in self.params.items()}})
