"""Paper-exact preprocessing: pure functions, a composable :class:`Pipeline`, one result type.

>>> x = spectool.preprocess.mspcnet(spec)          # 3584 px: crop 4000-9000 A, z-score, pad
>>> x.flux, x.wavelength, x.ivar, x.mask           # model input + Angstrom map (NaN = padding)
>>> y = spectool.preprocess.spfusion(spec, image)  # min-max spectrum + per-band min-max image
>>> z = spectool.preprocess.scanet(spec)           # rest frame, 4000-8095 A at 1 A, continuum-normalised
>>> img = spectool.preprocess.fold_s(z.flux)       # (64, 64) S-shaped fold; unfold_s inverts it
>>> b = spectool.preprocess.mspcnet_batch(wave, flux_2d, ivar_2d, mask_2d)  # many spectra on one grid

Every recipe accepts a :class:`~spectool.Spectrum`, a ``(2, L)`` array or a
flux with ``wavelength=``; see :mod:`.recipes` for the exact steps and
:mod:`.steps` for the bad-pixel policy.
"""
from __future__ import annotations

from . import steps
from .batch import PreprocessedBatch, mspcnet_batch, normalize_images, scanet_batch, spfusion_batch
from .continuum import percentile_continuum, polynomial_continuum
from .fold import fold, fold_s, unfold, unfold_s
from .pipeline import Pipeline
from .recipes import (
    IMAGE_SHAPE,
    MODEL_LENGTH,
    MSPC_RANGE,
    PIPELINES,
    RECIPES,
    SCANET_LENGTH,
    SCANET_RANGE,
    SPFUSION_RANGE,
    apply,
    mspcnet,
    mspcnet_pipeline,
    normalize_image,
    scanet,
    scanet_grid,
    scanet_pipeline,
    spfusion,
    spfusion_pipeline,
)
from .result import Preprocessed, as_spectrum

__all__ = [
    "Preprocessed", "Pipeline", "steps", "as_spectrum", "apply", "RECIPES", "PIPELINES",
    "mspcnet", "mspcnet_pipeline", "spfusion", "spfusion_pipeline", "normalize_image", "scanet", "scanet_pipeline",
    "scanet_grid", "fold", "unfold", "fold_s", "unfold_s", "polynomial_continuum", "percentile_continuum",
    "PreprocessedBatch", "mspcnet_batch", "spfusion_batch", "scanet_batch", "normalize_images",
    "MODEL_LENGTH", "MSPC_RANGE", "SPFUSION_RANGE", "SCANET_RANGE", "SCANET_LENGTH", "IMAGE_SHAPE",
]
