# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Data and preprocessing
#
# Before any network is trained, each of the three papers fixes **what a spectrum looks
# like to the model**: which survey and classes, which wavelength range, how flux is
# scaled and how bad pixels are treated. This notebook walks through:
#
# 1. the dataset presets of the papers and how a dataset is loaded;
# 2. what a labelled dataset holds (labels, S/N, folds) and what its classes look like;
# 3. MSPC-Net's preprocessing (crop and z-score) on a LAMOST and an SDSS spectrum;
# 4. SCA-Net's preprocessing (rest frame, continuum normalisation, S-fold to an image);
# 5. the label distributions SCA-Net is trained on.
#
# > **Synthetic data.** With `source = "mock"` every dataset below is spectool's *synthetic
# > mock survey*: spectra generated from physical templates with survey-like noise, not the
# > papers' real SDSS/LAMOST data. Compare only the shape of a result (orderings, trends) with
# > the papers, never the numbers. Set `source` to a directory of real data ingested with
# > `spectool ingest` to rerun everything on it.

# %% tags=["parameters"]
# Parameters (papermill can override them: papermill NB.ipynb out.ipynb -p mode full -p source /data/ingested)
mode = "quick"    # "smoke" (CI), "quick", "medium" or "full" (the papers' protocol): see README, Modes
source = "mock"   # "mock": the embedded synthetic survey; or a directory of real data ingested with `spectool ingest`
cache = None      # results cache shared by the notebooks and `spectool figures` (None: the user cache folder)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import spectool
from spectool import figures

# the papers' figures are drawn from cached results shared with `spectool figures`
ctx = figures.context(mode, source, cache)
print(f"data: {ctx.src.label}")

# %% [markdown]
# ## 1. The dataset presets
#
# A *preset* names a dataset of one paper and says what it is: the task, the survey, the
# labels, the S/N cut, the folds and the preprocessing recipe its models expect.
# `spectool.datasets.load(name, source=..., size=...)` returns it as a `SpectralDataset`;
# with `source="mock"` it is generated on first use and cached.

# %%
from spectool.datasets import PRESETS

pd.DataFrame([{"preset": name, "paper": p.paper, "task": p.task, "survey": p.survey.upper(),
               "labels": ", ".join(p.class_names[:8]) + (" ..." if len(p.class_names) > 8 else "") or ", ".join(p.targets),
               "S/N cut": p.snr_min or "", "folds": p.n_folds, "preprocess": p.preprocess}
              for name, p in PRESETS.items()])

# %% [markdown]
# MSPC-Net's Table 1 lists its ten datasets: stellar classes (SC), stellar subclasses (SS)
# and a full classification (FC) with galaxies and quasars, each with and without an S/N cut.
# The "count here" column is what this source and mode hold: quick mode keeps a few dozen
# spectra per class so that everything runs on a CPU.

# %%
figures.draw("mspc-tab1", ctx=ctx)

# %% [markdown]
# ## 2. Inside a dataset
#
# We load the seven-class stellar set with S/N > 5 (`mspc/SC-S>5`). Its rows are already
# preprocessed for MSPC-Net (3584 pixels); `ds.meta` holds one row of labels per
# spectrum, including the physical parameters the mock generator used (`teff` in K,
# `logg` in dex, `feh` in dex) and the split of each spectrum in each cross-validation fold.

# %%
ds = spectool.datasets.load("mspc/SC-S>5", source=source, size="full" if mode == "full" else "quick")
print(ds)
print("model input:", ds.flux.shape[1], "pixels;", "folds:", ds.n_folds)
print("fold 0 split sizes:", {s: len(ds.indices(s, 0)) for s in ("train", "val", "test")})
ds.meta[["object_id", "label", "subclass", "snr", "teff", "logg", "feh", "fold_0"]].head()

# %% [markdown]
# The classes are balanced (as in the paper, where each class has 2000 spectra) and the
# S/N cut shows in the distribution: no spectrum below 5.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
counts = ds.meta["label"].value_counts().reindex(ds.class_names)
ax1.bar(counts.index, counts.values, color="tab:blue")
ax1.set_xlabel("class")
ax1.set_ylabel("spectra")
ax2.hist(ds.meta["snr"], bins=30, color="0.4")
ax2.set_xlabel("median S/N per pixel")
ax2.set_ylabel("spectra")
fig.suptitle(f"{ds.name}: {len(ds)} synthetic spectra" if ds.synthetic else ds.name)
fig.tight_layout()

