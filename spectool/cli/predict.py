"""``spectool predict MODEL INPUT... --out OUT``: survey-scale, resumable batch inference."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import SpectoolError
from . import app


@app.command()
def predict(
    model: str = typer.Argument(..., help="pretrained name (spectool models list), a checkpoint .safetensors, "
                                          "or an architecture name (untrained weights)"),
    inputs: List[str] = typer.Argument(..., help="spectrum files, globs ('dr10/**/*.fits.gz'), directories "
                                                 "(recursive), a text file listing paths (or @list), or an "
                                                 "ingested store directory"),
    out: Path = typer.Option(..., "--out", "-o", help="output parquet dataset directory (part files); "
                                                      "rerun with the same --out to resume"),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Dask LocalCluster worker processes "
                                                                  "(1 = this process)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="existing Dask scheduler address, "
                                                                      "e.g. tcp://10.0.0.1:8786"),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: only shard I of N (Slurm: "
                                                              "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="spectra per forward pass"),
    chunk_size: int = typer.Option(256, "--chunk-size", min=1, help="inputs per part file / task"),
    device: Optional[str] = typer.Option(None, "--device", help="torch device (default cuda if available)"),
    images: Optional[Path] = typer.Option(None, "--images", help="SPFusion: folder of <file stem>.npy "
                                                                 "(3, 128, 128) g,r,i cutouts"),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", min=0.0, max=1.0,
                                                   help="flag low_confidence below this calibrated main-class "
                                                        "probability (default 0.8)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Predict classes or parameters for every input; one row per input (errors as rows)."""
    from ..streaming import predict_files

    try:
        summary = predict_files(model, inputs, out=out, workers=workers, scheduler=scheduler, shard=shard,
                                batch_size=batch_size, chunk_size=chunk_size, device=device, images=images,
                                progress=not quiet, min_confidence=min_confidence)
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"done: {summary.done}  errors: {summary.errors}  skipped (already done): {summary.skipped}")
    typer.echo(str(summary))
