"""Trainable datasets: a :class:`SpectralDataset` over a :class:`~spectool.store.SpectrumStore`.

``load(name, source="mock", size="quick")`` returns the named preset (for
example ``"mspc/SS-S>5"``, ``"spfusion/redclump"``, ``"scanet/AFGK"``): generated
by :mod:`spectool.mock` and cached when ``source="mock"``, or opened from a
directory of ingested real data when ``source`` is a path.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from .base import SpectralDataset, TorchSpectra
from .presets import PRESETS, Preset, list_presets, preset


def load(name: str, source: str | Path = "mock", size: str = "quick", seed: int = 0, rebuild: bool = False) -> SpectralDataset:
    """Load a dataset preset.

    Parameters
    ----------
    name
        Preset name, e.g. ``"mspc/SC-S>5"``; see :func:`list_presets`.
    source
        ``"mock"`` for the embedded synthetic survey (generated on first use and cached
        under :func:`spectool.config.cache_dir`), or the directory that holds real data
        ingested with ``spectool ingest`` (either the store itself or a parent holding a
        store named like the preset with ``/`` and ``>`` made file-system safe).
    size
        ``"quick"`` (tiny, for CPUs, tests and demos) or ``"full"`` (paper-sized).
    seed
        Seed of the mock generator (ignored for real data).
    rebuild
        Regenerate a cached mock dataset.
    """
    p = preset(name)
    if str(source) == "mock":
        from ..mock.build import build_preset

        store = build_preset(p, size=size, seed=seed, rebuild=rebuild)
    else:
        from ..store import SpectrumStore

        root = Path(source)
        candidates = [root, root / p.slug]
        for c in candidates:
            if (c / "info.json").is_file():
                store = SpectrumStore.open(c)
                break
        else:
            raise DatasetError(f"no ingested store for {name!r} (looked in {', '.join(map(str, candidates))})", root)
    return SpectralDataset(store, p)


__all__ = ["load", "SpectralDataset", "TorchSpectra", "Preset", "PRESETS", "preset", "list_presets"]
