"""Reproduce the figures and tables of the MSPC-Net, SPFusion and SCA-Net papers.

The paper layer sits above everything else: it trains (through :mod:`spectool.train`),
evaluates and explains models, caches each step's result, and draws the papers' figures
with the leaf functions of :mod:`spectool.plots`.

>>> from spectool import papers
>>> papers.ids("sca")                                   # catalog ids of one paper
>>> res = papers.compute("sca-fig7", mode="quick")     # the step result behind a figure
>>> fig = papers.draw("sca-fig7", mode="quick")        # the figure itself
>>> papers.run(["mspc"], mode="quick", out="figures")   # files + index.html gallery

Modes: ``quick`` (minutes on a CPU; small models that learn, shipped checkpoints for the
analysis figures), ``medium`` (the papers' protocols at reduced size, 1.5-2 hours measured on
2 CPU cores) and ``full`` (paper protocol, GPUs). Results on the embedded mock survey
are synthetic and say so in every title and caption.
"""
from __future__ import annotations

from ._common import PlotInputError, Result, RunSet, Source, Table
from ._context import EXPERIMENTS, MODES, STEPS, Context, PapersError, Protocol, training_cell
from .catalog import ALIASES, CATALOG, CatalogEntry, ids
from .runner import Artefact, compute, compute_step, context, draw, expand_ids, run, save, write_gallery

__all__ = ["ALIASES", "CATALOG", "EXPERIMENTS", "MODES", "STEPS", "Artefact", "CatalogEntry", "Context",
           "PapersError", "PlotInputError", "Protocol", "Result", "RunSet", "Source", "Table", "compute",
           "compute_step", "context", "draw", "expand_ids", "ids", "run", "save", "training_cell", "write_gallery"]
