"""Stellar populations for the mock survey: labels per subclass, red-clump stars, AFGK stars.

All draws take a :class:`numpy.random.Generator`, so a seed fixes everything.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .spectype import DWARF_TEFF, GIANT_TEFF, dwarf_logg, giant_logg, subclass_from_teff, teff_interval

_GIANT_NAMES = {n for n, _ in GIANT_TEFF}
_DWARF_NAMES = [n for n, _ in DWARF_TEFF]


@dataclass(frozen=True)
class Population:
    """Stellar population of the classification mock sets (mock version 2 defaults).

    * ``feh_mean``, ``feh_sd``: Gaussian [Fe/H] prior (dex), clipped to [-2.5, 0.5].
    * ``giant_fraction_sdss``, ``giant_fraction_lamost``: probability that a G0-M8 star of an
      SDSS / LAMOST preset is a giant (giant Teff scale and RGB gravity).
    * ``m_subtype_scale``: in the stellar-class (``SC``) sets, an M star's subtype k (M0..M8)
      is drawn with weight exp(-k / scale) instead of uniformly (``None``, mock version 2).
      Magnitude-limited surveys see mostly early M dwarfs (M_V grows by about a magnitude per
      subtype), and the real LAMOST M stars of the validation set are M0-M4.
    * ``teff_scale``: the spectrum of a star labelled with a subtype is generated at this factor
      times the Pecaut & Mamajek (2013) Teff drawn for the label (1.0 in mock version 2); the
      ``teff`` column records the generated Teff. The Balmer depths of the SDSS template dwarfs
      are those of mock stars 1-1.6 subtypes later (``scripts/mock_line_indices.py``).
    * ``teff_scale_classes``: class letters whose stars get ``teff_scale`` (``"AFG"``), or
      ``None`` for every star.

    The module-level :data:`POPULATION` is what :func:`spectool.mock.build.build_preset` uses;
    ``scripts/mock_ablation.py`` swaps it to measure the effect of the population on real
    spectra. Changing the defaults changes every mock store, so it needs a new mock version.
    """

    feh_mean: float = -0.3
    feh_sd: float = 0.35
    giant_fraction_sdss: float = 0.15
    giant_fraction_lamost: float = 0.3
    m_subtype_scale: float | None = None
    teff_scale: float = 1.0
    teff_scale_classes: str | None = None

    def subtype_weights(self, names: list[str]) -> np.ndarray | None:
        """Draw weights of the subtypes ``names`` of one letter (``None``: uniform)."""
        if self.m_subtype_scale is None or not names or names[0][0] != "M":
            return None
        w = np.exp(-np.array([float(n[1:]) for n in names]) / self.m_subtype_scale)
        return w / w.sum()

    def giant_fraction(self, survey: str) -> float:
        return self.giant_fraction_lamost if survey == "lamost" else self.giant_fraction_sdss


POPULATION = Population()


def draw_subclass_labels(subclasses: np.ndarray, vocabulary: list[str] | tuple[str, ...], rng: np.random.Generator,
                         giant_fraction: float = 0.25, feh_mean: float | None = None,
                         feh_sd: float | None = None) -> pd.DataFrame:
    """Teff (K), log g (dex), [Fe/H] (dex) for stars of the given subclasses.

    Teff is drawn log-uniformly inside the subclass interval of the vocabulary; G0-M8 stars are giants
    with probability ``giant_fraction`` (giant Teff scale, RGB gravity), otherwise dwarfs
    (Pecaut & Mamajek 2013 scale). Labels are re-derived from the drawn Teff/log g, so
    ``subclass_from_teff`` reproduces the class by construction. ``feh_mean`` / ``feh_sd``
    default to those of :data:`POPULATION`.
    """
    feh_mean = POPULATION.feh_mean if feh_mean is None else feh_mean
    feh_sd = POPULATION.feh_sd if feh_sd is None else feh_sd
    subclasses = np.asarray(subclasses, dtype=str)
    n = subclasses.size
    teff, logg = np.empty(n), np.empty(n)
    giant = (rng.random(n) < giant_fraction) & np.isin(subclasses, list(_GIANT_NAMES))
    stellar_vocab = [c for c in vocabulary if c in _DWARF_NAMES]
    for sub in np.unique(subclasses):
        for g in (False, True):
            sel = (subclasses == sub) & (giant == g)
            if not sel.any():
                continue
            lo, hi = teff_interval(sub, [c for c in stellar_vocab if not g or c in _GIANT_NAMES], giant=g)
            t = 10 ** rng.uniform(np.log10(lo) + 1e-4, np.log10(hi) - 1e-4, sel.sum())
            teff[sel] = t
            logg[sel] = (giant_logg(t) if g else dwarf_logg(t)) + rng.normal(0, 0.12 if g else 0.08, t.size)
    logg = np.where(giant, np.clip(logg, 0.0, 3.45), np.clip(logg, 3.55, 5.3))
    feh = np.clip(rng.normal(feh_mean, feh_sd, n), -2.5, 0.5)
    label = subclass_from_teff(teff, logg, stellar_vocab)
    if POPULATION.teff_scale != 1.0:
        scaled = np.ones(n, bool) if POPULATION.teff_scale_classes is None else \
            np.isin([str(c)[:1] for c in label], list(POPULATION.teff_scale_classes))
        teff = np.where(scaled, teff * POPULATION.teff_scale, teff)
    return pd.DataFrame({"teff": teff, "logg": logg, "feh": feh, "giant": giant, "subclass": label})


def draw_redclump(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Red-clump giants with mass (Msun), age (Gyr), Teff, log g, [Fe/H] and [C/N] (dex).

    * mass uniform in log between 0.8 and 2.5 Msun;
    * age from a main-sequence lifetime relation t ~ 10 Gyr (M/Msun)^-2.9 (approximate fit to
      PARSEC tracks, Bressan et al. 2012) with 15% lognormal scatter and a weak [Fe/H] term;
    * log g = 4.438 + log10 M - 2 log10 R with R ~ 11 Rsun (10% scatter): clump radii are nearly mass-independent;
    * [C/N] falls with mass after first dredge-up (trend of Martig et al. 2016, MNRAS 456, 3655):
      [C/N] = -0.15 - 0.35 (M - 1) + N(0, 0.06).
    """
    mass = 10 ** rng.uniform(np.log10(0.8), np.log10(2.5), n)
    feh = np.clip(rng.normal(-0.15, 0.22, n), -1.0, 0.4)
    age = 10.0 * mass**-2.9 * 10 ** (0.15 * feh) * np.exp(rng.normal(0.0, 0.15, n))
    radius = 11.0 * np.exp(rng.normal(0.0, 0.10, n))
    logg = 4.438 + np.log10(mass) - 2 * np.log10(radius)
    teff = 4750.0 - 250.0 * feh + 60.0 * (mass - 1.2) + rng.normal(0, 60.0, n)
    cn = -0.15 - 0.35 * (mass - 1.0) + rng.normal(0.0, 0.06, n)
    return pd.DataFrame({"teff": teff, "logg": logg, "feh": feh, "mass": mass, "age": age, "cn": cn,
                         "subclass": subclass_from_teff(teff, logg, [n for n, _ in GIANT_TEFF])})


def draw_afgk(n: int, rng: np.random.Generator, teff_range: tuple[float, float] = (4000.0, 8400.0)) -> pd.DataFrame:
    """AFGK stars (Teff log-uniform in ``teff_range`` K; 4000-8400 K like the SCA-Net set) with
    dwarfs and giants (30% of the stars below 5500 K)."""
    teff = 10 ** rng.uniform(np.log10(teff_range[0]), np.log10(teff_range[1]), n)
    giant = (rng.random(n) < 0.3) & (teff < 5500)
    logg = np.where(giant, giant_logg(teff) + rng.normal(0, 0.3, n), dwarf_logg(teff) + rng.normal(-0.1, 0.15, n))
    feh = np.clip(rng.normal(-0.2, 0.3, n), -2.0, 0.5)
    return pd.DataFrame({"teff": teff, "logg": logg, "feh": feh, "giant": giant,
                         "subclass": subclass_from_teff(teff, logg, _DWARF_NAMES)})
