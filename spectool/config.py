"""Package-wide locations, honouring XDG and SPECTOOL_* environment variables."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where generated mock datasets and downloads are cached.

    ``$SPECTOOL_CACHE`` if set, else ``$XDG_CACHE_HOME/spectool``, else ``~/.cache/spectool``.
    """
    env = os.environ.get("SPECTOOL_CACHE")
    if env:
        p = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        p = Path(base) / "spectool"
    p.mkdir(parents=True, exist_ok=True)
    return p


def package_data(*parts: str) -> Path:
    """Path of a file shipped inside the package (``spectool/data/...``)."""
    return Path(__file__).with_name("data").joinpath(*parts)
