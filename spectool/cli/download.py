"""``spectool download sdss|lamost|image``: fetch spectra and SPFusion image cutouts."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer

from . import app
from ..errors import SpectoolError

download_app = typer.Typer(help="Download SDSS / LAMOST spectra and SDSS g,r,i cutouts "
                                "(https only, allow-listed hosts; resumable).", no_args_is_help=True)
app.add_typer(download_app, name="download")


def _ids(ids: Optional[list[str]], from_file: Optional[Path]) -> list[str]:
    from ..errors import MissingDataError

    out = list(ids or [])
    if from_file is not None:
        try:
            lines = from_file.read_text().splitlines()
        except OSError as exc:
            raise MissingDataError(f"cannot read the id list ({exc.strerror})", from_file) from exc
        out += [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]
    if not out:
        raise MissingDataError("give at least one id (arguments or --from-file)", "ids")
    return out


def _run(job: Callable[[], list]) -> None:
    """Run a download job, print one line per failure and a summary; exit 2 on any failure."""
    try:
        results = job()
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    counts = {"downloaded": 0, "skipped": 0, "failed": 0}
    for r in results:
        counts[r.status] += 1
        if not r.ok:
            typer.echo(f"error: {r.error}", err=True)
    typer.echo(", ".join(f"{v} {k}" for k, v in counts.items()))
    if counts["failed"]:
        raise typer.Exit(2)


def _options(retries: int, timeout: float):
    from ..download import DownloadOptions

    return DownloadOptions(retries=retries, timeout=timeout)


@download_app.command("sdss")
def sdss(
    ids: Optional[list[str]] = typer.Argument(None, help="PLATE-MJD-FIBER or spec-PLATE-MJD-FIBER.fits"),
    from_file: Optional[Path] = typer.Option(None, "--from-file", help="text file, one id per line"),
    dest: Path = typer.Option(Path("."), "--dest", "-d", help="output directory"),
    release: str = typer.Option("dr17", help="dr14, dr15, dr16, dr17 or dr18"),
    run2d: Optional[str] = typer.Option(None, help="force a reduction (26, 103, 104, v5_13_2, ...)"),
    workers: int = typer.Option(4, min=1, max=16, help="parallel downloads"),
    retries: int = typer.Option(4, min=0, max=10),
    timeout: float = typer.Option(30.0, help="connect/read timeout in seconds"),
    base_url: str = typer.Option("https://data.sdss.org/sas", help="SAS root (mirror)"),
) -> None:
    """SDSS lite spectra from the Science Archive Server."""
    from ..download import download_sdss_spectra

    _run(lambda: download_sdss_spectra(_ids(ids, from_file), dest, release=release, run2d=run2d,
                                       workers=workers, options=_options(retries, timeout), base_url=base_url))


@download_app.command("lamost")
def lamost(
    obsids: Optional[list[str]] = typer.Argument(None, help="LAMOST obsid(s)"),
    from_file: Optional[Path] = typer.Option(None, "--from-file", help="text file, one obsid per line"),
    dest: Path = typer.Option(Path("."), "--dest", "-d", help="output directory"),
    release: str = typer.Option("dr10", help="data release, e.g. dr10"),
    version: str = typer.Option("v2.0", help="release version, e.g. v2.0"),
    token: Optional[str] = typer.Option(None, envvar="SPECTOOL_LAMOST_TOKEN",
                                        help="access token for proprietary releases"),
    workers: int = typer.Option(4, min=1, max=16),
    retries: int = typer.Option(4, min=0, max=10),
    timeout: float = typer.Option(30.0),
    base_url: str = typer.Option("https://www.lamost.org", help="service root (mirror)"),
) -> None:
    """LAMOST low-resolution spectra by obsid."""
    from ..download import download_lamost_spectra

    _run(lambda: download_lamost_spectra(_ids(obsids, from_file), dest, release=release, version=version,
                                         token=token, workers=workers, options=_options(retries, timeout),
                                         base_url=base_url))


@download_app.command("image")
def image(
    ra: float = typer.Option(..., help="right ascension, degrees (ICRS)"),
    dec: float = typer.Option(..., help="declination, degrees (ICRS)"),
    out: Path = typer.Option(..., "--out", "-o", help="output .npy, (3, 128, 128) g,r,i"),
    run: Optional[int] = typer.Option(None, help="SDSS run (else asked from SkyServer)"),
    camcol: Optional[int] = typer.Option(None, help="SDSS camcol 1..6"),
    field: Optional[int] = typer.Option(None, help="SDSS field"),
    release: str = typer.Option("dr17"),
    size: int = typer.Option(128, min=8, max=2048, help="cutout side in g-band pixels"),
    retries: int = typer.Option(4, min=0, max=10),
    timeout: float = typer.Option(30.0),
) -> None:
    """SDSS g,r,i cutout aligned on g (SPFusion input)."""
    from ..download import sdss_cutout

    try:
        cube = sdss_cutout(ra, dec, out, run=run, camcol=camcol, field=field, release=release, size=size,
                           options=_options(retries, timeout))
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {out} {tuple(cube.shape)}")
