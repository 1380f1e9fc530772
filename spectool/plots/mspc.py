"""MSPC-Net (seed 000) figures and tables: one function per catalog id.

Each function takes the :class:`~spectool.plots.Result` computed by the matching step of
:mod:`spectool.figures` (its ``data`` type is given in the docstring) and returns a
matplotlib Figure or a :class:`~spectool.plots.Table`. Nothing is recomputed here except
cheap summaries of the given predictions (accuracy per S/N bin, per-class counts).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..train.metrics import accuracy_by_snr, per_class_table
from ..train.tables import CLASSIFICATION_METRICS, fold_table, mean_std_table
from ._common import PlotInputError, Result, RunSet, figure, need, styled, table, titled
from .published import MSPC_HEADLINE

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
        ax.set_ylabel(raw.meta.get("flux_label", "flux"))
        real = ~prep.padding
        ax = axes[1, j]
        ax.plot(prep.wavelength[real], prep.flux[real], lw=0.5, color="tab:blue")
        ax.set_title(f"z-score normalised, 4000-9000 A: 1 x {int(real.sum())} px (+{int(prep.padding.sum())} padding)",
                     fontsize=8)
        ax.set_ylabel("normalised flux")
        ax.set_xlabel("Wavelength (vacuum) [Angstrom]")
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
    return table(fold_table(runs.results), title, result.source,
                 f"Accuracy and macro F1 (%) per fold, Avg and Std. {MSPC_HEADLINE[what]} (real data, not comparable).",
                 result.note)


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
                 "'X→Y (n)' reads predicted X, true Y, n times. Paper: 400 test spectra per class.", result.note)


@styled
def mspc_fig4(result: Result):
    """t-SNE of penultimate features, one panel per model.
    ``data``: ``{model label: embedding table}`` (columns x, y, label) from
    :func:`spectool.explain.embedding_table`."""
    data = need(result, dict, "mspc-fig4")
    if not data:
        raise PlotInputError("mspc-fig4 needs at least one embedding table", "mspc-fig4")
    fig, axes = figure(1, len(data), size=(3.4 * len(data), 3.6))
    classes = sorted({str(c) for t in data.values() for c in t["label"]})
    colours = {c: f"C{i % 10}" for i, c in enumerate(classes)}
    for ax, (name, t) in zip(axes[0], data.items()):
        for c in classes:
            sel = t["label"].astype(str) == c
            ax.scatter(t.loc[sel, "x"], t.loc[sel, "y"], s=6, color=colours[c], label=c)
        ax.set_title(name)
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2, fontsize=7)
    return titled(fig, "MSPC-Net Fig. 4: t-SNE of penultimate features (test set)", result.source, result.note)


@styled
def mspc_fig5(result: Result):
    """Accuracy vs S/N interval (top) and S/N histogram (bottom), per model.
    ``data``: :class:`RunSet` with predictions (columns true_label, pred_label, snr)."""
    runs = _runs(result, "mspc-fig5")
    dataset = runs.datasets()[0]
    fig, axes = figure(2, 1, size=(7.5, 5.6), sharex=True)
    snr = None
    order: list[str] = []
    for k, label in enumerate(runs.labels(dataset)):
        pred = runs.predictions.get((dataset, label))
        if pred is None:
            continue
        acc = accuracy_by_snr(pred["true_label"].astype(str), pred["pred_label"].astype(str), pred["snr"].to_numpy())
        order = order or list(acc["snr_bin"])
        pos = [order.index(b) if b in order else np.nan for b in acc["snr_bin"]]
        axes[0, 0].plot(pos, 100 * acc["accuracy"], marker="o", ms=3, label=label)
        snr = pred["snr"].to_numpy()
    if snr is None:
        raise PlotInputError(f"mspc-fig5: no predictions for {dataset}", "mspc-fig5")
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[0, 0].legend(ncol=2)
    counts = pd.Series(accuracy_by_snr(np.zeros(snr.size), np.zeros(snr.size), snr).set_index("snr_bin")["n"])
    axes[1, 0].bar(range(len(counts)), counts.to_numpy(), color="0.6")
    axes[1, 0].set_xticks(range(len(counts)), counts.index, rotation=45)
    axes[1, 0].set_xlabel("S/N interval")
    axes[1, 0].set_ylabel("test spectra")
    return titled(fig, f"MSPC-Net Fig. 5: accuracy vs S/N on {dataset}", result.source, result.note)


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
        h = runs.histories[(dataset, label)]
        ep = h["epoch"] + 1
        ax.plot(ep, 100 * h["train_acc"], marker="o", ms=3, label="training")
        ax.plot(ep, 100 * h["val_acc"], marker="s", ms=3, label="validation")
        ax.set_title(label)
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[0, 0].legend()
    return titled(fig, f"MSPC-Net Fig. 6: training curves on {dataset}", result.source, result.note)


def _mean_std(result: Result, what: str, title: str, index: tuple[str, ...], caption: str):
    runs = _runs(result, what)
    frame = mean_std_table(runs.results, CLASSIFICATION_METRICS, index=index, scale=_PCT, decimals=2)
    return table(frame, title, result.source, caption, result.note)


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
    """Feature maps (channels x length) of a regular conv vs the MSPC module, one spectrum.
    ``data``: ``{"maps": {layer: FeatureMap}, "groups": {layer: {name: (lo, hi)}},
    "titles": {layer: title}}`` from :func:`spectool.explain.feature_maps`."""
    from ..explain import plot_feature_maps

    data = need(result, dict, "mspc-fig7")
    maps = data.get("maps") or {}
    if not maps:
        raise PlotInputError("mspc-fig7 needs feature maps", "mspc-fig7")
    fig, axes = figure(1, len(maps), size=(5.0 * len(maps), 3.8))
    plot_feature_maps(maps, groups=data.get("groups"), titles=data.get("titles"), axes=axes[0])
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
        ax.set_ylabel("norm. flux")
    axes[-1, 0].set_xlabel("Wavelength (vacuum) [Angstrom]")
    return titled(fig, f"MSPC-Net Fig. 9: {data.get('object_id', '')} true {data['true']}, predicted "
                       f"{data['predicted']}", result.source, result.note)
