"""MSPC-Net (seed 000): one step per computation and one function per catalog id.

Steps (registered with :func:`~spectool.papers._context.step`) compute a
:class:`~spectool.papers.Result`; the ``mspc_*`` drawing functions take that result and
return a matplotlib Figure or a :class:`~spectool.papers.Table`, built from the leaf
functions of :mod:`spectool.plots`. Tables about training (3, 4, 6, 7, 8-17, 18) and the
training curves (Fig. 6) come from the training steps; the figures that analyse a trained
model (Table 5, Figs. 4, 5, 7, 8, 9) evaluate the shipped pretrained checkpoints on a mock
test set of several hundred spectra in the reduced modes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import plots
from ..train.metrics import GATE_Z, accuracy_by_snr, accuracy_gate, per_class_table
from ..train.tables import CLASSIFICATION_METRICS, fold_table, mean_std_table
from ._common import (PlotInputError, Result, RunSet, figure, gate_frame, gate_text, need, styled, table,
                      titled)
from ._context import Context, EVAL_SIZE, analysis_model, evaluation_sets, predictions_on, step
from .published import MSPC_HEADLINE

#: The models of MSPC-Net Table 3 (labels of the shipped experiment) and the analysed dataset.
MODELS = ["SSCNN", "RACNet", "ConvNeXt", "MSPC-Net"]
ANALYSED = "mspc/SC-S>5"
#: S/N bins with fewer evaluated spectra than this are not plotted as an accuracy (Fig. 5).
MIN_PER_BIN = 20


# ------------------------------------------------------------------------- spectra
def _mock_star(survey: str, subclass: str, seed: int):
    """One raw synthetic star observed by the mock ``survey`` (vacuum Angstrom)."""
    from ..datasets.presets import SS_L, SS_S5
    from ..mock.generate import generate_stars
    from ..mock.stars import draw_subclass_labels
    from ..spectrum import Spectrum

    rng = np.random.default_rng([seed, 11])
    labels = draw_subclass_labels(np.array([subclass]), SS_S5 if survey == "sdss" else SS_L, rng, giant_fraction=0.0)
    obs, meta = generate_stars(labels, survey, np.array([30.0]), rng)
    row = meta.iloc[0]
    return Spectrum(obs.wave, obs.flux[0], obs.ivar[0], obs.mask[0],
                    {"survey": survey, "synthetic": True, "class": "STAR", "subclass": str(row["subclass"]),
                     "redshift": float(row["redshift"]), "object_id": f"mock-{survey}-{row['subclass']}",
                     "snr": 30.0, "title": f"synthetic mock {survey.upper()} star",
                     "flux_label": "Flux [arbitrary units]"})


def _real_raw(root: Path) -> dict[str, Any]:
    from ..io import read

    found: dict[str, Any] = {}
    for path in sorted(root.rglob("spec-*.fits*")):
        try:
            spec = read(path)
        except Exception:  # noqa: BLE001 - skip unreadable files, keep looking
            continue
        spec = spec[0] if isinstance(spec, list) else spec
        survey = str(spec.meta.get("survey", "")).lower()
        if survey in ("sdss", "lamost") and survey not in found and spec.meta.get("class", "STAR") == "STAR":
            found[survey] = spec
    return found


@step
def spectra(ctx: Context) -> Result:
    """Raw + preprocessed spectra: ``{"sdss"|"lamost": (Spectrum, mspcnet Preprocessed),
    "scanet": (LAMOST Spectrum, scanet Preprocessed)}``."""
    from .. import preprocess as P

    raw = {} if ctx.synthetic else _real_raw(Path(ctx.source))
    note = ""
    for survey in ("lamost", "sdss"):
        if survey not in raw:
            raw[survey] = _mock_star(survey, "G2", ctx.seed)
            if not ctx.synthetic:
                note = f"No raw {survey.upper()} star spectrum under the source; synthetic mock spectra shown."
    data = {s: (raw[s], P.mspcnet(raw[s])) for s in ("lamost", "sdss")}
    data["scanet"] = (raw["lamost"], P.scanet(raw["lamost"]))
    return ctx.result(data, note)


# ------------------------------------------------------------------------ datasets
@step
def datasets(ctx: Context) -> Result:
    """MSPC-Net Table 1 rows: the ten presets with paper counts and the counts held here."""
    from ..datasets import PRESETS
    from ..mock.build import plan_rows

    rows = []
    for name, p in PRESETS.items():
        if p.paper != "mspcnet":
            continue
        paper_n = p.n_total or p.per_class * len(p.class_names)
        if ctx.synthetic:
            here = len(plan_rows(p, ctx.data_size, np.random.default_rng(0)))
        else:
            try:
                here = len(ctx.dataset(name))
            except Exception:  # noqa: BLE001 - a preset the user did not ingest
                here = 0
        short = name.split("/")[1]
        rows.append({"type": {"SC": "stellar classes", "SS": "stellar subclasses", "FC": "full classification"}[short[:2]],
                     "dataset": short, "categories": len(p.class_names), "paper count": paper_n,
                     "count here": here, "S/N cut": f"> {p.snr_min:g}" if p.snr_min else "none",
                     "source": p.survey.upper()})
    return ctx.result(pd.DataFrame(rows))


@step
def mspc_design(ctx: Context) -> Result:
    """Per stage output size, layers and parameters of the SDSS (24 classes) and LAMOST
    (37 classes) MSPC-Net models, from a forward pass of one zero spectrum."""
    import torch

    from .. import models

    rows = []
    for name, classes in (("mspcnet_sdss", 24), ("mspcnet_lamost", 37)):
        m = models.create(name, num_classes=classes).eval()
        cfg = m.config
        shapes: dict[str, tuple] = {}
        hooks = [mod.register_forward_hook(lambda _m, _a, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
                 for n, mod in (("embed", m.embed), *((f"stage{i + 1}", s) for i, s in enumerate(m.stages)))]
        with torch.inference_mode():
            m(torch.zeros(1, 1, m.input_length))
        for h in hooks:
            h.remove()
        ident = f"identity {cfg['embed_dim'] - len(cfg['kernel_sizes']) * (cfg['embed_dim'] // cfg['n_div'])}/{cfg['embed_dim']}"
        kern = "/".join(map(str, cfg["kernel_sizes"]))
        count = lambda mod: int(sum(p.numel() for p in mod.parameters()))  # noqa: E731
        rows.append({"model": name, "stage": "embedding", "output size": "x".join(map(str, shapes["embed"])),
                     "layers": "Conv1d k3 + BN", "params": count(m.embed)})
        for i, st in enumerate(m.stages):
            merge = "merge conv k3/2 + BN, " if i else ""
            rows.append({"model": name, "stage": f"stage {i + 1}", "output size": "x".join(map(str, shapes[f"stage{i + 1}"])),
                         "layers": f"{merge}{cfg['depths'][i]} x MSPC block (kernels {kern}, {ident}, ECA, MLP x{cfg['mlp_ratio']:g})",
                         "params": count(st)})
        head = count(m.head_conv) + count(m.fc)
        rows.append({"model": name, "stage": "head", "output size": f"{classes}",
                     "layers": f"GAP + 1x1 conv {cfg['head_dim']} + GELU + FC", "params": head})
        rows.append({"model": name, "stage": "total", "output size": "", "layers": f"{classes} classes",
                     "params": count(m)})
    return ctx.result(pd.DataFrame(rows), "Architecture only (no training): identical for mock and real data.")


# --------------------------------------------------------------- MSPC-Net analysis
@step
def mspc_features(ctx: Context) -> Result:
    """One pass of each Table 3 model over the analysed mock test set: penultimate features
    and predictions (:func:`spectool.explain.extract_features`). Reduced modes: the shipped
    pretrained checkpoints on freshly generated mock spectra.
    ``data``: ``{label: {"features": (N, F), "table": rows, labels, predictions, S/N}}``."""
    from ..explain import extract_features

    sets = evaluation_sets(ctx, ANALYSED)
    out, notes = {}, []
    for label in MODELS:
        model, note = analysis_model(ctx, ANALYSED, label, "mspc_classes")
        parts = [extract_features(model, ds, indices=idx, progress=False) for ds, idx in sets]
        tables = [f.table.assign(eval_set=k) for k, f in enumerate(parts)]
        out[label] = {"features": np.concatenate([f.features for f in parts]),
                      "table": pd.concat(tables, ignore_index=True)}
        notes.append(f"{label}: {note.split(': ', 1)[1]}")
    n = len(out[MODELS[0]]["table"])
    return ctx.result(out, f"Evaluated on {n} mock test spectra. Models - " + " ".join(notes))


@step
def mspc_eval(ctx: Context) -> Result:
    """Test predictions of the four Table 3 models on the analysed mock test set, as a
    :class:`RunSet` (``true_label``, ``pred_label``, ``snr`` per spectrum) with the
    majority-class baseline of each model and its sanity-gate z."""
    base = ctx.get("mspc_features")
    runs = RunSet(pd.DataFrame())
    rows = []
    for label, d in base.data.items():
        t = d["table"]
        pred = t.rename(columns={"label": "true_label", "prediction": "pred_label", "confidence": "pred_prob"})
        runs.predictions[(ANALYSED, label)] = pred
        acc, majority, z = accuracy_gate(pred["true_label"], pred["pred_label"])
        rows.append({"dataset": ANALYSED, "label": label, "fold": 0, "seed": 0, "accuracy": acc,
                     "baseline_accuracy": majority, "gate_z": z, "learned": bool(z >= GATE_Z), "n": len(pred)})
    runs.results = pd.DataFrame(rows)
    runs.class_names[ANALYSED] = list(evaluation_sets(ctx, ANALYSED)[0][0].class_names)
    return ctx.result(runs, base.note)


@step
def mspc_embedding(ctx: Context) -> Result:
    """t-SNE tables of the penultimate features of the analysed test set, one per model."""
    from ..explain import FeatureSet, embedding_table

    base = ctx.get("mspc_features")
    out = {label: embedding_table(features=FeatureSet(d["features"], d["table"]), method="tsne", seed=ctx.seed)
           for label, d in base.data.items()}
    return ctx.result(out, base.note)


@step
def mspc_feature_maps(ctx: Context) -> Result:
    """Feature maps of the embedding conv (regular convolution) and the first MSPC module of
    the analysed MSPC-Net, for one test spectrum."""
    from ..explain import feature_maps

    model, note = analysis_model(ctx, ANALYSED, "MSPC-Net", "mspc_classes")
    ds, idx = evaluation_sets(ctx, ANALYSED)[0]
    row = int(idx[0])
    mixer = "stages.0.blocks.0.mixer"
    maps = feature_maps(model, np.asarray(ds.flux[row])[None, None], ["embed", mixer], wavelength=ds.wavelength)
    c, g = model.config["embed_dim"], model.config["embed_dim"] // model.config["n_div"]
    groups = {f"k={k}": (i * g, (i + 1) * g) for i, k in enumerate(model.config["kernel_sizes"])}
    groups["identity"] = (len(model.config["kernel_sizes"]) * g, c)
    titles = {"embed": "regular convolution (embedding)", mixer: "MSPC module (first block)"}
    label = ds.class_names[int(ds.labels[row])]
    return ctx.result({"maps": maps, "groups": {mixer: groups}, "titles": titles},
                      f"Spectrum {ds.meta['object_id'].iloc[row]} (true {label}). {note}")


@step
def mspc_misclassified(ctx: Context) -> Result:
    """The first misclassified MSPC-Net test spectrum and the mean spectra of its true,
    predicted and runner-up classes (class templates on the model-input grid)."""
    runs: RunSet = ctx.get("mspc_eval").data
    pred = runs.predictions[(ANALYSED, "MSPC-Net")]
    sets = evaluation_sets(ctx, ANALYSED)
    wrong = pred[pred["true_label"].astype(str) != pred["pred_label"].astype(str)]
    note = ""
    if wrong.empty:
        wrong = pred.sort_values("pred_prob").iloc[:1]
        note = "No misclassified test spectrum: the least confident prediction is shown."
    r = wrong.iloc[0]
    ds = sets[int(r["eval_set"])][0]
    # runner-up: the class this true class is most often confused with across the test set
    confused = wrong[wrong["true_label"].astype(str) == str(r["true_label"])]["pred_label"].astype(str)
    names = list(dict.fromkeys([str(r["true_label"]), str(r["pred_label"]), *confused.value_counts().index]))[:3]
    train = ctx.dataset(ANALYSED)
    rows_train = train.indices("train", 0)
    labels = train.meta["label"].astype(str).to_numpy()
    templates = {}
    for name in names:
        rows = rows_train[labels[rows_train] == name]
        if rows.size:
            templates[name] = np.asarray(train.flux[np.sort(rows)]).mean(0)
    data = {"wavelength": ds.wavelength, "flux": np.asarray(ds.flux[int(r["row"])]), "true": str(r["true_label"]),
            "predicted": str(r["pred_label"]), "object_id": str(r["object_id"]), "templates": templates}
    return ctx.result(data, note or "Templates: mean normalised training spectrum of each class.")


@step
def mspc_crossmatch(ctx: Context) -> Result:
    """Cross-matched mock stars: each drawn star is observed SDSS-like and LAMOST-like; the
    SDSS-trained MSPC-Net classifies both spectra. ``prediction`` compares the SDSS-like
    prediction with the mock catalogue class, ``agreement`` the SDSS-like and LAMOST-like labels."""
    from .. import preprocess as P
    from ..datasets.presets import SS_S5
    from ..inference import model_outputs
    from ..mock.generate import generate_stars
    from ..mock.stars import draw_subclass_labels

    model, note = analysis_model(ctx, ANALYSED, "MSPC-Net", "mspc_classes")
    n = {"smoke": 20, "quick": 330, "medium": 600}.get(ctx.mode, 2000)
    rng = np.random.default_rng([ctx.seed, 8])
    subs = rng.choice([c for c in SS_S5], n)
    labels = draw_subclass_labels(subs, SS_S5, rng)
    snr = np.exp(rng.normal(np.log(20.0), 0.6, n))
    pred = {}
    for survey in ("sdss", "lamost"):
        obs, _ = generate_stars(labels, survey, snr, np.random.default_rng([ctx.seed, 8, len(survey)]))
        batch = P.mspcnet_batch(obs.wave, obs.flux, obs.ivar, obs.mask)
        _, out = model_outputs(model, batch.flux)
        pred[survey] = np.asarray(model.output_names)[out.argmax(1)]
    truth = labels["subclass"].str[0].to_numpy()
    df = pd.DataFrame({"prediction": np.where(pred["sdss"] == truth, "correct", "incorrect"),
                       "agreement": np.where(pred["sdss"] == pred["lamost"], "agree", "disagree")})
    counts = df.value_counts().rename("count").reset_index()
    return ctx.result(counts, f"{n} synthetic mock stars observed by both mock surveys; labels from the "
                              f"{ANALYSED} MSPC-Net (mock stand-in for the paper's SDSS-LAMOST cross-match). {note}")


# ------------------------------------------------------------------ drawing functions
_PCT = {m: 100.0 for m in CLASSIFICATION_METRICS}


@styled
def mspc_fig1(result: Result):
    """Raw vs z-score-normalised spectrum, LAMOST (left) and SDSS (right).

    ``data``: ``{"lamost": (Spectrum, Preprocessed), "sdss": (Spectrum, Preprocessed)}``
    (raw spectrum and its :func:`spectool.preprocess.mspcnet` output).
    """
    data = need(result, dict, "mspc-fig1")
    surveys = [s for s in ("lamost", "sdss") if s in data]
    if not surveys:
        raise PlotInputError("mspc-fig1 needs 'lamost' and/or 'sdss' spectra", "mspc-fig1")
    fig, axes = figure(2, len(surveys), size=(5.2 * len(surveys), 5.4))
    for j, name in enumerate(surveys):
        raw, prep = data[name]
        ax = axes[0, j]
        ax.plot(raw.wavelength, raw.flux, lw=0.5, color="0.2")
        ax.set_title(f"{name.upper()} raw: {raw.meta.get('object_id', '')} ({raw.meta.get('subclass') or raw.meta.get('class') or '?'})",
                     fontsize=8)
        ax.set_ylabel(raw.meta.get("flux_label", "Flux [arbitrary units]"))
        ax.set_xlabel(plots.WAVELENGTH_LABEL)
        real = ~prep.padding
        ax = axes[1, j]
        ax.plot(prep.wavelength[real], prep.flux[real], lw=0.5, color="tab:blue")
        ax.set_title(f"z-score normalised, 4000-9000 A: 1 x {int(real.sum())} px (+{int(prep.padding.sum())} padding)",
                     fontsize=8)
        ax.set_ylabel("z-scored flux [dimensionless]")
        ax.set_xlabel(plots.WAVELENGTH_LABEL)
    return titled(fig, "MSPC-Net Fig. 1: raw and normalised spectra", result.source, result.note)


def mspc_tab1(result: Result):
    """The ten MSPC-Net datasets. ``data``: DataFrame with one row per preset (type, name,
    categories, paper count, count here, S/N cut, survey)."""
    df = need(result, pd.DataFrame, "mspc-tab1")
    return table(df, "MSPC-Net Table 1: datasets", result.source,
                 "Paper counts: 2000 spectra per class for SC/SS sets; 'count here' is what this source and mode hold.",
                 result.note)


def mspc_tab2(result: Result):
    """Model design: per stage the output size, layers and parameters, SDSS and LAMOST models.
    ``data``: DataFrame (model, stage, output size, layers, params)."""
    df = need(result, pd.DataFrame, "mspc-tab2")
    return table(df, "MSPC-Net Table 2: model design", result.source,
                 "Paper: 2.1M parameters (SDSS model), 2.2M (LAMOST model); sizes from the instantiated models.",
                 result.note)


def _runs(result: Result, what: str) -> RunSet:
    runs = need(result, RunSet, what)
    if runs.results.empty:
        raise PlotInputError(f"{what}: the run set has no finished runs", what)
    return runs


def _fold_table(result: Result, what: str, title: str):
    runs = _runs(result, what)
    frame = gate_frame(fold_table(runs.results), runs.results)
    return table(frame, title, result.source,
                 f"Accuracy and macro F1 (%) per fold, Avg and Std over folds (blank with a single fold). "
                 f"{MSPC_HEADLINE[what]} (real data, not comparable). "
                 "'learned?' compares each model with always answering the most frequent class.",
                 " ".join(t for t in (gate_text(runs.results), result.note) if t))


def mspc_tab3(result: Result):
    """Accuracy and F1 per fold + mean, stellar classes. ``data``: :class:`RunSet`."""
    return _fold_table(result, "mspc-tab3", "MSPC-Net Table 3: stellar classification")


def mspc_tab4(result: Result):
    """Accuracy and F1 per fold + mean, stellar subclasses. ``data``: :class:`RunSet`."""
    return _fold_table(result, "mspc-tab4", "MSPC-Net Table 4: stellar subclass classification")


def mspc_tab6(result: Result):
    """Accuracy and F1 per fold + mean, full classification. ``data``: :class:`RunSet`."""
    return _fold_table(result, "mspc-tab6", "MSPC-Net Table 6: full classification")


def _indices(pred: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    lookup = {c: i for i, c in enumerate(classes)}
    return (np.array([lookup[str(c)] for c in pred["true_label"]]),
            np.array([lookup[str(c)] for c in pred["pred_label"]]))


def mspc_tab5(result: Result):
    """Per class: TP, top-1 FN source, top-1 FP target, SSCNN vs MSPC-Net (test predictions).
    ``data``: :class:`RunSet` with predictions for labels ``SSCNN`` and ``MSPC-Net``."""
    runs = _runs(result, "mspc-tab5")
    dataset = runs.datasets()[0]
    classes = runs.class_names[dataset]
    blocks = {}
    for label in ("SSCNN", "MSPC-Net"):
        pred = runs.predictions.get((dataset, label))
        if pred is None:
            raise PlotInputError(f"mspc-tab5 needs predictions of {label} on {dataset}", "mspc-tab5")
        t = per_class_table(*_indices(pred, classes), classes).set_index("class")
        blocks[label] = t[["support", "tp_text", "fn_text", "fp_text"]].rename(
            columns={"tp_text": "TP", "fn_text": "top-1 FN", "fp_text": "top-1 FP"})
    frame = pd.concat(blocks, axis=1)
    return table(frame, f"MSPC-Net Table 5: per-class results on {dataset}", result.source,
                 "'X→Y (n)' reads predicted X, true Y, n times. Paper: 400 test spectra per class.",
                 " ".join(t for t in (gate_text(runs.results), result.note) if t))


@styled
def mspc_fig4(result: Result):
    """t-SNE of penultimate features, one panel per model.
    ``data``: ``{model label: embedding table}`` (columns x, y, label) from
    :func:`spectool.explain.embedding_table`."""
    data = need(result, dict, "mspc-fig4")
    if not data:
        raise PlotInputError("mspc-fig4 needs at least one embedding table", "mspc-fig4")
    fig, axes = figure(1, len(data), size=(3.4 * len(data) + 0.8, 3.8))
    spectral = "OBAFGKM"  # hot to cool, then anything else alphabetically
    classes = sorted({str(c) for t in data.values() for c in t["label"]},
                     key=lambda c: (spectral.find(c[0]) if c and c[0] in spectral else len(spectral), c))
    colours = {c: f"C{i % 10}" for i, c in enumerate(classes)}
    for ax, (name, t) in zip(axes[0], data.items()):
        plots.embedding(t, ax=ax, colours=colours, s=4, legend=False)
        ax.set_title(f"{name} (N={len(t)})", fontsize=9)
        ax.set_xlabel("t-SNE 1 (arbitrary units)")
        ax.set_ylabel("t-SNE 2 (arbitrary units)")
    axes[0, -1].legend(*axes[0, -1].get_legend_handles_labels(), loc="center left", bbox_to_anchor=(1.0, 0.5),
                       markerscale=2, fontsize=7, title="true class")
    return titled(fig, "MSPC-Net Fig. 4: t-SNE of penultimate features (test set)", result.source, result.note)


@styled
def mspc_fig5(result: Result):
    """Accuracy vs S/N interval (top) and S/N histogram (bottom), per model.
    ``data``: :class:`RunSet` with predictions (columns true_label, pred_label, snr).
    Bins holding fewer than :data:`MIN_PER_BIN` spectra get no accuracy point."""
    runs = _runs(result, "mspc-fig5")
    dataset = runs.datasets()[0]
    fig, axes = figure(2, 1, size=(7.5, 5.6), sharex=True)
    snr = None
    order: list[str] = []
    for label in runs.labels(dataset):
        pred = runs.predictions.get((dataset, label))
        if pred is None:
            continue
        snr = pred["snr"].to_numpy()
        order = order or list(accuracy_by_snr(np.zeros(snr.size), np.zeros(snr.size), snr)["snr_bin"])
        acc = accuracy_by_snr(pred["true_label"].astype(str), pred["pred_label"].astype(str), snr)
        acc = acc[acc["n"] >= MIN_PER_BIN]
        plots.binned(list(acc["snr_bin"]), 100 * acc["accuracy"], ax=axes[0, 0], label=label, order=order,
                     ylabel="accuracy [%]")
    if snr is None:
        raise PlotInputError(f"mspc-fig5: no predictions for {dataset}", "mspc-fig5")
    base = runs.results["baseline_accuracy"].max() if "baseline_accuracy" in runs.results else None
    if base is not None:
        axes[0, 0].axhline(100 * base, color="0.5", ls=":", lw=0.8, label="majority class")
    axes[0, 0].legend(ncol=3, fontsize=7)
    counts = accuracy_by_snr(np.zeros(snr.size), np.zeros(snr.size), snr).set_index("snr_bin")["n"]
    plots.bars_by_bin([b for b in order if b in counts.index], [counts[b] for b in order if b in counts.index],
                      ax=axes[1, 0], ylabel="test spectra", xlabel="S/N interval (per pixel, width 10)")
    axes[1, 0].axhline(MIN_PER_BIN, color="tab:red", ls=":", lw=0.8)
    note = (f"Accuracy shown for S/N bins with >= {MIN_PER_BIN} spectra (red line). "
            + " ".join(t for t in (gate_text(runs.results), result.note) if t))
    return titled(fig, f"MSPC-Net Fig. 5: accuracy vs S/N on {dataset}", result.source, note)


@styled
def mspc_fig6(result: Result):
    """Training and validation accuracy vs epoch, one panel per model.
    ``data``: :class:`RunSet` with histories (columns epoch, train_acc, val_acc)."""
    runs = _runs(result, "mspc-fig6")
    dataset = runs.datasets()[0]
    labels = [lb for lb in runs.labels(dataset) if (dataset, lb) in runs.histories]
    if not labels:
        raise PlotInputError(f"mspc-fig6: no training histories for {dataset}", "mspc-fig6")
    fig, axes = figure(1, len(labels), size=(3.2 * len(labels), 3.2), sharey=True)
    for ax, label in zip(axes[0], labels):
        plots.curves(runs.histories[(dataset, label)], ["train_acc", "val_acc"], ax=ax, scale=100.0,
                     labels=["training", "validation"])
        ax.set_title(label)
    axes[0, 0].set_ylabel("accuracy [%]")
    axes[0, 0].legend()
    note = " ".join(t for t in (gate_text(runs.results[runs.results["dataset"] == dataset]), result.note) if t)
    return titled(fig, f"MSPC-Net Fig. 6: training curves on {dataset}", result.source, note)


def _mean_std(result: Result, what: str, title: str, index: tuple[str, ...], caption: str):
    runs = _runs(result, what)
    frame = mean_std_table(runs.results, CLASSIFICATION_METRICS, index=index, scale=_PCT, decimals=2)
    frame = gate_frame(frame, runs.results, keys=("dataset", "label"), levels=1) if index == ("dataset", "label") \
        else _gate_by_label(frame, runs.results, index)
    return table(frame, title, result.source, caption,
                 " ".join(t for t in (gate_text(runs.results), result.note) if t))


def _gate_by_label(frame: pd.DataFrame, results: pd.DataFrame, index: tuple[str, ...]) -> pd.DataFrame:
    """:func:`gate_frame` for tables indexed by (dataset, group, label)."""
    keys = ("dataset", "label")
    reordered = frame.reset_index().set_index(list(keys))
    gated = gate_frame(reordered, results, keys=keys, levels=2)
    return gated.reset_index().set_index(list(index))


def mspc_tab7(result: Result):
    """Ablations (identity ratio, kernel sets, channels, attention): size, accuracy, F1.
    ``data``: :class:`RunSet` whose results carry a ``group`` column."""
    return _mean_std(result, "mspc-tab7", "MSPC-Net Table 7: ablations", ("dataset", "group", "label"),
                     "Mean ± std over folds (%). Paper: identity ratio 5/8 is best on SS-S>5.")


def mspc_tab8_17(result: Result):
    """Full ablation tables per dataset (appendix A). ``data``: :class:`RunSet` with groups."""
    return _mean_std(result, "mspc-tab8-17", "MSPC-Net Tables 8-17: ablations per dataset",
                     ("dataset", "group", "label"), "Mean ± std over folds (%), one block per dataset.")


def mspc_tab18(result: Result):
    """RAC-Net and ConvNeXt at MSPC-Net's size vs their originals (appendix B).
    ``data``: :class:`RunSet`."""
    return _mean_std(result, "mspc-tab18", "MSPC-Net Table 18: large-parameter baselines", ("dataset", "label"),
                     "Mean ± std over folds (%); 'size' is the parameter count of each model.")


@styled
def mspc_fig7(result: Result):
    """Feature maps (channels x wavelength) of a regular conv vs the MSPC module, one spectrum,
    each with a colourbar of the activation. ``data``: ``{"maps": {layer: FeatureMap},
    "groups": {layer: {name: (lo, hi)}}, "titles": {layer: title}}`` from
    :func:`spectool.explain.feature_maps`."""
    data = need(result, dict, "mspc-fig7")
    maps = data.get("maps") or {}
    if not maps:
        raise PlotInputError("mspc-fig7 needs feature maps", "mspc-fig7")
    fig, axes = figure(1, len(maps), size=(5.6 * len(maps), 3.9))
    for ax, (name, fm) in zip(axes[0], maps.items()):
        plots.heatmap(fm.values, ax=ax, label="activation [arbitrary units]", x=fm.wavelength,
                      xlabel=plots.WAVELENGTH_LABEL, ylabel="channel", cmap="magma",
                      groups=(data.get("groups") or {}).get(name))
        ax.set_title((data.get("titles") or {}).get(name, name), fontsize=9)
    return titled(fig, "MSPC-Net Fig. 7: feature maps, regular convolution vs MSPC module", result.source,
                  result.note)


@styled
def mspc_fig8(result: Result):
    """Label agreement between two surveys for correct vs incorrect predictions.
    ``data``: DataFrame with columns ``prediction`` (correct/incorrect), ``agreement``
    (labels agree/disagree) and ``count``."""
    df = need(result, pd.DataFrame, "mspc-fig8")
    if not {"prediction", "agreement", "count"} <= set(df.columns):
        raise PlotInputError("mspc-fig8 needs columns prediction, agreement, count", "mspc-fig8")
    wide = df.pivot_table(index="prediction", columns="agreement", values="count", aggfunc="sum", fill_value=0)
    fig, axes = figure(1, 1, size=(5.5, 3.6))
    ax = axes[0, 0]
    x = np.arange(len(wide.index))
    width = 0.8 / max(len(wide.columns), 1)
    for k, col in enumerate(wide.columns):
        bars = ax.bar(x + (k - (len(wide.columns) - 1) / 2) * width, wide[col].to_numpy(), width, label=f"labels {col}")
        ax.bar_label(bars, fontsize=7)
    ax.set_xticks(x, [f"{p} predictions" for p in wide.index])
    ax.set_xlabel("MSPC-Net prediction on the SDSS spectrum vs catalogue class")
    ax.set_ylabel("cross-matched spectra")
    ax.legend()
    return titled(fig, "MSPC-Net Fig. 8: SDSS vs LAMOST label agreement", result.source, result.note)


@styled
def mspc_fig9(result: Result):
    """A misclassified spectrum with the candidate class templates overlaid.
    ``data``: ``{"wavelength", "flux", "true", "predicted", "object_id",
    "templates": {class: flux on the same grid}}``."""
    data = need(result, dict, "mspc-fig9")
    missing = [k for k in ("wavelength", "flux", "true", "predicted", "templates") if k not in data]
    if missing:
        raise PlotInputError(f"mspc-fig9 lacks {missing}", "mspc-fig9")
    w = np.asarray(data["wavelength"])
    ok = np.isfinite(w)
    templates = data["templates"]
    fig, axes = figure(len(templates), 1, size=(9, 2.0 * len(templates) + 0.6), sharex=True)
    for ax, (name, tflux) in zip(axes[:, 0], templates.items()):
        ax.plot(w[ok], np.asarray(data["flux"])[ok], lw=0.5, color="0.3", label=f"spectrum (true {data['true']})")
        role = "true class" if name == data["true"] else ("predicted" if name == data["predicted"] else "candidate")
        ax.plot(w[ok], np.asarray(tflux)[ok], lw=0.9, color="tab:red", label=f"{name} template ({role})")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_ylabel("z-scored flux")
    axes[-1, 0].set_xlabel(plots.WAVELENGTH_LABEL)
    return titled(fig, f"MSPC-Net Fig. 9: {data.get('object_id', '')} true {data['true']}, predicted "
                       f"{data['predicted']}", result.source, result.note)
