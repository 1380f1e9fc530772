"""The three papers' preprocessing recipes, as :class:`Pipeline` factories plus one-call helpers.

MSPC-Net (Table/section "data preprocessing" of the MSPC-Net paper; authors' code facts in
``shared/docs/reference-facts-classifiers.md`` section 3)
    crop 4000 < lambda < 9000 Angstrom (strict) on the native log10 grid (1e-4 dex),
    3522 pixels for SDSS and LAMOST; z-score with the population std; zero-pad
    symmetrically to 3584 (31 + 31). The paper crops then normalises
    (``order="crop_first"``, default); the authors' script normalises the whole
    spectrum first (``order="normalize_first"``).

SPFusion (paper section 3.1: LAMOST spectra "cropped to the wavelength range from
4000 A to 9000 A", per-spectrum and per-band min-max)
    crop 4000 < lambda < 9000 Angstrom (the same strict window as MSPC-Net, giving
    the authors' "(2, 3522)" arrays); min-max to [0, 1]; zero-pad to 3584; each
    g, r, i band of the (3, 128, 128) cutout min-max scaled on its own.

SCA-Net (paper section 2: redshift correction, 4000-8095 A grid of 4096 points,
cubic spline, continuum normalisation as Lee et al. 2008)
    rest frame with the catalogue redshift; ``CubicSpline`` onto
    ``np.linspace(4000, 8095, 4096)`` (exactly 1 Angstrom per pixel); continuum
    normalisation (``continuum="polynomial"`` by default, see
    :mod:`spectool.preprocess.continuum`; ``"minmax"`` reproduces the authors'
    code, which min-max scales instead).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, InvalidImageError, InvalidSpectrumError
from ..spectrum import Spectrum
from . import steps as S
from .pipeline import Pipeline
from .result import Preprocessed

MODEL_LENGTH = 3584
MSPC_RANGE = (4000.0, 9000.0)
SPFUSION_RANGE = (4000.0, 9000.0)
SCANET_RANGE = (4000.0, 8095.0)
SCANET_LENGTH = 4096
IMAGE_SHAPE = (3, 128, 128)
_IMAGE_BLOCK = 4  # cutouts normalised at a time: float64 scratch of ~1.5 MB stays in cache


def scanet_grid() -> np.ndarray:
    """SCA-Net's rest-frame grid: ``np.linspace(4000, 8095, 4096)``, 1 Angstrom per pixel."""
    return np.linspace(*SCANET_RANGE, SCANET_LENGTH)


# ---------------------------------------------------------------- MSPC-Net
def mspcnet_pipeline(order: str = "crop_first", length: int = MODEL_LENGTH,
                     bad_pixels: str = "interpolate") -> Pipeline:
    """The MSPC-Net recipe as a :class:`Pipeline` (see module docstring)."""
    if order not in ("crop_first", "normalize_first"):
        raise ConfigError(f"order must be 'crop_first' or 'normalize_first', not {order!r}")
    crop, norm = S.Crop(*MSPC_RANGE), S.ZScore()
    middle = [crop, norm] if order == "crop_first" else [norm, crop]
    return Pipeline([S.RepairBadPixels(bad_pixels), *middle, S.Pad(length)], name="mspcnet",
                    options={"order": order, "length": length, "bad_pixels": bad_pixels})


def mspcnet(spec: Spectrum | np.ndarray | tuple, *, order: str = "crop_first", length: int = MODEL_LENGTH,
            bad_pixels: str = "interpolate", wavelength: np.ndarray | None = None,
            ivar: np.ndarray | None = None) -> Preprocessed:
    """MSPC-Net input: crop 4000 < lambda < 9000 A, z-score, zero-pad to ``length`` (3584).

    Parameters
    ----------
    spec
        A :class:`~spectool.Spectrum`, a ``(2, L)`` array (vacuum Angstrom, flux) or
        a 1-D flux with ``wavelength=``.
    order
        ``"crop_first"`` (paper, default) or ``"normalize_first"`` (authors' code:
        z-score over the whole spectrum, then crop).
    length
        Output length; padding is floor(diff/2) zeros on the left, the rest on the right.
    bad_pixels
        ``"interpolate"``, ``"zero"`` or ``"keep"`` (see :mod:`spectool.preprocess.steps`).

    Returns
    -------
    Preprocessed
        ``flux`` (length,) float32 z-scored; ``wavelength`` vacuum Angstrom (NaN padding).

    Raises
    ------
    CoverageError
        The spectrum does not cover 4000-9000 A.
    InvalidSpectrumError
        NaN/inf flux, all-zero ivar, constant flux, or more than ``length`` pixels in the window.
    """
    return mspcnet_pipeline(order, length, bad_pixels)(spec, wavelength=wavelength, ivar=ivar)


