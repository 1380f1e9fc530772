"""Rest-frame galaxy and quasar models (vacuum Angstrom, 1e-4 dex grid, f_lambda arbitrary units).

Galaxies: a stellar-population mixture of emulated MILES-based stellar spectra (hot
dwarfs for young light, F/G dwarfs, K giants and M dwarfs for old light), broadened by
a velocity dispersion, reddened internally (Calzetti et al. 2000), plus nebular lines
whose ratios follow the classes: STARFORMING / STARBURST (H II-region ratios, Balmer
decrement 2.86 at T=10^4 K, Osterbrock & Ferland 2006), AGN (Seyfert/LINER ratios above
the Kauffmann et al. 2003 line) and BROADLINE (broad Balmer lines, FWHM 1500-6000 km/s).
SDSS calls a galaxy STARBURST when EW(H alpha) > 50 A.

Mock version 2 widens the old-population mixture (K/M giants up to 70%/30% of the light
at 5500 A) and the internal dust of passive galaxies (E(B-V) 0-0.3), because real SDSS
galaxies are ~0.4 mag redder over 4600-7200 A than the v1 mixtures.

QSOs: power law f_nu ~ nu^alpha (alpha ~ N(-0.44, 0.5); v1: sigma 0.3) reddened by SMC-like
intrinsic dust (E(B-V) exponential, mean 0.04 mag; red quasars), with broad and narrow lines whose
rest equivalent widths follow the SDSS composite of Vanden Berk et al. (2001, AJ 122, 549),
FWHM lognormal around 4000 km/s, Fe II pseudo-continua, and Lyman-alpha forest absorption
with tau_eff = 0.0018 (1+z)^3.92 (Faucher-Giguere et al. 2008).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .emulator import StellarEmulator, rest_grid
from .survey import C_KMS, PIX_KMS

GALAXY_SUBCLASSES = ("", "STARFORMING", "STARBURST", "AGN", "BROADLINE")
# (Teff K, log g, [Fe/H]) of the population basis: young -> old.
_POP = ((17000, 4.0, 0.0), (9700, 4.1, 0.0), (6550, 4.2, 0.0), (5770, 4.4, 0.0), (4750, 2.5, 0.0),
        (3950, 1.6, 0.0), (3800, 4.7, 0.0))
_SIGMAS = (60.0, 100.0, 150.0, 200.0, 260.0, 330.0)
# vacuum Angstrom
_NEB = {"OII": (3727.09, 3729.88), "NeIII": 3869.86, "Hd": 4102.89, "Hg": 4341.68, "Hb": 4862.68, "OIII4959": 4960.30,
        "OIII5007": 5008.24, "OI": 6302.05, "NII6548": 6549.86, "Ha": 6564.61, "NII6583": 6585.27,
        "SII6716": 6718.29, "SII6731": 6732.67}


class GalaxyModel:
    """Vectorised rest-frame galaxy spectra on 2400-9400 A (vacuum)."""

    def __init__(self) -> None:
        emu = StellarEmulator(2400.0, 9400.0)
        self.k0, self.wave = emu.k0, emu.wave
        t, g, f = np.array(_POP, float).T
        basis = emu.spectrum(t, g, f)
        basis /= basis[:, (self.wave > 5400) & (self.wave < 5600)].mean(1, keepdims=True)
        self.basis = np.stack([gaussian_filter1d(basis, s / PIX_KMS, axis=1, mode="nearest") for s in _SIGMAS])
        self._lnw = np.log(self.wave)

    def spectra(self, subclass: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rest flux (N, L) and per-spectrum parameters for galaxy ``subclass`` names."""
        sub = np.asarray(subclass, dtype=str)
        n = sub.size
        young = np.where(np.isin(sub, ["STARBURST"]), rng.uniform(0.4, 0.9, n),
                         np.where(sub == "STARFORMING", rng.uniform(0.15, 0.6, n), rng.beta(1.2, 6.0, n)))
        w = np.stack([0.15 * young, 0.85 * young, 0.5 * (1 - young) * rng.uniform(0.0, 0.4, n),
                      (1 - young) * rng.uniform(0.1, 0.4, n), (1 - young) * rng.uniform(0.3, 0.7, n),
                      (1 - young) * rng.uniform(0.05, 0.3, n), (1 - young) * rng.uniform(0.02, 0.1, n)], 1)
        sigma = np.clip(rng.lognormal(np.log(150.0), 0.35, n), 50.0, 340.0)
        bin_ = np.abs(np.asarray(_SIGMAS)[None, :] - sigma[:, None]).argmin(1)
        flux = np.empty((n, self.wave.size))
        for b in np.unique(bin_):  # one population mixture per dispersion bin (no (n, 7, L) gather)
            sel = bin_ == b
            flux[sel] = w[sel] @ self.basis[b]
        flux /= flux[:, (self.wave > 5400) & (self.wave < 5600)].mean(1, keepdims=True)
        import extinction

        ebv_int = np.where(np.isin(sub, ["STARFORMING", "STARBURST"]), rng.uniform(0.05, 0.4, n), rng.uniform(0.0, 0.3, n))
        curve = extinction.calzetti00(self.wave, 1.0, 4.05)
        flux *= 10 ** (-0.4 * 4.05 * ebv_int[:, None] * curve[None, :])
        cont_ha = flux[:, np.searchsorted(self.wave, 6564.6)]
        ew_ha = np.select([sub == "STARBURST", sub == "STARFORMING", sub == "AGN", sub == "BROADLINE"],
                          [rng.uniform(55, 250, n), rng.uniform(5, 48, n), rng.uniform(3, 40, n), rng.uniform(10, 60, n)],
                          rng.uniform(0.0, 3.0, n))
        ratios = self._ratios(sub, rng, ebv_int)
        gas = np.sqrt(rng.uniform(40.0, 110.0, n) ** 2)
        for name, centre in _NEB.items():
            for c in np.atleast_1d(centre):
                amp = ratios[name] * ew_ha * cont_ha / (1.0 if np.ndim(centre) == 0 else 2.0)
                self._add_line(flux, c, gas, amp)
        broad = sub == "BROADLINE"
        if broad.any():
            fwhm = rng.uniform(1500.0, 6000.0, n)
            for c, r in ((_NEB["Ha"], 3.0), (_NEB["Hb"], 3.0 / 3.1)):
                self._add_line(flux, c, np.where(broad, fwhm / 2.3548, 1.0), np.where(broad, r * ew_ha * cont_ha, 0.0))
        return flux, {"sigma_kms": sigma, "ebv_int": ebv_int, "ew_halpha": ew_ha}

    @staticmethod
    def _ratios(sub: np.ndarray, rng: np.random.Generator, ebv: np.ndarray) -> dict[str, np.ndarray]:
        """Line fluxes relative to H alpha (after internal reddening of the Balmer decrement)."""
        n = sub.size
        agn = sub == "AGN"
        liner = agn & (rng.random(n) < 0.5)
        n2 = np.where(agn, 10 ** rng.uniform(-0.2, 0.3, n), 10 ** rng.uniform(-1.0, -0.45, n))
        o3hb = np.where(liner, 10 ** rng.uniform(-0.1, 0.4, n), np.where(agn, 10 ** rng.uniform(0.5, 1.1, n),
                        10 ** rng.uniform(-0.6, 0.5, n)))
        hb = 1.0 / (2.86 * 10 ** (0.4 * 1.27 * ebv))  # Balmer decrement with Calzetti k(Hb)-k(Ha) = 1.27
        o2 = np.where(liner, rng.uniform(3.0, 6.0, n), rng.uniform(1.0, 4.0, n)) * hb
        return {"Ha": np.ones(n), "Hb": hb, "Hg": 0.468 * hb * 0.9, "Hd": 0.259 * hb * 0.85, "OIII5007": o3hb * hb,
                "OIII4959": o3hb * hb / 2.98, "NII6583": n2, "NII6548": n2 / 3.05, "OII": o2,
                "NeIII": 0.08 * o3hb * hb, "OI": np.where(agn, rng.uniform(0.1, 0.3, n), rng.uniform(0.02, 0.06, n)),
                "SII6716": np.where(agn, rng.uniform(0.25, 0.5, n), rng.uniform(0.12, 0.25, n)),
                "SII6731": np.where(agn, rng.uniform(0.2, 0.4, n), rng.uniform(0.09, 0.18, n))}

    def _add_line(self, flux: np.ndarray, centre: float, sigma_kms: np.ndarray, area: np.ndarray) -> None:
        _add_gaussian(flux, self._lnw, centre, sigma_kms, area)


