"""Ingest the papers' real-data layouts into spectool stores (parallel, resumable, atomic).

>>> from spectool.ingest import ingest_mspc
>>> res = ingest_mspc("MSPC-Net/data/01", "fits/", "stores/mspc_SC-S_gt5", name="mspc/SC-S>5", workers=4)
>>> res.store, res.report           # the opened store; ingest_report.csv of skipped files
>>> spectool.datasets.load("mspc/SC-S>5", source="stores")   # store dirs named by the preset slug

Layouts: :func:`ingest_mspc` (fold CSVs + FITS), :func:`ingest_spfusion`
(label.csv + spectrum/photometric ``.npy``, flat or per-fold),
:func:`ingest_scanet` (catalogue CSV + FITS), :func:`ingest_files` (unlabelled).
The engine is :func:`run_ingest`; the catalogue readers live in :mod:`.labels`.
"""
from __future__ import annotations

from .labels import (class_order, make_folds, read_labels, read_mspc_folds, read_spfusion_labels,
                     sample_per_class, scanet_table, spfusion_table)
from .layouts import ingest_files, ingest_mspc, ingest_scanet, ingest_spfusion
from .runner import IngestResult, process_chunk, run_ingest, table_from_paths

__all__ = [
    "ingest_mspc", "ingest_spfusion", "ingest_scanet", "ingest_files", "run_ingest", "IngestResult",
    "process_chunk", "table_from_paths", "read_labels", "read_mspc_folds", "read_spfusion_labels", "spfusion_table",
    "scanet_table", "class_order", "sample_per_class", "make_folds",
]
