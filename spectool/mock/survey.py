"""Survey effects: rest-frame model -> observed SDSS/LAMOST-like spectrum with noise.

Every step is vectorised over a batch of N spectra (arrays (N, L)):

1. extra Gaussian line-spread broadening up to the survey resolution
   (R ~ 2000 SDSS, R ~ 1800 LAMOST; constant in velocity on the log grid);
2. Doppler shift / redshift onto the survey log10-lambda grid (1e-4 dex; SDSS
   3800-9200 A, LAMOST 3700-9100 A, vacuum) by linear interpolation in log lambda;
3. Milky-Way extinction, Fitzpatrick (1999) law with R_V = 3.1 (``extinction``
   package), A_V = 3.1 E(B-V);
4. a smooth multiplicative flux-calibration distortion (domain-randomised, see
   :class:`Randomisation`: Legendre tilt and curvature of ln flux up to order 5, a step
   at a random dichroic join in 5700-6100 A, and poorly calibrated blue and red ends);
5. incompletely corrected telluric O2 A/B and H2O bands (0-30% SDSS, 0-50% LAMOST of the
   optical depth left; :class:`Randomisation`), sky-subtraction
   residuals at [O I] 5577/6300, Na D and an approximate OH forest;
6. photon (source + sky) and read noise scaled so the median per-pixel S/N of
   each spectrum equals the requested value; ``ivar`` = 1/sigma^2;
7. masked pixels (bad-column runs): ivar = 0, mask = True (LAMOST also sets flux to 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import DatasetError
from ..wavelength import LOGLAM_STEP, air_to_vacuum, c_kms, loglam_grid

C_KMS = c_kms()  # astropy.constants.c in km/s
PIX_KMS = C_KMS * np.log(10.0) * LOGLAM_STEP  # 69.03 km/s per 1e-4 dex pixel
MILES_FWHM_KMS = C_KMS * 2.5 / 5500.0  # MILES 2.5 A FWHM expressed at 5500 A


@dataclass
class Randomisation:
    """Domain randomisation of what a survey does not control (mock version 2).

    Each switch turns one group of randomised survey effects on; off restores the mock
    version 1 behaviour of that group (used by the ablation in ``benchmarks/mock.py``).
    The module-level :data:`RANDOMISATION` is what the generators use.

    * ``flux_calibration``: ln-flux distortion with Legendre sigmas (P1..P5) 0.20, 0.08,
      0.05, 0.03, 0.02 over the survey range (v1: 0.06, 0.03, 0.02 for P1..P3), plus blue-end
      (e-folding 300 A from the blue edge, sigma 0.15 in ln flux) and red-end (400 A,
      sigma 0.10) calibration errors. Real LAMOST spectra are relative-flux calibrated and
      SDSS spectrophotometry is good to ~5-10%, but reddening and target selection spread
      the observed continuum of one MK type by ~0.3 mag over 4600-7200 A: the continuum
      shape must not decide the class.
    * ``dichroic``: a smooth step in ln flux (sigma 0.06, width 20-150 A) at a random
      wavelength in 5700-6100 A where the blue and red arms join.
    * ``extinction``: stellar E(B-V) exponential with mean 0.15 mag, clipped at 1.0 (v1:
      mean 0.05); many LAMOST targets lie at low Galactic latitude.
    * ``sky``: sky-line subtraction residual sigma 0.15 (v1: 0.06) of the sky-line flux,
      and a random scale 0.3-3 of the sky (v1 0.5-2).
    * ``masks``: Poisson(2) runs of 1-40 masked pixels per spectrum (v1: Poisson(1), 1-11).
    * ``telluric``: the uncorrected fraction of the telluric optical depth is uniform in
      0-0.3 (SDSS) or 0-0.5 (LAMOST) (v1: 0.05-0.4 and 0.3-1.0 times 1-1.5). The real LAMOST
      validation spectra show at most shallow O2 A-band residuals; v1 gave every mock LAMOST
      spectrum a deep (to ~20% of the continuum) A band that no real spectrum has.
    * ``interstellar`` (not in mock version 2, off by default; measured by
      ``scripts/mock_ablation.py``): interstellar Na I D1/D2 absorption in front of stars, at
      rest in the observer's frame, with EW(D1+D2) from the star's E(B-V) by the relation of
      Poznanski, Prochaska & Bloom (2012, MNRAS 426, 1465), log10 E(B-V) = 1.17 EW - 1.85,
      with 0.15 dex scatter in E(B-V) at fixed EW, D2:D1 = 1.1:0.9, unresolved at the survey
      resolution. The real validation stars of classes A-G have Na D band depths of 0.05-0.08
      where the mock has 0.015-0.036 (``scripts/mock_line_indices.py``).
    * ``lsf`` (not in mock version 2, off by default; measured by ``scripts/mock_ablation.py``):
      stars get a resolving power drawn per spectrum, uniform in 1400-2400, instead of the
      survey's fixed R (fibre-to-fibre and arm-to-arm resolution differences are not something
      a user of the catalogue controls).
    """

    flux_calibration: bool = True
    dichroic: bool = True
    extinction: bool = True
    sky: bool = True
    masks: bool = True
    telluric: bool = True
    interstellar: bool = False
    lsf: bool = False


#: Switches in use by :func:`observe` and the generators (all on in mock version 2).
RANDOMISATION = Randomisation()


@dataclass(frozen=True)
class Survey:
    """Grid (vacuum Angstrom), resolving power and defaults of one survey."""

    name: str
    lo: float
    hi: float
    resolution: float
    telluric_residual: tuple[float, float]  # v1 range of the uncorrected fraction of telluric optical depth
    telluric_residual_v2: tuple[float, float]  # the same with Randomisation.telluric
    zero_masked_flux: bool

    @property
    def wave(self) -> np.ndarray:
        return loglam_grid(self.lo, self.hi)

    @property
    def k0(self) -> int:
        return int(round(np.log10(self.wave[0]) / LOGLAM_STEP))

    def extra_sigma_px(self, model_fwhm_kms: float = MILES_FWHM_KMS) -> float:
        """Gaussian sigma (pixels) that broadens a model of ``model_fwhm_kms`` to the survey resolution."""
        return float(broadening_sigma_px(self.resolution, model_fwhm_kms))


def broadening_sigma_px(resolution, model_fwhm_kms: float = MILES_FWHM_KMS):
    """Gaussian sigma (1e-4 dex pixels) that broadens a model of FWHM ``model_fwhm_kms`` (km/s) to
    the resolving power ``resolution`` (scalar or array); 0 where the model is already broader."""
    fwhm = C_KMS / np.asarray(resolution, float)
    return np.sqrt(np.maximum(fwhm**2 - model_fwhm_kms**2, 0.0)) / 2.3548 / PIX_KMS


SURVEYS = {
    "sdss": Survey("sdss", 3800.0, 9200.0, 2000.0, (0.05, 0.4), (0.0, 0.3), False),
    "lamost": Survey("lamost", 3700.0, 9100.0, 1800.0, (0.3, 1.0), (0.0, 0.5), True),
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


@dataclass(frozen=True)
class _GridTerms:
    """Per-grid constants of :func:`observe` (computed once per survey grid, float32 where applied)."""

    wave: np.ndarray  # vacuum Angstrom
    k0: int  # log10-lambda index of wave[0]
    exponent: np.ndarray  # (9, L): ln-attenuation per unit E(B-V), Legendre P1..P5, -telluric tau, blue end, red end
    sky: np.ndarray  # (L,) sky continuum + lines
    sky_lines: np.ndarray  # (L,) sky lines only


@lru_cache(maxsize=16)
def _grid_terms(srv: Survey, wave_range: tuple[float, float] | None) -> _GridTerms:
    import extinction

    wave = srv.wave if wave_range is None else loglam_grid(max(srv.lo, wave_range[0]), min(srv.hi, wave_range[1]))
    k0 = int(round(np.log10(wave[0]) / LOGLAM_STEP))
    x = np.linspace(-1.0, 1.0, wave.size)
    # Fitzpatrick (1999), R_V = 3.1: A_lambda = 3.1 E(B-V) * curve, i.e. ln(attenuation) = -0.4 ln(10) 3.1 E(B-V) curve
    ext = -0.4 * np.log(10.0) * 3.1 * extinction.fitzpatrick99(wave, 1.0, 3.1)
    leg = np.polynomial.legendre.legvander(x, 5)[:, 1:].T  # P1..P5
    blue = np.exp(-(wave - srv.lo) / 300.0)
    red = np.exp(-(srv.hi - wave) / 400.0)
    exponent = np.concatenate([ext[None], leg, -telluric_tau(wave)[None], blue[None], red[None]]).astype(np.float32)
    sky_c, sky_l = sky_spectrum(wave)
    terms = _GridTerms(wave, k0, exponent, (sky_c + sky_l).astype(np.float32), sky_l.astype(np.float32))
    for a in (terms.wave, terms.exponent, terms.sky, terms.sky_lines):
        a.setflags(write=False)  # shared by every call on this grid
    return terms


def _row_median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=1)`` (same values) with one selection per row instead of two."""
    h = a.shape[1] // 2
    part = np.partition(a, h, axis=1)
    if a.shape[1] % 2:
        return part[:, h]
    return (part[:, :h].max(axis=1) + part[:, h]) / 2


