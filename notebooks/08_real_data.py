# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Real SDSS and LAMOST spectra through the shipped models
#
# Every other notebook works on spectool's synthetic mock survey. Here the shipped
# pretrained classifier meets **real spectra**: 118 public SDSS/BOSS and LAMOST spectra
# with the surveys' own pipeline labels (`../shared/data/real/validation/`, listed in
# `manifest.csv`). We
#
# 1. look at what the validation set holds and read every file;
# 2. plot a few of the spectra;
# 3. classify the `eval` split with `mspcnet_sdss-mock-sc` and compare with the catalogue;
# 4. read the confusion matrix against the trivial baseline;
# 5. see what the star classifier does with galaxies and quasars, and which predictions
#    `spectool.predict` flags as untrustworthy.
#
# > **Synthetic training data, real test data.** The model was trained on spectool's
# > *synthetic mock survey*, not on real spectra, so what follows measures the gap between
# > the mock survey and real spectrographs: it says nothing about the accuracy the MSPC-Net
# > paper reports for a model trained on real SDSS data.
#
# Without the shared data folder (for example in a fresh clone) the cells below explain
# what they would show and skip.

# %% tags=["parameters"]
# Parameters (papermill can override them: papermill NB.ipynb out.ipynb -p mode full -p source /data/ingested)
mode = "quick"    # "smoke" (CI), "quick", "medium" or "full" (the papers' protocol): see README, Modes
source = "mock"   # "mock": the embedded synthetic survey; or a directory of real data ingested with `spectool ingest`
cache = None      # results cache shared by the notebooks and `spectool figures` (None: the user cache folder)
model_name = "mspcnet_sdss-mock-sc"   # a shipped stellar-class model (O..M); try "sscnn-mock-sc" or "convnext1d-mock-sc"
split = "eval"    # manifest split to classify: "eval" (never used for training), "finetune" or "all"

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import spectool

roots = [Path(p) / "data/real/validation" for p in ("../../shared", "../shared")]
root = next((r for r in roots if (r / "manifest.csv").is_file()), None)
if root is None:
    print("The real validation set (shared/data/real/validation/manifest.csv) is not here: the cells below skip.\n"
          "With it, they read 118 real spectra and compare the model's classes with the catalogue's.")
    manifest = None
else:
    manifest = pd.read_csv(root / "manifest.csv")
    print(f"{len(manifest)} real spectra in {root}")

# %% [markdown]
# ## 1. What the validation set holds
#
# `main_class` is the catalogue's class reduced to what a classifier can predict: the
# first letter of the stellar subclass (O..M) for stars, else `GALAXY`, `QSO`, `WD`
# (white dwarf) or `CV` (cataclysmic variable). The `finetune` split may be used to adapt
# a model to real spectra; `eval` is kept for measuring.

# %%
if manifest is not None:
    display(pd.crosstab([manifest["survey"], manifest["main_class"]], manifest["split"], margins=True))

# %% [markdown]
# Reading every file: `spectool.read` identifies the format from the headers. A file that
# cannot be read raises a typed `SpectoolError` naming the file and the reason; we keep
# such files as rows with their error instead of dropping them silently.

# %%
spectra, read_errors = {}, {}
if manifest is not None:
    for name in manifest["file"]:
        try:
            s = spectool.read(root / "files" / name)
            spectra[name] = s[0] if isinstance(s, list) else s
        except spectool.SpectoolError as exc:
            read_errors[name] = str(exc)
    print(f"read {len(spectra)} of {len(manifest)} files;", f"{len(read_errors)} unreadable:" if read_errors else
          "none unreadable")
    for name, err in read_errors.items():
        print(" ", name, "->", err)

# %% [markdown]
# ## 2. A few real spectra
#
# One spectrum of each kind. Real spectra show what the mock survey only imitates: the
# dichroic join of the two spectrograph arms (near 5900 Angstrom in LAMOST, 6000 in SDSS),
# sky-line residuals in the red, telluric absorption (the A band at 7600 Angstrom) and
# the flux units of each survey.

