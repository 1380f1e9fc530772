# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Real SDSS and LAMOST spectra
#
# Download real spectra, read them, run the models and compare with the catalogue labels. Offline (and in CI) the sample files of `../shared/data/real` are used when present; otherwise this notebook explains and skips.
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
# ### Downloading (needs network)
# ```python
# from spectool.download import download_sdss_spectra
# download_sdss_spectra(["0324-51616-0159"], "data/sdss")
# ```
# Then `spectool ingest` turns a folder of downloads into a dataset usable as `source`.

# %%
from pathlib import Path

real = next((p for p in (Path("../../shared/data/real"), Path("../shared/data/real")) if p.is_dir()), None)
files = sorted(p for p in real.rglob("*.fits*") if p.name.startswith("spec")) if real else []
print(f"{len(files)} real sample file(s)" if files else "no real sample files here: the cells below skip")

# %%
import pandas as pd
from spectool.plots.steps import _model_of

spectra = []
for f in files:
    s = spectool.read(f)
    spectra += s if isinstance(s, list) else [s]
stars = [s for s in spectra if s.meta.get("class") == "STAR"]
rows = [{"object_id": s.meta.get("object_id"), "survey": s.meta.get("survey"), "class": s.meta.get("class"),
         "subclass": s.meta.get("subclass"), "snr": s.meta.get("snr")} for s in spectra]
pd.DataFrame(rows)

# %%
if stars:
    names = spectool.models.list_pretrained("mspcnet_sdss-mock-sc")
    model = spectool.models.load(names[0]) if names else _model_of(ctx, "mspc_classes", "MSPC-Net")[0]
    pred = spectool.predict(model, stars)
    pred["catalogue"] = [s.meta.get("subclass") or s.meta.get("class") for s in stars]
    print("model trained on", "synthetic mock data" if ctx.synthetic else ctx.source, "- a mock-trained model on "
          "real spectra shows the domain gap, not the paper's accuracy")
    display(pred)
else:
    print("no real stellar spectra: skipped")

# %%
for s in stars[:2]:
    s.plot(lines="stellar")
