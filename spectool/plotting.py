"""Shared matplotlib helpers: one style, one spectrum plot."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

STYLE = Path(__file__).with_name("spectool.mplstyle")


@contextmanager
def style():
    """Context manager applying spectool's publication style.

    Only the style's rcParams are restored on exit, not matplotlib's interactive mode: in
    Jupyter the inline backend is loaded by the first figure and switches interactive mode
    on; if that first figure is drawn inside this block, restoring the old ``interactive``
    value (False) would stop every later figure of the kernel from rendering.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    interactive = None
    try:
        with plt.style.context(str(STYLE)):
            try:
                yield
            finally:
                interactive = matplotlib.is_interactive()
    finally:
        if interactive is not None:
            matplotlib.interactive(interactive)


def plot_spectrum(spec, ax=None, show_noise=False, show_mask=True, lines=None, redshift=None, label=None, **kwargs):
    """Draw a :class:`~spectool.Spectrum` (flux vs vacuum Angstrom); returns the Axes."""
    import matplotlib.pyplot as plt

    from .lines import get_lines

    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(10, 3.5))
        w, f = spec.wavelength, spec.flux
        ax.plot(w, f, lw=0.7, label=label or spec.meta.get("object_id"), **kwargs)
        if show_noise:
            ax.plot(w, np.where(np.isfinite(spec.sigma), spec.sigma, np.nan), lw=0.6, color="0.5", label="noise")
        if show_mask and spec.mask.any():
            ymin, ymax = np.nanpercentile(f, [0.5, 99.5]) if np.isfinite(f).any() else (0, 1)
            ax.fill_between(w, ymin, ymax, where=spec.mask, color="red", alpha=0.12, step="mid", label="masked")
        if lines:
            z = spec.redshift if redshift is None else redshift
            if spec.meta.get("rest_frame"):
                z = 0.0
            for ln in get_lines(lines, (w[0], w[-1]), redshift=z):
                ax.axvline(ln.vacuum * (1 + z), color="0.4", ls=":", lw=0.7)
                ax.text(ln.vacuum * (1 + z), 0.98, ln.name, rotation=90, va="top", ha="right", fontsize=6,
                        transform=ax.get_xaxis_transform())
        ax.set_xlabel("Wavelength (vacuum) [Angstrom]")
        ax.set_ylabel(spec.meta.get("flux_label", "Flux"))
        title = spec.meta.get("title")
        if title is None and spec.meta.get("synthetic"):
            title = f"{spec.meta.get('object_id', '')} (synthetic mock spectrum)"
        if title:
            ax.set_title(title)
    return ax