# ---------------------------------------------------------------- SPFusion
def spfusion_pipeline(length: int = MODEL_LENGTH, bad_pixels: str = "interpolate",
                      crop: tuple[float, float] | None = SPFUSION_RANGE) -> Pipeline:
    """The SPFusion spectrum recipe as a :class:`Pipeline` (``crop=None`` skips the crop)."""
    steps = [S.RepairBadPixels(bad_pixels)] + ([S.Crop(*crop)] if crop else []) + [S.MinMax(), S.Pad(length)]
    return Pipeline(steps, name="spfusion", options={"length": length, "bad_pixels": bad_pixels,
                                                       "crop": list(crop) if crop else None})


def normalize_images(images: np.ndarray, labels: list[str | None] | None = None) -> np.ndarray:
    """Per-band min-max of every (3, 128, 128) g, r, i cutout in ``images`` (N, 3, 128, 128) to [0, 1] (float32).

    Raises :class:`~spectool.errors.InvalidImageError` naming the image (``labels[i]`` or
    ``"image i"``) for a non-numeric dtype, a wrong shape, NaN/inf values, or a constant
    band, whose min-max is undefined (the authors' code yields NaN).
    """
    arr = np.asarray(images)
    name = (lambda i: labels[i] or "image") if labels is not None else (lambda i: f"image {i}")
    where = labels[0] or "image" if labels is not None and len(labels) == 1 else "images"
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidImageError(f"image dtype {arr.dtype} is not numeric", where)
    if arr.ndim != 4 or arr.shape[1:] != IMAGE_SHAPE:
        raise InvalidImageError(f"images must have shape (N, {', '.join(map(str, IMAGE_SHAPE))}), got {arr.shape}",
                                where)
    out = np.empty(arr.shape, np.float32)
    for s in range(0, arr.shape[0], _IMAGE_BLOCK):
        img = arr[s:s + _IMAGE_BLOCK].astype(np.float64)
        finite = np.isfinite(img).all((1, 2, 3))
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise InvalidImageError(f"image contains {int((~np.isfinite(img[i])).sum())} NaN/inf pixels", name(s + i))
        lo = img.min(axis=(2, 3), keepdims=True)
        hi = img.max(axis=(2, 3), keepdims=True)
        flat = np.argwhere((hi - lo)[..., 0, 0] == 0)
        if flat.size:
            i, b = (int(v) for v in flat[0])
            raise InvalidImageError(f"image band {'gri'[b]} (channel {b}) is constant: min == max", name(s + i))
        out[s:s + _IMAGE_BLOCK] = (img - lo) / (hi - lo)
    return out


