"""Batch generators: noise-free models through survey effects to observed spectra.

Each returns ``(Observed, meta)`` where ``Observed`` holds vacuum wavelengths (Angstrom),
flux, ivar, mask, the noise-free model and the delivered median S/N, and ``meta`` a
DataFrame of labels (one row per spectrum).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from .emulator import StellarEmulator
from .extragalactic import GalaxyModel, QSOModel
from . import survey as _survey
from .survey import C_KMS, Observed, observe, survey

MODEL_FWHM_KMS = 60.0  # intrinsic width of the galaxy/QSO line models (they add their own broadening)


@lru_cache(maxsize=4)
def stellar_emulator(lo: float = 3600.0, hi: float = 9400.0) -> StellarEmulator:
    """A cached :class:`StellarEmulator` on lo-hi Angstrom (vacuum, rest frame)."""
    return StellarEmulator(lo, hi)


@lru_cache(maxsize=1)
def galaxy_model() -> GalaxyModel:
    return GalaxyModel()


@lru_cache(maxsize=1)
def qso_model() -> QSOModel:
    return QSOModel()


def generate_stars(labels: pd.DataFrame, survey_name: str, snr: np.ndarray, rng: np.random.Generator,
                   wave_range: tuple[float, float] | None = None) -> tuple[Observed, pd.DataFrame]:
    """Observed stars for label rows (columns teff, logg, feh and optionally cn).

    Radial velocities ~ N(0, 40) km/s with a 10% halo tail N(0, 150); E(B-V) exponential with mean 0.15 mag
    clipped at 1 mag (mean 0.05 mag when ``RANDOMISATION.extinction`` is off).
    """
    n = len(labels)
    srv = survey(survey_name)
    lo, hi = (srv.lo, srv.hi) if wave_range is None else (max(srv.lo, wave_range[0]), min(srv.hi, wave_range[1]))
    emu = stellar_emulator(round(lo * 0.995, -1), round(hi * 1.005, -1))  # rest range with a radial-velocity margin
    cn = labels["cn"].to_numpy(float) if "cn" in labels else None
    rest = emu.spectrum(labels["teff"].to_numpy(float), labels["logg"].to_numpy(float), labels["feh"].to_numpy(float), cn)
    rv = np.where(rng.random(n) < 0.1, rng.normal(0, 150.0, n), rng.normal(0, 40.0, n))
    ebv = np.minimum(rng.exponential(0.15, n), 1.0) if _survey.RANDOMISATION.extinction else rng.exponential(0.05, n)
    obs = observe(rest, emu.k0, rv / C_KMS, srv, snr, rng, ebv=ebv, wave_range=wave_range, ism=True)
    meta = labels.reset_index(drop=True).copy()
    meta["class"] = "STAR"
    meta["rv_kms"] = rv
    meta["redshift"] = rv / C_KMS
    meta["ebv"] = ebv
    return obs, meta


def generate_galaxies(subclass: np.ndarray, z: np.ndarray, survey_name: str, snr: np.ndarray, rng: np.random.Generator,
                      wave_range: tuple[float, float] | None = None) -> tuple[Observed, pd.DataFrame]:
    """Observed galaxies of SDSS subclasses ("", STARFORMING, STARBURST, AGN, BROADLINE) at redshifts ``z``."""
    model = galaxy_model()
    rest, par = model.spectra(subclass, rng)
    ebv = rng.exponential(0.03, len(z))
    srv = survey(survey_name)
    obs = observe(rest, model.k0, z, srv, snr, rng, ebv=ebv, extra_sigma_px=srv.extra_sigma_px(MODEL_FWHM_KMS), wave_range=wave_range)
    meta = pd.DataFrame({"class": "GALAXY", "subclass": np.asarray(subclass, str), "redshift": z, "ebv": ebv, **par})
    return obs, meta


def generate_qsos(z: np.ndarray, survey_name: str, snr: np.ndarray, rng: np.random.Generator,
                  wave_range: tuple[float, float] | None = None) -> tuple[Observed, pd.DataFrame]:
    """Observed quasars at redshifts ``z`` (0.1-4).

    Below z = 0.8 (mock version 2) a passive host galaxy adds 0-60% of the light at 5000-5200 A
    rest (``host_fraction``): low-z SDSS quasars show their host's 4000 A break and absorption lines.
    """
    model = qso_model()
    rest, par = model.spectra(z, rng)
    z = np.asarray(z, float)
    host_frac = np.where(z < 0.8, rng.uniform(0.0, 0.6, z.size), 0.0)
    hosted = np.flatnonzero(host_frac > 0)
    if hosted.size:
        gal = galaxy_model()
        host, _ = gal.spectra(np.full(hosted.size, ""), rng)  # normalised to 1 at 5400-5600 A
        a = gal.k0 - model.k0  # same 1e-4 dex step: the galaxy grid starts a pixels into the QSO grid
        ref = (model.wave > 5000) & (model.wave < 5200)
        q = rest[hosted]
        level = q[:, ref].mean(1, keepdims=True)
        gref = host[:, (gal.wave > 5000) & (gal.wave < 5200)].mean(1, keepdims=True)
        fh = host_frac[hosted, None]
        q *= 1.0 - fh
        q[:, a:a + gal.wave.size] += fh * level * host / gref
        rest[hosted] = q
    par["host_fraction"] = host_frac
    ebv = rng.exponential(0.03, len(z))
    srv = survey(survey_name)
    obs = observe(rest, model.k0, z, srv, snr, rng, ebv=ebv, extra_sigma_px=srv.extra_sigma_px(MODEL_FWHM_KMS), wave_range=wave_range)
    meta = pd.DataFrame({"class": "QSO", "subclass": "", "redshift": z, "ebv": ebv, **par})
    return obs, meta
