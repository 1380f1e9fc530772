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


_BOKEHJS_SHOWN = False


def bokeh_widget_class() -> type:
    """``jupyter_bokeh.BokehModel``, after loading BokehJS into the notebook page once per kernel.

    jupyter_bokeh draws with the page's BokehJS (``window.Bokeh``) but does not load it:
    without ``bokeh.io.output_notebook()`` the bokeh part of every widget stays blank in
    JupyterLab. BokehJS is inlined (about 2 MB in the cell output) so that it also loads
    offline. Outside a Jupyter kernel nothing is loaded (nothing could show it).
    """
    global _BOKEHJS_SHOWN
    cls = require("jupyter_bokeh").BokehModel
    if not _BOKEHJS_SHOWN:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - ipywidgets needs IPython
            return cls
        shell = get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            # inline BokehJS: the default CDN copy is not reachable offline
            require("bokeh.io").output_notebook(require("bokeh.resources").INLINE, hide_banner=True)
            _BOKEHJS_SHOWN = True
    return cls