def _add_gaussian(flux: np.ndarray, lnw: np.ndarray, centre: float, sigma_kms: np.ndarray, area: np.ndarray) -> None:
    """Add Gaussian lines (area in flux x Angstrom, width in km/s) at ``centre`` (vacuum A), in place, locally."""
    j = int(np.searchsorted(lnw, np.log(centre)))
    half = int(6 * np.max(sigma_kms) / PIX_KMS) + 2
    a, b = max(j - half, 0), min(j + half, lnw.size)
    if b <= a:
        return
    s = np.asarray(sigma_kms, float)[:, None] / C_KMS
    x = (lnw[None, a:b] - np.log(centre)) / s
    flux[:, a:b] += np.asarray(area)[:, None] / (np.sqrt(2 * np.pi) * s * centre) * np.exp(-0.5 * x**2)


# Broad/narrow quasar lines: (vacuum A, rest EW A, broad?) after Vanden Berk et al. (2001, Table 2), rounded.
_QSO_LINES = ((1033.8, 9.0, True), (1215.67, 70.0, True), (1240.8, 15.0, True), (1304.4, 2.0, True), (1335.3, 0.7, True),
              (1399.8, 8.1, True), (1549.06, 24.0, True), (1640.4, 1.0, True), (1908.73, 21.0, True),
              (2326.4, 2.0, True), (2798.75, 32.0, True), (3426.8, 1.2, False), (3728.5, 1.6, False),
              (3869.8, 1.4, False), (4102.9, 5.0, True), (4341.7, 12.6, True), (4687.0, 1.0, True),
              (4862.7, 46.0, True), (4960.3, 4.5, False), (5008.2, 13.2, False), (6564.6, 195.0, True),
              (6585.3, 2.0, False), (6718.3, 1.0, False))


