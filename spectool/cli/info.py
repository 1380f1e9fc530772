"""``spectool info FILE``: metadata and wavelength coverage of a spectrum file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from ..errors import SpectoolError
from . import app

_ORDER = ("object_id", "survey", "format", "class", "subclass", "redshift", "snr", "snr_bands", "ra", "dec",
          "plate", "mjd", "fiber", "obsid", "data_release")


def _summary(spec) -> dict:
    w = spec.wavelength
    good = spec.good
    step = np.diff(np.log10(w)) if w.size > 1 else np.array([np.nan])
    cov = {
        "n_pixels": int(w.size),
        "wavelength_min_A": float(w[0]),
        "wavelength_max_A": float(w[-1]),
        "medium": "vacuum",
        "grid": f"log10 step {np.median(step):.3g} dex" if np.ptp(step) < 1e-6 else "irregular",
        "good_pixels": int(good.sum()),
        "masked_pixels": int(spec.mask.sum()),
        "pixels_4000_9000_A": int(((w > 4000) & (w < 9000)).sum()),
    }
    meta = {k: spec.meta[k] for k in _ORDER if spec.meta.get(k) not in (None, {}, "")}
    return {"file": spec.meta.get("source_path"), **meta, "coverage": cov}


@app.command()
def info(
    file: Path = typer.Argument(..., help="Spectrum file (SDSS, LAMOST, FITS table/image, CSV, .npy, HDF5; .gz ok)."),
    format: Optional[str] = typer.Option(None, "--format", help="Force a reader (see spectool.io.list_formats())."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    limit: int = typer.Option(5, "--limit", help="Spectra listed for multi-spectrum files (spPlate, HDF5)."),
) -> None:
    """Print the metadata and wavelength coverage of FILE."""
    from ..io import read

    try:
        result = read(file, format=format)
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    specs = result if isinstance(result, list) else [result]
    rows = [_summary(s) for s in specs[:limit]]
    if as_json:
        typer.echo(json.dumps(rows if isinstance(result, list) else rows[0], indent=2, default=str))
        return
    if isinstance(result, list):
        typer.echo(f"{file}: {len(specs)} spectra (showing {len(rows)})")
    for row in rows:
        cov = row.pop("coverage")
        typer.echo(f"{row.pop('file')}")
        for k, v in row.items():
            if isinstance(v, float):
                v = f"{v:.6g}"
            elif isinstance(v, dict):
                v = ", ".join(f"{b}={x:.3g}" for b, x in v.items())
            typer.echo(f"  {k:<12} {v}")
        typer.echo(f"  coverage     {cov['wavelength_min_A']:.2f}-{cov['wavelength_max_A']:.2f} A ({cov['medium']}), "
                   f"{cov['n_pixels']} px, {cov['grid']}")
        typer.echo(f"  pixels       {cov['good_pixels']} good, {cov['masked_pixels']} masked, "
                   f"{cov['pixels_4000_9000_A']} in 4000-9000 A")
