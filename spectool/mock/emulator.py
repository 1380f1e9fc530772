"""Data-driven stellar emulator fitted to the MILES library, extended physically.

``StellarEmulator.spectrum(teff, logg, feh, cn)`` returns rest-frame, noise-free
stellar spectra (flux per Angstrom, arbitrary units, normalised near 5500 A) on
a vacuum log10-lambda grid with 1e-4 dex pixels.

* 3552-7405 A (vacuum): adaptive-kernel, locally linear interpolation in label
  space of the PCA coefficients of MILES stars (Sanchez-Blazquez et al. 2006;
  Cenarro et al. 2007); weights fitted by ``scripts/fit_mock_emulator.py``.
  MILES resolution is 2.5 A FWHM.
* > 7300 A: a physical model: a Planck continuum at Teff matched to the
  emulated flux near 7300 A, times ``exp(-tau)`` of Ca II triplet, Paschen
  lines, TiO and CN bands, Na I 8190, K I 7665/7699, the O I 7774 triplet and
  a short list of Fe I / Mg I / Ti I / Si I lines with label-dependent
  strengths (approximate trends, see ``docs/mock_survey.md``).
* < 3560 A: the same Planck continuum with a UV line-blanketing power law
  (approximate; used only by the galaxy mixtures at high redshift).
* [C/N] (red-clump giants): violet CN bands (3883, 4216 A) deepen and the CH
  G band weakens as [C/N] falls below -0.3 dex.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import expit

from ..config import package_data
from ..errors import DatasetError
from ..wavelength import LOGLAM_STEP, air_to_vacuum

WEIGHTS_FILE = "miles_emulator.npz"
#: Label-space unit of the kernel: 0.015 dex in Teff, 0.3 dex in log g, 0.25 dex in [Fe/H].
LABEL_SCALE = (0.015, 0.3, 0.25)
#: Rest-frame range (vacuum Angstrom) of :meth:`StellarEmulator.spectrum` by default.
REST_RANGE = (3600.0, 9400.0)
_JOIN = (7300.0, 7400.0)  # crossfade between MILES emulation and the physical red model
_BLUE_REF = (3560.0, 3590.0)
_HC_K = 1.4387769e8  # h c / k in Angstrom K


def label_coords(teff: np.ndarray, logg: np.ndarray, feh: np.ndarray) -> np.ndarray:
    """Scaled label-space coordinates (N, 3) used by the emulator kernel."""
    return np.stack([np.log10(np.asarray(teff, float)) / LABEL_SCALE[0],
                     np.asarray(logg, float) / LABEL_SCALE[1], np.asarray(feh, float) / LABEL_SCALE[2]], -1)


def rest_grid(lo: float, hi: float) -> tuple[int, np.ndarray]:
    """(first log-lambda index k, vacuum wavelengths 10**(k*1e-4)) covering lo-hi Angstrom."""
    k0 = int(np.floor(np.log10(lo) / LOGLAM_STEP))
    k1 = int(np.ceil(np.log10(hi) / LOGLAM_STEP))
    return k0, 10.0 ** (np.arange(k0, k1 + 1) * LOGLAM_STEP)


def planck(wave: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Planck B_lambda (arbitrary units), shape (N, L) for wave (L,) in Angstrom and teff (N,) in K."""
    x = _HC_K / (wave[None, :] * np.asarray(teff, float)[:, None])
    return wave[None, :] ** -5 / np.expm1(np.minimum(x, 700.0))


def _vac(air: float) -> float:
    return float(air_to_vacuum(air))


def _gauss(wave: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((wave - centre) / sigma) ** 2)


def _lorentz(wave: np.ndarray, centre: float, gamma: float) -> np.ndarray:
    return 1.0 / (1.0 + ((wave - centre) / gamma) ** 2)


