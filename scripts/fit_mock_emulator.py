"""Fit the data-driven stellar emulator shipped in ``spectool/data/mock/miles_emulator.npz``.

The emulator is fitted once to the MILES empirical stellar library
(Sanchez-Blazquez et al. 2006, MNRAS 371, 703; atmospheric parameters from
Cenarro et al. 2007, MNRAS 374, 664), 3540.5-7409.6 Angstrom (air), 0.9 A
sampling, 2.5 A FWHM. MILES ships inside the PyPI package ``sdss-mangadap``
(``mangadap/data/spectral_templates/miles/``); download it into a temporary
directory, never as a spectool dependency::

    pip download sdss-mangadap --no-deps -d /tmp/mockfit
    cd /tmp/mockfit && unzip -q sdss_mangadap-*.whl 'mangadap/data/spectral_templates/miles/*'
    python scripts/fit_mock_emulator.py /tmp/mockfit/mangadap/data/spectral_templates/miles

What is fitted (all on a vacuum log10-lambda grid with 1e-4 dex steps):

1. every star is converted from air to vacuum wavelengths, resampled onto the
   grid, normalised to its mean flux in 5450-5550 A and turned into log10 flux;
2. a PCA of the log fluxes keeps ``--components`` eigenspectra;
3. each star gets its PCA coefficients plus a local linear gradient of those
   coefficients with respect to its (scaled) labels log10 Teff, log g, [Fe/H],
   found by ridge-regularised weighted least squares over its label-space
   neighbours. :mod:`spectool.mock.emulator` evaluates the library as an
   adaptive-kernel, locally linear interpolator in label space.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from astropy.io import fits

from spectool.mock.emulator import LABEL_SCALE, WEIGHTS_FILE, label_coords
from spectool.wavelength import LOGLAM_STEP, air_to_vacuum, loglam_grid

GRID = (3552.0, 7405.0)  # vacuum Angstrom covered by MILES after the air->vacuum shift
NORM = (5450.0, 5550.0)


def load_library(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels (S, 3), vacuum grid (L,), log10 normalised flux (S, L)) of the usable MILES stars."""
    params = np.genfromtxt(folder / "MILES_params.db", comments="#", dtype=str)
    grid = loglam_grid(*GRID)
    norm = (grid > NORM[0]) & (grid < NORM[1])
    labels, fluxes = [], []
    for ident, teff, logg, feh in params:
        lab = np.array([float(teff), float(logg), float(feh)])
        if np.any(lab >= 9999):  # MILES marks a missing parameter with 9999
            continue
        f = folder / f"MILES_res2.50_star_m{ident}V.fits"
        if not f.is_file():
            continue
        with fits.open(f) as hdul:
            data = hdul[0].data.astype(np.float64)
            hdr = hdul[0].header
        air = hdr["CRVAL1"] + hdr["CDELT1"] * (np.arange(data.size) + 1 - hdr["CRPIX1"])
        good = np.isfinite(data) & (data > 0)
        if good.mean() < 0.99:
            continue
        flux = np.interp(grid, air_to_vacuum(air[good]), data[good])
        flux /= flux[norm].mean()
        labels.append(lab)
        fluxes.append(np.log10(np.clip(flux, 1e-4, None)))
    return np.array(labels), grid, np.array(fluxes)


def local_gradients(coords: np.ndarray, coeffs: np.ndarray, k: int = 24, ridge: float = 0.3) -> np.ndarray:
    """Per-star d(coefficients)/d(scaled label), shape (S, K, 3), from weighted neighbour fits."""
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    grads = np.zeros((coords.shape[0], coeffs.shape[1], 3))
    for i in range(coords.shape[0]):
        nn = np.argsort(d2[i])[: k + 1]
        h2 = max(d2[i, nn[-1]], 1.0)
        w = np.exp(-0.5 * d2[i, nn] / h2)
        dx = coords[nn] - coords[i]
        dy = coeffs[nn] - coeffs[i]
        a = (dx * w[:, None]).T @ dx + ridge * np.eye(3)
        grads[i] = np.linalg.solve(a, (dx * w[:, None]).T @ dy).T
    return grads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("miles_dir", type=Path, help="folder with MILES_params.db and MILES_res2.50_star_m*.fits")
    ap.add_argument("--components", type=int, default=56)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "spectool" / "data" / "mock" / WEIGHTS_FILE)
    args = ap.parse_args()
    labels, grid, logf = load_library(args.miles_dir)
    mean = logf.mean(0)
    u, s, vt = np.linalg.svd(logf - mean, full_matrices=False)
    comps = vt[: args.components]
    coeffs = (logf - mean) @ comps.T
    recon = coeffs @ comps + mean
    rms = np.sqrt(((recon - logf) ** 2).mean(1))
    coords = label_coords(labels[:, 0], labels[:, 1], labels[:, 2])
    grads = local_gradients(coords, coeffs)
    k0 = int(round(np.log10(grid[0]) / LOGLAM_STEP))
    np.savez_compressed(
        args.out,
        k0=np.int64(k0),
        mean=mean.astype(np.float32),
        components=comps.astype(np.float32),
        coeffs=coeffs.astype(np.float32),
        gradients=grads.astype(np.float32),
        labels=labels.astype(np.float32),
        label_scale=np.asarray(LABEL_SCALE, np.float32),
        source=np.array("MILES stellar library (Sanchez-Blazquez et al. 2006; Cenarro et al. 2007), "
                        f"{labels.shape[0]} stars, air->vacuum, 1e-4 dex grid {grid[0]:.1f}-{grid[-1]:.1f} A, "
                        f"{args.components} PCA components of log10 flux"),
    )
    print(f"{labels.shape[0]} stars, {grid.size} px, {args.components} components; "
          f"PCA rms(log10 f) median {np.median(rms):.4f} max {rms.max():.4f}; wrote {args.out} "
          f"({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
