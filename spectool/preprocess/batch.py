"""The three recipes for many spectra on ONE shared wavelength grid.

``mspcnet_batch``, ``spfusion_batch`` and ``scanet_batch`` take ``flux`` (N, L) on a shared
vacuum wavelength grid (L,) in Angstrom (with optional ``ivar`` / ``mask`` (N, L)) and run
the recipe's :class:`~spectool.preprocess.Pipeline` on the whole batch: the same step
implementations (:mod:`.steps`) as :func:`~spectool.preprocess.mspcnet`,
:func:`~spectool.preprocess.spfusion` and :func:`~spectool.preprocess.scanet`, which run
them on a batch of one. Hence:

* MSPC-Net and SPFusion give bit-for-bit the arrays of the per-spectrum path
  (``recipe(Spectrum(wavelength, flux[i], ivar[i], mask[i]))``, finalised);
* SCA-Net gives the per-spectrum result to float32 rounding: a single spectrum is shifted
  to the rest frame before its spline is solved, a batch keeps the shared observed-frame
  knots and evaluates each row's spline at ``grid * (1 + z_i)`` (the same not-a-knot spline,
  since a cubic spline is unchanged by rescaling x), and the clipped continuum fit of a
  row depends on its pixels' rounding.

Inputs are cast like :class:`~spectool.Spectrum` does (flux and ivar to float32) and
validated by the same code as a single spectrum; errors name the offending row (``"row 17"``).
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidImageError
from .recipes import (MODEL_LENGTH, SPFUSION_RANGE, mspcnet_pipeline, normalize_images, scanet_pipeline,
                      spfusion_pipeline)
from .result import PreprocessedBatch

__all__ = ["PreprocessedBatch", "mspcnet_batch", "spfusion_batch", "scanet_batch", "normalize_images",
           "EXACT_BATCH"]


def mspcnet_batch(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
                  mask: np.ndarray | None = None, *, order: str = "crop_first", length: int = MODEL_LENGTH,
                  bad_pixels: str = "interpolate") -> PreprocessedBatch:
    """:func:`~spectool.preprocess.mspcnet` for every row of ``flux`` (N, L) on the shared vacuum grid
    ``wavelength`` (L,) Angstrom: crop 4000 < lambda < 9000 A, z-score, zero-pad to ``length``.

    Bit-for-bit equal to the per-spectrum recipe. Raises the same errors (naming the row).
    """
    return mspcnet_pipeline(order, length, bad_pixels).batch(wavelength, flux, ivar, mask)


def spfusion_batch(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
                   mask: np.ndarray | None = None, images: np.ndarray | None = None, *, length: int = MODEL_LENGTH,
                   bad_pixels: str = "interpolate",
                   crop: tuple[float, float] | None = SPFUSION_RANGE) -> PreprocessedBatch:
    """:func:`~spectool.preprocess.spfusion` for every row: crop 4000 < lambda < 9000 A (``crop=None``
    keeps every pixel), min-max to [0, 1], zero-pad to ``length``; ``images`` (N, 3, 128, 128) are
    min-max scaled per band. Bit-for-bit equal to the per-spectrum recipe."""
    pipe = spfusion_pipeline(length, bad_pixels, crop)
    state = PreprocessedBatch.from_arrays(wavelength, flux, ivar, mask)
    if images is not None and len(images) != len(state):
        raise InvalidImageError(f"{len(images)} images for {len(state)} spectra", "images")
    out = pipe.run_batch(state)
    if images is not None:
        out.image = normalize_images(images)
        out.steps.append("image: per-band min-max")
    return out


def scanet_batch(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
                 mask: np.ndarray | None = None, redshift: np.ndarray | float | None = None, *,
                 continuum: str = "polynomial", bad_pixels: str = "interpolate") -> PreprocessedBatch:
    """:func:`~spectool.preprocess.scanet` for every row: rest frame with ``redshift`` (N,) (NaN/None =
    already rest frame, with a warning), cubic spline onto 4000-8095 A at 1 A (4096 px), continuum
    normalisation. Equal to the per-spectrum recipe to float32 rounding (see the module docstring)."""
    return scanet_pipeline(continuum, bad_pixels).batch(wavelength, flux, ivar, mask, redshift)


#: The batch recipes that give bit-for-bit the per-spectrum arrays, by recipe name (SCA-Net's
#: batch differs at float32 rounding, so it is not here): :func:`spectool.predict` runs the
#: spectra of one wavelength grid through these at once.
EXACT_BATCH = {"mspcnet": mspcnet_batch, "spfusion": spfusion_batch}

