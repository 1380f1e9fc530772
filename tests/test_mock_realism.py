"""Realism of the synthetic mock stars against the SDSS stellar templates (spEigenStar-55734).

Metric: resample to 2000 points over 4000-7400 A, divide by a cubic polynomial fit, Pearson r
against the best SDSS template whose name starts with the same class letter. Real MILES dwarfs
reach the TARGET values; the median mock dwarf of each subclass must come within 0.02.
Each mock spectrum is flattened before the median is taken: since mock version 2 the continuum of
every spectrum is domain-randomised (flux calibration up to Legendre order 5, a dichroic step,
extinction up to E(B-V) = 1), and a median of unflattened spectra with different continua mixes
continuum shape into the line profile.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from spectool.lines import get_lines
from spectool.mock import generate_stars
from spectool.mock.generate import stellar_emulator
from spectool.mock.spectype import DWARF_TEFF, dwarf_logg

TARGET = {"A0": 0.987, "F5": 0.941, "G2": 0.966, "K5": 0.971, "M2": 0.840}
GRID = np.linspace(4000.0, 7400.0, 2000)


def _flatten(wave: np.ndarray, flux: np.ndarray) -> np.ndarray:
    y = np.interp(GRID, wave, flux)
    x = (GRID - GRID.mean()) / (np.ptp(GRID) / 2)
    return y / np.polyval(np.polyfit(x, y, 3), x)


@pytest.fixture(scope="module")
def templates():
    from astropy.io import fits

    path = shared_path("data", "templates", "spEigenStar-55734.fits")
    with fits.open(path) as hdul:
        hdr, data = hdul[0].header, hdul[0].data.astype(float)
    wave = 10 ** (hdr["COEFF0"] + hdr["COEFF1"] * np.arange(data.shape[1]))
    names = [hdr[f"NAME{i}"] for i in range(data.shape[0])]
    return [(n, _flatten(wave, f)) for n, f in zip(names, data)]


@pytest.mark.parametrize("sub", list(TARGET))
def test_mock_dwarfs_correlate_with_sdss_templates(templates, sub):
    import pandas as pd

    rng = np.random.default_rng(7)
    teff = dict(DWARF_TEFF)[sub] * np.exp(rng.normal(0.0, 0.006, 40))
    labels = pd.DataFrame({"teff": teff, "logg": dwarf_logg(teff), "feh": rng.normal(-0.1, 0.2, 40)})
    obs, _ = generate_stars(labels, "sdss", np.full(40, 100.0), rng)
    mock = np.median([_flatten(obs.wave, f) for f in obs.flux], 0)
    r = max(np.corrcoef(mock, t)[0, 1] for n, t in templates if n[:1] == sub[0])
    assert r >= TARGET[sub] - 0.02, f"{sub}: r = {r:.3f} < {TARGET[sub] - 0.02:.3f}"


@pytest.mark.parametrize("name,teff,logg", [("H alpha", 9700, 4.1), ("H beta", 9700, 4.1), ("Na D2", 4440, 4.6),
                                             ("Ca II 8542", 4750, 2.5), ("Ca II K", 5770, 4.4), ("Mg b1", 4440, 4.6)])
def test_line_centres_at_vacuum_laboratory_wavelengths(name, teff, logg):
    lab = next(ln.vacuum for ln in get_lines(["balmer", "stellar"]) if ln.name == name)
    emu = stellar_emulator()
    f = emu.spectrum([teff], [logg], [0.0])[0]
    win = np.abs(emu.wave - lab) < 4.0
    i = np.flatnonzero(win)[np.argmin(f[win])]
    a, b, c = np.polyfit(emu.wave[i - 1:i + 2] - emu.wave[i], f[i - 1:i + 2], 2)
    centre = emu.wave[i] - b / (2 * a)
    assert abs(centre - lab) < 1.0, f"{name}: {centre:.2f} vs {lab:.2f}"


def test_red_region_has_calcium_triplet_tio_and_telluric():
    import pandas as pd

    rng = np.random.default_rng(8)
    lab = pd.DataFrame({"teff": [4750.0, 3300.0], "logg": [2.5, 4.9], "feh": [0.0, 0.0]})
    obs, _ = generate_stars(lab, "sdss", np.full(2, 500.0), rng)
    w, k = obs.wave, obs.model[0]
    cat = np.abs(w - 8544.4) < 1.5
    side = (w > 8555) & (w < 8570)
    assert k[cat].min() < 0.8 * np.median(k[side])
    m = obs.model[1]
    tio = (w > 7055) & (w < 7120)  # TiO 7054 band (MILES part)
    assert np.median(m[tio]) < 0.9 * np.median(m[(w > 7020) & (w < 7048)])
    tio = (w > 8440) & (w < 8490)  # TiO 8432 band (physical red extension)
    assert np.median(m[tio]) < 0.8 * np.median(m[(w > 8395) & (w < 8428)])
    a_band = (w > 7600) & (w < 7640)  # telluric O2 A band residual
    assert np.median(obs.model[0][a_band]) < 0.97 * np.median(obs.model[0][(w > 7540) & (w < 7590)])
