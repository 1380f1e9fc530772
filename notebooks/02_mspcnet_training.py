# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # MSPC-Net: training and cross-validation
#
# Model design (Table 2), cross-validated accuracy of MSPC-Net against SSCNN, RAC-Net and ConvNeXt-1D (Tables 3, 4, 6) and the training curves (Fig. 6). The runs are cached: rerunning a cell reads them back.
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
# ### `mspc-tab2`
# Model design: per stage output size, layers and parameters.

# %%
plots.mspc_tab2(figures.compute("mspc-tab2", ctx=ctx))

# %% [markdown]
# ### `mspc-tab3`
# Accuracy and F1 per fold + mean, stellar classes, 4 models.

# %%
plots.mspc_tab3(figures.compute("mspc-tab3", ctx=ctx))

# %% [markdown]
# ### `mspc-tab4`
# Accuracy and F1 per fold + mean, stellar subclasses.

# %%
plots.mspc_tab4(figures.compute("mspc-tab4", ctx=ctx))

# %% [markdown]
# ### `mspc-tab6`
# Accuracy and F1 per fold + mean, full classification.

# %%
plots.mspc_tab6(figures.compute("mspc-tab6", ctx=ctx))

# %% [markdown]
# ### `mspc-fig6`
# Training and validation accuracy vs epoch, per model.

# %%
plots.mspc_fig6(figures.compute("mspc-fig6", ctx=ctx))
