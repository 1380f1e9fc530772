"""``spectool mock``: write a synthetic mock dataset preset to a directory."""
from __future__ import annotations

from pathlib import Path

import typer

from ..errors import SpectoolError
from . import app


@app.command()
def mock(
    preset: str = typer.Option(..., "--preset", help='Preset name, e.g. "mspc/SC-S>5" (see spectool.datasets.list_presets).'),
    out: Path = typer.Option(..., "--out", help="Directory to write the store to (created atomically)."),
    size: str = typer.Option("quick", "--size", help="quick (tiny, seconds) or full (paper-sized)."),
    seed: int = typer.Option(0, "--seed", help="Generator seed."),
) -> None:
    """Generate a synthetic (mock) dataset preset into OUT as a spectool store."""
    from ..datasets.presets import preset as get_preset
    from ..mock.build import build_preset

    try:
        store = build_preset(get_preset(preset), size=size, seed=seed, rebuild=True, out=out)
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {len(store)} synthetic spectra ({store.flux.shape[1]} px) of {preset} to {store.path}")