#: Rows processed together by the per-pixel part of :func:`observe`: their ~10 float32 work arrays stay in cache.
_BLOCK = 64


def observe(rest: np.ndarray, rest_k0: int, z: np.ndarray, srv: Survey, snr: np.ndarray, rng: np.random.Generator,
            ebv: np.ndarray | None = None, extra_sigma_px: float | None = None, wave_range: tuple[float, float] | None = None,
            ism: bool = False) -> Observed:
    """Apply the survey effects of the module docstring to rest-frame models ``rest`` (N, Lr).

    ``z`` is the redshift (stars: v_r/c), ``snr`` the requested median S/N per pixel, ``ebv``
    the Milky-Way E(B-V) (mag). ``wave_range`` limits the output grid (vacuum Angstrom).
    ``ism``: the source lies behind ``ebv`` of Galactic gas (stars), so interstellar Na D is
    added when :attr:`Randomisation.interstellar` is on (:func:`interstellar_nad`).
    Per-pixel work runs in float32, in blocks of rows; random draws do not depend on the blocking.
    """
    n = rest.shape[0]
    sig = srv.extra_sigma_px() if extra_sigma_px is None else extra_sigma_px
    if ism and RANDOMISATION.lsf:  # per-spectrum resolving power (stars; drawn first: a different stream)
        sig_row = np.round(broadening_sigma_px(rng.uniform(1400.0, 2400.0, n)), 1)  # grouped to 0.1 px
        rest = np.array(rest, copy=True)
        for s_px in np.unique(sig_row):
            rows = sig_row == s_px
            if s_px > 0.05:
                rest[rows] = gaussian_filter1d(rest[rows], s_px, axis=1, mode="nearest", truncate=3.0)
    elif sig > 0.05:
        rest = gaussian_filter1d(rest, sig, axis=1, mode="nearest", truncate=3.0)
    terms = _grid_terms(srv, None if wave_range is None else tuple(wave_range))
    wave = terms.wave
    flux = shift_to_grid(rest, rest_k0, z, terms.k0, wave.size).astype(np.float32, copy=False)
    # per-spectrum draws: telluric residual, flux-calibration distortion, sky level, read noise, masks, sky-line residual
    dr = RANDOMISATION
    lo, hi = srv.telluric_residual_v2 if dr.telluric else srv.telluric_residual
    tell = rng.uniform(lo, hi, n) * (1.0 if dr.telluric else rng.uniform(1.0, 1.5, n))
    coef = np.zeros((n, 9), np.float32)
    coef[:, 0] = 0.0 if ebv is None else np.asarray(ebv, float)
    if dr.flux_calibration:
        coef[:, 1:6] = rng.normal(0.0, [0.20, 0.08, 0.05, 0.03, 0.02], (n, 5))
        coef[:, 7:9] = rng.normal(0.0, [0.15, 0.10], (n, 2))
    else:
        coef[:, 1:4] = rng.normal(0.0, [0.06, 0.03, 0.02], (n, 3))
    coef[:, 6] = tell
    if dr.dichroic:
        join = rng.uniform(5700.0, 6100.0, n).astype(np.float32)
        join_w = rng.uniform(20.0, 150.0, n).astype(np.float32)
        join_a = rng.normal(0.0, 0.06, n).astype(np.float32)
    sky_scale = (rng.uniform(0.3, 3.0, n) if dr.sky else rng.uniform(0.5, 2.0, n)).astype(np.float32)
    read = rng.uniform(0.05, 0.3, n).astype(np.float32)
    mask = _bad_pixels(n, wave.size, rng, 2.0 if dr.masks else 1.0, 41 if dr.masks else 12)
    sky_resid = rng.normal(0.0, 0.15 if dr.sky else 0.06, n)
    nad = interstellar_nad(wave, np.asarray(ebv, float), srv.resolution, rng) if (
        ism and dr.interstellar and ebv is not None) else None  # drawn last: v2 streams unchanged
    snr = np.broadcast_to(np.asarray(snr, float), (n,))
    noisy = np.empty((n, wave.size), np.float32)
    ivar = np.empty((n, wave.size), np.float32)
    delivered = np.empty(n)
    for s in range(0, n, _BLOCK):
        b = slice(s, min(s + _BLOCK, n))
        # extinction, flux-calibration distortion and telluric residual in one exponent
        f = flux[b]
        f *= np.exp(coef[b] @ terms.exponent)
        if nad is not None:
            f[:, nad[0]] *= nad[1][b]
        if dr.dichroic:  # smooth step at the blue/red arm join
            f *= np.exp(join_a[b, None] * (0.5 + 0.5 * np.tanh((wave[None, :] - join[b, None]) / join_w[b, None]))).astype(np.float32)
        f /= f.mean(axis=1, keepdims=True)
        np.clip(f, 0.0, None, out=f)  # the noise-free model
        var0 = terms.sky[None, :] * sky_scale[b, None]
        var0 += f
        var0 += read[b, None]  # source + sky + read
        sd0 = np.sqrt(var0, out=var0)
        # sigma^2 = g * var0: choose g so that the median of f / sigma equals the requested S/N
        # (masked pixels are < 1% and do not move the median appreciably)
        root_g = (_row_median(f / sd0) / snr[b]).astype(np.float32)
        sigma = np.multiply(sd0, root_g[:, None], out=sd0)
        out = rng.standard_normal(f.shape, dtype=np.float32)
        out *= sigma
        out += f
        out += terms.sky_lines[None, :] * (sky_resid[b] * root_g).astype(np.float32)[:, None]
        if srv.zero_masked_flux:
            out[mask[b]] = 0.0
        noisy[b] = out
        delivered[b] = _row_median(np.divide(out, sigma, out=out))  # measured on the noisy spectrum
        np.square(sigma, out=sigma)
        ivar[b] = np.divide(1.0, sigma, out=sigma)
    ivar[mask] = 0.0
    return Observed(wave, noisy, ivar, mask, flux, delivered)