def _band(wave: np.ndarray, head: float, scale: float, length: float, redward: bool = True) -> np.ndarray:
    """Sawtooth molecular band: full depth at the head, exponential recovery away from it."""
    x = (wave - head) if redward else (head - wave)
    prof = np.where((x >= 0) & (x < length), np.exp(-np.clip(x, 0, None) / scale), 0.0)
    return prof * expit(x)  # soften the head over ~1 A


# Air wavelengths (Angstrom) of the red lines; NIST ASD / Kirkpatrick et al. (1991) band heads.
_CAT = (8498.02, 8542.09, 8662.14)
_PASCHEN = {9: 9229.01, 10: 9014.91, 11: 8862.78, 12: 8750.47, 13: 8665.02, 14: 8598.39, 15: 8545.38,
            16: 8502.48, 17: 8467.25, 18: 8437.95, 19: 8413.32, 20: 8392.40}
_TIO = {7589.0: 0.55, 7666.0: 0.45, 8206.0: 0.25, 8432.0: 0.45, 8859.0: 0.45, 9209.0: 0.3}
_METALS = (7445.75, 7495.07, 7511.02, 7748.27, 7937.13, 7945.85, 8046.05, 8327.05, 8387.77, 8468.41, 8514.07,
           8621.60, 8688.63, 8824.22, 8868.43, 8806.76, 8736.02, 8426.50, 8435.65, 7405.77, 7415.95, 7423.50,
           7932.35, 8728.01, 7326.15, 9088.0, 9258.0)
_FEATURES = ("cat", "paschen", "tio", "nai", "ki", "cn_red", "metals", "oi", "cn_violet", "ch")


def _feature_profiles(wave: np.ndarray) -> np.ndarray:
    """Unit optical-depth profiles (F, L) of :data:`_FEATURES` on ``wave`` (vacuum Angstrom)."""
    prof = np.zeros((len(_FEATURES), wave.size))
    for c, w in zip(_CAT, (0.30, 0.40, 0.30)):
        prof[0] += w * (0.6 * _lorentz(wave, _vac(c), 2.0) + 0.4 * _gauss(wave, _vac(c), 1.8))
    for n, c in _PASCHEN.items():
        prof[1] += (12.0 / n) ** 1.2 * _gauss(wave, _vac(c), 3.0)
    for head, w in _TIO.items():
        prof[2] += w * _band(wave, _vac(head), 90.0, 250.0)
    prof[3] = _lorentz(wave, _vac(8183.26), 1.6) + _lorentz(wave, _vac(8194.82), 1.6)
    prof[4] = _lorentz(wave, _vac(7664.90), 2.0) + 0.7 * _lorentz(wave, _vac(7698.96), 2.0)
    prof[5] = 0.5 * _band(wave, _vac(7875.0), 40.0, 140.0) + 0.4 * _band(wave, _vac(8067.0), 40.0, 140.0)
    for c in _METALS:
        prof[6] += _gauss(wave, _vac(c), 1.2)
    for c in (7771.94, 7774.17, 7775.39):
        prof[7] += _gauss(wave, _vac(c), 1.4)
    prof[8] = _band(wave, _vac(3883.0), 25.0, 110.0, redward=False) + 0.6 * _band(wave, _vac(4216.0), 20.0, 60.0, redward=False)
    prof[9] = _gauss(wave, _vac(4305.0), 9.0)
    return prof


