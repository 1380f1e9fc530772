"""One function per paper layout: catalogue + files -> store (see :func:`.runner.run_ingest`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..datasets.presets import PRESETS
from ..errors import DatasetError
from .labels import (class_order, locate_files, mspc_fold_files, read_mspc_folds, sample_per_class, scanet_table,
                     spfusion_table)
from .runner import IngestResult, run_ingest


def _preset_classes(name: str | None) -> list[str] | None:
    p = PRESETS.get(name or "")
    return list(p.class_names) if p is not None and p.class_names else None


def ingest_mspc(folds: str | Path | Sequence[str | Path], fits_dir: str | Path, out: str | Path, *,
                name: str | None = None, snr_min: float | None = None, per_class: int | None = None, seed: int = 0,
                classes: str | Sequence[str] | None = None, options: dict[str, Any] | None = None,
                **run: Any) -> IngestResult:
    """Ingest an MSPC-Net dataset: fold CSVs + a directory of ``<basename>.fits[.gz]`` files.

    Parameters
    ----------
    folds
        The dataset folder holding ``fold_1.csv .. fold_5.csv`` (or a list of them).
        Both column layouts are accepted; repeated rows are dropped with a warning.
    fits_dir
        Directory of the SDSS / LAMOST FITS files named by the ``basename`` column.
    out
        Store directory to create.
    name
        Dataset name, e.g. ``"mspc/SC-S>5"`` (a preset name gives the preset's class order).
    snr_min
        Keep rows with ``snr >= snr_min`` (the curated CSVs already apply the paper cut).
    per_class
        Balanced sampling: at most this many spectra per class, drawn with ``seed``.
    classes
        Class order: a list, ``"spectral"`` (O..M, subclasses by number) or
        ``"alphabetical"`` (the authors' sorted order). Default: the preset's order
        when ``name`` is a preset, else spectral.
    options
        Options of :func:`spectool.preprocess.mspcnet` (order, length, bad_pixels).
    **run
        Passed to :func:`~spectool.ingest.run_ingest` (workers, scheduler, stop_after, ...).
    """
    table = read_mspc_folds(folds)
    if snr_min is not None:
        if "snr" not in table.columns:
            raise DatasetError("snr_min given but the fold CSVs have no 'snr' column", str(folds))
        table = table[table["snr"] >= snr_min].reset_index(drop=True)
    if per_class is not None:
        table = sample_per_class(table, per_class, seed=seed)
    order = class_order(table["label"], classes if classes is not None else (_preset_classes(name) or "spectral"))
    table["path"] = locate_files(fits_dir, table["object_id"])
    files = mspc_fold_files(folds)
    info = {
        "name": name or Path(files[0]).parent.name, "task": "classification", "class_names": order,
        "source": f"MSPC-Net fold CSVs {', '.join(f.name for f in files)} in {Path(files[0]).parent}; "
                  f"FITS files from {fits_dir}",
        "selection": {"snr_min": snr_min, "per_class": per_class, "seed": seed},
    }
    return run_ingest(table, out, preprocess="mspcnet", options=options, info=info, **run)


def ingest_spfusion(root: str | Path, out: str | Path, *, name: str = "spfusion/redclump", n_folds: int = 3,
                    seed: int = 0, options: dict[str, Any] | None = None, **run: Any) -> IngestResult:
    """Ingest an SPFusion dataset: ``label.csv`` + ``spectrum/<obsid>.npy`` (2, L) + ``photometric/<obsid>.npy``
    (3, 128, 128), or the authors' ``<fold>/{train,val,test}/{label,spectrum,photometric}`` layout.

    Targets: ``mass`` (Msun) and ``age`` (Gyr); ``teff``, ``logg``, ``feh`` are kept as
    extra columns. The flat layout gets seeded ``n_folds`` folds (one third test,
    the rest 7:3 train:val, as in the paper).
    """
    table = spfusion_table(root, n_folds=n_folds, seed=seed)
    info = {"name": name, "task": "regression", "targets": ["mass", "age"],
            "source": f"SPFusion layout under {root} (LAMOST spectra .npy, SDSS g,r,i cutouts .npy)"}
    return run_ingest(table, out, preprocess="spfusion", options=options, info=info, **run)


def ingest_scanet(catalogue: str | Path, fits_dir: str | Path, out: str | Path, *, name: str = "scanet/AFGK",
                  snr_min: float | None = None, test_fraction: float = 0.2, seed: int = 0,
                  options: dict[str, Any] | None = None, **run: Any) -> IngestResult:
    """Ingest an SCA-Net dataset: a catalogue CSV (filename or obsid; teff, logg, feh + ``*_err``) + FITS files.

    ``snr_min`` keeps rows with catalogue ``snr >= snr_min`` (the paper: S/N > 25).
    Without a ``split`` column, ``test_fraction`` of the rows are test and 10 % of
    the rest validation (seeded). ``options`` go to :func:`spectool.preprocess.scanet`
    (continuum, bad_pixels).
    """
    table = scanet_table(catalogue, fits_dir, test_fraction=test_fraction, seed=seed)
    if snr_min is not None:
        if table["snr"].isna().all():
            raise DatasetError("snr_min given but the catalogue has no 'snr' column", catalogue)
        table = table[table["snr"] >= snr_min].reset_index(drop=True)
    info = {"name": name, "task": "regression", "targets": ["teff", "logg", "feh"],
            "target_units": {"teff": "K", "logg": "dex (cgs)", "feh": "dex"},
            "source": f"SCA-Net catalogue {catalogue}; FITS files from {fits_dir}",
            "selection": {"snr_min": snr_min, "test_fraction": test_fraction, "seed": seed}}
    return run_ingest(table, out, preprocess="scanet", options=options, info=info, **run)


def ingest_files(paths: Sequence[str | Path], out: str | Path, *, preprocess: str = "mspcnet",
                 name: str | None = None, options: dict[str, Any] | None = None, workers: int = 1,
                 chunk_size: int | None = None, **run: Any) -> IngestResult:
    """Ingest arbitrary spectrum files without labels (e.g. for inference); object_id = file stem.

    ``workers``, ``chunk_size`` and ``**run`` go to :func:`~spectool.ingest.run_ingest`.
    """
    from .runner import table_from_paths

    table: pd.DataFrame = table_from_paths(paths)
    info = {"name": name or Path(out).name, "task": "unlabelled", "source": f"{len(table)} files"}
    return run_ingest(table, out, preprocess=preprocess, options=options, info=info, workers=workers,
                      chunk_size=chunk_size, **run)
