"""The leaf drawing functions of :mod:`spectool.plots` (see the package docstring)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._style import WAVELENGTH_LABEL, axes_or_new, styled


@styled
def spectrum(spec, ax=None, show_noise: bool = False, show_mask: bool = True, lines=None, redshift=None,
             label=None, **style):
    """Flux of a :class:`~spectool.Spectrum` vs vacuum wavelength (Angstrom), optional noise,
    masked pixels and line identifications (a line-set name of :mod:`spectool.lines`)."""
    from ..lines import get_lines

    ax = axes_or_new(ax, (10, 3.5))
    w, f = spec.wavelength, spec.flux
    ax.plot(w, f, lw=style.pop("lw", 0.7), label=label or spec.meta.get("object_id"), **style)
    if show_noise:
        ax.plot(w, np.where(np.isfinite(spec.sigma), spec.sigma, np.nan), lw=0.6, color="0.5", label="noise")
    if show_mask and spec.mask.any():
        ymin, ymax = np.nanpercentile(f, [0.5, 99.5]) if np.isfinite(f).any() else (0, 1)
        ax.fill_between(w, ymin, ymax, where=spec.mask, color="red", alpha=0.12, step="mid", label="masked")
    if lines:
        z = spec.redshift if redshift is None else redshift
        if spec.meta.get("rest_frame"):
            z = 0.0
        found = get_lines(lines, (w[0], w[-1]), redshift=z)
        line_labels(ax, [ln.vacuum * (1 + z) for ln in found], [ln.name for ln in found])
    ax.set_xlabel(WAVELENGTH_LABEL)
    ax.set_ylabel(spec.meta.get("flux_label", "Flux [arbitrary units]"))
    title = spec.meta.get("title")
    if title is None and spec.meta.get("synthetic"):
        title = f"{spec.meta.get('object_id', '')} (synthetic mock spectrum)"
    if title:
        ax.set_title(title)
    return ax


def line_labels(ax, positions: Sequence[float], names: Sequence[str], color: str = "0.4", fontsize: float = 6,
                min_sep: float = 0.025, levels: int = 4, ls: str = ":", lw: float = 0.7, headroom: bool = True):
    """Vertical lines (style ``ls``, width ``lw``) at ``positions`` (data x) with rotated labels
    that never overlap: a label closer than ``min_sep`` (fraction of the x range) to the
    previous one is set just below that one (offsets in points, measured from the rendered
    text, so they hold whatever size the Axes ends up with), at most ``levels`` deep.
    ``headroom`` raises the top of a linear y axis so that what is already drawn stays below
    the labels (at most 45 % of the height goes to them). Returns the Axes."""
    lo, hi = ax.get_xlim()
    span = (hi - lo) or 1.0
    order = np.argsort(np.asarray(positions, float))
    try:
        renderer = ax.figure.canvas.get_renderer()
    except AttributeError:  # a canvas without one: estimate the text length
        renderer = None
    last, level, bottom, deepest = -np.inf, 0, 0.0, 0.0
    for i in order:
        x = float(positions[i])
        ax.axvline(x, color=color, ls=ls, lw=lw)
        frac = (x - lo) / span
        level = (level + 1) % levels if frac - last < min_sep else 0
        offset = bottom + 2.0 if level else 0.0
        last = frac
        text = ax.annotate(names[i], xy=(x, 0.98), xycoords=ax.get_xaxis_transform(), xytext=(0, -offset),
                           textcoords="offset points", rotation=90, va="top", ha="right", fontsize=fontsize,
                           color="0.15")
        if renderer is not None:
            length = text.get_window_extent(renderer).height * 72.0 / ax.figure.dpi
        else:
            length = 0.6 * fontsize * len(str(names[i]))
        bottom = offset + length
        deepest = max(deepest, bottom)
    ax.set_xlim(lo, hi)
    if headroom and len(order) and ax.get_yscale() == "linear":
        height = ax.get_window_extent().height * 72.0 / ax.figure.dpi  # points
        # labels hang from 98 % of the height, plus a 3 pt gap above the data
        frac = min((deepest + 3.0) / max(height, 1.0) + 0.02, 0.45)
        ylo, yhi = ax.get_ylim()
        ax.set_ylim(ylo, ylo + (yhi - ylo) / (1.0 - frac))
    return ax


@styled
def curves(history, columns: Sequence[str], ax=None, labels: Sequence[str] | None = None, x: str = "epoch",
           scale: float = 1.0, ylabel: str = "", markevery: int | None = None, **style):
    """Columns of a per-epoch history table vs its ``x`` column as stored (``fit`` and
    ``finetune`` histories count epochs from 1), e.g. training and validation accuracy.
    Returns the Axes."""
    ax = axes_or_new(ax, (5, 3.4))
    ep = np.asarray(history[x])
    markers = "osD^v"
    for k, col in enumerate(columns):
        ax.plot(ep, scale * np.asarray(history[col], float), marker=markers[k % 5], ms=3,
                markevery=markevery or (10 if len(ep) > 20 else 1),
                label=(labels[k] if labels else col.replace("_", " ")), **style)
    ax.set_xlabel("epoch")
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


@styled
def pred_vs_true(true, pred, ax=None, name: str = "", unit: str = "", density: bool = False, **style):
    """Predicted vs true values with the 1:1 line (``density``: hexbin counts with a
    colourbar) and the MAE in the title. Returns the Axes."""
    ax = axes_or_new(ax, (3.6, 3.4))
    t, y = np.asarray(true, float), np.asarray(pred, float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    u = f" [{unit}]" if unit else ""
    if density:
        hb = ax.hexbin(t, y, gridsize=25, mincnt=1, cmap="viridis")
        colourbar(hb, ax, "spectra per cell")
    else:
        ax.scatter(t, y, s=style.pop("s", 5), alpha=style.pop("alpha", 0.6), **style)
    if t.size:
        lo, hi = min(t.min(), y.min()), max(t.max(), y.max())
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.7, ls="--")
        ax.set_title(f"MAE {np.mean(np.abs(y - t)):.4g}{(' ' + unit) if unit else ''} (N={t.size})", fontsize=8)
    ax.set_xlabel(f"true {name}{u}")
    ax.set_ylabel(f"predicted {name}{u}")
    return ax


@styled
def residual_density(true, pred, ax=None, name: str = "", unit: str = ""):
    """Kernel density of ``pred - true`` with its mean (mu) and spread (sigma). Returns the Axes."""
    from scipy.stats import gaussian_kde

    ax = axes_or_new(ax, (3.6, 3.0))
    r = np.asarray(pred, float) - np.asarray(true, float)
    r = r[np.isfinite(r)]
    if r.size > 2 and r.std() > 0:
        grid = np.linspace(r.min() - r.std(), r.max() + r.std(), 200)
        ax.plot(grid, gaussian_kde(r)(grid), color="tab:blue")
    ax.axvline(0, color="0.5", lw=0.6)
    u = f" [{unit}]" if unit else ""
    # both to the precision of sigma's three significant digits (mu = -19.8, sigma = 92.4 K)
    sd = float(r.std()) if r.size else float("nan")
    dec = int(max(0, 2 - np.floor(np.log10(sd)))) if np.isfinite(sd) and sd > 0 else 3
    ax.set_title(f"mu = {r.mean():.{dec}f}, sigma = {sd:.{dec}f}{(' ' + unit) if unit else ''}", fontsize=8)
    ax.set_xlabel(f"residual {name}{u}")
    ax.set_ylabel(f"density [1/{unit}]" if unit else "density")
    return ax


@styled
def binned(bins: Sequence[str], values, ax=None, label: str | None = None, order: list[str] | None = None,
           ylabel: str = "", xlabel: str = "", **style):
    """A value per named bin (e.g. accuracy per S/N interval) as a line with markers.
    ``order`` fixes the x positions shared by several calls on one Axes. Returns the Axes."""
    ax = axes_or_new(ax, (6, 3.4))
    order = order if order is not None else list(bins)
    for b in bins:
        if b not in order:
            order.append(b)
    ax.plot([order.index(b) for b in bins], np.asarray(values, float), marker="o", ms=3, label=label, **style)
    ax.set_xticks(range(len(order)), order, rotation=45)
    if ylabel:
        ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    return ax


@styled
def bars_by_bin(bins: Sequence[str], counts, ax=None, ylabel: str = "count", xlabel: str = "", **style):
    """Counts per named bin as bars (e.g. the S/N histogram under an accuracy curve)."""
    ax = axes_or_new(ax, (6, 2.4))
    ax.bar(range(len(bins)), np.asarray(counts, float), color=style.pop("color", "0.6"), **style)
    ax.set_xticks(range(len(bins)), list(bins), rotation=45)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    return ax


@styled
def embedding(table, ax=None, colours: dict[str, str] | None = None, s: float = 6, legend: bool = True):
    """A 2-D embedding table (columns ``x``, ``y``, ``label``) as a scatter coloured by label."""
    ax = axes_or_new(ax, (4, 3.6))
    labels = table["label"].astype(str)
    classes = list(colours) if colours else sorted(set(labels))
    colours = colours or {c: f"C{i % 10}" for i, c in enumerate(classes)}
    for c in classes:
        sel = labels == c
        if sel.any():
            ax.scatter(table.loc[sel, "x"], table.loc[sel, "y"], s=s, color=colours[c], label=c)
    ax.set_xlabel("embedding 1 (arbitrary units)")
    ax.set_ylabel("embedding 2 (arbitrary units)")
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        ax.legend(markerscale=2, fontsize=7)
    return ax


@styled
def histogram(values, ax=None, xlabel: str = "", bins: int = 30, ylabel: str = "count", **style):
    """Histogram of the finite ``values``. Returns the Axes."""
    ax = axes_or_new(ax, (4, 3))
    v = np.asarray(values, float)
    ax.hist(v[np.isfinite(v)], bins=bins, color=style.pop("color", "tab:blue"), alpha=style.pop("alpha", 0.8),
            **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


@styled
def heatmap(values, ax=None, label: str = "value", x: Sequence[float] | None = None, xlabel: str = "",
            ylabel: str = "", cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
            groups: dict[str, tuple[int, int]] | None = None, group_axis: str = "y",
            center: float | None = None, min_half_range: float = 0.0):
    """A 2-D array as an image with a colourbar labelled ``label`` (colour carries a value);
    ``x`` gives the data coordinates of the columns (e.g. Angstrom); ``groups`` (name ->
    ``[lo, hi)`` rows or columns) adds dashed separators and names. ``center`` (e.g. 0.5 for
    a neutral attention gate) sets a colour scale symmetric about it that spans the data but
    is never narrower than ``+-min_half_range`` (so noise cannot look like structure);
    it overrides ``vmin``/``vmax``. Returns the Axes."""
    ax = axes_or_new(ax, (6, 3.6))
    v = np.asarray(values, float)
    if center is not None:
        half = max(float(np.nanmax(np.abs(v - center))), min_half_range)
        vmin, vmax = center - half, center + half
    extent = None
    if x is not None:
        x = np.asarray(x, float)
        extent = (float(np.nanmin(x)), float(np.nanmax(x)), v.shape[0] - 0.5, -0.5)
    im = ax.imshow(v, aspect="auto", cmap=cmap, interpolation="nearest", extent=extent, vmin=vmin, vmax=vmax)
    colourbar(im, ax, label)
    for name, (lo, hi) in (groups or {}).items():
        if group_axis == "y":
            if lo > 0:
                ax.axhline(lo - 0.5, color="w", ls="--", lw=0.8)
            # inside the image's left edge, on a light box: outside, the name would sit on the
            # y tick labels (mspc-fig7's "k=405" hid the tick "40")
            ax.text(0.01, (lo + hi - 1) / 2, name, va="center", ha="left", fontsize=7,
                    transform=ax.get_yaxis_transform(),
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})
        else:
            if lo > 0:
                ax.axvline(lo - 0.5, color="0.5", ls="--", lw=1.2)
            ax.text((lo + hi - 1) / 2, 1.01, name, ha="center", va="bottom", fontsize=7,
                    transform=ax.get_xaxis_transform())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def colourbar(mappable: Any, ax, label: str):
    """A colourbar for ``mappable`` beside ``ax`` with ``label``; returns the colourbar."""
    return ax.figure.colorbar(mappable, ax=ax, label=label)
