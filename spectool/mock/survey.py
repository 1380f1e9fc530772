"""Survey effects: rest-frame model -> observed SDSS/LAMOST-like spectrum with noise.

Every step is vectorised over a batch of N spectra (arrays (N, L)):

1. extra Gaussian line-spread broadening up to the survey resolution
   (R ~ 2000 SDSS, R ~ 1800 LAMOST; constant in velocity on the log grid);
2. Doppler shift / redshift onto the survey log10-lambda grid (1e-4 dex; SDSS
   3800-9200 A, LAMOST 3700-9100 A, vacuum) by linear interpolation in log lambda;
3. Milky-Way extinction, Fitzpatrick (1999) law with R_V = 3.1 (``extinction``
   package), A_V = 3.1 E(B-V);
4. a smooth multiplicative flux-calibration distortion (Legendre, order 3);
5. incompletely corrected telluric O2 A/B and H2O bands, sky-subtraction
   residuals at [O I] 5577/6300, Na D and an approximate OH forest;
6. photon (source + sky) and read noise scaled so the median per-pixel S/N of
   each spectrum equals the requested value; ``ivar`` = 1/sigma^2;
7. masked pixels (bad-column runs): ivar = 0, mask = True (LAMOST also sets flux to 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import DatasetError
from ..wavelength import LOGLAM_STEP, air_to_vacuum, loglam_grid

C_KMS = 299792.458
PIX_KMS = C_KMS * np.log(10.0) * LOGLAM_STEP  # 69.03 km/s per 1e-4 dex pixel
MILES_FWHM_KMS = C_KMS * 2.5 / 5500.0  # MILES 2.5 A FWHM expressed at 5500 A


@dataclass(frozen=True)
class Survey:
    """Grid (vacuum Angstrom), resolving power and defaults of one survey."""

    name: str
    lo: float
    hi: float
    resolution: float
    telluric_residual: tuple[float, float]  # range of the uncorrected fraction of telluric optical depth
    zero_masked_flux: bool

    @property
    def wave(self) -> np.ndarray:
        return loglam_grid(self.lo, self.hi)

    @property
    def k0(self) -> int:
        return int(round(np.log10(self.wave[0]) / LOGLAM_STEP))

    def extra_sigma_px(self, model_fwhm_kms: float = MILES_FWHM_KMS) -> float:
        """Gaussian sigma (pixels) that broadens a model of ``model_fwhm_kms`` to the survey resolution."""
        fwhm = C_KMS / self.resolution
        return float(np.sqrt(max(fwhm**2 - model_fwhm_kms**2, 0.0)) / 2.3548 / PIX_KMS)


SURVEYS = {
    "sdss": Survey("sdss", 3800.0, 9200.0, 2000.0, (0.05, 0.4), False),
    "lamost": Survey("lamost", 3700.0, 9100.0, 1800.0, (0.3, 1.0), True),
}


def survey(name: str) -> Survey:
    """The :class:`Survey` called ``name`` ("sdss" or "lamost")."""
    try:
        return SURVEYS[name]
    except KeyError:
        raise DatasetError(f"unknown survey {name!r}; choose from {', '.join(SURVEYS)}", "survey") from None


def _gauss(wave: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((wave - centre) / sigma) ** 2)


def telluric_tau(wave: np.ndarray) -> np.ndarray:
    """Approximate telluric optical depth at airmass 1 (vacuum Angstrom): O2 B (6870 A) and A
    (7600 A) bands and H2O bands near 7200, 8200 and 9000 A (depths after Stevenson 1994, rounded)."""
    band = lambda lo, head, hi, depth: depth * np.clip((wave - lo) / (head - lo), 0, 1) * np.clip((hi - wave) / (hi - head), 0, 1) ** 2  # noqa: E731
    tau = band(7595.0, 7600.0, 7700.0, 1.6) + band(6868.0, 6870.0, 6925.0, 0.5)
    tau += 0.12 * _gauss(wave, 7240.0, 45.0) + 0.18 * _gauss(wave, 8230.0, 70.0) + 0.35 * _gauss(wave, 9350.0, 150.0)
    tau += 0.10 * _gauss(wave, 8950.0, 60.0)
    return tau


def sky_spectrum(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(continuum, lines) of the night sky in units of a typical faint target's flux (vacuum Angstrom).

    Lines: [O I] 5577.3, 6300.3, 6363.8 and Na D 5890/5896 (air; Osterbrock et al. 1996) plus an
    approximate OH forest (fixed pseudo-random lines, 6800-9200 A, brighter to the red).
    """
    pix = wave * (10**LOGLAM_STEP - 1)
    lines = np.zeros_like(wave)
    for air, amp in ((5577.34, 6.0), (6300.30, 3.0), (6363.78, 1.0), (5889.95, 1.2), (5895.92, 1.0)):
        v = float(air_to_vacuum(air))
        lines += amp * _gauss(wave, v, 1.1 * np.interp(v, wave, pix))
    rng = np.random.default_rng(5577)
    for v in np.sort(rng.uniform(6800.0, 9200.0, 120)):
        lines += rng.uniform(0.3, 3.0) * (v / 7000.0) ** 3 * _gauss(wave, v, 1.1 * np.interp(v, wave, pix))
    cont = 0.25 + 0.15 * (wave / 6000.0) ** 2
    return cont, lines


