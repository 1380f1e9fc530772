# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · MSPC-Net: what the trained model does (Table 5, Figs. 4, 5, 7, 8, 9)
#
# A trained classifier is more than its accuracy. Following the paper's analysis, this
# notebook evaluates the **shipped pretrained checkpoints** (trained on the mock SC-S>5 set)
# on freshly generated mock spectra they never saw, then asks: which classes are confused,
# how does accuracy depend on S/N, how do the penultimate features cluster (t-SNE), what do
# the multi-scale convolutions respond to, and what does a misclassified spectrum look like?
#
# > **Synthetic data.** The checkpoints were trained on the synthetic mock survey and are
# > evaluated on it: the numbers describe mock spectra, never real SDSS/LAMOST stars.

# %% tags=["parameters"]
# Parameters (papermill can override them: papermill NB.ipynb out.ipynb -p mode medium -p source /data/ingested)
mode = "quick"    # "smoke": CI code-path check (1 epoch, not a result); "quick": minutes on a CPU;
                  # "medium": the papers' protocols at reduced size (1.5-2 h CPU, all papers); "full": paper protocol (GPU)
source = "mock"   # "mock": the embedded synthetic survey; or a directory of real data ingested with `spectool ingest`
cache = None      # results cache shared with `spectool figures` (None: the user cache folder)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import spectool
from spectool import datasets, explain, models, papers, plots

ctx = papers.context(mode, source, cache)
print(f"data: {ctx.src.label}; results cache: {ctx.cache / ctx.key}")

# %% [markdown]
# ## 1. A pretrained model and unseen test spectra
# `models.list_pretrained()` names the shipped checkpoints; each carries a model card
# (training data, preprocessing, metrics). The test spectra come from the same mock
# generator with another seed, so none of them was used in training.

# %%
print([n for n in models.list_pretrained() if n.endswith("-sc")])
model = models.load("mspcnet_sdss-mock-sc")
test = datasets.load("mspc/SC-S>5", source="mock", size="quick", seed=1000 + ctx.seed)
n = {"smoke": 40}.get(mode, len(test))
rows = np.arange(n)
print(f"{type(model).__name__}: classes {model.output_names}; {n} unseen mock test spectra")

# %% [markdown]
# ## 2. Predictions and the trivial baseline
# `spectool.predict` takes a model and a dataset (or spectra) and returns one row per
# spectrum with the predicted class and its probability.

# %%
pred = spectool.predict(model, test, indices=rows)
true = np.asarray(test.class_names)[test.labels[rows]]
acc = float((pred["pred_label"].astype(str).to_numpy() == true).mean())
majority = pd.Series(true).value_counts(normalize=True).iloc[0]
print(f"accuracy {100 * acc:.1f} % vs majority class {100 * majority:.1f} %")
pd.crosstab(pd.Series(true, name="true"), pd.Series(pred["pred_label"].to_numpy(), name="predicted"))

# %% [markdown]
# ## 3. Inside the model: feature maps of the multi-scale convolution (explanation)
# `explain.feature_maps` records the output of any submodule. The embedding convolution
# sees a few pixels at a time; the first MSPC module mixes three kernel sizes in its first
# channels (k = 5, 45, 405) and passes the identity share through unchanged, which is the
# banded structure the paper's Fig. 7 shows.

# %%
row = int(rows[0])
maps = explain.feature_maps(model, np.asarray(test.flux[row])[None, None], ["embed", "stages.0.blocks.0.mixer"],
                            wavelength=test.wavelength)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), constrained_layout=True)
for ax, (name, fm) in zip(axes, maps.items()):
    plots.heatmap(fm.values, ax=ax, label="activation [arbitrary units]", x=fm.wavelength,
                  xlabel=plots.WAVELENGTH_LABEL, ylabel="channel", cmap="magma")
    ax.set_title(name)
plt.show()

# %% [markdown]
# ## 4. The paper's analysis figures
# `papers.draw` computes each figure's input for all four Table 3 models (SSCNN, RAC-Net,
# ConvNeXt-1D, MSPC-Net: their shipped checkpoints in the quick and medium modes), caches it
# and draws it. Table 5: per-class true positives and the most frequent confusions.

# %%
papers.draw("mspc-tab5", ctx=ctx)

# %% [markdown]
# Fig. 4: t-SNE of the penultimate features. Well-separated clusters mean the model has
# learned class-specific features; neighbouring classes (F/G/K) touch, as in the paper.

# %%
papers.draw("mspc-fig4", ctx=ctx)
plt.show()

# %% [markdown]
# Fig. 5: accuracy per S/N interval with the number of test spectra per interval below.
# Only intervals holding at least 20 spectra get an accuracy point.

# %%
papers.draw("mspc-fig5", ctx=ctx)
plt.show()

# %%
papers.draw("mspc-fig7", ctx=ctx)
plt.show()

# %% [markdown]
# Fig. 8: the same mock stars observed SDSS-like and LAMOST-like. Correct predictions
# mostly come with agreeing labels; the paper finds the same for real cross-matched stars.

# %%
papers.draw("mspc-fig8", ctx=ctx)
plt.show()

# %%
papers.draw("mspc-fig9", ctx=ctx)
plt.show()

# %% [markdown]
# ## Reading the result honestly
# The checkpoints are small-data mock models: they separate the hot and the cool classes
# well and confuse neighbours, which is the *shape* of the paper's analysis. Accuracy
# rising with S/N is expected of any classifier; on the mock survey the low-S/N intervals
# hold few spectra, so their points are noisier. The numbers below are synthetic.

# %%
runs = papers.compute("mspc-fig5", ctx=ctx).data
print(runs.results[["label", "accuracy", "baseline_accuracy", "learned", "n"]].round(3).to_string(index=False))
