"""Lazy imports of the optional display libraries with an actionable error."""
from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import SpectoolError


class WidgetDependencyError(SpectoolError, ImportError):
    """bokeh, ipywidgets or jupyter_bokeh is not installed."""


_PIP = {"bokeh": "bokeh>=3.4", "ipywidgets": "ipywidgets>=8.1", "jupyter_bokeh": "jupyter_bokeh>=4.0"}


def require(module: str) -> ModuleType:
    """Import ``module`` (bokeh, ipywidgets, jupyter_bokeh or a submodule of them) or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise WidgetDependencyError(
            f"spectool.widgets needs {top}: pip install '{_PIP.get(top, top)}' ({exc})", top
        ) from exc
