"""SPFusion (seed 002) figures and tables: one function per catalog id.

Targets are red-clump mass (Msun) and age (Gyr). Functions take the
:class:`~spectool.plots.Result` of the matching :mod:`spectool.figures` step.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..train.metrics import regression_metrics
from ..train.tables import mean_std_table
from ._common import PlotInputError, Result, RunSet, figure, need, styled, table, titled
from .published import PUBLISHED, SPF_TABLE2

UNITS = {"mass": "Msun", "age": "Gyr"}
#: Ablation groups of Tables 3-7 (the ``group`` column of the ablation run set starts with these).
ABLATION_GROUPS = {3: "Table 3", 4: "Table 4", 5: "Table 5", 6: "Table 6", 7: "Table 7"}
#: Data modality of spectool's comparison models (S = spectrum, S&P = spectrum + photometry).
MODALITY = {"SSCNN": "S", "RAC-Net": "S", "ConvNeXt 1D": "S", "SPFusion": "S&P"}


def _runs(result: Result, what: str) -> RunSet:
    runs = need(result, RunSet, what)
    if runs.results.empty:
        raise PlotInputError(f"{what}: the run set has no finished runs", what)
    return runs


def spf_tab1(result: Result):
    """Train / validation / test counts per fold. ``data``: DataFrame (fold, train, val, test, total)."""
    df = need(result, pd.DataFrame, "spf-tab1")
    return table(df, "SPFusion Table 1: data splits", result.source,
                 "3-fold CV, train:val 7:3. Paper: 25,991 / 11,140 / 18,566 of 55,697 per fold.", result.note)


def comparison_frame(result: Result) -> pd.DataFrame:
    """Published Table 2 rows plus spectool's rows (mean over folds) with their source."""
    runs = _runs(result, "spf-tab2")
    pub = SPF_TABLE2.assign(values=PUBLISHED)
    res = runs.results
    ours = res.groupby("label", sort=False).agg(params=("params", "first"), mae_mass=("mae_mass", "mean"),
                                                mae_age=("mae_age", "mean"), runs=("fold", "size")).reset_index()
    ours = pd.DataFrame({"model": ours["label"], "modality": ours["label"].map(MODALITY).fillna("S"),
                         "params_M": (ours["params"] / 1e6).round(3), "mae_mass": ours["mae_mass"].round(4),
                         "mae_age": ours["mae_age"].round(4),
                         "values": f"spectool, {result.source.label}, mean of " + ours["runs"].astype(str) + " run(s)"})
    return pd.concat([pub, ours], ignore_index=True)


def spf_tab2(result: Result):
    """Params and MAE(mass), MAE(age) per model: the paper's published values (8 photometric,
    3 spectral models, SPFusion) and spectool's runs. ``data``: :class:`RunSet`."""
    frame = comparison_frame(result).rename(columns={"params_M": "params (M)", "mae_mass": "MAE mass (Msun)",
                                                      "mae_age": "MAE age (Gyr)"})
    return table(frame, "SPFusion Table 2: model comparison", result.source,
                 "Rows marked 'published values, not recomputed' are the paper's (real LAMOST + SDSS data); "
                 "spectool cannot rerun the photometric models. The other rows are measured here.", result.note)


@styled
def spf_fig2(result: Result):
    """Params vs MAE scatter, mass and age panels (published and spectool rows).
    ``data``: :class:`RunSet`."""
    frame = comparison_frame(result)
    fig, axes = figure(1, 2, size=(10, 4))
    for ax, target in zip(axes[0], ("mass", "age")):
        for values, marker, fill in ((PUBLISHED, "o", "none"), (None, "*", None)):
            sel = frame["values"] == PUBLISHED if values else frame["values"] != PUBLISHED
            sub = frame[sel]
            ax.scatter(sub["params_M"], sub[f"mae_{target}"], marker=marker, s=40 if fill is None else 30,
                       facecolors=fill if fill else "tab:red", edgecolors="tab:blue" if fill else "tab:red",
                       label="published (paper)" if values else "spectool (this run)")
            for _, r in sub.iterrows():
                ax.annotate(r["model"], (r["params_M"], r[f"mae_{target}"]), fontsize=6, xytext=(3, 2),
                            textcoords="offset points")
        ax.set_xlabel("parameters (M)")
        ax.set_ylabel(f"MAE {target} ({UNITS[target]})")
        ax.set_title(f"{target}")
    axes[0, 0].legend()
    return titled(fig, "SPFusion Fig. 2: parameters vs MAE", result.source, result.note)


