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
# Numbers summarise a model; looking at spectra tells you *why* it is right or wrong.
# `spectool.widgets` has three viewers for JupyterLab (ipywidgets controls around bokeh
# plots, in the manner of DESI's prospect):
#
# * `SpectrumInspector`: browse spectra with the model's class probabilities, spectral
#   lines, template fits, smoothing, redshift, and record a visual inspection (VI) per
#   object in a CSV file;
# * `EmbeddingExplorer`: the model's feature space in 2-D (t-SNE); select points to see
#   their spectra;
# * `AttentionExplorer`: channel-attention weights per spectrum; click a cell for the
#   spectrum.
#
# In JupyterLab every control is live. Each control is also a method of the inspector, and
# the cells below call those methods, so the notebook shows every feature when it is run
# without anyone clicking (as in CI). `to_html` writes a page that works without a kernel.
#
# > **Synthetic data.** With `source = "mock"` the spectra are spectool's *synthetic mock
# > survey* and the models were trained on it; nothing here is a measurement on real data.

# %% tags=["parameters"]
# Parameters (papermill can override them: papermill NB.ipynb out.ipynb -p mode full -p source /data/ingested)
mode = "quick"    # "quick": tiny mock datasets, slim models, 1 epoch; "full": the papers' protocol
source = "mock"   # "mock": the embedded synthetic survey; or a directory of real data ingested with `spectool ingest`
cache = None      # results cache shared by the notebooks and `spectool figures` (None: the user cache folder)
vi_file = None    # CSV that keeps the visual-inspection records (None: a new file in a temporary folder)

# %%
import tempfile
from pathlib import Path

import numpy as np

import spectool
from spectool.widgets import DisplayOptions, SpectrumInspector

# %% [markdown]
# ## The spectrum inspector
#
# We inspect the seven-class stellar set `mspc/SC-S>5` with a pretrained ConvNeXt-1D
# (trained on the same synthetic survey; its card says so). Given a model, the inspector
# predicts every spectrum once at start-up. `templates="auto"` builds one median template
# per labelled class and fits the best ones to each spectrum; `vi_file` is where the
# visual-inspection records go (the inspector resumes at the first object without one).

# %%
ds = spectool.datasets.load("mspc/SC-S>5", source=source, size=mode)
model = spectool.models.load("convnext1d-mock-sc")
print(model.card["description"])

vi_path = Path(vi_file) if vi_file else Path(tempfile.mkdtemp(prefix="spectool-vi-")) / "visual_inspection.csv"
print(f"VI records go to {vi_path}")
insp = SpectrumInspector(ds, model=model, templates="auto", vi_file=vi_path,
                         options=DisplayOptions(smoothing=1.0, line_sets=("balmer", "stellar"), template_rank=0))
print(insp)

# %% [markdown]
# The widget: navigation and filters on top, then the spectrum (hover it for a zoomed
# sub-window), the class probabilities and the metadata, and the VI form at the bottom.
# In JupyterLab, try *Next*, pick a class, move the redshift slider or switch the template
# fit.

# %%
insp.widget

# %% [markdown]
# ### Navigating and filtering
#
# `next`/`previous` step through the selected spectra, `goto_position` jumps. Filters
# select by class, S/N range and whether the model's prediction is right: looking at the
# **misclassified** spectra is the quickest way to see what a model has not learnt.

# %%
first = insp.object_id
insp.next()
print(f"next: {first} -> {insp.object_id}")
insp.previous()
print("previous: back to", insp.object_id)

insp.set_filters(classes=("A", "F"), snr_range=(5, 200))
print("class A or F with S/N 5-200:", len(insp.nav), "spectra")
insp.set_filters(classes=None, snr_range=(-np.inf, np.inf), correctness="misclassified")
print("misclassified by the model:", len(insp.nav), "of", len(ds), "spectra")
if len(insp.nav):
    print("first misclassified:", insp.object_id, "| catalogue", ds.meta["label"].iat[insp.row])
insp.set_filters(correctness="all");

