"""Spectrum file readers behind :func:`spectool.read`.

>>> spec = spectool.read("spec-0324-51616-0159.fits")   # SDSS, identified from its HDUs
>>> spectool.io.list_formats()                          # every registered format

Register a new format with :func:`register_reader`::

    @register_reader("my-survey", lambda probe: probe.is_fits and "MYHDU" in probe.hdu_names, priority=50)
    def read_my_survey(probe):
        ...
        return Spectrum(wavelength, flux, ivar, mask, meta)
"""
from __future__ import annotations

from . import generic, lamost, sdss  # noqa: F401  (importing registers the readers)
from .registry import Probe, identify, list_formats, read, register_reader
from .writers import write_lamost, write_sdss_spec

__all__ = ["read", "identify", "list_formats", "register_reader", "Probe", "write_sdss_spec", "write_lamost"]