def _pred_pairs(runs: RunSet, what: str, labels: list[str] | None = None) -> dict[str, pd.DataFrame]:
    dataset = runs.datasets()[0]
    labels = labels or runs.labels(dataset)
    out = {lb: runs.predictions[(dataset, lb)] for lb in labels if (dataset, lb) in runs.predictions}
    if not out:
        raise PlotInputError(f"{what}: no predictions in the run set", what)
    return out


def _scatter(result: Result, target: str, what: str, title: str):
    preds = _pred_pairs(_runs(result, what), what)
    fig, axes = figure(1, len(preds), size=(3.2 * len(preds), 3.4))
    for ax, (label, p) in zip(axes[0], preds.items()):
        t, y = p[f"true_{target}"].to_numpy(float), p[target].to_numpy(float)
        ax.scatter(t, y, s=5, alpha=0.6)
        lo, hi = np.nanmin([t.min(), y.min()]), np.nanmax([t.max(), y.max()])
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.7, ls="--")
        ax.set_title(f"{label}\nMAE {np.mean(np.abs(y - t)):.4f} {UNITS[target]}", fontsize=8)
        ax.set_xlabel(f"true {target} ({UNITS[target]})")
    axes[0, 0].set_ylabel(f"predicted {target} ({UNITS[target]})")
    return titled(fig, title, result.source, result.note)


@styled
def spf_fig3(result: Result):
    """Predicted vs true mass, one panel per model. ``data``: :class:`RunSet` (predictions)."""
    return _scatter(result, "mass", "spf-fig3", "SPFusion Fig. 3: predicted vs true mass")


@styled
def spf_fig4(result: Result):
    """Predicted vs true age, one panel per model. ``data``: :class:`RunSet` (predictions)."""
    return _scatter(result, "age", "spf-fig4", "SPFusion Fig. 4: predicted vs true age")


def _snr_column(p: pd.DataFrame) -> str:
    return "snr_g" if "snr_g" in p.columns else "snr"


def _mae_vs_snr(result: Result, target: str, what: str, title: str, labels: list[str] | None = None):
    preds = _pred_pairs(_runs(result, what), what, labels)
    fig, axes = figure(1, 1, size=(6.5, 3.6))
    ax = axes[0, 0]
    order: list[str] = []
    col = "snr"
    for label, p in preds.items():
        col = _snr_column(p)
        m = regression_metrics(p[[f"true_{target}"]].to_numpy(), p[[target]].to_numpy(), [target],
                               snr=p[col].to_numpy())
        m = m[m["snr_bin"] != "all"]
        for b in m["snr_bin"]:
            if b not in order:
                order.append(b)
        ax.plot([order.index(b) for b in m["snr_bin"]], m["mae"], marker="o", ms=3, label=label)
    ax.set_xticks(range(len(order)), order, rotation=45)
    ax.set_xlabel(("g-band " if col == "snr_g" else "") + "S/N interval (width 10)")
    ax.set_ylabel(f"MAE {target} ({UNITS[target]})")
    ax.legend()
    return titled(fig, title, result.source, result.note)


@styled
def spf_fig5(result: Result):
    """MAE(mass) vs g-band S/N in bins of 10, per model. ``data``: :class:`RunSet`."""
    return _mae_vs_snr(result, "mass", "spf-fig5", "SPFusion Fig. 5: MAE(mass) vs S/N")


