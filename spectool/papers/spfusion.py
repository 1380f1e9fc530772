"""SPFusion (seed 002): steps and one drawing function per catalog id.

Targets are red-clump mass (Msun) and age (Gyr). The model comparison (Table 2, Figs.
2-6) and the ablations (Tables 3-7, Figs. 7-8) come from training steps; the attention
figures (9, 10) analyse one model on a batch of test spectra.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..train.metrics import regression_metrics
from ..train.tables import mean_std_table
from ._common import (PlotInputError, Result, RunSet, figure, gate_frame, gate_text, need, styled, table, titled,
                      verdicts, withheld_targets)
from ._context import Context, analysis_model, evaluated_runs, evaluation_sets, step
from .published import PUBLISHED, SPF_TABLE2

DATASET = "spfusion/redclump"
#: Fig. 10 shades no region when the spectral-channel weight varies by less than this (0-1 scale).
FLAT_WEIGHT = 0.01
#: Smallest half-width of Fig. 9's colour scale around the neutral SE weight 0.5.
SE_MIN_HALF_RANGE = 0.05
#: Test spectra in "one batch": Fig. 9's heatmap rows and Fig. 10's attribution panel.
BATCH = 32
#: Fig. 10's attribution panel: Integrated-Gradients steps, and the share of the attribution
#: below 5500 A whose pixels are shaded.
ATTRIBUTION_STEPS = 32
ATTRIBUTION_SHARE = 0.5
#: The window in which the paper finds the spectral weights "significantly higher" (Angstrom).
PAPER_WINDOW = (4000.0, 4500.0)


# --------------------------------------------------------------------------- steps
@step
def spf_splits(ctx: Context) -> Result:
    """Train / val / test counts per fold of the red-clump set."""
    ds = ctx.dataset(DATASET)
    rows = []
    for k in range(ds.n_folds):
        col = ds.meta[f"fold_{k}"].astype(str)
        rows.append({"fold": k + 1, **{s: int((col == s).sum()) for s in ("train", "val", "test")}, "total": len(ds)})
    return ctx.result(pd.DataFrame(rows))


@step
def spf_eval(ctx: Context) -> Result:
    """The Table 2 run set with each model's predictions on the analysed mock set
    (:func:`~spectool.papers._context.evaluated_runs`): the input of Figs. 3-6."""
    return evaluated_runs(ctx, "spf_models")


@step
def spf_star_eval(ctx: Context) -> Result:
    """The ablation run set with the star-operator on/off models' predictions on the
    analysed mock set: the input of Figs. 7-8."""
    return evaluated_runs(ctx, "spf_ablation", STAR_LABELS)


def _spf_batch(ctx: Context, n: int):
    model, note = analysis_model(ctx, DATASET, "SPFusion", "spf_models")
    ds, rows = evaluation_sets(ctx, DATASET)[0]
    return model, ds, np.sort(rows[:n]), note


@step
def spf_attention(ctx: Context) -> Result:
    """SE channel weights (batch x 96) of SPFusion on one batch of 32 test spectra."""
    from ..explain import SPFUSION_GROUPS, attention_weights

    model, ds, rows, note = _spf_batch(ctx, BATCH)
    rec = attention_weights(model, np.asarray(ds.flux[rows])[:, None], image=np.asarray(ds.images[rows]),
                            layers=["head.se"])
    return ctx.result({"weights": rec.weights["head.se"], "groups": SPFUSION_GROUPS, "model": "SPFusion"}, note)


@step
def spf_overlay(ctx: Context) -> Result:
    """Spectral-channel SE weights of SPFusion mapped onto one test spectrum below 5500 A
    (:func:`spectool.explain.attention_overlay`), and where the spectrum decides the mass:
    Integrated Gradients of the mass against each spectrum's own continuum on the batch of
    Fig. 9 (:func:`spectool.explain.attribute`)."""
    from ..explain import attention_overlay, attribute

    model, ds, rows, note = _spf_batch(ctx, BATCH)
    ov = attention_overlay(model, np.asarray(ds.flux[rows[:1]])[:, None], "head.se", wavelength=ds.wavelength,
                           channels="spectral", image=np.asarray(ds.images[rows[:1]]),
                           wavelength_range=(None, 5500.0))
    attr = attribute(model, np.asarray(ds.flux[rows])[:, None], method="ig", target="mass",
                     wavelength=ds.wavelength, image=np.asarray(ds.images[rows]), baselines="continuum",
                     n_steps=ATTRIBUTION_STEPS)
    return ctx.result({"overlay": ov, "attribution": attr}, note)


# ---------------------------------------------------------------- drawing functions

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
    """Published Table 2 rows plus spectool's rows (mean over folds) with their source and
    the sanity-gate verdict (MAE withheld for a model that did not beat the best constant)."""
    runs = _runs(result, "spf-tab2")
    pub = SPF_TABLE2.assign(values=PUBLISHED)
    res = runs.results
    ours = res.groupby("label", sort=False).agg(params=("params", "first"), mae_mass=("mae_mass", "mean"),
                                                mae_age=("mae_age", "mean"), runs=("fold", "size")).reset_index()
    verdict = {k[-1]: v for k, v in verdicts(res).items()}
    ours = pd.DataFrame({"model": ours["label"], "modality": ours["label"].map(MODALITY).fillna("S"),
                         "params_M": (ours["params"] / 1e6).round(3), "mae_mass": ours["mae_mass"].round(4),
                         "mae_age": ours["mae_age"].round(4),
                         "values": f"spectool, {result.source.label}, mean of " + ours["runs"].astype(str) + " run(s)",
                         "learned?": [verdict.get(lb, "") for lb in ours["label"]]})
    failed = {k[-1]: t for k, t in withheld_targets(res).items()}
    for i, r in ours.iterrows():
        for t in ("mass", "age"):
            if r["learned?"].startswith("NO") or t in failed.get(r["model"], []):
                ours.loc[i, f"mae_{t}"] = np.nan
    return pd.concat([pub, ours], ignore_index=True)


def spf_tab2(result: Result):
    """Params and MAE(mass), MAE(age) per model: the paper's published values (8 photometric,
    3 spectral models, SPFusion) and spectool's runs. ``data``: :class:`RunSet`."""
    frame = comparison_frame(result).rename(columns={"params_M": "params (M)", "mae_mass": "MAE mass (Msun)",
                                                      "mae_age": "MAE age (Gyr)"})
    return table(frame, "SPFusion Table 2: model comparison", result.source,
                 "Rows marked 'published values, not recomputed' are the paper's (real LAMOST + SDSS data); "
                 "spectool cannot rerun the photometric models. The other rows are measured here; 'learned?' "
                 "compares each with the best constant prediction. SSCNN starts from He initialisation with a "
                 "zero output layer (PyTorch's default leaves it at the mean label on these spectra).",
                 " ".join(t for t in (gate_text(_runs(result, "spf-tab2").results), result.note) if t))


