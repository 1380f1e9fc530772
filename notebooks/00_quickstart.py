# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: read, preprocess, predict, explain
#
# This notebook takes **one spectrum** through the whole toolkit with the public API only:
#
# 1. read a survey FITS file into a `spectool.Spectrum`;
# 2. preprocess it exactly as the MSPC-Net paper does;
# 3. classify it with a pretrained MSPC-Net;
# 4. ask which wavelengths drove the prediction (integrated gradients).
#
# It runs in well under a minute on a laptop CPU.
#
# > **Synthetic data.** The pretrained models shipped with spectool were trained on spectool's
# > *synthetic mock survey*, not on the papers' real SDSS/LAMOST data. Their numbers say how
# > the method behaves on synthetic spectra, never what the papers measured. When the real
# > sample file is present, step 3 shows what such a model does with a real spectrum.

# %% tags=["parameters"]
# Parameters (papermill can override them: papermill NB.ipynb out.ipynb -p mode full -p source /data/ingested)
mode = "quick"    # "smoke" (CI), "quick", "medium" or "full" (the papers' protocol): see README, Modes
source = "mock"   # "mock": the embedded synthetic survey; or a directory of real data ingested with `spectool ingest`
cache = None      # results cache shared by the notebooks and `spectool figures` (None: the user cache folder)

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import spectool

print("spectool", spectool.__version__)

# %% [markdown]
# ## 1. Read a spectrum
#
# `spectool.read` recognises the survey from the FITS headers (SDSS `spec-*.fits`, LAMOST
# DR1-DR10, ...) and returns a `Spectrum`: flux, inverse variance and a bad-pixel mask on a
# **vacuum** wavelength grid in Angstrom, plus the catalogue labels in `spec.meta`.
#
# We use the real SDSS sample file from the shared data folder when it is there; otherwise
# a synthetic spectrum is generated on the fly (and labelled synthetic everywhere).

# %%
from spectool.demo import synthetic_spectrum

candidates = [Path(p) / "data/real/sdss/spec-0324-51616-0159.fits" for p in ("../../shared", "../shared")]
sample = next((p for p in candidates if p.is_file()), None)
if sample is not None:
    spec = spectool.read(sample)
else:
    print("real sample file not found: using a synthetic spectrum instead")
    spec = synthetic_spectrum(seed=0)
spec = spec[0] if isinstance(spec, list) else spec   # some files hold several spectra
real = not spec.meta.get("synthetic")
print(spec)
print("catalogue:", spec.meta.get("class"), spec.meta.get("subclass"), "| S/N per pixel:", spec.meta.get("snr"),
      "| real" if real else "| synthetic")

# %% [markdown]
# `Spectrum.plot` returns a matplotlib Axes; `lines="stellar"` marks the main stellar
# absorption lines at the catalogue redshift. Red shading marks pixels the pipeline
# flagged as bad.

# %%
ax = spec.plot(lines="stellar")
ax.set_title(f"{spec.meta.get('object_id')}: raw {'SDSS spectrum' if real else 'synthetic spectrum'}");

# %% [markdown]
# ## 2. Preprocess as MSPC-Net does
#
# A network needs every spectrum on the same grid and scale. `spectool.preprocess.mspcnet`
# applies the paper's recipe and records each step: interpolate bad pixels, crop to
# 4000-9000 Angstrom, z-score the flux (subtract the mean, divide by the standard
# deviation) and zero-pad to the model's 3584 pixels. The padded pixels have no wavelength
# (NaN) and are not drawn. Narrow spikes that survive are cosmic-ray hits or sky-line
# residuals the pipeline did not mask: z-scoring rescales them but does not remove them.

# %%
x = spectool.preprocess.mspcnet(spec)
for step in x.steps:
    print("-", step)

fig, ax = plt.subplots(figsize=(9, 2.8))
ax.plot(x.wavelength, x.flux, lw=0.5, color="0.2")
ax.set_xlabel("Wavelength (vacuum) [Angstrom]")
ax.set_ylabel("z-scored flux")
ax.set_title(f"model input: {x.flux.size} pixels, mean 0, standard deviation 1");

# %% [markdown]
# ## 3. Predict with a pretrained model
#
# `spectool.models.list_pretrained()` lists the shipped checkpoints. Each one carries a
# *model card*: what it was trained on, with which preprocessing, and how well it did on its
# held-out test split. `mspcnet_sdss-mock-sc` classifies stars into the seven main classes
# O, B, A, F, G, K, M.

