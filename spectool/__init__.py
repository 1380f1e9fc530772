"""spectool: deep learning on astronomical spectra (SDSS, LAMOST).

Quick start::

    import spectool
    spec = spectool.read("spec-0324-51616-0159.fits")      # -> spectool.Spectrum
    x = spectool.preprocess.mspcnet(spec)                    # -> 3584-pixel model input
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick") # synthetic mock survey
    model = spectool.models.load("mspcnet_sdss-mock-sc")     # pretrained on mock data
    probs = spectool.predict(model, [spec])
"""
from __future__ import annotations

import importlib

from .errors import *  # noqa: F401,F403
from .errors import SpectoolError, SpectoolWarning
from .spectrum import Spectrum

__version__ = "0.1.0"

_LAZY = {
    "read": ("spectool.io", "read"),
    "predict": ("spectool.inference", "predict"),
    "predict_files": ("spectool.streaming", "predict_files"),
}
_SUBMODULES = {"io", "preprocess", "datasets", "models", "explain", "widgets", "mock", "train", "plots",
               "lines", "wavelength", "store", "download", "ingest", "config", "figures"}


def __getattr__(name: str):
    # Heavy submodules (torch, astropy, bokeh) load on first use, not on ``import spectool``.
    if name in _LAZY:
        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"spectool.{name}")
    raise AttributeError(f"module 'spectool' has no attribute {name!r}")


__all__ = ["Spectrum", "SpectoolError", "SpectoolWarning", "read", "predict", "predict_files", "__version__", *sorted(_SUBMODULES)]
