"""Old name of :mod:`spectool.papers` (``spectool figures`` runs :func:`spectool.papers.run`).

Kept so that ``from spectool import figures; figures.run(...)`` goes on working; new code
uses :mod:`spectool.papers`.
"""
from __future__ import annotations

from .papers import compute, compute_step, context, draw, expand_ids, run, save, write_gallery
from .papers.runner import Artefact, FiguresError

__all__ = ["Artefact", "FiguresError", "compute", "compute_step", "context", "draw", "expand_ids", "run", "save",
           "write_gallery"]
