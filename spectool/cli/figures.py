"""``spectool figures``: regenerate the papers' figures and tables (see :mod:`spectool.papers`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import SpectoolError
from . import app


@app.command("figures")
def figures_cmd(
    only: Optional[list[str]] = typer.Option(None, "--only", help="Catalog id(s), alias (spf-tab3..7) or prefix (mspc, spf, sca); repeatable."),
    mode: str = typer.Option("quick", "--mode", help="quick (minutes on a CPU), medium (papers' protocols at "
                             "reduced size, ~2 h on a laptop CPU) or full (paper protocol, GPUs)."),
    source: str = typer.Option("mock", "--source", help="'mock' (synthetic survey) or a directory of ingested real data."),
    out: Path = typer.Option(Path("figures"), "--out", help="Output folder (PNG+PDF per figure, CSV+MD+HTML per table, index.html)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Results cache (default OUT/cache)."),
    list_ids: bool = typer.Option(False, "--list", help="List the catalog ids and exit."),
) -> None:
    """Make every figure and table of the MSPC-Net, SPFusion and SCA-Net papers."""
    from .. import papers

    if list_ids:
        for fid, entry in papers.CATALOG.items():
            typer.echo(f"{fid:14s} {entry.kind:6s} {entry.caption}")
        return
    try:
        made = papers.run(only, mode=mode, source=source, out=out, cache=cache)
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    failed = [a for a in made if a.status != "ok"]
    for a in made:
        typer.echo(f"{a.status:6s} {a.id:14s} {a.seconds:7.1f} s  {', '.join(p.name for p in a.files) or a.error.splitlines()[0]}")
    typer.echo(f"{len(made) - len(failed)} of {len(made)} artefacts in {out}/ (gallery: {out / 'index.html'})")
    if failed:
        raise typer.Exit(1)
