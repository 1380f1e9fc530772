"""Opt-in training augmentation of the model-ready 1-D flux, for robustness on real data.

Synthetic or clean training sets under-represent what real survey spectra suffer:
lower S/N, residual radial velocities, interstellar reddening, flux-calibration
tilts and bad or missing chunks. The review (seed 003) names better training data /
augmentation as its first recommendation. :class:`Augmenter` perturbs the
*model-ready* flux row (after the preset's preprocessing) and is passed to
``SpectralDataset.torch(split, transform=...)`` as ``transform(x, rng)``.

Order of operations (each applied with its own probability ``p``):

1. ``rv_shift``: resample at lambda / (1 + v/c), v uniform in [-max_kms, max_kms] km/s
   (uses the store's vacuum-Angstrom wavelength of each pixel).
2. ``extinction``: multiply by 10^(-0.4 A(lambda)), Fitzpatrick (1999) curve with
   A_V = R_V E(B-V), E(B-V) uniform in [0, ebv_max] mag.
3. ``tilt``: multiply by 1 + a t + b t^2, t in [-1, 1] across the band.
4. after 2-3 the row is re-normalised with the preset's recipe (z-score for
   MSPC-Net, min-max for SPFusion/SCA-Net). Multiplicative effects act on a positive
   flux proxy (the row minus its minimum), since the absolute flux level is gone.
5. ``noise``: add Gaussian noise with sigma = s x std(row), s uniform in ``sigma``.
6. ``mask``: set ``n`` chunks of ``width`` pixels to 0 (the padding value).

Padding pixels (NaN wavelength) are never touched.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..wavelength import c_kms
from .config import AugmentConfig

NORMALISATION = {"mspcnet": "zscore", "spfusion": "minmax", "scanet": "minmax"}


class Augmenter:
    """Callable ``(x, rng) -> x'`` applying the configured perturbations to one flux row.

    Parameters
    ----------
    cfg
        The ``augment`` section of a training config.
    wavelength
        (L,) vacuum Angstrom of each model-input pixel, NaN for padding.
    normalisation
        ``"zscore"``, ``"minmax"`` or ``"none"``: how the row was normalised.
    """

    def __init__(self, cfg: AugmentConfig, wavelength: np.ndarray, normalisation: str = "zscore") -> None:
        if normalisation not in ("zscore", "minmax", "none"):
            raise ConfigError(f"unknown normalisation {normalisation!r} (zscore, minmax, none)")
        self.cfg = cfg
        self.wavelength = np.asarray(wavelength, dtype=np.float64)
        self.valid = np.isfinite(self.wavelength)
        self.normalisation = normalisation
        w = self.wavelength[self.valid]
        if w.size < 2:
            raise ConfigError("augmentation needs the store's wavelength grid (fewer than 2 valid pixels)")
        self._w = w
        self._t = 2.0 * (w - w.min()) / (w.max() - w.min()) - 1.0
        self._ext_unit = None
        if cfg.extinction is not None:
            import extinction

            # magnitudes of extinction per unit A_V for this R_V (curve is linear in A_V)
            self._ext_unit = extinction.fitzpatrick99(w, 1.0, cfg.extinction.r_v)

    @property
    def enabled(self) -> bool:
        c = self.cfg
        return any(a is not None and a.p > 0 for a in (c.noise, c.rv_shift, c.extinction, c.tilt, c.mask))

    def __repr__(self) -> str:
        on = [n for n in ("rv_shift", "extinction", "tilt", "noise", "mask") if getattr(self.cfg, n) is not None]
        return f"Augmenter({', '.join(on) or 'off'}; {self.normalisation})"

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if x.shape[-1] != self.wavelength.size:
            raise ConfigError(f"augmentation: flux row has {x.shape[-1]} pixels, "
                              f"wavelength grid {self.wavelength.size}")
        c = self.cfg
        out = np.array(x, dtype=np.float64)
        f = out[self.valid]
        if c.rv_shift is not None and rng.random() < c.rv_shift.p:
            beta = rng.uniform(-c.rv_shift.max_kms, c.rv_shift.max_kms) / c_kms()
            f = np.interp(self._w / (1.0 + beta), self._w, f)
        curve = np.ones_like(f)
        if c.extinction is not None and rng.random() < c.extinction.p:
            a_v = c.extinction.r_v * rng.uniform(0.0, c.extinction.ebv_max)
            curve *= 10.0 ** (-0.4 * a_v * self._ext_unit)
        if c.tilt is not None and rng.random() < c.tilt.p:
            a = rng.uniform(-c.tilt.max_slope, c.tilt.max_slope)
            b = rng.uniform(-c.tilt.max_curvature, c.tilt.max_curvature)
            curve *= np.clip(1.0 + a * self._t + b * self._t ** 2, 0.05, None)
        if not np.all(curve == 1.0):
            f = self._renormalise((f - f.min()) * curve)
        if c.noise is not None and rng.random() < c.noise.p:
            f = f + rng.normal(0.0, rng.uniform(*c.noise.sigma) * (f.std() or 1.0), f.size)
        if c.mask is not None and rng.random() < c.mask.p:
            for _ in range(int(rng.integers(c.mask.n[0], c.mask.n[1] + 1))):
                width = int(rng.integers(c.mask.width[0], c.mask.width[1] + 1))
                start = int(rng.integers(0, max(f.size - width, 1)))
                f[start:start + width] = 0.0
        out[self.valid] = f
        return out.astype(np.float32)

    def _renormalise(self, f: np.ndarray) -> np.ndarray:
        if self.normalisation == "zscore":
            sd = f.std()
            return (f - f.mean()) / (sd if sd > 0 else 1.0)
        if self.normalisation == "minmax":
            span = f.max() - f.min()
            return (f - f.min()) / (span if span > 0 else 1.0)
        return f


def build_augmenter(cfg: AugmentConfig, wavelength: np.ndarray, preprocess: str) -> Augmenter | None:
    """An :class:`Augmenter` for a dataset's grid and preprocessing, or None when all are off."""
    aug = Augmenter(cfg, wavelength, NORMALISATION.get(preprocess, "none")) if _any_on(cfg) else None
    return aug if aug is not None and aug.enabled else None


def _any_on(cfg: AugmentConfig) -> bool:
    return any(getattr(cfg, n) is not None for n in ("noise", "rv_shift", "extinction", "tilt", "mask"))
