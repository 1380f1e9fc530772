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


def pretrained_calibration(name: str) -> dict | None:
    """The ``"calibration"`` key of the JSON card of the pretrained model ``name`` (None if absent).

    Written by ``scripts/calibrate_pretrained.py`` into the JSON card only (the weights
    file, and the card in its metadata, are left untouched); see :mod:`spectool.trust`.
    """
    import json

    path = pretrained_dir() / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("calibration")
    except json.JSONDecodeError as exc:
        from ..errors import CorruptFileError
        raise CorruptFileError(f"model card is not valid JSON ({exc})", path) from exc
