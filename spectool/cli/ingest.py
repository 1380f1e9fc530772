"""``spectool ingest mspc|spfusion|scanet|files``: real data layouts -> spectool stores."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from ..errors import SpectoolError
from . import app

ingest_app = typer.Typer(help="Ingest real data (the papers' layouts) into a spectool store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

_WORKERS = typer.Option(1, "--workers", "-j", help="Worker processes.")
_SCHEDULER = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786); needs spectool[dask].")
_STOP = typer.Option(None, "--stop-after", help="Process at most N new files, then stop (re-run to resume).")
_RESTART = typer.Option(False, "--restart", help="Discard an unfinished run made with different settings.")
_BAD = typer.Option("interpolate", "--bad-pixels", help="Bad-pixel policy: interpolate, zero or keep.")
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        res = fn(*args, **kwargs)
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(repr(res))
    if res.report is not None:
        typer.echo(f"report: {res.report}")


def _common(workers: int, scheduler: Optional[str], stop_after: Optional[int], restart: bool, quiet: bool) -> dict:
    return {"workers": workers, "scheduler": scheduler, "stop_after": stop_after, "restart": restart,
            "progress": not quiet}


@ingest_app.command("mspc")
def mspc(
    folds: Path = typer.Option(..., "--folds", help="Folder with fold_1.csv .. fold_5.csv (MSPC-Net data/NN)."),
    fits_dir: Path = typer.Option(..., "--fits", help="Folder with <basename>.fits[.gz]."),
    out: Path = typer.Option(..., "--out", help="Store directory to create."),
    name: Optional[str] = typer.Option(None, "--name", help='Dataset name, e.g. "mspc/SC-S>5".'),
    snr_min: Optional[float] = typer.Option(None, "--snr-min", help="Keep rows with snr >= this."),
    per_class: Optional[int] = typer.Option(None, "--per-class", help="Balanced sampling: N spectra per class."),
    seed: int = typer.Option(0, "--seed"),
    classes: Optional[str] = typer.Option(None, "--classes",
                                          help="Class order: spectral, alphabetical or a comma list (A,F,G)."),
    order: str = typer.Option("crop_first", "--order", help="crop_first (paper) or normalize_first (authors' code)."),
    bad_pixels: str = _BAD, workers: int = _WORKERS, scheduler: Optional[str] = _SCHEDULER,
    stop_after: Optional[int] = _STOP, restart: bool = _RESTART, quiet: bool = _QUIET,
) -> None:
    """MSPC-Net: fold CSVs + FITS files -> store (z-scored 4000-9000 A, padded to 3584)."""
    from ..ingest import ingest_mspc

    cls: Any = classes if classes in (None, "spectral", "alphabetical") else [c.strip() for c in classes.split(",")]
    _run(ingest_mspc, folds, fits_dir, out, name=name, snr_min=snr_min, per_class=per_class, seed=seed, classes=cls,
         options={"order": order, "bad_pixels": bad_pixels}, **_common(workers, scheduler, stop_after, restart, quiet))


@ingest_app.command("spfusion")
def spfusion(
    root: Path = typer.Option(..., "--root",
                              help="label.csv + spectrum/ + photometric/, or <fold>/{train,val,test}/..."),
    out: Path = typer.Option(..., "--out", help="Store directory to create."),
    name: str = typer.Option("spfusion/redclump", "--name"),
    folds: int = typer.Option(3, "--folds", help="Folds to generate for the flat layout."),
    seed: int = typer.Option(0, "--seed"),
    bad_pixels: str = _BAD, workers: int = _WORKERS, scheduler: Optional[str] = _SCHEDULER,
    stop_after: Optional[int] = _STOP, restart: bool = _RESTART, quiet: bool = _QUIET,
) -> None:
    """SPFusion: (2, L) spectra + (3, 128, 128) cutouts + label.csv -> store with images."""
    from ..ingest import ingest_spfusion

    _run(ingest_spfusion, root, out, name=name, n_folds=folds, seed=seed, options={"bad_pixels": bad_pixels},
         **_common(workers, scheduler, stop_after, restart, quiet))


@ingest_app.command("scanet")
def scanet(
    catalogue: Path = typer.Option(..., "--catalogue", help="CSV: filename or obsid; teff, logg, feh (+ *_err)."),
    fits_dir: Path = typer.Option(..., "--fits", help="Folder with the FITS files."),
    out: Path = typer.Option(..., "--out", help="Store directory to create."),
    name: str = typer.Option("scanet/AFGK", "--name"),
    snr_min: Optional[float] = typer.Option(None, "--snr-min",
                                            help="Keep rows with catalogue snr >= this (paper: 25)."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Test share when the catalogue has no split."),
    seed: int = typer.Option(0, "--seed"),
    continuum: str = typer.Option("polynomial", "--continuum", help="polynomial, percentile, minmax or none."),
    bad_pixels: str = _BAD, workers: int = _WORKERS, scheduler: Optional[str] = _SCHEDULER,
    stop_after: Optional[int] = _STOP, restart: bool = _RESTART, quiet: bool = _QUIET,
) -> None:
    """SCA-Net: catalogue + FITS -> store (rest frame, 4000-8095 A at 1 A, continuum-normalised)."""
    from ..ingest import ingest_scanet

    _run(ingest_scanet, catalogue, fits_dir, out, name=name, snr_min=snr_min, test_fraction=test_fraction, seed=seed,
         options={"continuum": continuum, "bad_pixels": bad_pixels},
         **_common(workers, scheduler, stop_after, restart, quiet))


@ingest_app.command("files")
def files(
    paths: List[Path] = typer.Argument(..., help="Spectrum files."),
    out: Path = typer.Option(..., "--out", help="Store directory to create."),
    preprocess: str = typer.Option("mspcnet", "--preprocess", help="mspcnet, spfusion or scanet."),
    workers: int = _WORKERS, scheduler: Optional[str] = _SCHEDULER, stop_after: Optional[int] = _STOP,
    restart: bool = _RESTART, quiet: bool = _QUIET,
) -> None:
    """Unlabelled files -> store (for inference); object_id = file name."""
    from ..ingest import ingest_files

    _run(ingest_files, paths, out, preprocess=preprocess, **_common(workers, scheduler, stop_after, restart, quiet))