@styled
def spf_fig6(result: Result):
    """MAE(age) vs g-band S/N in bins of 10, per model. ``data``: :class:`RunSet`."""
    return _mae_vs_snr(result, "age", "spf-fig6", "SPFusion Fig. 6: MAE(age) vs S/N")


def _ablation(result: Result, number: int):
    what = f"spf-tab{number}"
    runs = _runs(result, what)
    prefix = ABLATION_GROUPS[number]
    res = runs.results[runs.results["group"].astype(str).str.startswith(prefix)]
    if res.empty:
        raise PlotInputError(f"{what}: no runs in group {prefix!r}", what)
    titles = {"mae_mass": "MAE mass (Msun)", "mae_age": "MAE age (Gyr)"}
    frame = mean_std_table(res, titles, index=("group", "label"), decimals=4)
    return table(frame, f"SPFusion {prefix}: ablation ({res['group'].iloc[0][len(prefix):].strip()})",
                 result.source, "Mean ± std over folds.", result.note)


def spf_tab3(result: Result):
    """Ablation: star operator on/off. ``data``: ablation :class:`RunSet`."""
    return _ablation(result, 3)


def spf_tab4(result: Result):
    """Ablation: star-fusion kernel 3/7/11. ``data``: ablation :class:`RunSet`."""
    return _ablation(result, 4)


def spf_tab5(result: Result):
    """Ablation: FFN ratio 2-5. ``data``: ablation :class:`RunSet`."""
    return _ablation(result, 5)


def spf_tab6(result: Result):
    """Ablation: attention heads 1/2/4/7. ``data``: ablation :class:`RunSet`."""
    return _ablation(result, 6)


def spf_tab7(result: Result):
    """Ablation: MetaFormer blocks 1-3. ``data``: ablation :class:`RunSet`."""
    return _ablation(result, 7)


STAR_LABELS = ["no star operator", "star operator"]


@styled
def spf_fig7(result: Result):
    """MAE(mass) vs S/N with and without star fusion. ``data``: ablation :class:`RunSet`."""
    return _mae_vs_snr(result, "mass", "spf-fig7", "SPFusion Fig. 7: MAE(mass) vs S/N, star fusion on/off",
                       STAR_LABELS)


@styled
def spf_fig8(result: Result):
    """MAE(age) vs S/N with and without star fusion. ``data``: ablation :class:`RunSet`."""
    return _mae_vs_snr(result, "age", "spf-fig8", "SPFusion Fig. 8: MAE(age) vs S/N, star fusion on/off",
                       STAR_LABELS)


@styled
def spf_fig9(result: Result):
    """Channel-attention (SE) heatmap, batch x channels, photometric / fused / spectral.
    ``data``: ``{"weights": (N, 96) array, "groups": {name: (lo, hi)}, "model": text}``."""
    from ..explain import plot_attention_heatmap

    data = need(result, dict, "spf-fig9")
    w = np.asarray(data.get("weights"))
    if w.ndim != 2:
        raise PlotInputError(f"spf-fig9 needs (batch, channels) weights, got {w.shape}", "spf-fig9")
    fig, axes = figure(1, 1, size=(8, 4.2))
    plot_attention_heatmap(w, groups=data.get("groups"), ax=axes[0, 0])
    return titled(fig, f"SPFusion Fig. 9: SE channel weights of one batch ({data.get('model', '')})",
                  result.source, result.note)


@styled
def spf_fig10(result: Result):
    """Spectral-channel attention overlaid on the input spectrum below 5500 A, weights > 0.5
    shaded, lines marked. ``data``: :class:`spectool.explain.AttentionOverlay`."""
    from ..explain import AttentionOverlay

    ov = need(result, AttentionOverlay, "spf-fig10")
    fig, axes = figure(1, 1, size=(10, 3.8))
    ov.plot(ax=axes[0, 0])
    return titled(fig, f"SPFusion Fig. 10: spectral-channel attention ({ov.layer})", result.source, result.note)
