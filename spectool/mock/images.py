"""g, r, i image cutouts (128 x 128, target centred) for the SPFusion mock set.

Magnitudes come from synthetic AB photometry of the noise-free observed spectrum through
the SDSS 2010 filter curves shipped by ``speclite`` (Doi et al. 2010). Pixels are 0.396
arcsec (SDSS), PSFs circular Gaussians with FWHM 1.1-1.8 arcsec per band, fluxes in
nanomaggies (m = 22.5 - 2.5 log10 f), sky noise from typical SDSS 1-sigma surface
brightness limits, plus field stars and small exponential galaxies as neighbours.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

SIZE = 128
PIX_ARCSEC = 0.396
BANDS = ("g", "r", "i")
_SKY_SIGMA = np.array([0.020, 0.028, 0.045])  # nanomaggies per pixel (approximate SDSS depths)


@lru_cache(maxsize=4)
def _responses(wave_key: tuple[float, float, int]) -> np.ndarray:
    """(3, L) photometric weights R(lambda) * lambda * dlambda / integral(c / lambda R dlambda) on the grid."""
    import speclite.filters

    lo, hi, n = wave_key
    wave = np.geomspace(lo, hi, n)
    dw = np.gradient(wave)
    out = []
    for f in speclite.filters.load_filters("sdss2010-g", "sdss2010-r", "sdss2010-i"):
        r = np.interp(wave, f.wavelength, f.response, left=0.0, right=0.0)
        out.append(r * wave * dw / np.sum(2.998e18 / wave * r * dw))
    return np.array(out)


def synthetic_colours(wave: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """AB magnitudes (N, 3) in g, r, i, up to one common zero point, of f_lambda spectra (N, L)
    on the vacuum grid ``wave`` (Angstrom); colours (g-r, r-i) are exact."""
    resp = _responses((float(wave[0]), float(wave[-1]), int(wave.size)))
    band = np.clip(np.asarray(flux, float) @ resp.T, 1e-30, None)
    return -2.5 * np.log10(band)


def cutouts(mags: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images (N, 3, 128, 128) in nanomaggies for targets with AB magnitudes ``mags`` (N, 3)."""
    n = mags.shape[0]
    k = 1 + 8  # target + up to 8 neighbours
    ax = np.arange(SIZE) - (SIZE - 1) / 2
    pos = np.zeros((n, k, 2))
    pos[:, 0] = rng.normal(0.0, 0.3, (n, 2))
    pos[:, 1:] = rng.uniform(-SIZE / 2, SIZE / 2, (n, k - 1, 2))
    present = np.ones((n, k), bool)
    present[:, 1:] = np.arange(k - 1)[None, :] < rng.poisson(3.0, n)[:, None]
    nb_r = rng.uniform(15.5, 22.0, (n, k - 1))
    nb_col = rng.normal([0.6, 0.25], [0.4, 0.2], (n, k - 1, 2))
    galaxy = rng.random((n, k)) < 0.4
    galaxy[:, 0] = False
    size_px = np.where(galaxy, rng.uniform(2.0, 6.0, (n, k)), 0.0)
    images = np.empty((n, 3, SIZE, SIZE), np.float32)
    ax32 = ax.astype(np.float32)
    for b in range(3):
        m = np.empty((n, k))
        m[:, 0] = mags[:, b]
        m[:, 1:] = nb_r + (nb_col[..., 0] if b == 0 else 0.0) - (nb_col[..., 1] if b == 2 else 0.0)
        flux = np.where(present, 10 ** (-0.4 * (m - 22.5)), 0.0)
        seeing = rng.uniform(1.1, 1.8, (n, 1)) / PIX_ARCSEC / 2.3548
        sig = np.sqrt(seeing**2 + size_px**2)
        # separable Gaussians (float32): image = sum_k norm_k gy_k(y) gx_k(x), one (128 x k) @ (k x 128) per target
        inv = (1.0 / sig)[..., None].astype(np.float32)
        gy = np.exp(-0.5 * np.square((ax32[None, None, :] - pos[..., 0:1].astype(np.float32)) * inv))
        gx = np.exp(-0.5 * np.square((ax32[None, None, :] - pos[..., 1:2].astype(np.float32)) * inv))
        gy *= (flux / (2 * np.pi * sig**2)).astype(np.float32)[..., None]
        img = images[:, b]
        np.matmul(gy.transpose(0, 2, 1), gx, out=img)
        noise = rng.standard_normal((n, SIZE, SIZE), dtype=np.float32)
        noise *= (_SKY_SIGMA[b] * rng.uniform(0.8, 1.3, (n, 1, 1))).astype(np.float32)
        img += noise
    return images
