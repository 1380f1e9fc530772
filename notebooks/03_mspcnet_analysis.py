# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # MSPC-Net: analysis
#
# Per-class errors, feature embeddings, S/N dependence, feature maps and a misclassified spectrum.
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
# ### `mspc-tab5`
# Per-class TP, top-1 FN source and FP target, SSCNN vs MSPC-Net.

# %%
plots.mspc_tab5(figures.compute("mspc-tab5", ctx=ctx))

# %% [markdown]
# ### `mspc-fig4`
# t-SNE of penultimate features, one panel per model.

# %%
plots.mspc_fig4(figures.compute("mspc-fig4", ctx=ctx))

# %% [markdown]
# ### `mspc-fig5`
# Accuracy vs S/N interval (top) and S/N histogram (bottom), per model.

# %%
plots.mspc_fig5(figures.compute("mspc-fig5", ctx=ctx))

# %% [markdown]
# ### `mspc-fig7`
# Feature maps of a regular convolution vs the MSPC module, one spectrum.

# %%
plots.mspc_fig7(figures.compute("mspc-fig7", ctx=ctx))

# %% [markdown]
# ### `mspc-fig8`
# Label agreement between two surveys for correct vs incorrect predictions (mock: the same mock stars observed SDSS-like and LAMOST-like).

# %%
plots.mspc_fig8(figures.compute("mspc-fig8", ctx=ctx))

# %% [markdown]
# ### `mspc-fig9`
# A misclassified spectrum with candidate class templates overlaid.

# %%
plots.mspc_fig9(figures.compute("mspc-fig9", ctx=ctx))
