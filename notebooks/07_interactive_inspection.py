# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Interactive inspection
#
# Browse spectra with model outputs and templates, explore the feature embedding and the attention heatmap. In JupyterLab the widgets are live; `to_html` writes a page that works without a kernel.
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
# ### Spectrum inspector
# A pretrained model (trained on the synthetic mock survey) gives class probabilities; templates are the per-class median mock spectra. Every control of the widget is also a method, used below so the notebook shows each feature without clicking.

# %%
import tempfile
from pathlib import Path

from spectool.widgets import DisplayOptions, SpectrumInspector

model = spectool.models.load("convnext1d-mock-sc")   # pretrained on synthetic mock data (see its model card)
ds = ctx.dataset("mspc/SC-S>5")
vi_file = Path(tempfile.mkdtemp()) / "visual_inspection.csv"
insp = SpectrumInspector(ds, model=model, templates="auto", vi_file=vi_file,
                         options=DisplayOptions(smoothing=1.0, line_sets=("balmer", "stellar"), template_rank=0))
insp.widget   # navigation, filters, smoothing, noise, masks, lines, frame, redshift, templates, outputs, VI

# %%
# navigate: next / previous / position box / by object id
first = insp.object_id
insp.next(); second = insp.object_id
insp.previous(); print(f"next: {first} -> {second}; previous: back to {insp.object_id}")
insp.goto_position(3); print("position 3 (0-based):", insp.object_id)
# filters: class, S/N range, prediction correctness (misclassified only)
insp.set_filters(classes=("A", "F"), snr_range=(5, 200)); print("A/F with S/N 5-200:", len(insp.nav), "spectra")
insp.set_filters(classes=None, snr_range=(-float("inf"), float("inf")), correctness="misclassified")
print("misclassified by the model:", len(insp.nav))
insp.set_filters(correctness="all")

# %%
# display options: smoothing, noise 1/sqrt(ivar), masked pixels, rest frame, redshift, Nth-best template,
# line sets on/off and an attribution overlay (computed on demand by spectool.explain)
insp.set_options(smoothing=2.0, show_noise=True, show_mask=True, frame="rest", redshift=0.0005, template_rank=1)
insp.toggle_line_set("molecular", True); insp.toggle_line_set("balmer", False)
insp.set_options(attribution="integrated gradients")
print(insp.view_options)
fig = insp.figures   # the bokeh figures: spectrum (+hover zoom sub-window), probabilities, metadata table

# %%
# visual inspection: label, quality flag and comment, saved atomically; a new inspector resumes
insp.goto_position(0); insp.save_vi(label="F", quality=3, comment="clean F star (mock)")
insp.next(); insp.save_vi(label="G", quality=2, comment="")   # two objects inspected
again = SpectrumInspector(ds, vi_file=vi_file, templates=None)
print(vi_file.read_text().splitlines()[0]); print("resumes at", again.object_id)

# %%
# the g,r,i cutout is shown when the data has images (SPFusion red-clump set)
rc_insp = SpectrumInspector(ctx.dataset("spfusion/redclump"), templates=None)
rc_insp.widget

# %%
# a self-contained page to share (no kernel, no network), like DESI prospect's pages
page = insp.to_html(ctx.cache / "inspector.html", max_objects=5, title=f"spectool inspector: {ds.name} ({ctx.src.label})")
print("standalone page:", page)

# %% [markdown]
# ### Embedding explorer
# The t-SNE of `mspc-fig4`; selections show the spectra.

# %%
from spectool.widgets import EmbeddingExplorer

emb = figures.compute("mspc-fig4", ctx=ctx).data["MSPC-Net"]
rows = emb["row"].to_numpy()
explorer = EmbeddingExplorer(None, emb.reset_index(drop=True), [ds.spectrum(int(r)) for r in rows],
                             coords=emb[["x", "y"]].to_numpy(), predicted=list(emb["prediction"]), inspector=insp)
explorer   # colour by label / prediction / S/N; tap or lasso shows spectra and moves the linked inspector

# %% [markdown]
# ### Attention explorer
# SPFusion's SE weights (`spf-fig9`); click a cell for the spectrum.

# %%
from spectool.widgets import AttentionExplorer

att = figures.compute("spf-fig9", ctx=ctx).data
rc = ctx.dataset("spfusion/redclump")
rc_rows = sorted(figures.compute("spf-fig3", ctx=ctx).data.predictions[("spfusion/redclump", "SPFusion")]["row"][:len(att["weights"])])
AttentionExplorer(att["weights"], [rc.spectrum(int(r)) for r in rc_rows])
