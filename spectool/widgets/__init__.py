"""Interactive inspection in JupyterLab (ipywidgets + bokeh) and standalone HTML pages.

* :class:`SpectrumInspector` -- browse spectra (filters, smoothing, noise, masks, line
  markers, redshift, template fits, model outputs, attribution overlays, cutouts) and
  record visual inspections; ``to_html`` writes a page that works without a kernel.
* :class:`EmbeddingExplorer` -- t-SNE/UMAP scatter of features; selections show spectra
  and drive a linked inspector.
* :class:`AttentionExplorer` -- batch x channel attention heatmap; clicking a cell shows
  that spectrum with an overlay.

bokeh, ipywidgets and jupyter_bokeh load on first use; a missing one raises
:class:`~spectool.widgets._deps.WidgetDependencyError` with the pip command.
"""
from __future__ import annotations

import importlib

from ._deps import WidgetDependencyError
from .state import DisplayOptions, Filters, ModelOutputs, WidgetInputError
from .templates import Template, fit_templates, read_sdss_templates
from .vi import VIFile, VIRecord

_LAZY = {
    "SpectrumInspector": "spectool.widgets.inspector",
    "EmbeddingExplorer": "spectool.widgets.embedding",
    "AttentionExplorer": "spectool.widgets.attention",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spectool.widgets' has no attribute {name!r}")


__all__ = ["SpectrumInspector", "EmbeddingExplorer", "AttentionExplorer", "DisplayOptions", "Filters",
           "ModelOutputs", "Template", "fit_templates", "read_sdss_templates", "VIFile", "VIRecord",
           "WidgetInputError", "WidgetDependencyError"]
