"""Generate the numbered notebooks in ``notebooks/`` (outputs stripped) with nbformat.

The notebooks are written from this script so that their content stays reviewable in
diffs: edit here, then run ``python scripts/make_notebooks.py``. Every notebook starts
with a papermill ``parameters`` cell (``mode = "quick"``, ``source = "mock"``,
``cache = None``) and only calls the package: ``spectool.figures.compute`` makes (or
reads from the shared results cache) the input of each catalog id and ``spectool.plots``
draws it. ``tests/test_notebooks.py`` checks that the files on disk match this script.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "notebooks"

PARAMETERS = '''# Parameters (papermill can override them: papermill NB.ipynb out.ipynb -p mode full -p source /data/ingested)
mode = "quick"    # "quick": tiny mock datasets, slim models, 1 epoch; "full": the papers' protocol
source = "mock"   # "mock": the embedded synthetic survey; or a directory of real data ingested with `spectool ingest`
cache = None      # results cache shared by the notebooks and `spectool figures` (None: the user cache folder)'''

SETUP = '''import matplotlib.pyplot as plt
import spectool
from spectool import figures, plots

ctx = figures.context(mode, source, cache)
print(f"data: {ctx.src.label}; results cache: {ctx.cache / ctx.key}")'''

MOCK_WARNING = ("> **Synthetic data.** With `source = \"mock\"` every number below is measured on spectool's "
                "*synthetic mock survey*, not on the papers' real SDSS/LAMOST data. Compare only the shape of a "
                "result (orderings, trends) with the papers, never the numbers. Set `source` to a directory of "
                "ingested real data to rerun everything on it.")


def show(fid: str) -> list:
    """Markdown caption + code cell drawing catalog id ``fid``."""
    from spectool.plots import CATALOG

    entry = CATALOG[fid]
    fn = entry.function.__name__
    return [new_markdown_cell(f"### `{fid}`\n{entry.caption}"),
            new_code_cell(f'plots.{fn}(figures.compute("{fid}", ctx=ctx))')]


def notebook(title: str, intro: str, cells: list, setup: str = SETUP) -> nbformat.NotebookNode:
    param = new_code_cell(PARAMETERS)
    param.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_markdown_cell(f"# {title}\n\n{intro}\n\n{MOCK_WARNING}"), param,
                             new_code_cell(setup), *cells])
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids keep the generated files diff-friendly
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def ids(*names: str) -> list:
    return [c for n in names for c in show(n)]


QUICKSTART = [
    new_markdown_cell("## 1. Read a spectrum\nThe real SDSS sample file when the shared data folder is present, "
                      "otherwise a synthetic spectrum written on the fly (labelled synthetic)."),
    new_code_cell('''from pathlib import Path
from spectool.demo import synthetic_spectrum

sample = Path("../../shared/data/real/sdss/spec-0324-51616-0159.fits")
if not sample.is_file():
    sample = Path("../shared/data/real/sdss/spec-0324-51616-0159.fits")
spec = spectool.read(sample) if sample.is_file() else synthetic_spectrum(seed=0)
spec = spec[0] if isinstance(spec, list) else spec
print(spec.meta.get("object_id"), spec.meta.get("class"), spec.meta.get("subclass"),
      "synthetic" if spec.meta.get("synthetic") else "real")
spec.plot(lines="stellar");'''),
    new_markdown_cell("## 2. Preprocess as MSPC-Net does\nCrop 4000-9000 A, z-score, zero-pad to 3584 pixels."),
    new_code_cell('''x = spectool.preprocess.mspcnet(spec)
print(x)
plt.figure(figsize=(9, 2.5)); plt.plot(x.wavelength, x.flux, lw=0.5); plt.xlabel("Wavelength (vacuum) [Angstrom]");'''),
    new_markdown_cell("## 3. Predict with a pretrained model\nA shipped pretrained MSPC-Net (trained on synthetic mock "
                      "data, as its card says) when present; otherwise the tiny MSPC-Net that the figures pipeline "
                      "trains on the mock survey (`mspc_classes` step, cached)."),
    new_code_cell('''from spectool import models
from spectool.plots.steps import _model_of

names = models.list_pretrained("mspcnet_sdss-mock-sc") or models.list_pretrained("mspcnet_sdss*")
if names:
    model = models.load(names[0])
    print("pretrained:", names[0], model.card.get("training", {}))
else:
    model, _, _ = _model_of(ctx, "mspc_classes", "MSPC-Net")
    print("no pretrained checkpoint shipped: using the MSPC-Net trained by the figures pipeline")
pred = spectool.predict(model, [spec])
pred'''),
    new_markdown_cell("## 4. Explain the prediction\nIntegrated-gradients attribution per pixel (captum), smoothed, "
                      "on top of the spectrum."),
    new_code_cell('''from spectool import explain

target = str(pred["pred_label"].iloc[0])
att = explain.attribute(model, x.flux[None, None], method="ig", target=target, wavelength=x.wavelength)
att_values = att.smoothed(25)[0]
fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(x.wavelength, x.flux, lw=0.5, color="0.3")
ax2 = ax.twinx(); ax2.plot(x.wavelength, att_values, color="tab:red", lw=0.8)
ax.set_xlabel("Wavelength (vacuum) [Angstrom]"); ax2.set_ylabel("attribution");'''),
    new_markdown_cell("## 5. Every figure of the papers\n`spectool figures --mode quick` regenerates all catalog ids; "
                      "the numbered notebooks 01-06 show them one by one."),
    new_code_cell('print(", ".join(plots.CATALOG))'),
]

NOTEBOOKS = {
    "00_quickstart": ("Quickstart: read, preprocess, predict, explain",
                      "One spectrum through the whole toolkit in ten cells.", QUICKSTART),
    "01_data_and_preprocessing": (
        "Data and preprocessing", "The datasets of the papers and what each paper's preprocessing does to a spectrum.",
        ids("mspc-fig1", "mspc-tab1", "sca-fig1", "sca-fig2", "sca-fig3")),
    "02_mspcnet_training": (
        "MSPC-Net: training and cross-validation",
        "Model design (Table 2), cross-validated accuracy of MSPC-Net against SSCNN, RAC-Net and ConvNeXt-1D "
        "(Tables 3, 4, 6) and the training curves (Fig. 6). The runs are cached: rerunning a cell reads them back.",
        ids("mspc-tab2", "mspc-tab3", "mspc-tab4", "mspc-tab6", "mspc-fig6")),
    "03_mspcnet_analysis": (
        "MSPC-Net: analysis", "Per-class errors, feature embeddings, S/N dependence, feature maps and a misclassified "
        "spectrum.", ids("mspc-tab5", "mspc-fig4", "mspc-fig5", "mspc-fig7", "mspc-fig8", "mspc-fig9")),
    "04_mspcnet_ablations": (
        "MSPC-Net: ablations", "Identity ratio, kernel sets, channels and attention (Table 7, appendix Tables 8-17) "
        "and the large-parameter baselines (Table 18). Quick mode runs a tiny grid (a few variants, 1 fold, 1 epoch).",
        ids("mspc-tab7", "mspc-tab8-17", "mspc-tab18")),
    "05_spfusion": (
        "SPFusion: red-clump mass and age from spectra + images",
        "Splits, model comparison, predictions, S/N dependence, ablations and SE channel attention.",
        ids("spf-tab1", "spf-tab2", "spf-fig2", "spf-fig3", "spf-fig4", "spf-fig5", "spf-fig6", "spf-tab3",
            "spf-tab4", "spf-tab5", "spf-tab6", "spf-tab7", "spf-fig7", "spf-fig8", "spf-fig9", "spf-fig10") + [
            new_markdown_cell("### The authors' trained SPFusion (ONNX)\nIf you have the authors' released `model.onnx`, "
                              "`spectool.models.spfusion_from_onnx` rebuilds it as a spectool model; its SE weights are "
                              "then shown for the same (here synthetic) batch. Skipped when the file is absent."),
            new_code_cell('''from pathlib import Path
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
    plots.spf_fig9(res)'''),
        ]),
    "06_scanet": (
        "SCA-Net: Teff, log g and [Fe/H]", "Labels, preprocessing, the five variants, their cost, predictions and "
        "sliding-window importance.", ids(*[k for k in __import__("spectool.plots", fromlist=["CATALOG"]).CATALOG
                                             if k.startswith("sca-")])),
    "07_interactive_inspection": (
        "Interactive inspection", "Browse spectra with model outputs and templates, explore the feature embedding "
        "and the attention heatmap. In JupyterLab the widgets are live; `to_html` writes a page that works without "
        "a kernel.", [
            new_markdown_cell("### Spectrum inspector\nA pretrained model (trained on the synthetic mock survey) "
                              "gives class probabilities; templates are the per-class median mock spectra. Every "
                              "control of the widget is also a method, used below so the notebook shows each feature "
                              "without clicking."),
            new_code_cell('''import tempfile
from pathlib import Path

from spectool.widgets import DisplayOptions, SpectrumInspector

model = spectool.models.load("convnext1d-mock-sc")   # pretrained on synthetic mock data (see its model card)
ds = ctx.dataset("mspc/SC-S>5")
vi_file = Path(tempfile.mkdtemp()) / "visual_inspection.csv"
insp = SpectrumInspector(ds, model=model, templates="auto", vi_file=vi_file,
                         options=DisplayOptions(smoothing=1.0, line_sets=("balmer", "stellar"), template_rank=0))
insp.widget   # navigation, filters, smoothing, noise, masks, lines, frame, redshift, templates, outputs, VI'''),
            new_code_cell('''# navigate: next / previous / position box / by object id
first = insp.object_id
insp.next(); second = insp.object_id
insp.previous(); print(f"next: {first} -> {second}; previous: back to {insp.object_id}")
insp.goto_position(3); print("position 3 (0-based):", insp.object_id)
# filters: class, S/N range, prediction correctness (misclassified only)
insp.set_filters(classes=("A", "F"), snr_range=(5, 200)); print("A/F with S/N 5-200:", len(insp.nav), "spectra")
insp.set_filters(classes=None, snr_range=(-float("inf"), float("inf")), correctness="misclassified")
print("misclassified by the model:", len(insp.nav))
insp.set_filters(correctness="all")'''),
            new_code_cell('''# display options: smoothing, noise 1/sqrt(ivar), masked pixels, rest frame, redshift, Nth-best template,
# line sets on/off and an attribution overlay (computed on demand by spectool.explain)
insp.set_options(smoothing=2.0, show_noise=True, show_mask=True, frame="rest", redshift=0.0005, template_rank=1)
insp.toggle_line_set("molecular", True); insp.toggle_line_set("balmer", False)
insp.set_options(attribution="integrated gradients")
print(insp.view_options)
fig = insp.figures   # the bokeh figures: spectrum (+hover zoom sub-window), probabilities, metadata table'''),
            new_code_cell('''# visual inspection: label, quality flag and comment, saved atomically; a new inspector resumes
insp.goto_position(0); insp.save_vi(label="F", quality=3, comment="clean F star (mock)")
insp.next(); insp.save_vi(label="G", quality=2, comment="")   # two objects inspected
again = SpectrumInspector(ds, vi_file=vi_file, templates=None)
print(vi_file.read_text().splitlines()[0]); print("resumes at", again.object_id)'''),
            new_code_cell('''# the g,r,i cutout is shown when the data has images (SPFusion red-clump set)
rc_insp = SpectrumInspector(ctx.dataset("spfusion/redclump"), templates=None)
rc_insp.widget'''),
            new_code_cell('''# a self-contained page to share (no kernel, no network), like DESI prospect's pages
page = insp.to_html(ctx.cache / "inspector.html", max_objects=5, title=f"spectool inspector: {ds.name} ({ctx.src.label})")
print("standalone page:", page)'''),
            new_markdown_cell("### Embedding explorer\nThe t-SNE of `mspc-fig4`; selections show the spectra."),
            new_code_cell('''from spectool.widgets import EmbeddingExplorer

emb = figures.compute("mspc-fig4", ctx=ctx).data["MSPC-Net"]
rows = emb["row"].to_numpy()
explorer = EmbeddingExplorer(None, emb.reset_index(drop=True), [ds.spectrum(int(r)) for r in rows],
                             coords=emb[["x", "y"]].to_numpy(), predicted=list(emb["prediction"]), inspector=insp)
explorer   # colour by label / prediction / S/N; tap or lasso shows spectra and moves the linked inspector'''),
            new_markdown_cell("### Attention explorer\nSPFusion's SE weights (`spf-fig9`); click a cell for the spectrum."),
            new_code_cell('''from spectool.widgets import AttentionExplorer

att = figures.compute("spf-fig9", ctx=ctx).data
rc = ctx.dataset("spfusion/redclump")
rc_rows = sorted(figures.compute("spf-fig3", ctx=ctx).data.predictions[("spfusion/redclump", "SPFusion")]["row"][:len(att["weights"])])
AttentionExplorer(att["weights"], [rc.spectrum(int(r)) for r in rc_rows])'''),
        ]),
    "08_real_data": (
        "Real SDSS and LAMOST spectra",
        "Download real spectra, read them, run the models and compare with the catalogue labels. Offline (and in "
        "CI) the sample files of `../shared/data/real` are used when present; otherwise this notebook explains "
        "and skips.", [
            new_markdown_cell("### Downloading (needs network)\n```python\nfrom spectool.download import "
                              "download_sdss_spectra\ndownload_sdss_spectra([\"0324-51616-0159\"], \"data/sdss\")\n```\n"
                              "Then `spectool ingest` turns a folder of downloads into a dataset usable as `source`."),
            new_code_cell('''from pathlib import Path

real = next((p for p in (Path("../../shared/data/real"), Path("../shared/data/real")) if p.is_dir()), None)
files = sorted(p for p in real.rglob("*.fits*") if p.name.startswith("spec")) if real else []
print(f"{len(files)} real sample file(s)" if files else "no real sample files here: the cells below skip")'''),
            new_code_cell('''import pandas as pd
from spectool.plots.steps import _model_of

spectra = []
for f in files:
    s = spectool.read(f)
    spectra += s if isinstance(s, list) else [s]
stars = [s for s in spectra if s.meta.get("class") == "STAR"]
rows = [{"object_id": s.meta.get("object_id"), "survey": s.meta.get("survey"), "class": s.meta.get("class"),
         "subclass": s.meta.get("subclass"), "snr": s.meta.get("snr")} for s in spectra]
pd.DataFrame(rows)'''),
            new_code_cell('''if stars:
    names = spectool.models.list_pretrained("mspcnet_sdss-mock-sc")
    model = spectool.models.load(names[0]) if names else _model_of(ctx, "mspc_classes", "MSPC-Net")[0]
    pred = spectool.predict(model, stars)
    pred["catalogue"] = [s.meta.get("subclass") or s.meta.get("class") for s in stars]
    print("model trained on", "synthetic mock data" if ctx.synthetic else ctx.source, "- a mock-trained model on "
          "real spectra shows the domain gap, not the paper's accuracy")
    display(pred)
else:
    print("no real stellar spectra: skipped")'''),
            new_code_cell('''for s in stars[:2]:
    s.plot(lines="stellar")'''),
        ]),
}


def build() -> dict[str, nbformat.NotebookNode]:
    """All notebooks by file stem."""
    return {name: notebook(t, intro, cells) for name, (t, intro, cells) in NOTEBOOKS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if notebooks/ differs from this script")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    stale = []
    for name, nb in build().items():
        path = OUT / f"{name}.ipynb"
        text = nbformat.writes(nb) + "\n"
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run python scripts/make_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