#: Vacuum wavelengths (Angstrom) and relative strengths of the interstellar Na I D2, D1 lines.
NA_D = ((5891.58, 0.55), (5897.56, 0.45))


def interstellar_nad(wave: np.ndarray, ebv: np.ndarray, resolution: float,
                     rng: np.random.Generator) -> tuple[slice, np.ndarray]:
    """Interstellar Na D transmission near 5894 A for stars behind ``ebv`` (mag).

    EW(D1+D2) (Angstrom) = (log10 E(B-V) + 1.85 + N(0, 0.15)) / 1.17, clipped to 0-2.5 A
    (Poznanski et al. 2012); each line a Gaussian of the survey's resolution. Returns the
    pixel slice and the (N, pixels) float32 transmission to multiply there."""
    sel = np.flatnonzero(np.abs(wave - 5894.6) < 20.0)
    if sel.size == 0:
        return slice(0, 0), np.ones((ebv.size, 0), np.float32)
    w = wave[sel]
    ew = np.clip((np.log10(np.maximum(ebv, 1e-4)) + 1.85 + rng.normal(0.0, 0.15, ebv.size)) / 1.17, 0.0, 2.5)
    absorb = np.zeros((ebv.size, w.size))
    for centre, share in NA_D:
        sigma = centre / resolution / 2.3548
        absorb += (share * ew / (sigma * np.sqrt(2 * np.pi)))[:, None] * np.exp(-0.5 * ((w - centre) / sigma) ** 2)[None]
    return slice(int(sel[0]), int(sel[-1]) + 1), np.clip(1.0 - absorb, 0.05, 1.0).astype(np.float32)


def _bad_pixels(n: int, length: int, rng: np.random.Generator, mean_runs: float = 1.0, max_run: int = 12) -> np.ndarray:
    """Boolean (n, length) with Poisson(``mean_runs``) runs of 1..``max_run``-1 masked pixels (bad columns, cosmic rays)."""
    mask = np.zeros((n, length), bool)
    counts = rng.poisson(mean_runs, n)
    rows = np.repeat(np.arange(n), counts)
    starts = rng.integers(0, length, rows.size)
    lengths = rng.integers(1, max_run, rows.size)
    cols = starts[:, None] + np.arange(max_run - 1)[None, :]
    inside = (cols < (starts + lengths)[:, None]) & (cols < length)
    mask[np.broadcast_to(rows[:, None], cols.shape)[inside], cols[inside]] = True
    return mask
