# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # MSPC-Net: ablations
#
# Identity ratio, kernel sets, channels and attention (Table 7, appendix Tables 8-17) and the large-parameter baselines (Table 18). Quick mode runs a tiny grid (a few variants, 1 fold, 1 epoch).
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
# ### `mspc-tab7`
# Ablations: identity ratio, kernel sets, channels, attention.

# %%
plots.mspc_tab7(figures.compute("mspc-tab7", ctx=ctx))

# %% [markdown]
# ### `mspc-tab8-17`
# Full ablation tables per dataset (appendix A).

# %%
plots.mspc_tab8_17(figures.compute("mspc-tab8-17", ctx=ctx))

# %% [markdown]
# ### `mspc-tab18`
# RAC-Net and ConvNeXt at MSPC-Net's size vs originals (appendix B).

# %%
plots.mspc_tab18(figures.compute("mspc-tab18", ctx=ctx))