@styled
def spf_fig2(result: Result):
    """Params vs MAE scatter, mass and age panels (published and spectool rows), one marker
    per model named in a legend beside the panels (no overlapping labels).
    ``data``: :class:`RunSet`."""
    frame = comparison_frame(result)
    fig, axes = figure(1, 2, size=(11.5, 4.2))
    markers = "osD^v<>pPhX*"
    for ax, target in zip(axes[0], ("mass", "age")):
        for k, (_, r) in enumerate(frame.iterrows()):
            ours = r["values"] != PUBLISHED
            withheld = [t for t in ("mass", "age") if ours and not np.isfinite(r[f"mae_{t}"])]
            source = "spectool, mock" if ours else "paper"
            if withheld:  # the sanity gate blanked it: say so instead of a legend entry with no point
                source += ("; not learned, not drawn" if len(withheld) == 2 else f"; {withheld[0]} not learned")
            ax.scatter(r["params_M"], r[f"mae_{target}"], marker="*" if ours else markers[k % len(markers)],
                       s=90 if ours else 30, color=f"C{k % 10}", edgecolors="k" if ours else "none",
                       label=f"{r['model']} ({source})")
        ax.set_xscale("log")
        ax.set_xlabel("parameters [M]")
        ax.set_ylabel(f"MAE {target} [{UNITS[target]}]")
        ax.set_title(target)
    axes[0, 1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
    note = " ".join(t for t in (gate_text(_runs(result, "spf-fig2").results), result.note) if t)
    return titled(fig, "SPFusion Fig. 2: parameters vs MAE (stars: measured here on mock data)", result.source,
                  note)


def _pred_pairs(runs: RunSet, what: str, labels: list[str] | None = None) -> dict[str, pd.DataFrame]:
    dataset = runs.datasets()[0]
    labels = labels or runs.labels(dataset)
    out = {lb: runs.predictions[(dataset, lb)] for lb in labels if (dataset, lb) in runs.predictions}
    if not out:
        raise PlotInputError(f"{what}: no predictions in the run set", what)
    return out


def _scatter(result: Result, target: str, what: str, title: str):
    runs = _runs(result, what)
    preds = _pred_pairs(runs, what)
    fig, axes = figure(1, len(preds), size=(3.2 * len(preds), 3.5))
    for ax, (label, p) in zip(axes[0], preds.items()):
        plots.pred_vs_true(p[f"true_{target}"], p[target], ax=ax, name=target, unit=UNITS[target])
        ax.set_title(f"{label}\n{ax.get_title()}", fontsize=8)
    note = " ".join(t for t in (gate_text(runs.results), result.note) if t)
    return titled(fig, title, result.source, note)


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


#: Fewest spectra in an S/N bin for its MAE to be drawn (as MSPC-Net Fig. 5).
MIN_PER_BIN = 20


def _mae_vs_snr(result: Result, target: str, what: str, title: str, labels: list[str] | None = None):
    runs = _runs(result, what)
    preds = _pred_pairs(runs, what, labels)
    fig, axes = figure(1, 1, size=(6.5, 3.6))
    ax = axes[0, 0]
    order: list[str] = []
    col = "snr"
    # the gate speaks of the runs drawn here only (an ablation run set holds every arm)
    shown = runs.results[runs.results["label"].isin(list(preds))]
    failed, verdict = withheld_targets(shown, ("label",)), verdicts(shown, ("label",))
    for label, p in preds.items():
        col = _snr_column(p)
        m = regression_metrics(p[[f"true_{target}"]].to_numpy(), p[[target]].to_numpy(), [target],
                               snr=p[col].to_numpy())
        m = m[(m["snr_bin"] != "all") & (m["n"] >= MIN_PER_BIN)]
        gated = verdict.get((label,), "").startswith("NO") or target in failed.get((label,), [])
        flag = " (not learned)" if gated else ""
        plots.binned(list(m["snr_bin"]), m["mae"], ax=ax, label=label + flag, order=order,
                     ylabel=f"MAE {target} [{UNITS[target]}]")
    ax.set_xlabel(("g-band " if col == "snr_g" else "") + "S/N interval (width 10)")
    ax.legend(fontsize=7)
    note = " ".join(t for t in (f"MAE shown for S/N bins with >= {MIN_PER_BIN} spectra.", gate_text(shown),
                                result.note) if t)
    return titled(fig, title, result.source, note)


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
    # gate by label; the group stays in the index, so a withheld row keeps its name
    frame = gate_frame(frame.reset_index().set_index(["label", "group"]), res, keys=("label",), levels=1)
    frame = frame.reorder_levels(["group", "label"])
    return table(frame, f"SPFusion {prefix}: ablation ({res['group'].iloc[0][len(prefix):].strip()})",
                 result.source, "Mean ± std over folds; 'learned?' compares with the best constant prediction.",
                 " ".join(t for t in (gate_text(res, ("label",)), result.note) if t))


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
    """Channel-attention (SE) heatmap, batch x channels, photometric / fused / spectral, with
    a colourbar of the weight. ``data``: ``{"weights": (N, 96) array, "groups": {name: (lo, hi)},
    "model": text}``."""
    data = need(result, dict, "spf-fig9")
    w = np.asarray(data.get("weights"))
    if w.ndim != 2:
        raise PlotInputError(f"spf-fig9 needs (batch, channels) weights, got {w.shape}", "spf-fig9")
    # the paper's scale (viridis, yellow = highest) stretched over the data, centred on the neutral gate
    fig, axes = figure(1, 1, size=(8, 4.4))
    ax = plots.heatmap(w, ax=axes[0, 0], label="SE channel weight (0.5 = neutral)", xlabel="feature channel",
                       ylabel="spectrum in batch", center=0.5, min_half_range=SE_MIN_HALF_RANGE,
                       groups=data.get("groups"), group_axis="x")
    half = ax.images[0].get_clim()[1] - 0.5
    # a channel the model singles out is high for every spectrum: compare the spread of the
    # batch-mean weight across channels with the star-to-star spread of each channel
    spread = (f"Weights {w.min():.3f}-{w.max():.3f}; colour scale 0.5 +- {half:.3f}. Spread of the batch-mean weight "
              f"across channels {w.mean(0).std():.3f}, star-to-star spread per channel {w.std(0).mean():.3f}"
              + (" (the weights vary more from star to star than from channel to channel: no channel is "
                 "consistently singled out)." if w.mean(0).std() < w.std(0).mean() else "."))
    return titled(fig, f"SPFusion Fig. 9: SE channel weights of one batch ({data.get('model', '')})",
                  result.source, f"{spread} {result.note}")


@styled
def spf_fig10(result: Result):
    """Spectral-channel attention overlaid on the input spectrum below 5500 A, weights above
    the threshold shaded, characteristic lines marked (labels staggered so they never overlap);
    below it, where the spectrum decides the mass (mean |Integrated Gradients| over a batch),
    with the pixels that hold half of it shaded. ``data``: ``{"overlay":``
    :class:`spectool.explain.AttentionOverlay`, ``"attribution":``
    :class:`spectool.explain.Attribution` ``}``."""
    from ..explain import AttentionOverlay, Attribution

    data = need(result, dict, "spf-fig10")
    ov, attr = data.get("overlay"), data.get("attribution")
    if not isinstance(ov, AttentionOverlay) or not isinstance(attr, Attribution):
        raise PlotInputError("spf-fig10 needs {'overlay': AttentionOverlay, 'attribution': Attribution}", "spf-fig10")
    lo, hi = np.nanmin(ov.weight), np.nanmax(ov.weight)
    # a weight that varies by less than FLAT_WEIGHT over the window singles nothing out:
    # regions "above 0.5" by a few 1e-4 would be shading noise
    flat = hi - lo < FLAT_WEIGHT
    fig, axes = figure(2, 1, size=(10, 6.8), sharex=True)
    ax = axes[0, 0]
    ax.plot(ov.wavelength, ov.flux, lw=0.7, color="k", label="input spectrum")
    for k, (lo_w, hi_w) in enumerate([] if flat else ov.regions):
        ax.axvspan(lo_w, hi_w, color="gold", alpha=0.35, lw=0, label=f"weight > {ov.threshold:g}" if k == 0 else None)
    ax.set_xlim(np.nanmin(ov.wavelength), np.nanmax(ov.wavelength))
    plots.line_labels(ax, [ln.vacuum for ln in ov.lines], [ln.name for ln in ov.lines], color="tab:orange")
    twin = ax.twinx()
    twin.plot(ov.wavelength, ov.weight, color="tab:blue", lw=0.8, alpha=0.8)
    twin.axhline(ov.threshold, color="tab:blue", ls=":", lw=0.6)
    # at least +-0.1 around the threshold and no offset notation: a flat weight must look flat
    twin.set_ylim(max(0.0, min(lo, ov.threshold - 0.1)) - 0.01, min(1.0, max(hi, ov.threshold + 0.1)) + 0.01)
    twin.ticklabel_format(axis="y", useOffset=False)
    twin.set_ylabel("attention weight [0-1]")
    ax.set_ylabel("normalised flux [dimensionless]")
    ax.set_title("(a) the paper's figure: spectral-channel SE weight on one spectrum", fontsize=8, loc="left")
    ax.legend(loc="lower right", fontsize=7)
    if flat:
        shaded = (f"(a) Weight flat over the window ({lo:.3f}-{hi:.3f}, range < {FLAT_WEIGHT:g}): the SE gate singles "
                  "out no region of this spectrum; nothing shaded.")
    else:
        shaded = f"(a) {len(ov.regions)} region(s) above {ov.threshold:g}; weight range {lo:.3f}-{hi:.3f}."

    # (b) where the spectrum decides the target, over the same wavelengths
    wmax = float(np.nanmax(ov.wavelength))
    regions, pix = attr.top_regions(ATTRIBUTION_SHARE, wavelength_range=(None, wmax))
    keep = np.isfinite(attr.wavelength) & (attr.wavelength <= wmax)
    wl, pr = attr.wavelength[keep], attr.profile()[keep]
    bx = axes[1, 0]
    bx.plot(wl, pr, color="tab:purple", lw=0.9, label=f"mean |IG| of {attr.target}, {attr.values.shape[0]} spectra")
    for k, (lo_w, hi_w) in enumerate(regions):
        bx.axvspan(lo_w, hi_w, color="tab:purple", alpha=0.15, lw=0,
                   label=f"pixels holding {ATTRIBUTION_SHARE:.0%} of it" if k == 0 else None)
    plots.line_labels(bx, [ln.vacuum for ln in ov.lines], [ln.name for ln in ov.lines], color="tab:orange")
    unit = UNITS.get(attr.target)
    bx.set_ylabel(f"|attribution| [{unit} per pixel]" if unit else "|attribution| per pixel")
    bx.set_xlabel(plots.WAVELENGTH_LABEL)
    bx.set_title(f"(b) where the spectrum decides the {attr.target}: Integrated Gradients against each spectrum's "
                 "own continuum", fontsize=8, loc="left")
    bx.legend(loc="center right", fontsize=7, frameon=True, framealpha=0.9, edgecolor="none")  # over the line markers
    win = (wl >= PAPER_WINDOW[0]) & (wl <= PAPER_WINDOW[1])
    in_win = float(pr[win].sum() / pr.sum()) if pr.sum() > 0 else float("nan")
    where = (f"(b) {ATTRIBUTION_SHARE:.0%} of the {attr.target} attribution below {round(wmax, -1):.0f} A lies in {pix:.0%} of the "
             f"pixels; {PAPER_WINDOW[0]:.0f}-{PAPER_WINDOW[1]:.0f} A, where the paper finds the spectral weights highest, "
             f"holds {in_win:.0%} of it on {win.mean():.0%} of the pixels.")
    return titled(fig, f"SPFusion Fig. 10: spectral-channel attention ({ov.layer}) and {attr.target} attribution",
                  result.source, f"{shaded} {where} {result.note}")
