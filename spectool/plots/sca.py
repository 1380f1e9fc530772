"""SCA-Net (seed 004) figures and tables: one function per catalog id.

Targets: Teff (K), log g (dex), [Fe/H] (dex). Functions take the
:class:`~spectool.plots.Result` of the matching :mod:`spectool.figures` step.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..train.tables import mean_std_table
from ._common import PlotInputError, Result, RunSet, figure, need, styled, table, titled
from .published import PUBLISHED, SCA_TABLE3

TARGETS = {"teff": "Teff (K)", "logg": "log g (dex)", "feh": "[Fe/H] (dex)"}
VARIANTS = ["M-M-M-M", "M-M-M-T", "M-M-T-T", "M-T-T-T", "T-T-T-T"]
MAIN = "M-M-T-T"


def _runs(result: Result, what: str) -> RunSet:
    runs = need(result, RunSet, what)
    if runs.results.empty:
        raise PlotInputError(f"{what}: the run set has no finished runs", what)
    return runs


@styled
def sca_fig1(result: Result):
    """Training-label histograms of Teff, log g, [Fe/H]. ``data``: DataFrame with columns
    teff, logg, feh."""
    df = need(result, pd.DataFrame, "sca-fig1")
    missing = [t for t in TARGETS if t not in df.columns]
    if missing:
        raise PlotInputError(f"sca-fig1 lacks label columns {missing}", "sca-fig1")
    fig, axes = figure(1, 3, size=(10, 3.0))
    for ax, (t, name) in zip(axes[0], TARGETS.items()):
        v = df[t].to_numpy(float)
        ax.hist(v[np.isfinite(v)], bins=30, color="tab:blue", alpha=0.8)
        ax.set_xlabel(name)
        ax.set_title(f"{v.min():.4g} .. {v.max():.4g}", fontsize=8)
    axes[0, 0].set_ylabel("training spectra")
    return titled(fig, f"SCA-Net Fig. 1: training labels (N={len(df)})", result.source, result.note)


def _scanet_pair(result: Result, what: str):
    data = need(result, dict, what)
    if "scanet" not in data:
        raise PlotInputError(f"{what} needs data['scanet'] = (Spectrum, Preprocessed)", what)
    return data["scanet"]


@styled
def sca_fig2(result: Result):
    """A spectrum before and after preprocessing (rest frame, 4000-8095 A at 1 A, continuum
    normalised). ``data``: ``{"scanet": (Spectrum, Preprocessed)}``."""
    raw, prep = _scanet_pair(result, "sca-fig2")
    fig, axes = figure(2, 1, size=(9, 5))
    axes[0, 0].plot(raw.wavelength, raw.flux, lw=0.5, color="0.2")
    axes[0, 0].set_title(f"before: {raw.meta.get('object_id', '')} (observed frame, z = {raw.redshift:.2e})",
                         fontsize=8)
    axes[0, 0].set_ylabel(raw.meta.get("flux_label", "flux"))
    axes[1, 0].plot(prep.wavelength, prep.flux, lw=0.5, color="tab:blue")
    axes[1, 0].set_title(f"after: rest frame, cubic spline to {len(prep)} px "
                         f"({prep.wavelength[0]:.0f}-{prep.wavelength[-1]:.0f} A), continuum normalised", fontsize=8)
    axes[1, 0].set_ylabel("normalised flux")
    for ax in axes[:, 0]:
        ax.set_xlabel("Wavelength (vacuum) [Angstrom]")
    return titled(fig, "SCA-Net Fig. 2: preprocessing", result.source, result.note)


@styled
def sca_fig3(result: Result):
    """The preprocessed spectrum folded S-wise into a 64 x 64 image.
    ``data``: ``{"scanet": (Spectrum, Preprocessed)}``."""
    from ..preprocess import fold_s

    _, prep = _scanet_pair(result, "sca-fig3")
    img = fold_s(prep.flux)
    fig, axes = figure(1, 1, size=(4.6, 4.2))
    im = axes[0, 0].imshow(img, origin="upper", cmap="viridis")
    fig.colorbar(im, ax=axes[0, 0], label="continuum-normalised flux")
    axes[0, 0].set_xlabel("column (pixel)")
    axes[0, 0].set_ylabel("row (odd rows reversed)")
    return titled(fig, f"SCA-Net Fig. 3: S-fold {img.shape[0]} x {img.shape[1]}", result.source, result.note)


@styled
def sca_fig6(result: Result):
    """Training and validation loss vs epoch for the five variants (markers every 10 epochs).
    ``data``: :class:`RunSet` with histories (epoch, train_loss, val_loss)."""
    runs = _runs(result, "sca-fig6")
    dataset = runs.datasets()[0]
    labels = [lb for lb in runs.labels(dataset) if (dataset, lb) in runs.histories]
    if not labels:
        raise PlotInputError("sca-fig6: no training histories", "sca-fig6")
    fig, axes = figure(1, 2, size=(10, 3.6), sharey=True)
    for k, label in enumerate(labels):
        h = runs.histories[(dataset, label)]
        ep = h["epoch"] + 1
        for ax, col in zip(axes[0], ("train_loss", "val_loss")):
            ax.plot(ep, h[col], marker="os^Dv"[k % 5], markevery=10 if len(ep) > 10 else 1, ms=4, label=label)
    for ax, name in zip(axes[0], ("training loss", "validation loss")):
        ax.set_title(name)
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel("L1 loss (log Teff, log g, [Fe/H])")
    axes[0, 1].legend()
    return titled(fig, "SCA-Net Fig. 6: loss curves of the five variants", result.source, result.note)


_METRICS = {f"{s}_{t}": f"{t} {s.upper()}" for t in TARGETS for s in ("mae", "rmse")}


def sca_tab1(result: Result):
    """MAE and RMSE (mean ± std over runs) per variant. ``data``: :class:`RunSet`."""
    runs = _runs(result, "sca-tab1")
    metrics = {k: v for k, v in _METRICS.items() if k in runs.results.columns}
    decimals = {k: (2 if "teff" in k else 4) for k in metrics}
    frame = mean_std_table(runs.results, metrics, index=("dataset", "label"), decimals=decimals)
    return table(frame, "SCA-Net Table 1: variants", result.source,
                 "Mean ± std over repeated runs. Paper (real LAMOST, 5 runs): M-M-T-T 71.07 K, 0.042, 0.040 dex MAE.",
                 result.note)


def sca_tab2(result: Result):
    """Params, FLOPs and latency per sample, MBConv vs standard-conv versions of each variant.
    ``data``: DataFrame (variant, block, params (M), GMAC, latency ms)."""
    df = need(result, pd.DataFrame, "sca-tab2")
    return table(df, "SCA-Net Table 2: parameters, FLOPs and latency", result.source,
                 "GMAC from torch's flop counter at full size; latency on this machine's CPU. Paper: M-M-T-T "
                 "114.239M params, 4.523 GFLOPs, 1.840 ms on a GPU.", result.note)


@styled
def sca_fig7(result: Result):
    """Predicted vs catalogue values (density) and residual KDE with mu and sigma, per parameter.
    ``data``: :class:`RunSet` with predictions of the M-M-T-T variant (or its first label)."""
    from scipy.stats import gaussian_kde

    runs = _runs(result, "sca-fig7")
    dataset = runs.datasets()[0]
    label = MAIN if (dataset, MAIN) in runs.predictions else next(iter(runs.predictions))[1]
    p = runs.predictions[(dataset, label)]
    fig, axes = figure(2, 3, size=(11, 6.2))
    for j, (t, name) in enumerate(TARGETS.items()):
        true, pred = p[f"true_{t}"].to_numpy(float), p[t].to_numpy(float)
        ax = axes[0, j]
        ax.hexbin(true, pred, gridsize=25, mincnt=1, cmap="viridis")
        lo, hi = min(true.min(), pred.min()), max(true.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], color="r", lw=0.7, ls="--")
        ax.set_xlabel(f"catalogue {name}")
        ax.set_ylabel(f"predicted {name}")
        r = pred - true
        ax = axes[1, j]
        grid = np.linspace(r.min() - r.std(), r.max() + r.std(), 200)
        if r.size > 2 and r.std() > 0:
            ax.plot(grid, gaussian_kde(r)(grid), color="tab:blue")
        ax.axvline(0, color="0.5", lw=0.6)
        ax.set_title(f"mu = {r.mean():.4g}, sigma = {r.std():.4g}", fontsize=8)
        ax.set_xlabel(f"residual {name}")
        ax.set_ylabel("density")
    return titled(fig, f"SCA-Net Fig. 7: {label} predictions vs catalogue (N={len(p)})", result.source, result.note)


@styled
def sca_fig8(result: Result):
    """Sliding-window perturbation importance vs wavelength per parameter, lines marked.
    ``data``: :class:`spectool.explain.SlidingWindowResult`."""
    from ..explain import SlidingWindowResult

    sw = need(result, SlidingWindowResult, "sca-fig8")
    n = len(sw.output_names)
    fig, axes = figure(n, 1, size=(10, 2.3 * n + 0.6), sharex=True)
    sw.plot(axes=axes[:, 0], lines="scanet")
    return titled(fig, "SCA-Net Fig. 8: sliding-window importance", result.source, result.note)


def sca_tab3(result: Result):
    """MAE comparison with other methods: published values (GSN, DCN, SCA-Net) and spectool's
    M-M-T-T runs. ``data``: :class:`RunSet` of the variants."""
    runs = _runs(result, "sca-tab3")
    res = runs.results
    main = res[res["label"] == MAIN] if (res["label"] == MAIN).any() else res[res["label"] == res["label"].iloc[0]]
    ours = pd.DataFrame([{"method": f"spectool {main['label'].iloc[0]}",
                          **{f"mae_{t}": round(float(main[f"mae_{t}"].mean()), 4) for t in TARGETS},
                          "values": f"measured here ({result.source.label}), mean of {len(main)} run(s)"}])
    frame = pd.concat([SCA_TABLE3.assign(values=PUBLISHED), ours], ignore_index=True)
    frame = frame.rename(columns={f"mae_{t}": f"MAE {n}" for t, n in TARGETS.items()})
    return table(frame, "SCA-Net Table 3: comparison with other methods", result.source,
                 "GSN, DCN and the paper's SCA-Net rows are published values on real LAMOST data; they are not "
                 "recomputed and not comparable with numbers measured on synthetic mock data.", result.note)
