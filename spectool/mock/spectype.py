"""Spectral types from Teff and log g, and Teff/log g draws for a requested subclass.

Dwarf temperatures follow the main-sequence table of Pecaut & Mamajek (2013,
ApJS 208, 9; Table 5, E. Mamajek's maintained version 2022.04); giant
temperatures follow the giant scale of Alonso, Arribas & Martinez-Roger (1999,
A&AS 140, 261) and van Belle et al. (1999, AJ 117, 521), rounded. Subclass
names use the SDSS and LAMOST vocabularies of :mod:`spectool.datasets.presets`.
"""
from __future__ import annotations

import numpy as np

from ..errors import DatasetError

#: (subclass, dwarf Teff K) after Pecaut & Mamajek (2013).
DWARF_TEFF: tuple[tuple[str, float], ...] = (
    ("O3", 44900), ("O5", 41400), ("O6", 38800), ("O7", 36500), ("O8", 34500), ("O9", 33000),
    ("B0", 31400), ("B1", 26000), ("B2", 20600), ("B3", 17000), ("B4", 16400), ("B5", 15700),
    ("B6", 14500), ("B7", 14000), ("B8", 12500), ("B9", 10700),
    ("A0", 9700), ("A1", 9300), ("A2", 8800), ("A3", 8600), ("A4", 8250), ("A5", 8100), ("A6", 7910),
    ("A7", 7760), ("A8", 7590), ("A9", 7400),
    ("F0", 7220), ("F1", 7020), ("F2", 6820), ("F3", 6750), ("F4", 6670), ("F5", 6550), ("F6", 6350),
    ("F7", 6280), ("F8", 6180), ("F9", 6050),
    ("G0", 5930), ("G1", 5860), ("G2", 5770), ("G3", 5720), ("G4", 5680), ("G5", 5660), ("G6", 5600),
    ("G7", 5550), ("G8", 5480), ("G9", 5380),
    ("K0", 5270), ("K1", 5170), ("K2", 5100), ("K3", 4830), ("K4", 4600), ("K5", 4440), ("K6", 4300),
    ("K7", 4100), ("K8", 3990), ("K9", 3930),
    ("M0", 3850), ("M1", 3660), ("M2", 3560), ("M3", 3430), ("M4", 3210), ("M5", 3060), ("M6", 2810),
    ("M7", 2680), ("M8", 2570), ("M9", 2380),
)
#: (subclass, giant Teff K) for luminosity class III, rounded from Alonso et al. (1999) / van Belle et al. (1999).
GIANT_TEFF: tuple[tuple[str, float], ...] = (
    ("G0", 5600), ("G2", 5400), ("G4", 5250), ("G5", 5150), ("G8", 4950), ("G9", 4880),
    ("K0", 4750), ("K1", 4600), ("K2", 4450), ("K3", 4250), ("K4", 4100), ("K5", 3950), ("K7", 3900),
    ("M0", 3850), ("M1", 3750), ("M2", 3650), ("M3", 3550), ("M4", 3450), ("M5", 3350), ("M6", 3250),
    ("M7", 3150), ("M8", 3050),
)


#: Teff bands (K) of the main MK types A-M, for checking a regressor's Teff against a survey's
#: spectral type: the dwarf range of each type (:data:`DWARF_TEFF`) widened by about one
#: subclass on each side, rounded. The bands overlap on purpose: a subclass scale is not a
#: temperature scale, and giants of a type are cooler than its dwarfs.
MK_TEFF_BANDS: dict[str, tuple[float, float]] = {
    "A": (7300.0, 10500.0), "F": (5900.0, 7500.0), "G": (5100.0, 6200.0), "K": (3800.0, 5400.0),
    "M": (2300.0, 4100.0),
}


def _table(giant: bool) -> tuple[list[str], np.ndarray]:
    tab = GIANT_TEFF if giant else DWARF_TEFF
    return [n for n, _ in tab], np.array([t for _, t in tab], float)


def subclass_from_teff(teff: np.ndarray, logg: np.ndarray, vocabulary: list[str] | tuple[str, ...]) -> np.ndarray:
    """The subclass of ``vocabulary`` nearest in log Teff on the dwarf (log g >= 3.5) or giant scale.

    Classes missing from the giant scale (hotter than G0) use the dwarf scale.
    """
    teff = np.atleast_1d(np.asarray(teff, float))
    logg = np.atleast_1d(np.asarray(logg, float))
    out = np.empty(teff.size, dtype=object)
    giant_sel = (logg < 3.5) & (teff < 5700)
    for giant, sel in ((False, ~giant_sel), (True, giant_sel)):
        names, temps = _table(giant)
        keep = [i for i, n in enumerate(names) if n in vocabulary]
        if not keep:  # no giant class in the vocabulary: fall back to the dwarf scale
            names, temps = _table(False)
            keep = [i for i, n in enumerate(names) if n in vocabulary]
        if not sel.any():
            continue
        d = np.abs(np.log10(teff[sel])[:, None] - np.log10(temps[keep])[None, :])
        out[sel] = np.array([names[i] for i in keep], dtype=object)[d.argmin(1)]
    return out.astype(str)


def letter(subclass: str) -> str:
    """Spectral class letter of a subclass name (``"K5"`` -> ``"K"``)."""
    return subclass[:1]


def teff_interval(subclass: str, vocabulary: list[str] | tuple[str, ...], giant: bool = False) -> tuple[float, float]:
    """Teff range (K) that :func:`subclass_from_teff` maps to ``subclass`` within ``vocabulary``.

    Bounds are geometric midpoints to the neighbouring vocabulary classes; the end
    classes extend by half the distance to their one neighbour.
    """
    names, temps = _table(giant)
    keep = [i for i, n in enumerate(names) if n in vocabulary]
    if subclass not in [names[i] for i in keep]:
        raise DatasetError(f"subclass {subclass!r} is not on the {'giant' if giant else 'dwarf'} scale", "spectype")
    lt = np.log10(temps[keep])
    j = [names[i] for i in keep].index(subclass)
    hi = lt[j] + (lt[j - 1] - lt[j]) / 2 if j > 0 else lt[j] + (lt[j] - lt[j + 1]) / 2 if len(lt) > 1 else lt[j] + 0.02
    lo = lt[j] - (lt[j] - lt[j + 1]) / 2 if j + 1 < len(lt) else lt[j] - (lt[j - 1] - lt[j]) / 2 if len(lt) > 1 else lt[j] - 0.02
    return float(10 ** lo), float(10 ** hi)


def dwarf_logg(teff: np.ndarray) -> np.ndarray:
    """Main-sequence surface gravity (dex, cgs) against Teff (K), interpolated from
    Pecaut & Mamajek (2013) masses and radii (rounded)."""
    t = np.array([2600, 3100, 3500, 3900, 4400, 5300, 5800, 6500, 7500, 9700, 15000, 30000, 45000])
    g = np.array([5.15, 5.05, 4.90, 4.72, 4.62, 4.55, 4.45, 4.30, 4.20, 4.15, 4.05, 3.95, 3.92])
    return np.interp(np.asarray(teff, float), t, g)


def giant_logg(teff: np.ndarray) -> np.ndarray:
    """Typical red-giant-branch gravity (dex) against Teff (K) for roughly solar-mass giants."""
    t = np.array([3000, 3500, 4000, 4500, 5000, 5600])
    g = np.array([0.3, 0.8, 1.5, 2.3, 2.9, 3.3])
    return np.interp(np.asarray(teff, float), t, g)
