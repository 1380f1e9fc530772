"""``spectool train`` and ``spectool cv`` (``spectool predict`` lives in :mod:`spectool.cli.predict`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from ..errors import SpectoolError

SET_HELP = "override a config value, e.g. --set trainer.max_epochs=3 (repeatable; values are YAML)"


def _fail(exc: SpectoolError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@app.command()
def train(
    config: str = typer.Argument(..., help="training config: a YAML path or a shipped name (e.g. mspcnet_quick)"),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help=SET_HELP),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="run directory (default output_root/name)"),
    fresh: bool = typer.Option(False, "--fresh", help="ignore existing checkpoints and start again"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Train, evaluate and export one model; a killed run resumes from its last checkpoint."""
    from ..train import fit

    try:
        res = fit(config, set_ or [], run_dir=run_dir, resume=not fresh, progress=False if quiet else None)
    except SpectoolError as exc:
        raise _fail(exc) from exc
    if not res.metrics:  # non-zero rank of a multi-process run
        return
    shown = {k: v for k, v in res.metrics.items() if isinstance(v, float)}
    typer.echo(f"run: {res.run_dir}")
    typer.echo(f"epochs: {res.done.get('epochs_completed')} (resumed from {res.done.get('resumed_from_epoch')}); "
               f"evaluated on {res.metrics.get('eval_split')} ({res.metrics.get('n')} spectra)")
    typer.echo("  ".join(f"{k}={v:.4g}" for k, v in shown.items()))


@app.command()
def cv(
    experiment: str = typer.Argument(..., help="experiment YAML or a shipped name (e.g. mspc_table4_quick)"),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="override an experiment field, e.g. "
                                             "--set 'folds=[0,1]'"),
    root: Optional[Path] = typer.Option(None, "--root", help="parent directory (default the experiment's output_root)"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="runs trained in parallel processes"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Run (or resume) a cross-validation / ablation grid and print its table."""
    from ..train import cross_validate

    try:
        res = cross_validate(experiment, set_ or [], root=root, jobs=jobs, progress=not quiet)
    except SpectoolError as exc:
        raise _fail(exc) from exc
    typer.echo(res.experiment.description or res.experiment.name)
    typer.echo(res.table().to_string())
    typer.echo(f"\nresults: {res.root / 'results.csv'}  ({len(res.results)} runs, {res.seconds:.0f} s)")
