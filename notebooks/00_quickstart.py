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
# One spectrum through the whole toolkit in ten cells.
#
# > **Synthetic data.** With `source = "mock"` every number below is measured on spectool's *synthetic mock survey*, not on the papers' real SDSS/LAMOST data. Compare only the shape of a result (orderings, trends) with the papers, never the numbers. Set `source` to a directory of ingested real data to rerun everything on it.

# %% tags=["parameters"]
# Parameters (papermill can override them: papermill NB.ipynb out.ipynb -p mode full -p source /data/ingested)
mode = "quick"    # "quick": tiny mock datasets, slim models, 1 epoch; "full": the papers' protocol
source = "mock"   # "mock": the embedded synthetic survey; or a directory of real data ingested with `spectool ingest`
cache = None      # results cache shared by the notebooks and `spectool figures` (None: the user cache folder)

# %%
import matplotlib.pyplot as plt
import spectool
from spectool import figures, plots

ctx = figures.context(mode, source, cache)
print(f"data: {ctx.src.label}; results cache: {ctx.cache / ctx.key}")

# %% [markdown]
# ## 1. Read a spectrum
# The real SDSS sample file when the shared data folder is present, otherwise a synthetic spectrum written on the fly (labelled synthetic).

# %%
from pathlib import Path
from spectool.demo import synthetic_spectrum

sample = Path("../../shared/data/real/sdss/spec-0324-51616-0159.fits")
if not sample.is_file():
    sample = Path("../shared/data/real/sdss/spec-0324-51616-0159.fits")
spec = spectool.read(sample) if sample.is_file() else synthetic_spectrum(seed=0)
spec = spec[0] if isinstance(spec, list) else spec
print(spec.meta.get("object_id"), spec.meta.get("class"), spec.meta.get("subclass"),
      "synthetic" if spec.meta.get("synthetic") else "real")
spec.plot(lines="stellar");

# %% [markdown]
# ## 2. Preprocess as MSPC-Net does
# Crop 4000-9000 A, z-score, zero-pad to 3584 pixels.

# %%
x = spectool.preprocess.mspcnet(spec)
print(x)
plt.figure(figsize=(9, 2.5)); plt.plot(x.wavelength, x.flux, lw=0.5); plt.xlabel("Wavelength (vacuum) [Angstrom]");

# %% [markdown]
# ## 3. Predict with a pretrained model
# A shipped pretrained MSPC-Net (trained on synthetic mock data, as its card says) when present; otherwise the tiny MSPC-Net that the figures pipeline trains on the mock survey (`mspc_classes` step, cached).

# %%
from spectool import models
from spectool.plots.steps import _model_of

names = models.list_pretrained("mspcnet_sdss-mock-sc") or models.list_pretrained("mspcnet_sdss*")
if names:
    model = models.load(names[0])
    print("pretrained:", names[0], model.card.get("training", {}))
else:
    model, _, _ = _model_of(ctx, "mspc_classes", "MSPC-Net")
    print("no pretrained checkpoint shipped: using the MSPC-Net trained by the figures pipeline")
pred = spectool.predict(model, [spec])
pred

# %% [markdown]
# ## 4. Explain the prediction
# Integrated-gradients attribution per pixel (captum), smoothed, on top of the spectrum.

# %%
from spectool import explain

target = str(pred["pred_label"].iloc[0])
att = explain.attribute(model, x.flux[None, None], method="ig", target=target, wavelength=x.wavelength)
att_values = att.smoothed(25)[0]
fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(x.wavelength, x.flux, lw=0.5, color="0.3")
ax2 = ax.twinx(); ax2.plot(x.wavelength, att_values, color="tab:red", lw=0.8)
ax.set_xlabel("Wavelength (vacuum) [Angstrom]"); ax2.set_ylabel("attribution");

# %% [markdown]
# ## 5. Every figure of the papers
# `spectool figures --mode quick` regenerates all catalog ids; the numbered notebooks 01-06 show them one by one.

# %%
print(", ".join(plots.CATALOG))
