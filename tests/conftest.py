"""Shared fixtures: matplotlib off-screen, isolated cache, paths into ../shared."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPECTOOL_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path inside ../shared; the test is skipped cleanly when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available (../shared is absent)")
    return p


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Every test session shares one throwaway cache so mock datasets are generated once.
    cache = tmp_path_factory.getbasetemp() / "spectool-cache"
    monkeypatch.setenv("SPECTOOL_CACHE", str(cache))
    monkeypatch.setenv("SPECTOOL_OFFLINE", "1")


@pytest.fixture
def real_sdss() -> Path:
    return shared_path("data", "real", "sdss", "spec-0324-51616-0159.fits")


@pytest.fixture
def real_dir() -> Path:
    return shared_path("data", "real")


@pytest.fixture
def reference_dir() -> Path:
    return shared_path("reference")


@pytest.fixture
def templates_dir() -> Path:
    return shared_path("data", "templates")
