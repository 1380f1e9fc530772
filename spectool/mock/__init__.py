"""The embedded synthetic survey: seeded, vectorised SDSS/LAMOST-like spectra (and g,r,i cutouts).

Everything generated here is synthetic and says so (``info["synthetic"] = True`` and a
``provenance`` text in every store). See ``docs/mock_survey.md`` for what is physical, what is
approximate and where the numbers come from.
"""
from __future__ import annotations

from .build import build_preset, plan_rows
from .emulator import StellarEmulator
from .generate import generate_galaxies, generate_qsos, generate_stars
from .spectype import subclass_from_teff
from .survey import SURVEYS, Observed, observe, survey

__all__ = ["build_preset", "plan_rows", "StellarEmulator", "generate_stars", "generate_galaxies", "generate_qsos",
           "subclass_from_teff", "SURVEYS", "Observed", "observe", "survey"]