# %% [markdown]
# ### Display options
#
# Smoothing (a running mean in pixels), the noise spectrum 1/sqrt(ivar), masked pixels,
# observed or rest frame, the redshift used for lines and the rest frame, which template
# fit to overlay (0 = best), and which line sets to mark. Attribution overlays
# (integrated gradients, sliding-window importance) are computed on demand per spectrum;
# on a CPU they take seconds to minutes, so choose one in the widget when you need it.

# %%
insp.set_options(smoothing=2.0, show_noise=True, frame="rest", template_rank=1)
insp.toggle_line_set("molecular", True)
insp.toggle_line_set("balmer", False)
print(insp.view_options)
print("attribution overlays available:", insp.data.overlays.names)

# %% [markdown]
# The redshift defaults to the catalogue value of each object; setting it overrides it
# until you move to another object (useful to check a doubtful catalogue redshift by eye).

# %%
print("catalogue redshift:", round(insp.redshift, 6))
insp.set_options(redshift=0.0005)
print("inspecting at z =", insp.redshift)
insp.set_options(frame="observed", redshift=None, template_rank=0, show_noise=False)
insp.toggle_line_set("balmer", True)

# %% [markdown]
# ### Visual inspection records
#
# `save_vi` (the *Save VI* button) records a label, a quality flag (0-4) and a comment for
# the current object. The file is written atomically after each record, so nothing is lost
# if the kernel dies; a new inspector on the same file resumes after the last inspected
# object.

# %%
insp.goto_position(0)
insp.save_vi(label=ds.meta["label"].iat[insp.row], quality=3, comment="clean spectrum (mock)")
insp.next()
insp.save_vi(label="other", quality=1, comment="example of a doubtful label")
print(vi_path.read_text())
again = SpectrumInspector(ds, vi_file=vi_path, templates=None)
print("a new inspector on this file resumes at", again.object_id)
insp.goto_position(2);

# %% [markdown]
# ### A page to share
#
# `to_html` writes a self-contained page (BokehJS inlined: no kernel, no network) of up to
# `max_objects` spectra with the same controls; VI records made there are downloaded as
# CSV.

# %%
page = insp.to_html(vi_path.parent / "inspector.html", max_objects=5,
                    title=f"spectool inspector: {ds.name}" + (" (synthetic mock spectra)" if ds.synthetic else ""))
print(f"standalone page: {page} ({page.stat().st_size / 1e6:.1f} MB)")

# %% [markdown]
# ## The embedding explorer
#
# `spectool.explain.extract_features` takes the model's penultimate features (what the
# classifier head sees); the explorer projects them to 2-D with t-SNE. Spectra of one class
# should form one group; a misclassified spectrum sitting inside another class's group
# shows where the model's features, not just its head, are confused. Select points (tap or
# lasso) to see their spectra; linked to the inspector, a tap also moves the inspector to
# that object.

# %%
from spectool.widgets import EmbeddingExplorer

test_rows = ds.indices("test", 0)
feats = spectool.explain.extract_features(model, ds, indices=test_rows, progress=False)
print(f"features: {feats.features.shape} (spectra x features); the model is right on "
      f"{feats.table['correct'].mean():.0%} of these test spectra")
explorer = EmbeddingExplorer(feats.features, feats.table, [ds.spectrum(int(r)) for r in test_rows],
                             predicted=list(feats.table["prediction"]), inspector=insp)
explorer

# %% [markdown]
# ## The attention explorer
#
# SPFusion re-weights its feature channels with squeeze-and-excitation (SE) attention.
# `spectool.explain.attention_weights` records those weights per spectrum; the explorer
# draws them as a spectra x channels heatmap. Rows that look alike are spectra the model
# treats alike. Click a cell to see that spectrum.

# %%
from spectool.widgets import AttentionExplorer

rc = spectool.datasets.load("spfusion/redclump", source=source, size=mode)
spf = spectool.models.load("spfusion-mock-redclump")
rows = rc.indices("test", 0)[:24]
rec = spectool.explain.attention_weights(spf, rc.flux[rows][:, None], image=rc.images[rows], layers=["head.se"])
print("SE weights:", rec.weights["head.se"].shape, "(spectra x channels)")
AttentionExplorer(rec.weights["head.se"], [rc.spectrum(int(r)) for r in rows])
