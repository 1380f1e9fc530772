"""spectool's matplotlib style and the one helper every leaf plot goes through."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path

STYLE = Path(__file__).resolve().parents[1] / "spectool.mplstyle"

#: Axis label of a vacuum wavelength axis (every spectral plot uses it).
WAVELENGTH_LABEL = "Wavelength (vacuum) [Angstrom]"


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


def styled(fn):
    """Run a plot function under spectool's matplotlib style."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)
    return wrapper


def axes_or_new(ax=None, size: tuple[float, float] = (6.0, 3.6)):
    """``ax`` itself, or the Axes of a new styled figure of ``size`` inches."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    with style():
        _, ax = plt.subplots(figsize=size, constrained_layout=True)
    return ax
