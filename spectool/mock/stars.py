"""Stellar populations for the mock survey: labels per subclass, red-clump stars, AFGK stars.

All draws take a :class:`numpy.random.Generator`, so a seed fixes everything.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .spectype import DWARF_TEFF, GIANT_TEFF, dwarf_logg, giant_logg, subclass_from_teff, teff_interval

_GIANT_NAMES = {n for n, _ in GIANT_TEFF}
_DWARF_NAMES = [n for n, _ in DWARF_TEFF]


def draw_subclass_labels(subclasses: np.ndarray, vocabulary: list[str] | tuple[str, ...], rng: np.random.Generator,
                         giant_fraction: float = 0.25, feh_mean: float = -0.3, feh_sd: float = 0.35) -> pd.DataFrame:
    """Teff (K), log g (dex), [Fe/H] (dex) for stars of the given subclasses.

    Teff is drawn log-uniformly inside the subclass interval of the vocabulary; G0-M8 stars are giants
    with probability ``giant_fraction`` (giant Teff scale, RGB gravity), otherwise dwarfs
    (Pecaut & Mamajek 2013 scale). Labels are re-derived from the drawn Teff/log g, so
    ``subclass_from_teff`` reproduces the class by construction.
    """
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


def draw_afgk(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """AFGK stars (Teff 4000-8400 K, like the SCA-Net set) with dwarfs and giants."""
    teff = 10 ** rng.uniform(np.log10(4000.0), np.log10(8400.0), n)
    giant = (rng.random(n) < 0.3) & (teff < 5500)
    logg = np.where(giant, giant_logg(teff) + rng.normal(0, 0.3, n), dwarf_logg(teff) + rng.normal(-0.1, 0.15, n))
    feh = np.clip(rng.normal(-0.2, 0.3, n), -2.0, 0.5)
    return pd.DataFrame({"teff": teff, "logg": logg, "feh": feh, "giant": giant,
                         "subclass": subclass_from_teff(teff, logg, _DWARF_NAMES)})
