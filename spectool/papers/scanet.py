"""SCA-Net (seed 004): steps and one drawing function per catalog id.

Targets: Teff (K), log g (dex), [Fe/H] (dex). The variant comparison (Table 1, Fig. 6,
Table 3) comes from a training step; the predictions (Fig. 7) and the sliding-window
importance (Fig. 8) analyse the M-M-T-T model on a mock test set.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..train.tables import mean_std_table
from ._common import PlotInputError, Result, RunSet, figure, gate_frame, gate_text, need, passed, styled, table, titled
from ._context import Context, analysis_model, evaluation_sets, predictions_on, step
from .published import PUBLISHED, SCA_TABLE3

DATASET = "scanet/AFGK"
TARGETS = {"teff": "Teff [K]", "logg": "log g [dex]", "feh": "[Fe/H] [dex]"}
UNITS = {"teff": "K", "logg": "dex", "feh": "dex"}
VARIANTS = ["M-M-M-M", "M-M-M-T", "M-M-T-T", "M-T-T-T", "T-T-T-T"]
MAIN = "M-M-T-T"
#: Test spectra averaged by the sliding-window importance (Fig. 8) per mode.
SLIDING_SPECTRA = {"smoke": 1, "quick": 8, "medium": 100, "full": 200}


# --------------------------------------------------------------------------- steps
@step
def sca_labels(ctx: Context) -> Result:
    """Training labels (Teff, log g, [Fe/H]) of the AFGK set."""
    ds = ctx.dataset(DATASET)
    return ctx.result(ds.meta.iloc[ds.indices("train", 0)][["teff", "logg", "feh"]].reset_index(drop=True))


@step
def sca_complexity(ctx: Context) -> Result:
    """Params and GMAC of every variant (full width, authors' Transformer style) with MBConv
    and standard-conv blocks, built on the meta device; CPU latency per spectrum (quick mode:
    M-M-T-T MBConv only)."""
    import time

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models.scanet import SCANet

    rows = []
    for layout in ("MMMM", "MMMT", "MMTT", "MTTT", "TTTT"):
        for block in ("mbconv", "standard"):
            if block == "standard" and layout == "TTTT":
                continue
            with torch.device("meta"):
                m = SCANet(layout, transformer_style="authors", block=block).eval()
                counter = FlopCounterMode(display=False)
                with counter, torch.no_grad():
                    m(torch.zeros(1, 1, 4096))
            latency = np.nan
            if not ctx.quick or (layout == "MMTT" and block == "mbconv"):
                real = SCANet(layout, transformer_style="authors", block=block).eval()
                x = torch.zeros(1, 1, 4096)
                with torch.inference_mode():
                    real(x)
                    times = []
                    for _ in range(3 if ctx.quick else 10):
                        t0 = time.perf_counter()
                        real(x)
                        times.append(time.perf_counter() - t0)
                latency = 1e3 * float(np.median(times))
                del real
            rows.append({"variant": "-".join(layout), "block": "MBConv" if block == "mbconv" else "standard conv",
                         "params (M)": round(sum(p.numel() for p in m.parameters()) / 1e6, 3),
                         "GMAC": round(counter.get_total_flops() / 2e9, 3), "CPU latency (ms)": round(latency, 1)})
    note = "Quick mode: latency measured for M-M-T-T (MBConv) only." if ctx.quick else ""
    return ctx.result(pd.DataFrame(rows), note)


@step
def sca_eval(ctx: Context) -> Result:
    """Predictions of the analysed M-M-T-T on the mock test set (reduced modes: the shipped
    pretrained checkpoint on freshly generated mock spectra)."""
    model, note = analysis_model(ctx, DATASET, MAIN, "sca_variants")
    parts = [predictions_on(model, ds, rows) for ds, rows in evaluation_sets(ctx, DATASET)]
    pred = pd.concat(parts, ignore_index=True)
    runs = RunSet(pd.DataFrame([{"dataset": DATASET, "label": MAIN, "n": len(pred)}]))
    runs.predictions[(DATASET, MAIN)] = pred
    return ctx.result(runs, f"{len(pred)} mock test spectra. {note}")


@step
def sca_sliding(ctx: Context) -> Result:
    """Sliding-window importance (15 A window, 5 A step, continuum fill) of the analysed
    M-M-T-T, mean over test spectra (:data:`SLIDING_SPECTRA`)."""
    from ..explain import sliding_window_importance

    model, note = analysis_model(ctx, DATASET, MAIN, "sca_variants")
    ds, rows = evaluation_sets(ctx, DATASET)[0]
    rows = np.sort(rows[: SLIDING_SPECTRA.get(ctx.mode, 200)])
    sw = sliding_window_importance(model, np.asarray(ds.flux[rows])[:, None], wavelength=ds.wavelength, window=15.0,
                                   step=5.0, fill="continuum", progress=ctx.progress, seed=ctx.seed)
    return ctx.result(sw, f"Mean over {rows.size} mock test spectra. {note}")


# ---------------------------------------------------------------- drawing functions



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
    axes[0, 0].set_ylabel("training spectra [count]")
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
    axes[0, 0].set_ylabel(raw.meta.get("flux_label", "Flux [arbitrary units]"))
    axes[1, 0].plot(prep.wavelength, prep.flux, lw=0.5, color="tab:blue")
    axes[1, 0].set_title(f"after: rest frame, cubic spline to {len(prep)} px "
                         f"({prep.wavelength[0]:.0f}-{prep.wavelength[-1]:.0f} A), continuum normalised", fontsize=8)
    axes[1, 0].set_ylabel("continuum-normalised flux [dimensionless]")
    for ax in axes[:, 0]:
        ax.set_xlabel(plots.WAVELENGTH_LABEL)
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
    fig.colorbar(im, ax=axes[0, 0], label="continuum-normalised flux [dimensionless]")
    axes[0, 0].set_xlabel("column [pixel]")
    axes[0, 0].set_ylabel("row [pixel] (odd rows reversed)")
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
        for ax, col in zip(axes[0], ("train_loss", "val_loss")):
            plots.curves(h, [col], ax=ax, labels=[label], color=f"C{k}")
    for ax, name in zip(axes[0], ("training loss", "validation loss")):
        ax.set_title(name)
    axes[0, 0].set_ylabel("L1 loss [log2 Teff, dex, dex]")
    axes[0, 1].legend(fontsize=7)
    note = " ".join(t for t in (gate_text(runs.results), result.note) if t)
    return titled(fig, "SCA-Net Fig. 6: loss curves of the five variants", result.source, note)


_METRICS = {f"{s}_{t}": f"{t} {s.upper()}" for t in TARGETS for s in ("mae", "rmse")}


def sca_tab1(result: Result):
    """MAE and RMSE (mean ± std over runs) per variant. ``data``: :class:`RunSet`."""
    runs = _runs(result, "sca-tab1")
    metrics = {k: v for k, v in _METRICS.items() if k in runs.results.columns}
    decimals = {k: (2 if "teff" in k else 4) for k in metrics}
    frame = gate_frame(mean_std_table(runs.results, metrics, index=("dataset", "label"), decimals=decimals),
                       runs.results)
    return table(frame, "SCA-Net Table 1: variants", result.source,
                 "Mean ± std over repeated runs. Paper (real LAMOST, 5 runs): M-M-T-T 71.07 K, 0.042, 0.040 dex MAE. "
                 "'learned?' compares each variant with the best constant prediction of every label.",
                 " ".join(t for t in (gate_text(runs.results), result.note) if t))


def sca_tab2(result: Result):
    """Params, FLOPs and latency per sample, MBConv vs standard-conv versions of each variant.
    ``data``: DataFrame (variant, block, params (M), GMAC, latency ms)."""
    df = need(result, pd.DataFrame, "sca-tab2")
    return table(df, "SCA-Net Table 2: parameters, FLOPs and latency", result.source,
                 "GMAC from torch's flop counter at full size; latency on this machine's CPU. Paper: M-M-T-T "
                 "114.239M params, 4.523 GFLOPs, 1.840 ms on a GPU.", result.note)


@styled
def sca_fig7(result: Result):
    """Predicted vs catalogue values (density with colourbar) and residual KDE with mu and
    sigma, per parameter. ``data``: :class:`RunSet` with predictions of the M-M-T-T variant
    (or its first label)."""
    runs = _runs(result, "sca-fig7")
    dataset = runs.datasets()[0]
    label = MAIN if (dataset, MAIN) in runs.predictions else next(iter(runs.predictions))[1]
    p = runs.predictions[(dataset, label)]
    fig, axes = figure(2, 3, size=(12, 6.6))
    for j, t in enumerate(TARGETS):
        name = {"teff": "Teff", "logg": "log g", "feh": "[Fe/H]"}[t]
        plots.pred_vs_true(p[f"true_{t}"], p[t], ax=axes[0, j], name=name, unit=UNITS[t], density=True)
        plots.residual_density(p[f"true_{t}"], p[t], ax=axes[1, j], name=name, unit=UNITS[t])
        axes[0, j].set_xlabel(f"catalogue {name} [{UNITS[t]}]")
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
    ok = {t: bool(passed(main[f"learned_{t}"]).all()) if f"learned_{t}" in main.columns
          else bool(main["learned"].all()) if "learned" in main.columns else True for t in TARGETS}
    withheld = [t for t, good in ok.items() if not good]
    values = f"measured here ({result.source.label}), mean of {len(main)} run(s)"
    if withheld:
        values += f"; NOT LEARNED for {', '.join(withheld)} (no better than the best constant): withheld"
    ours = pd.DataFrame([{"method": f"spectool {main['label'].iloc[0]}",
                          **{f"mae_{t}": round(float(main[f"mae_{t}"].mean()), 4) if ok[t] else np.nan
                             for t in TARGETS}, "values": values}])
    frame = pd.concat([SCA_TABLE3.assign(values=PUBLISHED), ours], ignore_index=True)
    frame = frame.rename(columns={f"mae_{t}": f"MAE {n}" for t, n in TARGETS.items()})
    return table(frame, "SCA-Net Table 3: comparison with other methods", result.source,
                 "GSN, DCN and the paper's SCA-Net rows are published values on real LAMOST data; they are not "
                 "recomputed and not comparable with numbers measured on synthetic mock data.", result.note)