@dataclass
class Observed:
    """A batch of observed spectra on a survey grid (vacuum Angstrom)."""

    wave: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    model: np.ndarray
    snr: np.ndarray


def shift_to_grid(rest: np.ndarray, rest_k0: int, z: np.ndarray, out_k0: int, n_out: int) -> np.ndarray:
    """Linear interpolation in log lambda of rest-frame rows (N, Lr) starting at log index ``rest_k0``
    onto an observed grid starting at ``out_k0`` for redshifts ``z`` (N,) (Doppler: z = v/c approx.).

    On a log grid a redshift is a constant pixel shift per row, so each row is one slice plus one
    fractional blend; pixels outside the rest range take the nearest edge value.
    """
    off = (out_k0 - rest_k0) - np.log10(1.0 + np.asarray(z, float)) / LOGLAM_STEP
    start = np.floor(off).astype(np.int64)
    frac = (off - start).astype(rest.dtype)[:, None]
    pad_lo = max(0, -int(start.min()))
    pad_hi = max(0, int(start.max()) + n_out + 1 - rest.shape[1])
    if pad_lo or pad_hi:
        rest = np.pad(rest, ((0, 0), (pad_lo, pad_hi)), mode="edge")
        start = start + pad_lo
    out = np.empty((rest.shape[0], n_out), rest.dtype)
    for s in np.unique(start):
        rows = np.flatnonzero(start == s)
        a = rest[rows, s:s + n_out]
        out[rows] = a + frac[rows] * (rest[rows, s + 1:s + 1 + n_out] - a)
    return out


def observe(rest: np.ndarray, rest_k0: int, z: np.ndarray, srv: Survey, snr: np.ndarray, rng: np.random.Generator,
            ebv: np.ndarray | None = None, extra_sigma_px: float | None = None, wave_range: tuple[float, float] | None = None) -> Observed:
    """Apply the survey effects of the module docstring to rest-frame models ``rest`` (N, Lr).

    ``z`` is the redshift (stars: v_r/c), ``snr`` the requested median S/N per pixel, ``ebv``
    the Milky-Way E(B-V) (mag). ``wave_range`` limits the output grid (vacuum Angstrom).
    """
    import extinction

    n = rest.shape[0]
    sig = srv.extra_sigma_px() if extra_sigma_px is None else extra_sigma_px
    if sig > 0.05:
        rest = gaussian_filter1d(rest, sig, axis=1, mode="nearest", truncate=3.0)
    wave = srv.wave if wave_range is None else loglam_grid(max(srv.lo, wave_range[0]), min(srv.hi, wave_range[1]))
    k0 = int(round(np.log10(wave[0]) / LOGLAM_STEP))
    flux = shift_to_grid(rest, rest_k0, z, k0, wave.size).astype(np.float32, copy=False)
    if ebv is not None:
        curve = extinction.fitzpatrick99(wave, 1.0, 3.1)
        flux *= (10.0 ** (-0.4 * (3.1 * np.asarray(ebv))[:, None] * curve[None, :])).astype(np.float32)
    x = np.linspace(-1.0, 1.0, wave.size)
    legendre = np.stack([x, 1.5 * x**2 - 0.5, 2.5 * x**3 - 1.5 * x])
    lo, hi = srv.telluric_residual
    tell = rng.uniform(lo, hi, n) * rng.uniform(1.0, 1.5, n)
    # flux calibration distortion and telluric residual in one exponent
    flux *= np.exp((rng.normal(0.0, [0.06, 0.03, 0.02], (n, 3)) @ legendre - tell[:, None] * telluric_tau(wave)[None, :]).astype(np.float32))
    flux /= flux.mean(axis=1, keepdims=True)
    model = np.clip(flux, 0.0, None).astype(np.float32)
    sky_c, sky_l = sky_spectrum(wave)
    sky = ((sky_c + sky_l)[None, :] * rng.uniform(0.5, 2.0, n)[:, None]).astype(np.float32)
    var0 = model + sky + rng.uniform(0.05, 0.3, n).astype(np.float32)[:, None]  # source + sky + read
    mask = _bad_pixels(n, wave.size, rng)
    # sigma^2 = g * var0: choose g so that the median of f / sigma equals the requested S/N
    # (masked pixels are < 1% and do not move the median appreciably)
    g = (np.median(model / np.sqrt(var0), axis=1) / np.asarray(snr, float)) ** 2
    sigma = np.sqrt(g.astype(np.float32)[:, None] * var0)
    noisy = model + (sky_l[None, :] * (rng.normal(0.0, 0.06, (n, 1)) * np.sqrt(g)[:, None])).astype(np.float32)
    noisy += sigma * rng.standard_normal(model.shape, dtype=np.float32)
    ivar = 1.0 / sigma**2
    ivar[mask] = 0.0
    if srv.zero_masked_flux:
        noisy[mask] = 0.0
    delivered = np.median(noisy / sigma, axis=1)  # measured on the noisy spectrum
    return Observed(wave, noisy, ivar.astype(np.float32), mask, model, delivered)


def _bad_pixels(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean (n, length) with a few runs of masked pixels (bad columns, cosmic rays)."""
    mask = np.zeros((n, length), bool)
    counts = rng.poisson(1.0, n)
    rows = np.repeat(np.arange(n), counts)
    starts = rng.integers(0, length, rows.size)
    lengths = rng.integers(1, 12, rows.size)
    for r, s, L in zip(rows, starts, lengths):
        mask[r, s:s + L] = True
    return mask