def normalize_image(image: np.ndarray, source: str | None = None) -> np.ndarray:
    """Per-band min-max of one (3, 128, 128) g, r, i cutout to [0, 1] (float32): :func:`normalize_images`
    of a batch of one, after a shape check that hints at channels-last input. Errors name ``source``."""
    where = source or "image"
    arr = np.asarray(image)
    if arr.shape != IMAGE_SHAPE and (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        channels_last = arr.shape == IMAGE_SHAPE[1:] + IMAGE_SHAPE[:1]
        hint = " (channels-last? use image.transpose(2, 0, 1))" if channels_last else ""
        raise InvalidImageError(f"image must have shape {IMAGE_SHAPE} (g, r, i), got {arr.shape}{hint}", where)
    return normalize_images(arr[None], labels=[source])[0]


def spfusion(spec_or_flux: Spectrum | np.ndarray | tuple, image: np.ndarray | None = None, *,
             length: int = MODEL_LENGTH, bad_pixels: str = "interpolate",
             crop: tuple[float, float] | None = SPFUSION_RANGE,
             wavelength: np.ndarray | None = None) -> Preprocessed:
    """SPFusion inputs: min-max spectrum padded to 3584, and per-band min-max (3, 128, 128) image.

    Parameters
    ----------
    spec_or_flux
        A :class:`~spectool.Spectrum`, the authors' ``(2, L)`` ``.npy`` array
        (row 0 vacuum Angstrom, row 1 flux), or a bare 1-D flux array. A bare flux
        (without ``wavelength=``) is taken as already cropped: it is min-max scaled
        and padded, and its wavelength map is all NaN.
    image
        Optional (3, 128, 128) g, r, i cutout; normalised into ``result.image``.
    crop
        Wavelength window in Angstrom (strict); ``None`` keeps every pixel.
    """
    pipe = spfusion_pipeline(length, bad_pixels, crop)
    flux = np.asarray(spec_or_flux) if not isinstance(spec_or_flux, (Spectrum, tuple, list)) else None
    if flux is not None and flux.ndim == 1 and wavelength is None:
        n = flux.size
        state = Preprocessed(flux=flux.astype(np.float64), wavelength=np.arange(1.0, n + 1.0), ivar=np.ones(n),
                             mask=np.zeros(n, bool), steps=["bare flux: no wavelength map"])
        if not np.all(np.isfinite(flux)):
            raise InvalidSpectrumError(f"flux has {int((~np.isfinite(flux)).sum())} NaN/inf pixels")
        no_crop = Pipeline([s for s in pipe.steps if not isinstance(s, S.Crop)], name=pipe.name)
        result = no_crop.run(state)
        result.wavelength = np.full(len(result), np.nan)
    else:
        result = pipe(spec_or_flux, wavelength=wavelength)
    if image is not None:
        result.image = normalize_image(image, result.source)
        result.steps.append("image: per-band min-max")
    return result


# ---------------------------------------------------------------- SCA-Net
def scanet_pipeline(continuum: str = "polynomial", bad_pixels: str = "interpolate",
                    redshift: float | None = None) -> Pipeline:
    """The SCA-Net recipe as a :class:`Pipeline` (see module docstring)."""
    if continuum not in S.CONTINUUM_METHODS:
        raise ConfigError(f"continuum must be one of {S.CONTINUUM_METHODS}, not {continuum!r}")
    steps: list = [S.RepairBadPixels(bad_pixels), S.RestFrame(redshift), S.Resample(*SCANET_RANGE, SCANET_LENGTH)]
    if continuum in ("polynomial", "percentile"):
        steps.append(S.ContinuumNormalize(continuum))
    elif continuum == "minmax":
        steps.append(S.MinMax())
    return Pipeline(steps, name="scanet", options={"continuum": continuum, "bad_pixels": bad_pixels})


def scanet(spec: Spectrum | np.ndarray | tuple, *, continuum: str = "polynomial", bad_pixels: str = "interpolate",
           redshift: float | None = None, wavelength: np.ndarray | None = None) -> Preprocessed:
    """SCA-Net input: rest frame, cubic spline onto 4000-8095 A at 1 A (4096 px), continuum-normalised.

    Parameters
    ----------
    continuum
        ``"polynomial"`` (default: iteratively clipped Legendre fit, Lee et al. 2008
        style), ``"percentile"`` (running 95th percentile), ``"minmax"`` (authors'
        code: min-max instead of a continuum) or ``"none"``.
    redshift
        Overrides the catalogue ``meta['redshift']`` used for the rest-frame shift.

    Returns
    -------
    Preprocessed
        ``flux`` (4096,) float32; ``wavelength`` the rest-frame grid in Angstrom;
        fold it to 64 x 64 with :func:`spectool.preprocess.fold`.
    """
    return scanet_pipeline(continuum, bad_pixels, redshift)(spec, wavelength=wavelength)


RECIPES: dict[str, Callable[..., Preprocessed]] = {"mspcnet": mspcnet, "spfusion": spfusion, "scanet": scanet}
PIPELINES: dict[str, Callable[..., Pipeline]] = {"mspcnet": mspcnet_pipeline, "spfusion": spfusion_pipeline,
                                                 "scanet": scanet_pipeline}


def apply(recipe: str, spec: Any, **options: Any) -> Preprocessed:
    """Run the named recipe (``"mspcnet"``, ``"spfusion"``, ``"scanet"``) with ``options``."""
    try:
        fn = RECIPES[recipe]
    except KeyError:
        raise ConfigError(f"unknown preprocessing recipe {recipe!r}; choose from {', '.join(RECIPES)}") from None
    return fn(spec, **options)
