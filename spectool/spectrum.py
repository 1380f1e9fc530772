"""The one spectrum type of spectool."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidSpectrumError

#: Metadata keys spectool fills when the source provides them.
STANDARD_META = (
    "survey",  # "sdss", "lamost", "mock", ...
    "object_id",  # basename / obsid
    "class",  # STAR, GALAXY, QSO
    "subclass",  # e.g. "F9", "K5", "STARFORMING"
    "redshift",
    "snr",  # median S/N over the spectrum
    "snr_bands",  # dict band -> S/N, e.g. {"g": 5.36, "r": 5.49}
    "ra",  # degrees
    "dec",  # degrees
    "source_path",
)


@dataclass
class Spectrum:
    """A 1-D spectrum on a vacuum wavelength grid.

    Attributes
    ----------
    wavelength
        Vacuum wavelength of each pixel in Angstrom, strictly increasing.
    flux
        Flux density per pixel (SDSS/LAMOST: 1e-17 erg/s/cm^2/Angstrom, or arbitrary
        units once normalised).
    ivar
        Inverse variance of ``flux`` (units of flux**-2); 0 marks an unusable pixel.
    mask
        Boolean per pixel, True where the pipeline flagged the pixel as bad (and-mask).
    meta
        Free-form metadata; see :data:`STANDARD_META` for the keys spectool fills
        (survey, object_id, class, subclass, redshift, snr, snr_bands, ra, dec) plus labels
        such as ``teff``, ``logg``, ``feh``, ``mass``, ``age``.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray | None = None
    mask: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.meta.get("source_path")
        self.wavelength = np.asarray(self.wavelength, dtype=np.float64)
        self.flux = np.asarray(self.flux, dtype=np.float32)
        if self.wavelength.ndim != 1 or self.flux.shape != self.wavelength.shape:
            raise InvalidSpectrumError(
                f"wavelength {self.wavelength.shape} and flux {self.flux.shape} must be 1-D and equal length",
                where,
            )
        n = self.flux.size
        self.ivar = np.ones(n, np.float32) if self.ivar is None else np.asarray(self.ivar, np.float32)
        self.mask = np.zeros(n, bool) if self.mask is None else np.asarray(self.mask).astype(bool)
        if self.ivar.shape != (n,) or self.mask.shape != (n,):
            raise InvalidSpectrumError("ivar and mask must have the same length as flux", where)
        if n > 1 and not np.all(np.diff(self.wavelength) > 0):
            raise InvalidSpectrumError("wavelength is not strictly increasing", where)
        if not np.all(np.isfinite(self.wavelength)):
            raise InvalidSpectrumError("wavelength contains NaN or inf", where)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.flux.size)

    @property
    def good(self) -> np.ndarray:
        """Boolean per pixel: finite flux, ivar > 0 and not masked."""
        return np.isfinite(self.flux) & (self.ivar > 0) & ~self.mask

    @property
    def sigma(self) -> np.ndarray:
        """1-sigma noise per pixel, 1/sqrt(ivar) (inf where ivar == 0)."""
        with np.errstate(divide="ignore"):
            return np.where(self.ivar > 0, 1.0 / np.sqrt(np.maximum(self.ivar, 1e-30)), np.inf)

    @property
    def redshift(self) -> float:
        return float(self.meta.get("redshift") or 0.0)

    def copy(self) -> "Spectrum":
        return Spectrum(self.wavelength.copy(), self.flux.copy(), self.ivar.copy(), self.mask.copy(), dict(self.meta))

    def crop(self, lo: float, hi: float, inclusive: bool = False) -> "Spectrum":
        """Pixels with lo < lambda < hi (Angstrom, vacuum); ``inclusive`` uses <=."""
        w = self.wavelength
        keep = (w >= lo) & (w <= hi) if inclusive else (w > lo) & (w < hi)
        return Spectrum(w[keep], self.flux[keep], self.ivar[keep], self.mask[keep], dict(self.meta))

    def validate(self) -> "Spectrum":
        """Raise :class:`InvalidSpectrumError` if the spectrum has no usable data."""
        where = self.meta.get("source_path")
        if self.flux.size == 0:
            raise InvalidSpectrumError("spectrum is empty", where)
        if not np.all(np.isfinite(self.flux)):
            bad = int((~np.isfinite(self.flux)).sum())
            raise InvalidSpectrumError(f"flux has {bad} NaN/inf pixels", where)
        if not np.any(self.ivar > 0):
            raise InvalidSpectrumError("ivar is zero everywhere (no usable pixel)", where)
        if np.any(self.ivar < 0):
            raise InvalidSpectrumError("ivar has negative values", where)
        return self

    def to_rest_frame(self, redshift: float | None = None) -> "Spectrum":
        """Divide wavelengths by (1 + z) (catalogue redshift by default)."""
        z = self.redshift if redshift is None else float(redshift)
        out = self.copy()
        out.wavelength = self.wavelength / (1.0 + z)
        out.meta["rest_frame"] = True
        return out

    # ---------------------------------------------------------- conversions
    def to_specutils(self):
        """Return a ``specutils.Spectrum`` (``Spectrum1D`` before specutils 2.0) with astropy units.

        Flux units are 1e-17 erg/s/cm^2/Angstrom when ``meta['flux_unit']`` is absent.
        """
        import astropy.units as u
        from astropy.nddata import InverseVariance

        cls = _specutils_class()
        unit = u.Unit(self.meta.get("flux_unit", "1e-17 erg / (s cm2 Angstrom)"))
        kwargs = dict(
            flux=self.flux * unit,
            spectral_axis=self.wavelength * u.AA,
            uncertainty=InverseVariance(self.ivar / unit**2),
            mask=self.mask.copy(),
            meta={k: v for k, v in self.meta.items()},
        )
        z = self.meta.get("redshift")
        if z is not None and np.isfinite(z):
            kwargs["redshift"] = z
        return cls(**kwargs)

    @classmethod
    def from_specutils(cls, spec) -> "Spectrum":
        """Build from a ``specutils.Spectrum``/``Spectrum1D`` (any spectral/flux unit)."""
        import astropy.units as u
        from astropy.nddata import InverseVariance

        wave = spec.spectral_axis.to(u.AA, equivalencies=u.spectral()).value
        flux_unit = spec.flux.unit
        ivar = None
        if spec.uncertainty is not None:
            unc = spec.uncertainty
            ivar = (unc if isinstance(unc, InverseVariance) else unc.represent_as(InverseVariance)).array
        mask = None if spec.mask is None else np.asarray(spec.mask)
        meta = dict(spec.meta or {})
        meta["flux_unit"] = flux_unit.to_string()
        order = np.argsort(wave)
        pick = (lambda a: None if a is None else np.asarray(a)[order])
        return cls(wave[order], spec.flux.value[order], pick(ivar), pick(mask), meta)

    # ---------------------------------------------------------------- display
    def plot(self, ax=None, show_noise: bool = False, show_mask: bool = True, lines=None, **kwargs):
        """Plot flux against vacuum wavelength (Angstrom) and return the matplotlib Axes.

        ``lines`` may be a line-set name understood by :mod:`spectool.lines` (e.g. "stellar").
        """
        from .plotting import plot_spectrum

        return plot_spectrum(self, ax=ax, show_noise=show_noise, show_mask=show_mask, lines=lines, **kwargs)

    def __repr__(self) -> str:
        m = self.meta
        ident = m.get("object_id", "?")
        cls_ = "/".join(str(m[k]) for k in ("class", "subclass") if m.get(k))
        return (
            f"Spectrum({ident!s}, {cls_ or 'unlabelled'}, {len(self)} px, "
            f"{self.wavelength[0]:.1f}-{self.wavelength[-1]:.1f} A, z={self.redshift:.4g})"
            if len(self)
            else "Spectrum(empty)"
        )

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.meta.items() if k != "header")
        return f"<b>{self!r}</b><table>{rows}</table>"


def _specutils_class():
    import specutils

    return getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
