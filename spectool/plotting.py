"""Compatibility names: spectool's matplotlib style and the spectrum plot now live in
:mod:`spectool.plots` (``plots.style``, ``plots.STYLE``, ``plots.spectrum``)."""
from __future__ import annotations

from .plots import STYLE, style
from .plots import spectrum as plot_spectrum

__all__ = ["STYLE", "style", "plot_spectrum"]