# %% [markdown]
# One spectrum per class, offset vertically, shows what the network has to learn: hot O
# and B stars have a blue continuum and few lines (He, Balmer), A stars the strongest
# Balmer lines, and from F to M the metal lines and then the molecular (TiO) bands grow.

# %%
fig, ax = plt.subplots(figsize=(9, 6))
for k, cls in enumerate(ds.class_names):
    row = int(np.flatnonzero(ds.meta["label"].to_numpy() == cls)[0])
    s = ds.spectrum(row)
    ax.plot(s.wavelength, s.flux - 4 * k, lw=0.5)
    ax.text(s.wavelength[-1] + 40, -4 * k, f"{cls} ({s.meta['subclass']})", va="center", fontsize=8)
ax.set_xlabel("Wavelength (vacuum) [Angstrom]")
ax.set_ylabel("z-scored flux (offset by 4 per class)")
ax.set_yticks([])
ax.set_xlim(None, ds.spectrum(0).wavelength[-1] + 450)
ax.set_title("the stellar sequence O to M" + (" (synthetic mock spectra)" if ds.synthetic else ""));

# %% [markdown]
# ## 3. MSPC-Net's preprocessing
#
# `spectool.preprocess.mspcnet` crops 4000-9000 Angstrom (vacuum), interpolates bad
# pixels, z-scores the flux and zero-pads to 3584 pixels. The z-score removes the flux
# scale (distance, exposure, calibration) but keeps the shape of the continuum, so the
# temperature information in the slope survives. The figure shows it on a LAMOST and an
# SDSS spectrum (synthetic ones with `source = "mock"`).

# %%
fig = figures.draw("mspc-fig1", ctx=ctx)

# %% [markdown]
# The same call on any spectrum, step by step; each step is recorded:

# %%
raw = figures.compute("mspc-fig1", ctx=ctx).data["sdss"][0]   # the raw SDSS spectrum of the figure
x = spectool.preprocess.mspcnet(raw)
for step in x.steps:
    print("-", step)
print(f"{len(x)} pixels, {int(x.padding.sum())} of them padding; mean {np.mean(x.flux[x.valid]):.3f}, "
      f"std {np.std(x.flux[x.valid]):.3f}")

# %% [markdown]
# ## 4. SCA-Net's preprocessing
#
# SCA-Net measures Teff, log g and [Fe/H] from LAMOST spectra. It shifts each spectrum to
# the **rest frame** (so a line is always at the same pixel), resamples 4000-8095
# Angstrom at 1 Angstrom, divides by a fitted continuum (so only the lines remain; their
# depths carry temperature, gravity and metallicity) and folds the 4096 pixels S-wise into
# a 64 x 64 image for its 2-D convolutions.

# %%
fig = figures.draw("sca-fig2", ctx=ctx)

# %%
fig = figures.draw("sca-fig3", ctx=ctx)

# %% [markdown]
# The fold is a pure re-arrangement: every pixel is kept once and unfolding gives the
# spectrum back exactly.

# %%
lamost = figures.compute("sca-fig2", ctx=ctx).data["scanet"][0]
z = spectool.preprocess.scanet(lamost)
img = spectool.preprocess.fold_s(z.flux)
print(f"{z.flux.size} px -> image {img.shape}; round trip exact:",
      np.array_equal(spectool.preprocess.unfold_s(img), z.flux))

# %% [markdown]
# SPFusion (red-clump mass and age) uses a third recipe: a min-max scaled spectrum
# together with a g, r, i image cutout, each band min-max scaled on its own
# (`spectool.preprocess.spfusion(spec, image)`); notebook `05_spfusion` shows it.
#
# ## 5. The labels SCA-Net learns
#
# The regression targets of SCA-Net's AFGK set: Teff (K), log g (dex) and [Fe/H] (dex).
# A model can only be trusted inside the label ranges it saw in training; the histograms
# show those ranges (here of the mock generator's stars).

# %%
fig = figures.draw("sca-fig1", ctx=ctx)

# %% [markdown]
# **What this shows, honestly:** the datasets here have the papers' structure (classes,
# S/N cuts, folds, recipes), and the synthetic spectra follow the stellar sequence, but
# they are far smaller than the papers' and are generated, not observed. Real spectra have
# sky residuals, flux-calibration errors and telluric bands that the mock survey only
# imitates; `08_real_data` shows what that costs a model trained on it.
