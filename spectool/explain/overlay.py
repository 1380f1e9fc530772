"""Channel-attention weights drawn on the spectrum (SPFusion Fig. 10).

An SE/ECA gate gives one weight per *channel*; to place it along the spectrum we use
the feature map ``f (C, P)`` that the gate scales (its input): at each position ``p``
the weight is the activation-weighted mean of the channel weights,

    a(p) = sum_c w_c |f_c(p)| / sum_c |f_c(p)|,

which stays in the range of the weights (so "weight > 0.5" keeps its meaning), and
position ``p`` is then drawn over its footprint of input pixels (see
:mod:`spectool.explain.receptive`; for SPFusion's SE head: 28 positions x 128 pixels,
restricted to the 32 spectral channels 64-95). Regions where ``a`` exceeds
``threshold`` are shaded and characteristic lines from :mod:`spectool.lines` marked
(SPFusion Fig. 10: the "spfusion" set, below 5500 A).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch.nn as nn

from ..errors import ModelError
from ..lines import Line, get_lines
from . import _inputs
from .attention import SPFUSION_GROUPS, attention_weights
from .receptive import ReceptiveField, receptive_field


@dataclass
class AttentionOverlay:
    """Per-pixel attention of one spectrum.

    ``wavelength``/``flux``/``weight`` are per model-input pixel inside the plotted
    range (vacuum Angstrom); ``regions`` are ``(lo, hi)`` Angstrom intervals with
    ``weight > threshold``; ``position_weight``/``position_wavelength`` the values per
    feature position and their centres.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    weight: np.ndarray
    position_weight: np.ndarray
    position_wavelength: np.ndarray
    threshold: float
    regions: list[tuple[float, float]]
    lines: list[Line]
    layer: str
    field: ReceptiveField
    meta: dict = field(default_factory=dict)

    def plot(self, ax=None, title: str | None = None):
        """Spectrum with shaded high-attention regions, the weight curve and lines."""
        import matplotlib.pyplot as plt

        from ..plots import line_labels, style

        with style():
            if ax is None:
                _, ax = plt.subplots(figsize=(10, 3.5))
            ax.plot(self.wavelength, self.flux, lw=0.7, color="k", label="input spectrum")
            for k, (lo, hi) in enumerate(self.regions):
                ax.axvspan(lo, hi, color="gold", alpha=0.35, lw=0,
                           label=f"weight > {self.threshold:g}" if k == 0 else None)
            line_labels(ax, [ln.vacuum for ln in self.lines], [ln.name for ln in self.lines], color="tab:orange",
                        ls="-", lw=0.9)
            twin = ax.twinx()
            twin.plot(self.wavelength, self.weight, color="tab:blue", lw=0.8, alpha=0.8)
            twin.axhline(self.threshold, color="tab:blue", ls=":", lw=0.6)
            twin.set_ylabel("attention weight")
            ax.set_xlabel("Wavelength (vacuum) [Angstrom]")
            ax.set_ylabel("normalised flux")
            ax.legend(loc="lower right", fontsize=7)
            if title:
                ax.set_title(title)
        return ax


def _channel_slice(channels, n: int) -> slice:
    if channels is None:
        return slice(0, n)
    if isinstance(channels, str):
        if channels not in SPFUSION_GROUPS:
            raise ModelError(f"unknown channel group {channels!r}; use {list(SPFUSION_GROUPS)} or (lo, hi)",
                             "channels")
        channels = SPFUSION_GROUPS[channels]
    lo, hi = channels
    if not 0 <= lo < hi <= n:
        raise ModelError(f"channel range {channels} outside 0..{n}", "channels")
    return slice(lo, hi)


def weighted_positions(weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    """``a(p) = sum_c w_c |f_c(p)| / sum_c |f_c(p)|`` for ``weights (C,)``, ``features (C, P)``."""
    mag = np.abs(features)
    total = mag.sum(0)
    return np.where(total > 0, (weights[:, None] * mag).sum(0) / np.where(total > 0, total, 1), weights.mean())


def regions_above(wavelength: np.ndarray, weight: np.ndarray, threshold: float) -> list[tuple[float, float]]:
    """Contiguous ``(lo, hi)`` Angstrom runs of pixels with ``weight > threshold``."""
    above = np.concatenate([[False], weight > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(int)))
    return [(float(wavelength[a]), float(wavelength[b - 1])) for a, b in zip(edges[::2], edges[1::2])]


def attention_overlay(model: nn.Module, x, layer: str, wavelength: np.ndarray | None = None,
                      channels: tuple[int, int] | str | None = None, image=None, threshold: float = 0.5,
                      lines: str | list[str] | None = "spfusion",
                      wavelength_range: tuple[float, float] | None = None,
                      mode: str = "footprint") -> AttentionOverlay:
    """Overlay the channel weights of attention module ``layer`` on one spectrum.

    Parameters
    ----------
    x
        One model-ready spectrum: ``(1, 1, L)``/``(L,)`` flux with ``wavelength``, or a
        :class:`~spectool.Spectrum` on the model-input grid.
    layer
        Name of the attention module (see ``model.attention_modules()``), e.g. the
        SPFusion SE head.
    channels
        Channel range ``(lo, hi)`` or SPFusion group name ("photometric", "fused",
        "spectral"); default all.
    wavelength_range
        ``(lo, hi)`` Angstrom to keep (SPFusion Fig. 10: ``(None, 5500)``; None = open).
    mode
        ``"footprint"`` or ``"field"`` (see :meth:`ReceptiveField.to_pixels`).
    """
    xt, grid = _inputs.as_batch(x, wavelength, dtype=_inputs.model_dtype(model))
    if xt.shape[0] != 1:
        raise ModelError(f"attention_overlay explains one spectrum, got {xt.shape[0]}", "x")
    rec = attention_weights(model, xt, image=image, layers=[layer], keep_inputs=True)
    w, f = rec.weights[layer][0], rec.inputs[layer][0]
    if f.ndim != 2:
        raise ModelError(f"{layer!r} gates a {f.ndim - 1}-D map; overlays need a 1-D (C, P) feature map", layer)
    sl = _channel_slice(channels, w.shape[0])
    pos = weighted_positions(w[sl], f[sl])
    rf = receptive_field(model, layer, input_length=xt.shape[-1], image=image, of="input")
    per_pixel = rf.to_pixels(pos, mode)
    lo, hi = wavelength_range or (None, None)
    keep = np.isfinite(grid) & (grid >= (-np.inf if lo is None else lo)) & (grid <= (np.inf if hi is None else hi))
    if not keep.any():
        raise ModelError(f"wavelength_range {wavelength_range} holds no pixel of the input grid", "wavelength_range")
    wl = grid[keep]
    weight = per_pixel[keep]
    found = get_lines(lines, (wl[0], wl[-1])) if lines else []
    return AttentionOverlay(wavelength=wl, flux=xt[0, 0].numpy()[keep], weight=weight, position_weight=pos,
                            position_wavelength=rf.centre_wavelengths(grid), threshold=threshold,
                            regions=regions_above(wl, weight, threshold), lines=found, layer=layer, field=rf,
                            meta={"channels": (sl.start, sl.stop), "mode": mode})