# %%
if spectra:
    picks = []
    for survey, cls in [("LAMOST", "A"), ("LAMOST", "G"), ("LAMOST", "M"), ("SDSS", "GALAXY"), ("SDSS", "QSO")]:
        rows = manifest[(manifest["survey"] == survey) & (manifest["main_class"] == cls)
                        & manifest["file"].isin(list(spectra))]
        if len(rows):
            picks.append(rows.iloc[0])
    fig, axes = plt.subplots(len(picks), 1, figsize=(9, 1.9 * len(picks)), sharex=True, squeeze=False)
    for ax, row in zip(axes[:, 0], picks):
        s = spectra[row["file"]]
        ax.plot(s.wavelength, s.flux, lw=0.4, color="0.2")
        lo, hi = np.nanpercentile(s.flux, [1, 99])
        ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.2 * (hi - lo))
        ax.set_title(f"{row['survey']} {row['file']}: catalogue {row['class']} {row['subclass']}, "
                     f"z = {row['z']:.4f}, S/N {row['snr']:.0f}", fontsize=8)
        ax.set_ylabel("flux", fontsize=8)
    axes[-1, 0].set_xlabel("Wavelength (vacuum) [Angstrom]")
    fig.tight_layout()

# %% [markdown]
# ## 3. Classify with a shipped model
#
# The model card names the preprocessing the model expects. MSPC-Net's recipe needs the
# whole 4000-9000 Angstrom window, so first we check which spectra cover it: a spectrum
# that does not is reported with the reason, not silently padded.

# %%
pred = None
if spectra:
    model = spectool.models.load(model_name)
    print(model.card["description"])
    classes = list(model.output_names)
    recipe = model.card["preprocess"]
    chosen = manifest[manifest["file"].isin(list(spectra))]
    if split != "all":
        chosen = chosen[chosen["split"] == split]
    not_usable = {}
    for f in chosen["file"]:
        try:
            spectool.preprocess.apply(recipe, spectra[f])
        except spectool.SpectoolError as exc:
            not_usable[f] = str(exc).split(": ", 1)[-1]
    print(f"{len(chosen) - len(not_usable)} of {len(chosen)} spectra of split {split!r} can be preprocessed with "
          f"the {recipe!r} recipe")
    for f, why in not_usable.items():
        print(f"  {f}: {why}")
    chosen = chosen[~chosen["file"].isin(list(not_usable))]

# %% [markdown]
# `spectool.predict(model, spectra)` preprocesses each raw spectrum with that recipe and
# returns one row per spectrum. We keep the catalogue labels next to the predictions.
# Newer spectool versions add trust columns to the same table: `flag` (why a prediction
# should not be trusted), `ood_score` (how far the spectrum lies from the training data in
# feature space) and `error` (why a spectrum got no prediction); the cells below use them
# when they are there.

# %%
if spectra:
    pred = spectool.predict(model, [spectra[f] for f in chosen["file"]])
    pred.insert(1, "file", chosen["file"].to_numpy())
    for col in ("survey", "class", "subclass", "main_class", "snr"):
        pred[col] = chosen[col].to_numpy()
    trust_cols = [c for c in ("flag", "ood_score", "error") if c in pred]
    print(f"{len(pred)} spectra of split {split!r}; trust columns here: {trust_cols or 'none (older spectool)'}")
    display(pred[["file", "survey", "class", "subclass", "main_class", "pred_label", "pred_prob", *trust_cols]]
            .round(3).head(12))

# %% [markdown]
# ## 4. Stars: predicted class against the catalogue
#
# The model knows only O, B, A, F, G, K and M, so we score it on the stars whose main
# class is one of these. The confusion matrix counts catalogue class (rows) against
# prediction (columns): a good classifier puts its counts on the diagonal. Accuracy only
# means something next to the **trivial baseline**: always answering the most common
# catalogue class.

# %%
if pred is not None:
    stars = pred[pred["main_class"].isin(classes)]
    if "error" in stars:
        stars = stars[stars["error"].fillna("") == ""]
    if len(stars):
        cm = pd.crosstab(pd.Categorical(stars["main_class"], classes), pd.Categorical(stars["pred_label"], classes),
                         rownames=["catalogue"], colnames=["predicted"], dropna=False)
        acc = float((stars["main_class"] == stars["pred_label"]).mean())
        baseline = float(stars["main_class"].value_counts(normalize=True).iloc[0])
        fig, ax = plt.subplots(figsize=(4.8, 4.2))
        im = ax.imshow(cm.to_numpy(), cmap="Blues")
        for (i, j), v in np.ndenumerate(cm.to_numpy()):
            if v:
                ax.text(j, i, int(v), ha="center", va="center", fontsize=8,
                        color="white" if v > cm.to_numpy().max() / 2 else "black")
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("catalogue main class")
        fig.colorbar(im, ax=ax, label="spectra")
        ax.set_title(f"{model_name} on {len(stars)} real stars\n"
                     f"accuracy {acc:.0%}, majority baseline {baseline:.0%}", fontsize=9)
        by_survey = stars.assign(ok=stars["main_class"] == stars["pred_label"]).groupby("survey")["ok"].agg(["mean", "size"])
        print(by_survey.rename(columns={"mean": "accuracy", "size": "stars"}).round(2))
        # 95% Wilson interval: with a few dozen stars the accuracy is uncertain by several points
        n, zz = len(stars), 1.96
        centre = (acc + zz**2 / (2 * n)) / (1 + zz**2 / n)
        half = zz * np.sqrt(acc * (1 - acc) / n + zz**2 / (4 * n**2)) / (1 + zz**2 / n)
        mock_acc = model.card["metrics"]["accuracy"]
        verdict = "beats" if centre - half > baseline else "does NOT clearly beat"
        print(f"\n{model_name} {verdict} the majority-class baseline on real stars: accuracy {acc:.0%} "
              f"(95% interval {centre - half:.0%}-{centre + half:.0%}, {n} stars) vs {baseline:.0%}.")
        print(f"On synthetic test spectra it scored {mock_acc:.0%}: "
              + ("on these stars the drop to real data is within the uncertainty."
                 if centre + half >= mock_acc else "the drop to real data is the domain gap."))
    else:
        print("no stars of the model's classes in this split")

