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
# The datasets of the papers and what each paper's preprocessing does to a spectrum.
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
# ### `mspc-fig1`
# Raw vs z-score-normalised spectrum, LAMOST (left) and SDSS (right).

# %%
plots.mspc_fig1(figures.compute("mspc-fig1", ctx=ctx))

# %% [markdown]
# ### `mspc-tab1`
# The ten datasets: type, name, categories, counts, S/N cut, survey.

# %%
plots.mspc_tab1(figures.compute("mspc-tab1", ctx=ctx))

# %% [markdown]
# ### `sca-fig1`
# Training-label histograms: Teff, log g, [Fe/H].

# %%
plots.sca_fig1(figures.compute("sca-fig1", ctx=ctx))

# %% [markdown]
# ### `sca-fig2`
# A spectrum before and after SCA-Net preprocessing.

# %%
plots.sca_fig2(figures.compute("sca-fig2", ctx=ctx))

# %% [markdown]
# ### `sca-fig3`
# A preprocessed spectrum folded S-wise into a 64 x 64 image.

# %%
plots.sca_fig3(figures.compute("sca-fig3", ctx=ctx))