def _feature_strengths(teff: np.ndarray, logg: np.ndarray, feh: np.ndarray, cn: np.ndarray) -> np.ndarray:
    """Optical depths (N, F) of each feature; approximate empirical trends (see module docstring)."""
    t = np.asarray(teff, float)
    g = np.asarray(logg, float)
    z = 10.0 ** (0.4 * np.clip(feh, -2.5, 0.6))
    cool = np.clip((7000.0 - t) / 2500.0, 0.0, 1.3)
    out = np.zeros((t.size, len(_FEATURES)))
    # Ca II triplet: strongest in K giants, weaker at low [Fe/H] and in hot stars (Cenarro et al. 2002 trends).
    out[:, 0] = 2.2 * (0.25 + 1.1 * np.exp(-(((t - 4400.0) / 2000.0) ** 2))) * z * (1.0 + 0.10 * np.clip(3.5 - g, -1, 3))
    # Paschen: peaks in late-B/A stars, stronger at low gravity.
    out[:, 1] = 0.55 * np.exp(-(((np.log10(t) - np.log10(9500.0)) / 0.09) ** 2)) * (1.0 + 0.15 * np.clip(4.2 - g, 0, 3))
    out[:, 2] = 1.6 * np.clip((4000.0 - t) / 900.0, 0.0, 1.6) ** 1.3
    dwarf = np.clip((g - 3.8) / 0.8, 0.0, 1.0)
    out[:, 3] = (0.08 + 0.9 * dwarf * np.clip((4600.0 - t) / 1200.0, 0, 1.2)) * z
    out[:, 4] = (0.05 + 0.7 * dwarf * np.clip((4400.0 - t) / 1200.0, 0, 1.2)) * z
    giant = np.clip((3.6 - g) / 1.0, 0.0, 1.0)
    cn_excess = np.where(np.isfinite(cn), -0.3 - np.nan_to_num(cn), 0.0)
    out[:, 5] = (0.05 + 0.20 * giant * np.clip((5600.0 - t) / 1200.0, 0, 1)) * z * (1.0 + 1.5 * cn_excess)
    out[:, 6] = 0.10 * cool * z * (1.0 + 0.2 * giant)
    out[:, 7] = 0.35 * np.exp(-(((t - 7500.0) / 1800.0) ** 2)) * (1.0 + 0.5 * giant)
    out[:, 8] = 0.35 * cn_excess * giant
    out[:, 9] = -0.25 * cn_excess * giant
    return np.clip(out, -0.5, None)


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    path = package_data("mock", WEIGHTS_FILE)
    if not path.is_file():
        raise DatasetError("fitted emulator weights are missing; run scripts/fit_mock_emulator.py", path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


class StellarEmulator:
    """Rest-frame stellar spectra (vacuum, 1e-4 dex grid) from Teff (K), log g (dex), [Fe/H] (dex).

    Parameters
    ----------
    lo, hi
        Rest-frame range in vacuum Angstrom (any part of 2400-10000 A).
    neighbours
        The adaptive kernel width is the distance to the ``neighbours``-th nearest MILES star
        (in label units of :data:`LABEL_SCALE`), at least 1.
    """

    def __init__(self, lo: float = REST_RANGE[0], hi: float = REST_RANGE[1], neighbours: int = 5) -> None:
        w = _weights()
        self.k0, self.wave = rest_grid(lo, hi)
        self.neighbours = neighbours
        self.source = str(w["source"])
        coords = label_coords(*w["labels"].T.astype(float))
        self._lo, self._hi = coords.min(0), coords.max(0)
        self._centre = coords.mean(0)  # label distances are computed about the library centre (small numbers)
        self._coords = coords - self._centre
        self._sq = (self._coords**2).sum(1)
        grads = w["gradients"].astype(np.float64)  # (S, K, 3)
        # coefficients = w @ (c_i - G_i x_i) + sum_d q_d (w @ G_i[:, :, d]): one product with [c - G x | G]
        self._k = grads.shape[1]
        self._design = np.concatenate([w["coeffs"].astype(np.float64) - np.einsum("skd,sd->sk", grads, self._coords),
                                       grads.reshape(len(grads), -1)], axis=1)
        # MILES block placed inside this grid (columns a:b of self.wave <- columns c:d of the MILES grid)
        km = int(w["k0"])
        nm = w["mean"].size
        a, c = max(km - self.k0, 0), max(self.k0 - km, 0)
        b = min(km + nm - self.k0, self.wave.size)
        self._slot = (a, b, c, c + (b - a))
        self._mean = w["mean"][c:c + (b - a)].astype(np.float32)
        self._comps = w["components"][:, c:c + (b - a)].astype(np.float32)
        self._profiles = _feature_profiles(self.wave)
        self._mwave = self.wave[a:b]
        red = (self._mwave > _JOIN[0]) & (self._mwave < _JOIN[1])
        self._red_ref = red if red.any() else None
        self._blue_ref = (self._mwave > _BLUE_REF[0]) & (self._mwave < _BLUE_REF[1])
        self.labels = w["labels"]

    def coefficients(self, teff: np.ndarray, logg: np.ndarray, feh: np.ndarray) -> np.ndarray:
        """PCA coefficients (N, K) at the requested labels."""
        q = np.clip(label_coords(teff, logg, feh), self._lo, self._hi) - self._centre  # no extrapolation
        d2 = (q**2).sum(1)[:, None] + self._sq[None, :] - 2.0 * (q @ self._coords.T)
        np.maximum(d2, 0.0, out=d2)
        kth = np.partition(d2, self.neighbours, axis=1)[:, self.neighbours]
        w = np.exp(-0.5 * d2 / np.maximum(kth, 1.0)[:, None])
        w /= w.sum(1, keepdims=True)
        # locally linear: sum_i w_i (c_i + G_i (q - x_i))
        wd = w @ self._design
        k = self._k
        return wd[:, :k] + np.einsum("nkd,nd->nk", wd[:, k:].reshape(len(q), k, 3), q)

    def spectrum(self, teff, logg, feh, cn=None) -> np.ndarray:
        """Noise-free rest-frame flux (N, L) on :attr:`wave`; ``cn`` = [C/N] (dex, NaN = not modelled)."""
        teff, logg, feh = (np.atleast_1d(np.asarray(v, float)) for v in (teff, logg, feh))
        cn = np.full(teff.size, np.nan) if cn is None else np.atleast_1d(np.asarray(cn, float))
        a, b, _, _ = self._slot
        flux = np.zeros((teff.size, self.wave.size), np.float32)
        strengths = _feature_strengths(teff, logg, feh, cn)
        if b > a:
            logf = self.coefficients(teff, logg, feh).astype(np.float32) @ self._comps + self._mean
            flux[:, a:b] = np.power(np.float32(10.0), logf)
        r0 = int(np.searchsorted(self.wave, _JOIN[0]))
        if r0 < self.wave.size and b > a and self._red_ref is not None:
            red = slice(r0, self.wave.size)
            ref_cols = np.flatnonzero(self._red_ref) + a
            cont = planck(self.wave[red], teff)
            ref = np.percentile(flux[:, ref_cols], 90, axis=1)
            cont *= (ref / planck(self.wave[ref_cols], teff).mean(1))[:, None]
            wt = np.clip((self.wave[red] - _JOIN[0]) / (_JOIN[1] - _JOIN[0]), 0.0, 1.0)
            model = cont * np.exp(-(strengths @ self._profiles[:, red]))
            flux[:, red] = flux[:, red] * (1 - wt) + model * wt
        if a > 0:
            ref = flux[:, a:b][:, self._blue_ref].mean(1)
            blue = planck(self.wave[:a], teff) / planck(self._mwave[self._blue_ref], teff).mean(1)[:, None]
            beta = 4.0 * np.clip((6000.0 - teff) / 2500.0, 0.0, 1.5)
            blue *= (self.wave[None, :a] / np.mean(_BLUE_REF)) ** beta[:, None]
            flux[:, :a] = blue * ref[:, None]
        if np.isfinite(cn).any():  # CN / CH modulation inside the MILES range (red-clump [C/N])
            flux *= np.exp(-(strengths[:, 8:10] @ self._profiles[8:10])).astype(np.float32)
        return flux
