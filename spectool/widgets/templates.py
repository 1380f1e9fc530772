"""Template overlays: linear least-squares fits of template sets, ranked by reduced chi^2.

A :class:`Template` is a rest-frame vacuum wavelength grid (Angstrom) and a basis
of one or more spectra; a fit is ``flux ~ sum_k a_k basis_k(lambda / (1 + z)) +
Legendre polynomial`` weighted by ivar, so eigen-bases (SDSS galaxy/QSO
``spEigen*`` files), single archetypes (``spEigenStar`` rows) and class-median
templates built from labelled data fit the same way. The polynomial absorbs the
continuum scale and slope of normalised (e.g. z-scored) model inputs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import CorruptFileError, MissingDataError
from ..spectrum import Spectrum
from .state import SpectraSource, WidgetInputError


@dataclass(frozen=True)
class Template:
    """A named basis on a rest-frame vacuum wavelength grid (Angstrom).

    ``basis`` is (K, n_pixels): K = 1 for a single archetype, K > 1 for an eigen-basis.
    """

    name: str
    wavelength: np.ndarray
    basis: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.wavelength, np.float64)
        b = np.atleast_2d(np.asarray(self.basis, np.float64))
        if w.ndim != 1 or b.shape[1] != w.size:
            raise WidgetInputError(f"basis {b.shape} does not match wavelength {w.shape}", f"template {self.name}")
        if w.size < 2 or not np.all(np.diff(w) > 0):
            raise WidgetInputError("template wavelength must be strictly increasing", f"template {self.name}")
        object.__setattr__(self, "wavelength", w)
        object.__setattr__(self, "basis", b)

    @classmethod
    def from_spectrum(cls, spec: Spectrum, name: str | None = None) -> "Template":
        """A one-spectrum template; its wavelength is taken as rest frame when ``meta['redshift']`` is 0."""
        w = spec.wavelength / (1.0 + spec.redshift)
        good = spec.good
        return cls(name or str(spec.meta.get("object_id", "template")), w[good], spec.flux[good][None])


@dataclass(frozen=True)
class TemplateFit:
    """One template's best linear fit: ``model`` is on the spectrum's pixels (NaN where uncovered)."""

    name: str
    rchi2: float
    chi2: float
    npix: int
    model: np.ndarray


def read_sdss_templates(path: str | Path) -> list[Template]:
    """Read an SDSS ``spEigen*.fits`` file (primary HDU, log10 wavelength from COEFF0/COEFF1).

    Files whose header names each row (``NAME0``, ``NAME1``..., e.g. ``spEigenStar``) give
    one archetype template per row; the others (galaxy, QSO eigen-bases) give one
    template with all rows as its basis. Wavelengths are taken as vacuum Angstrom.
    """
    from astropy.io import fits

    path = Path(path)
    if not path.is_file():
        raise MissingDataError("template file not found", path)
    try:
        with fits.open(path, memmap=False) as hdul:
            data = np.asarray(hdul[0].data, dtype=np.float64)
            hdr = hdul[0].header
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"cannot read FITS: {exc}", path) from exc
    if data.ndim != 2 or "COEFF0" not in hdr or "COEFF1" not in hdr:
        raise MissingDataError("expected a 2-D primary HDU with COEFF0/COEFF1 (log10 wavelength)", path)
    wave = 10.0 ** (hdr["COEFF0"] + hdr["COEFF1"] * np.arange(data.shape[1]))
    if "NAME0" in hdr:
        return [Template(str(hdr.get(f"NAME{k}", f"{path.stem}-{k}")).strip(), wave, data[k]) for k in range(data.shape[0])]
    return [Template(path.stem, wave, data)]


def class_templates(source: SpectraSource, max_per_class: int = 200) -> list[Template]:
    """Median spectrum of each labelled class (rest frame), for data without external templates.

    Uses up to ``max_per_class`` rows per class, resampled onto the first row's grid.
    """
    table = source.table
    if table["label"].isna().all():
        raise WidgetInputError("class templates need labelled spectra (no 'label' values)", "templates")
    ref = source.spectrum(0)
    grid = ref.wavelength / (1.0 + ref.redshift)
    out = []
    for name in source.class_names:
        rows = np.flatnonzero(table["label"].to_numpy() == name)[:max_per_class]
        if rows.size == 0:
            continue
        stack = []
        for r in rows:
            s = source.spectrum(int(r))
            f = np.where(s.good, s.flux, np.nan)
            stack.append(np.interp(grid, s.wavelength / (1.0 + s.redshift), f, left=np.nan, right=np.nan))
        with warnings.catch_warnings():  # columns masked in every spectrum give NaN, dropped below
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(np.vstack(stack), axis=0)
        ok = np.isfinite(med)
        if ok.sum() >= 2:
            out.append(Template(f"class {name}", grid[ok], med[ok][None]))
    return out


def fit_templates(
    spec: Spectrum,
    templates: Sequence[Template],
    redshift: float | None = None,
    poly_degree: int = 2,
    min_coverage: float = 0.5,
) -> list[TemplateFit]:
    """Fit every template at ``redshift`` (catalogue value by default); best (lowest reduced chi^2) first.

    Templates covering less than ``min_coverage`` of the spectrum's good pixels are skipped.
    """
    z = spec.redshift if redshift is None else float(redshift)
    w, f = spec.wavelength, spec.flux.astype(np.float64)
    good = spec.good
    ivar = np.where(good, spec.ivar, 0.0).astype(np.float64)
    if good.sum() < poly_degree + 3:
        raise WidgetInputError("too few good pixels to fit templates", str(spec.meta.get("object_id", "spectrum")))
    rest = w / (1.0 + z)
    xs = (w - w[0]) / max(w[-1] - w[0], 1e-9) * 2 - 1
    poly = np.polynomial.legendre.legvander(xs, poly_degree).T if poly_degree >= 0 else np.zeros((0, w.size))
    fits_ = []
    for t in templates:
        covered = (rest >= t.wavelength[0]) & (rest <= t.wavelength[-1])
        use = good & covered
        if use.sum() < max(min_coverage * good.sum(), t.basis.shape[0] + poly.shape[0] + 1):
            continue
        basis = np.vstack([np.interp(rest, t.wavelength, b) for b in t.basis] + list(poly))
        sw = np.sqrt(ivar[use])
        coef, *_ = np.linalg.lstsq((basis[:, use] * sw).T, f[use] * sw, rcond=None)
        model = coef @ basis
        chi2 = float(np.sum(ivar[use] * (f[use] - model[use]) ** 2))
        dof = max(int(use.sum()) - basis.shape[0], 1)
        fits_.append(TemplateFit(t.name, chi2 / dof, chi2, int(use.sum()), np.where(covered, model, np.nan)))
    return sorted(fits_, key=lambda r: r.rchi2)
