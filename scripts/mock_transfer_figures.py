"""Figures for docs/mock_survey.md: real validation spectra vs mock version 1 and 2 (synthetic).

docs/img/mock_transfer_colours.png: the continuum colour -2.5 log10(F(4400-4800 A) / F(7000-7400 A))
(f_lambda, observed frame) per main class, real LAMOST/SDSS spectra vs mock v1 and v2 survey effects
(noise-free models, same generators, survey LAMOST for stars and SDSS for galaxies/QSOs).
docs/img/mock_transfer_examples.png: three real spectra per class and three mock v2 spectra after the
MSPC-Net recipe (crop 4000-9000 A, z-score).

    python scripts/mock_transfer_figures.py
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import spectool  # noqa: E402
from spectool.mock.generate import generate_galaxies, generate_qsos, generate_stars  # noqa: E402
from spectool.mock.spectype import DWARF_TEFF  # noqa: E402
from spectool.mock.stars import draw_subclass_labels  # noqa: E402
from spectool.preprocess import apply  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_real  # noqa: E402

survey = importlib.import_module("spectool.mock.survey")
IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
CLASSES = ["A", "F", "G", "K", "M", "GALAXY", "QSO"]


def colour(w, f):
    f = np.atleast_2d(f)
    b, r = (w > 4400) & (w < 4800), (w > 7000) & (w < 7400)
    return -2.5 * np.log10(np.clip(np.median(f[:, b], 1), 1e-9, None) / np.clip(np.median(f[:, r], 1), 1e-9, None))


def mock(c: str, n: int, rng):
    """(wave, noise-free model, observed flux, ivar, mask) of n mock spectra of main class c."""
    if c == "GALAXY":
        sub = rng.choice(["", "STARFORMING", "STARBURST", "AGN", "BROADLINE"], n, p=(0.45, 0.3, 0.08, 0.12, 0.05))
        obs, _ = generate_galaxies(sub, 0.01 + 0.3 * rng.beta(1.6, 5.0, n), "sdss", np.full(n, 20.0), rng)
    elif c == "QSO":
        obs, _ = generate_qsos(0.1 + 3.9 * rng.beta(2.0, 3.5, n), "sdss", np.full(n, 20.0), rng)
    else:
        vocab = [s for s, _ in DWARF_TEFF]
        lab = draw_subclass_labels(np.array([rng.choice([s for s in vocab if s[0] == c]) for _ in range(n)]), vocab,
                                   rng, giant_fraction=0.3)
        obs, _ = generate_stars(lab[["teff", "logg", "feh"]], "lamost", np.full(n, 30.0), rng)
    return obs


def main() -> None:
    man, spectra = eval_real.load_real()
    real = {c: [colour(np.asarray(s.wavelength), np.asarray(s.flux))[0] for s, m in zip(spectra, man["main_class"])
                if m == c] for c in CLASSES}
    v2 = survey.Randomisation()
    res = {}
    for tag, switches in (("v1", survey.Randomisation(False, False, False, False, False, False)), ("v2", v2)):
        survey.RANDOMISATION = switches
        rng = np.random.default_rng(1)
        res[tag] = {c: colour((o := mock(c, 80, rng)).wave, o.model) for c in CLASSES}
    survey.RANDOMISATION = v2
    fig, axes = plt.subplots(1, len(CLASSES), figsize=(15, 3.2), sharey=True)
    for ax, c in zip(axes, CLASSES):
        bins = np.linspace(-2.0, 3.0, 41)
        ax.hist(res["v1"][c], bins, density=True, histtype="step", color="tab:blue", label="mock v1")
        ax.hist(res["v2"][c], bins, density=True, histtype="step", color="tab:red", label="mock v2")
        ax.hist(real[c], bins, density=True, alpha=0.35, color="k", label=f"real (n={len(real[c])})")
        ax.set_title(c)
        ax.set_xlabel("-2.5 log F(4600)/F(7200)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Continuum colour: real validation spectra vs synthetic mock v1 / v2 (galaxy v1 = v1 survey effects, "
                 "v2 populations)", fontsize=9)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMG / "mock_transfer_colours.png", dpi=80)
    rng = np.random.default_rng(2)
    fig, axes = plt.subplots(len(CLASSES), 1, figsize=(11, 13), sharex=True)
    for ax, c in zip(axes, CLASSES):
        for i in np.flatnonzero(man["main_class"].to_numpy() == c)[:3]:
            try:
                p = apply("mspcnet", spectra[i])
            except spectool.errors.SpectoolError:
                continue
            ax.plot(p.wavelength, p.flux, lw=0.5, color="k", alpha=0.7)
        o = mock(c, 3, rng)
        for k in range(3):
            p = apply("mspcnet", spectool.Spectrum(o.wave, o.flux[k], ivar=o.ivar[k], mask=o.mask[k]))
            ax.plot(p.wavelength, p.flux, lw=0.5, color="tab:red", alpha=0.6)
        ax.set_ylabel(c)
        ax.set_ylim(-4, 5)
    axes[0].set_title("black: real validation spectra; red: synthetic mock v2 (after the MSPC-Net recipe)", fontsize=9)
    axes[-1].set_xlabel("vacuum wavelength (Angstrom)")
    fig.tight_layout()
    fig.savefig(IMG / "mock_transfer_examples.png", dpi=70)
    for c in CLASSES:
        print(c, "real %.2f+-%.2f" % (np.nanmean(real[c]), np.nanstd(real[c])),
              *("%s %.2f+-%.2f" % (t, np.mean(res[t][c]), np.std(res[t][c])) for t in ("v1", "v2")))


if __name__ == "__main__":
    main()
