"""Leaf drawing functions: ``(data, ax=None, **style) -> Axes``.

Every function here draws given numbers on one matplotlib Axes (a new styled figure
when ``ax`` is None) and returns the Axes; none trains, generates or loads anything.
The paper layer (:mod:`spectool.papers`), the notebooks and the widgets build their
figures from them.

>>> from spectool import plots
>>> ax = plots.spectrum(spec, lines="stellar")
>>> plots.curves(fit.history, ["train_acc", "val_acc"], ylabel="accuracy")
>>> plots.pred_vs_true(truth, pred, name="Teff", unit="K")
"""
from __future__ import annotations

from ._style import STYLE, WAVELENGTH_LABEL, axes_or_new, style, styled
from .basic import (bars_by_bin, binned, colourbar, curves, embedding, heatmap, histogram, line_labels,
                    pred_vs_true, residual_density, spectrum)

__all__ = ["STYLE", "WAVELENGTH_LABEL", "axes_or_new", "style", "styled", "bars_by_bin", "binned", "colourbar",
           "curves", "embedding", "heatmap", "histogram", "line_labels", "pred_vs_true", "residual_density",
           "spectrum"]
