"""Pretrained models shipped in ``spectool/data/pretrained/``.

A pretrained model is a file pair saved by :func:`spectool.models.save`:
``<name>.safetensors`` (weights + card in its metadata) and ``<name>.json`` (the card).
Its name is the file stem, e.g. ``mspcnet_sdss-mock-sc``; the card says which
architecture, classes, preprocessing and training data (mock or real) it has.
``list_pretrained()`` returns the names whose files are present.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

from ..config import package_data
from ..errors import MissingDataError


def pretrained_dir() -> Path:
    """The folder holding the pretrained weight files."""
    return package_data("pretrained")


def list_pretrained(pattern: str = "*") -> list[str]:
    """Names of the pretrained models present, matching a glob ``pattern``."""
    folder = pretrained_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.safetensors") if fnmatch.fnmatch(p.stem, pattern))


def pretrained_path(name: str) -> Path:
    """The weights file of the pretrained model ``name``."""
    path = pretrained_dir() / f"{name}.safetensors"
    if not path.is_file():
        raise MissingDataError(f"no pretrained model {name!r}; present: "
                               f"{', '.join(list_pretrained()) or 'none'}", path)
    return path


def pretrained_card(name: str) -> dict:
    """The model card of the pretrained model ``name`` (without loading the weights)."""
    from .io import read_card
    return read_card(pretrained_path(name))
