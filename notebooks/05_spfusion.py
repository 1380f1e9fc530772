# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # SPFusion: red-clump mass and age from spectra + images
#
# Splits, model comparison, predictions, S/N dependence, ablations and SE channel attention.
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
# ### `spf-tab1`
# Train / validation / test counts per fold.

# %%
plots.spf_tab1(figures.compute("spf-tab1", ctx=ctx))

# %% [markdown]
# ### `spf-tab2`
# Params and MAE(mass), MAE(age): published values and spectool's runs.

# %%
plots.spf_tab2(figures.compute("spf-tab2", ctx=ctx))

# %% [markdown]
# ### `spf-fig2`
# Params vs MAE scatter, mass and age panels.

# %%
plots.spf_fig2(figures.compute("spf-fig2", ctx=ctx))

# %% [markdown]
# ### `spf-fig3`
# Predicted vs true mass, per model.

# %%
plots.spf_fig3(figures.compute("spf-fig3", ctx=ctx))

# %% [markdown]
# ### `spf-fig4`
# Predicted vs true age, per model.

# %%
plots.spf_fig4(figures.compute("spf-fig4", ctx=ctx))

# %% [markdown]
# ### `spf-fig5`
# MAE(mass) vs S/N in bins of 10, per model.

# %%
plots.spf_fig5(figures.compute("spf-fig5", ctx=ctx))

# %% [markdown]
# ### `spf-fig6`
# MAE(age) vs S/N in bins of 10, per model.

# %%
plots.spf_fig6(figures.compute("spf-fig6", ctx=ctx))

# %% [markdown]
# ### `spf-tab3`
# Ablation: star operator on/off.

# %%
plots.spf_tab3(figures.compute("spf-tab3", ctx=ctx))

# %% [markdown]
# ### `spf-tab4`
# Ablation: star-fusion kernel size.

# %%
plots.spf_tab4(figures.compute("spf-tab4", ctx=ctx))

# %% [markdown]
# ### `spf-tab5`
# Ablation: feed-forward ratio.

# %%
plots.spf_tab5(figures.compute("spf-tab5", ctx=ctx))

# %% [markdown]
# ### `spf-tab6`
# Ablation: attention heads.

# %%
plots.spf_tab6(figures.compute("spf-tab6", ctx=ctx))

# %% [markdown]
# ### `spf-tab7`
# Ablation: MetaFormer blocks.

# %%
plots.spf_tab7(figures.compute("spf-tab7", ctx=ctx))

# %% [markdown]
# ### `spf-fig7`
# MAE(mass) vs S/N with and without star fusion.

# %%
plots.spf_fig7(figures.compute("spf-fig7", ctx=ctx))

# %% [markdown]
# ### `spf-fig8`
# MAE(age) vs S/N with and without star fusion.

# %%
plots.spf_fig8(figures.compute("spf-fig8", ctx=ctx))

# %% [markdown]
# ### `spf-fig9`
# SE channel-attention heatmap: batch x channels (photometric / fused / spectral).

# %%
plots.spf_fig9(figures.compute("spf-fig9", ctx=ctx))

# %% [markdown]
# ### `spf-fig10`
# Spectral-channel attention on the spectrum below 5500 A, weights > 0.5 shaded.

# %%
plots.spf_fig10(figures.compute("spf-fig10", ctx=ctx))

# %% [markdown]
# ### The authors' trained SPFusion (ONNX)
# If you have the authors' released `model.onnx`, `spectool.models.spfusion_from_onnx` rebuilds it as a spectool model; its SE weights are then shown for the same (here synthetic) batch. Skipped when the file is absent.

# %%
from pathlib import Path
from spectool.explain import SPFUSION_GROUPS, attention_weights

onnx = next((p for p in (Path("../../shared/reference/spfusion/model.onnx"), Path("../shared/reference/spfusion/model.onnx"))
             if p.is_file()), None)
if onnx is None:
    print("authors' model.onnx not found: skipping")
else:
    authors = spectool.models.spfusion_from_onnx(onnx)
    ds = ctx.dataset("spfusion/redclump")
    rows = ds.indices("test", 0)[:32]
    rec = attention_weights(authors, ds.flux[rows][:, None], image=ds.images[rows], layers=["head.se"])
    res = plots.Result({"weights": rec.weights["head.se"], "groups": SPFUSION_GROUPS,
                        "model": "authors' weights from ONNX"}, ctx.src)
    plots.spf_fig9(res)