# %%
print(spectool.models.list_pretrained())
model = spectool.models.load("mspcnet_sdss-mock-sc")
card = model.card
print(card["description"])
print("test-split metrics (synthetic spectra):", {k: round(v, 3) for k, v in card["metrics"].items()})

# %% [markdown]
# `spectool.predict` preprocesses raw spectra with the recipe named on the card and returns
# one row per spectrum: the predicted label, its probability and the probability of every
# class.

# %%
pred = spectool.predict(model, [spec])
prob_cols = [c for c in pred.columns if c.startswith("prob_")]
pred[["object_id", "pred_label", "pred_prob", *prob_cols]].round(3)

# %% [markdown]
# How to read this: the model's classes are O..M, so the catalogue subclass (e.g. `F9`) is
# compared by its first letter. A model trained on synthetic spectra has never seen a real
# spectrograph's noise, flux calibration or sky residuals, so disagreement on a real
# spectrum is expected and is the *domain gap*, not the paper's accuracy. Notebook
# `08_real_data` measures it on 118 real spectra.

# %%
catalogue = str(spec.meta.get("subclass") or spec.meta.get("class") or "?")
predicted = str(pred["pred_label"].iloc[0])
verdict = "agrees with" if catalogue[:1].upper() == predicted else "disagrees with"
print(f"predicted {predicted} (p = {pred['pred_prob'].iloc[0]:.2f}) {verdict} the catalogue label {catalogue}"
      + (" of this real spectrum (the model only ever saw synthetic spectra)" if real else ""))

# %% [markdown]
# ## 4. Explain the prediction
#
# `spectool.explain.attribute` wraps captum: integrated gradients (IG) integrate the
# gradient of the predicted class's score along a straight path from a blank input (all
# zeros) to the spectrum, so each pixel gets a share of the score. Positive values pushed the
# model towards the predicted class. `n_steps=8` keeps this cell to seconds on a CPU;
# `delta` (the completeness error of the integral) says how far that is from converged,
# raise `n_steps` (50 is captum's default) when it matters.

# %%
att = spectool.explain.attribute(model, x.flux[None, None], method="ig", target=predicted,
                                 wavelength=x.wavelength, n_steps=8, batch_size=8)
print(f"IG convergence delta: {float(np.abs(att.delta).max()):.2g} (in units of the class score)")
smooth = att.smoothed(25)[0]

fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
ax1.plot(x.wavelength, x.flux, lw=0.5, color="0.3")
ax1.set_ylabel("z-scored flux")
ax2.plot(x.wavelength, smooth, color="tab:red", lw=0.8)
ax2.axhline(0, color="0.6", lw=0.5)
ax2.set_ylabel(f"IG attribution to {predicted}\n(25-px running mean)")
ax2.set_xlabel("Wavelength (vacuum) [Angstrom]")
top = np.nanargmax(np.abs(smooth))
ax2.axvline(x.wavelength[top], color="tab:blue", ls=":", lw=0.8)

# what lies at the peak? (vacuum Angstrom; the crop edges are where the padding starts)
features = {"H delta": 4103, "H gamma": 4342, "H beta": 4863, "Mg b": 5177, "Na D": 5894, "H alpha": 6565,
            "telluric A band": 7605, "Ca II triplet": 8544, "crop edge": 4000, "crop edge ": 9000}
name, at = min(features.items(), key=lambda kv: abs(kv[1] - x.wavelength[top]))
near = f"within {abs(at - x.wavelength[top]):.0f} Angstrom of {name.strip()}" if abs(at - x.wavelength[top]) < 40 \
    else "not at a listed line"
print(f"largest |attribution| at {x.wavelength[top]:.0f} Angstrom: {near}")

# %% [markdown]
# Reading the attribution: look where the red curve is large and whether that wavelength
# is a physical feature (Balmer lines at 4102, 4341, 4862, 6564 Angstrom; Ca II, Mg b,
# Na D; molecular bands in cool stars) or an instrumental one (the telluric A band at
# 7600 Angstrom, the edges of the crop). A model that relies on instrument features will
# not transfer between surveys.
#
# ## Where next
#
# | notebook | what it teaches |
# |---|---|
# | `01_data_and_preprocessing` | the datasets of the papers and each paper's preprocessing |
# | `02`-`04` | MSPC-Net: training, analysis, ablations |
# | `05_spfusion`, `06_scanet` | red-clump mass and age from spectra + images; Teff, log g, [Fe/H] |
# | `07_interactive_inspection` | browse spectra, predictions and templates in JupyterLab widgets |
# | `08_real_data` | the shipped models on 118 real SDSS/LAMOST spectra |
#
# Every figure of the three papers can also be regenerated from the command line with
# `spectool figures --mode quick`.
