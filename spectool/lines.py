"""A curated list of spectral lines and bands for plots and explanations.

Wavelengths are given in **air** (Angstrom) for lines redder than 2000 A, as
tabulated by the NIST Atomic Spectra Database (Kramida et al., NIST ASD v5),
and in vacuum for the ultraviolet quasar lines (SDSS line table,
https://classic.sdss.org/dr7/products/spectra/vacwavelength.php). Vacuum
values are derived with :func:`spectool.wavelength.air_to_vacuum` so one
conversion is used throughout the package. Molecular band heads (TiO, CaH,
CN, CH) follow Kirkpatrick, Henry & McCarthy (1991, ApJS 77, 417) and are
band *heads*, not line centres. Telluric and sky features follow Osterbrock
et al. (1996, PASP 108, 277).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .wavelength import air_to_vacuum


@dataclass(frozen=True)
class Line:
    """One line or band.

    ``air`` and ``vacuum`` are in Angstrom; ``kind`` is "absorption", "emission",
    "band" (molecular band head) or "sky"; ``width`` (Angstrom) is the extent of a
    band or blend for shading, 0 for a single line.
    """

    name: str
    air: float
    vacuum: float
    kind: str
    species: str
    width: float = 0.0

    def wavelength(self, medium: str = "vacuum") -> float:
        return self.vacuum if medium == "vacuum" else self.air


def _mk(name: str, wave: float, kind: str, species: str, width: float = 0.0, vacuum: bool = False) -> Line:
    if vacuum:  # UV quasar lines are tabulated in vacuum; air == vacuum below 2000 A
        return Line(name, wave, wave, kind, species, width)
    return Line(name, wave, float(air_to_vacuum(wave)), kind, species, width)


_TABLE: dict[str, list[Line]] = {
    "balmer": [
        _mk("H alpha", 6562.79, "absorption", "H I"),
        _mk("H beta", 4861.35, "absorption", "H I"),
        _mk("H gamma", 4340.47, "absorption", "H I"),
        _mk("H delta", 4101.74, "absorption", "H I"),
        _mk("H epsilon", 3970.07, "absorption", "H I"),
        _mk("H8", 3889.05, "absorption", "H I"),
    ],
    "stellar": [
        _mk("Ca II K", 3933.66, "absorption", "Ca II"),
        _mk("Ca II H", 3968.47, "absorption", "Ca II"),
        _mk("Ca I 4227", 4226.73, "absorption", "Ca I"),
        _mk("G band", 4300.0, "band", "CH", 20.0),
        _mk("Fe I 4046", 4045.81, "absorption", "Fe I"),
        _mk("Fe I 4308", 4307.90, "absorption", "Fe I"),
        _mk("Fe I 4384", 4383.55, "absorption", "Fe I"),
        _mk("Fe I 4476", 4476.02, "absorption", "Fe I"),
        _mk("Fe I 4668", 4668.14, "absorption", "Fe I"),
        _mk("Fe I 5270", 5269.54, "absorption", "Fe I"),
        _mk("Fe I 5328", 5328.04, "absorption", "Fe I"),
        _mk("Mg b1", 5183.60, "absorption", "Mg I"),
        _mk("Mg b2", 5172.68, "absorption", "Mg I"),
        _mk("Mg b4", 5167.32, "absorption", "Mg I"),
        _mk("Na D2", 5889.95, "absorption", "Na I"),
        _mk("Na D1", 5895.92, "absorption", "Na I"),
        _mk("Ca II 8498", 8498.02, "absorption", "Ca II"),
        _mk("Ca II 8542", 8542.09, "absorption", "Ca II"),
        _mk("Ca II 8662", 8662.14, "absorption", "Ca II"),
        _mk("He I 4471", 4471.48, "absorption", "He I"),
        _mk("He I 5876", 5875.62, "absorption", "He I"),
        _mk("He I 6678", 6678.15, "absorption", "He I"),
        _mk("He II 4686", 4685.70, "absorption", "He II"),
        _mk("He II 5411", 5411.52, "absorption", "He II"),
        _mk("CN 3883", 3883.0, "band", "CN", 30.0),
        _mk("CN 4216", 4216.0, "band", "CN", 30.0),
    ],
    "molecular": [
        _mk("TiO 4761", 4761.0, "band", "TiO", 40.0),
        _mk("TiO 4954", 4954.0, "band", "TiO", 40.0),
        _mk("TiO 5167", 5167.0, "band", "TiO", 40.0),
        _mk("TiO 5448", 5448.0, "band", "TiO", 50.0),
        _mk("TiO 5847", 5847.0, "band", "TiO", 50.0),
        _mk("TiO 6158", 6158.0, "band", "TiO", 60.0),
        _mk("TiO 6651", 6651.0, "band", "TiO", 60.0),
        _mk("TiO 7054", 7054.0, "band", "TiO", 100.0),
        _mk("TiO 7589", 7589.0, "band", "TiO", 60.0),
        _mk("TiO 8432", 8432.0, "band", "TiO", 60.0),
        _mk("CaH 6382", 6382.0, "band", "CaH", 30.0),
        _mk("CaH 6750", 6750.0, "band", "CaH", 50.0),
        _mk("CaH 6908", 6908.0, "band", "CaH", 40.0),
    ],
    "galaxy": [
        _mk("[O II] 3726", 3726.03, "emission", "[O II]"),
        _mk("[O II] 3729", 3728.82, "emission", "[O II]"),
        _mk("[Ne III] 3869", 3868.76, "emission", "[Ne III]"),
        _mk("H beta", 4861.35, "emission", "H I"),
        _mk("[O III] 4959", 4958.91, "emission", "[O III]"),
        _mk("[O III] 5007", 5006.84, "emission", "[O III]"),
        _mk("[O I] 6300", 6300.30, "emission", "[O I]"),
        _mk("[N II] 6548", 6548.05, "emission", "[N II]"),
        _mk("H alpha", 6562.79, "emission", "H I"),
        _mk("[N II] 6583", 6583.45, "emission", "[N II]"),
        _mk("[S II] 6716", 6716.44, "emission", "[S II]"),
        _mk("[S II] 6731", 6730.82, "emission", "[S II]"),
        _mk("Ca II K", 3933.66, "absorption", "Ca II"),
        _mk("Ca II H", 3968.47, "absorption", "Ca II"),
        _mk("Mg b", 5175.0, "absorption", "Mg I", 15.0),
        _mk("Na D", 5892.9, "absorption", "Na I", 8.0),
    ],
    "qso": [
        _mk("Ly alpha", 1215.67, "emission", "H I", vacuum=True),
        _mk("N V", 1240.81, "emission", "N V", vacuum=True),
        _mk("Si IV", 1397.61, "emission", "Si IV", vacuum=True),
        _mk("C IV", 1549.48, "emission", "C IV", vacuum=True),
        _mk("C III]", 1908.73, "emission", "C III]", vacuum=True),
        _mk("Mg II", 2798.75, "emission", "Mg II"),
        _mk("H gamma", 4340.47, "emission", "H I"),
        _mk("H beta", 4861.35, "emission", "H I"),
        _mk("[O III] 5007", 5006.84, "emission", "[O III]"),
        _mk("H alpha", 6562.79, "emission", "H I"),
    ],
    "sky": [
        _mk("[O I] sky 5577", 5577.34, "sky", "[O I]"),
        _mk("[O I] sky 6300", 6300.30, "sky", "[O I]"),
        _mk("Na D sky", 5892.9, "sky", "Na I", 8.0),
        _mk("O2 B band", 6875.0, "sky", "O2", 35.0),
        _mk("O2 A band", 7605.0, "sky", "O2", 60.0),
    ],
}

# The line identifications drawn in SCA-Net's Fig. 8 (sliding-window importance).
_TABLE["scanet"] = [
    line
    for line in _TABLE["balmer"][:4] + _TABLE["stellar"]
    if line.name in {"H alpha", "H beta", "H gamma", "H delta", "Fe I 4308", "Mg b1", "Na D1"}
]
# Lines marked in SPFusion's Fig. 10 (below 5500 A; red-clump diagnostics).
_TABLE["spfusion"] = [
    line
    for line in _TABLE["balmer"] + _TABLE["stellar"]
    if line.vacuum < 5500 and line.species in {"H I", "Ca II", "Fe I", "Mg I", "CH", "CN"}
]
_TABLE["absorption"] = _TABLE["balmer"] + _TABLE["stellar"] + _TABLE["molecular"]
_TABLE["emission"] = [ln for ln in _TABLE["galaxy"] + _TABLE["qso"] if ln.kind == "emission"]


def line_sets() -> list[str]:
    """Names accepted by :func:`get_lines`."""
    return sorted(_TABLE)


def get_lines(
    which: str | list[str] = "absorption",
    wavelength_range: tuple[float, float] | None = None,
    redshift: float = 0.0,
    medium: str = "vacuum",
) -> list[Line]:
    """Lines of one or more sets, optionally redshifted and limited to a range.

    ``wavelength_range`` is in observed-frame Angstrom in ``medium`` ("vacuum" or "air").
    Duplicate names across sets are returned once.
    """
    names = [which] if isinstance(which, str) else list(which)
    unknown = [n for n in names if n not in _TABLE]
    if unknown:
        raise KeyError(f"unknown line set(s) {unknown}; choose from {line_sets()}")
    seen: dict[str, Line] = {}
    for n in names:
        for ln in _TABLE[n]:
            seen.setdefault(ln.name, ln)
    out = list(seen.values())
    if wavelength_range is not None:
        lo, hi = wavelength_range
        out = [ln for ln in out if lo <= ln.wavelength(medium) * (1 + redshift) <= hi]
    return sorted(out, key=lambda ln: ln.vacuum)


def nearest_line(wavelength: float, which: str | list[str] = "absorption", max_distance: float = 10.0) -> Line | None:
    """The line of ``which`` closest to a vacuum wavelength (Angstrom), or None beyond ``max_distance``."""
    lines = get_lines(which)
    if not lines:
        return None
    d = np.array([abs(ln.vacuum - wavelength) for ln in lines])
    i = int(d.argmin())
    return lines[i] if d[i] <= max_distance else None