class QSOModel:
    """Vectorised rest-frame quasar spectra on 700-9400 A (vacuum)."""

    def __init__(self) -> None:
        self.k0, self.wave = rest_grid(700.0, 9400.0)
        self._lnw = np.log(self.wave)

    def spectra(self, z: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rest flux (N, L) and parameters for quasars at redshifts ``z``."""
        z = np.asarray(z, float)
        n = z.size
        w = self.wave[None, :]
        alpha = rng.normal(-0.44, 0.5, n)
        flux = (w / 3000.0) ** (-2.0 - alpha[:, None])
        # SMC-like intrinsic reddening, A_lambda / E(B-V) ~ 1.39 (1e4 / lambda)^1.2 (Prevot et al. 1984 approx.)
        ebv_qso = rng.exponential(0.04, n)
        flux *= 10 ** (-0.4 * ebv_qso[:, None] * 1.39 * (1e4 / w) ** 1.2)
        # Balmer continuum + blended Fe II pseudo-continua (approximate shapes)
        flux *= 1.0 + rng.uniform(0.05, 0.2, n)[:, None] * np.exp(-0.5 * ((w - 3200.0) / 300.0) ** 2) * (w < 3646)
        fe = rng.uniform(0.5, 1.5, n)[:, None]
        flux *= 1.0 + fe * (0.25 * np.exp(-0.5 * ((w - 2500.0) / 180.0) ** 2) + 0.06 * np.exp(-0.5 * ((w - 4570.0) / 90.0) ** 2)
                            + 0.05 * np.exp(-0.5 * ((w - 5250.0) / 110.0) ** 2))
        cont = flux.copy()
        fwhm = np.clip(rng.lognormal(np.log(4000.0), 0.35, n), 1500.0, 12000.0)
        narrow = rng.uniform(250.0, 600.0, n)
        strength = rng.lognormal(0.0, 0.3, n)
        for centre, ew, broad in _QSO_LINES:
            cc = cont[:, int(np.searchsorted(self.wave, centre))]
            _add_gaussian(flux, self._lnw, centre, (fwhm if broad else narrow) / 2.3548, ew * strength * cc)
        # Lyman-alpha forest and Lyman limit (observed frame absorber redshift 1+z_abs = lambda_obs / 1215.67)
        forest = self.wave < 1215.67
        zabs = (1 + z[:, None]) * self.wave[None, forest] / 1215.67 - 1
        tau = 0.0018 * (1 + zabs) ** 3.92 * rng.lognormal(-0.5, 1.0, zabs.shape)
        tau = gaussian_filter1d(tau, 1.5, axis=1)
        tau += np.where(self.wave[None, forest] < 912.0, rng.uniform(0.5, 3.0, (n, 1)), 0.0)
        flux[:, forest] *= np.exp(-tau)
        return flux, {"alpha_nu": alpha, "fwhm_kms": fwhm, "ebv_qso": ebv_qso}
