"""The ``spectool`` command line. Each command group lives in its own module and
registers itself on :data:`app`."""
from __future__ import annotations

import typer

app = typer.Typer(help="spectool: deep learning on SDSS / LAMOST spectra.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


def main() -> None:  # pragma: no cover - thin wrapper
    app()


from . import download as _download  # noqa: E402,F401
from . import mock as _mock  # noqa: E402,F401
from . import info as _info  # noqa: E402,F401
from . import ingest as _ingest  # noqa: E402,F401
from . import train as _train  # noqa: E402,F401
from . import predict as _predict  # noqa: E402,F401
from . import figures as _figures  # noqa: E402,F401
from . import models as _models  # noqa: E402,F401