# %% [markdown]
# How to read it: compare the accuracy on real stars with the one on synthetic test
# spectra (the model card). A clear drop is the **domain gap**: a real continuum shape
# (flux calibration, extinction, the dichroic join) that was never in the training data.
# A column that collects most rows is a model that maps real spectra to one class. Errors
# that fall next to the diagonal (F called G, G called K) are neighbouring temperature
# classes, whose boundary is a matter of degree even for the survey pipelines; errors far
# from it are not. With a few dozen stars, a difference of a few points is noise; the
# printout gives the interval. Fine-tune on the `finetune` split before relying on a
# mock-trained model, and measure only on `eval`.
#
# ## 5. Spectra the model cannot classify
#
# Galaxies and quasars are not among the model's classes, yet a softmax classifier always
# answers with some stellar class, often with high probability. Nothing in `pred_prob`
# alone tells you that the answer is meaningless; that is what the `flag` and `ood_score`
# columns are for, when this spectool has them.

# %%
if pred is not None:
    others = pred[~pred["main_class"].isin(classes)]
    if len(others):
        summary = others.groupby("main_class").agg(spectra=("pred_label", "size"),
                                                   most_common_answer=("pred_label", lambda v: v.value_counts().index[0]),
                                                   median_prob=("pred_prob", "median"))
        if "flag" in pred:
            summary["flagged"] = others.groupby("main_class")["flag"].apply(lambda v: int((v.fillna("") != "").sum()))
        display(summary.round(2))
    if "flag" in pred:
        flagged = pred["flag"].fillna("") != ""
        is_star = pred["main_class"].isin(classes)
        print(f"flagged: {int(flagged[~is_star].sum())} of {int((~is_star).sum())} non-stars, "
              f"{int(flagged[is_star].sum())} of {int(is_star.sum())} stars")
        print(pred.loc[flagged, "flag"].str.split(";").explode().value_counts().to_string())
    else:
        print("this spectool's predict has no 'flag' column: nothing marks these answers as untrustworthy")

# %%
if pred is not None and "ood_score" in pred and np.isfinite(pred["ood_score"]).any():
    fig, ax = plt.subplots(figsize=(6, 3))
    kinds = {"stars": pred["main_class"].isin(classes), "galaxies, quasars, WD/CV": ~pred["main_class"].isin(classes)}
    bins = np.histogram_bin_edges(pred["ood_score"].dropna(), bins=20)
    for label, sel in kinds.items():
        ax.hist(pred.loc[sel, "ood_score"].dropna(), bins=bins, alpha=0.6, label=label)
    ax.set_xlabel("OOD score (feature-space Mahalanobis distance)")
    ax.set_ylabel("spectra")
    ax.legend()
    ax.set_title("out-of-distribution score of real spectra", fontsize=9)
elif pred is not None:
    print("no calibrated 'ood_score' in this spectool's predictions: skipped")

# %% [markdown]
# ## Getting more real data (needs network)
#
# ```python
# from spectool.download import download_sdss_spectra
# download_sdss_spectra(["0324-51616-0159"], "data/sdss")
# ```
#
# Then `spectool ingest` turns a folder of downloads into a dataset that every notebook
# accepts as `source`. A fine-tuning demonstration on the `finetune` split, and the
# measurement of this notebook over all shipped models, belong in `benchmarks/` (they
# train or run for minutes); this notebook stays a quick look.
