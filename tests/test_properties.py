"""Property-based tests (hypothesis) of the preprocessing invariants.

Spectra are synthesised from a few drawn numbers (grid step, coverage, seed, scale,
offset) rather than drawn pixel by pixel, which keeps each example fast. Runs are
derandomised so CI is reproducible.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spectool import Spectrum
from spectool.preprocess import (MODEL_LENGTH, MSPC_RANGE, Pipeline, fold, mspcnet, normalize_image, spfusion,
                                 steps, unfold)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def synthetic(step_dex: float, lo: float, hi: float, seed: int, scale: float = 1.0, offset: float = 0.0) -> Spectrum:
    """A synthetic spectrum on a log-lambda grid lo..hi Angstrom (vacuum): smooth continuum, lines, noise."""
    loglam = np.arange(np.log10(lo), np.log10(hi), step_dex)
    w = 10**loglam
    rng = np.random.default_rng(seed)
    flux = 1 + 0.3 * np.sin(w / rng.uniform(200, 900)) - 0.5 * np.exp(-0.5 * ((w - rng.uniform(4500, 8500)) / 5) ** 2)
    flux = offset + scale * (flux + rng.normal(0, 0.05, w.size))
    return Spectrum(w, flux.astype(np.float32), meta={"object_id": f"synthetic-{seed}", "synthetic": True})


spectra = st.builds(
    synthetic,
    step_dex=st.floats(1.0e-4, 3.0e-4),
    lo=st.floats(3600.0, 3999.0),
    hi=st.floats(9001.0, 10400.0),
    seed=st.integers(0, 2**31 - 1),
)


@SETTINGS
@given(spec=spectra, length=st.sampled_from([3584, 3600, 4001]))
def test_crop_and_pad_lengths(spec, length):
    out = mspcnet(spec, length=length)
    lo, hi = MSPC_RANGE
    inside = (spec.wavelength > lo) & (spec.wavelength < hi)
    n = int(inside.sum())
    assert out.flux.shape == out.wavelength.shape == out.ivar.shape == out.mask.shape == (length,)
    left = (length - n) // 2
    assert out.params["pad_left"] == left and out.params["pad_right"] == length - n - left
    real = np.isfinite(out.wavelength)
    assert real.sum() == n and np.array_equal(np.flatnonzero(real), np.arange(left, left + n))
    np.testing.assert_allclose(out.wavelength[real], spec.wavelength[inside])
    assert np.all(out.flux[~real] == 0) and np.all(out.ivar[~real] == 0)


@SETTINGS
@given(spec=spectra, scale=st.floats(1e-3, 1e4), offset=st.floats(-1e3, 1e3))
def test_zscore_statistics_and_affine_invariance(spec, scale, offset):
    out = mspcnet(spec)
    real = np.isfinite(out.wavelength)
    x = out.flux[real].astype(np.float64)
    assert abs(x.mean()) < 1e-4 and abs(x.std() - 1) < 1e-4
    shifted = Spectrum(spec.wavelength, spec.flux.astype(np.float64) * scale + offset * scale, meta=spec.meta)
    np.testing.assert_allclose(mspcnet(shifted).flux, out.flux, atol=2e-3)


@SETTINGS
@given(spec=spectra)
def test_minmax_bounds(spec):
    out = spfusion(spec)
    real = np.isfinite(out.wavelength)
    x = out.flux[real]
    assert x.min() == 0.0 and x.max() == 1.0 and np.all((x >= 0) & (x <= 1))
    assert len(out) == MODEL_LENGTH and np.all(out.flux[~real] == 0)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), scales=st.lists(st.floats(1e-3, 1e6), min_size=3, max_size=3),
       offsets=st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3))
def test_image_minmax_bounds_per_band(seed, scales, offsets):
    img = np.random.default_rng(seed).random((3, 128, 128))
    img = img * np.array(scales)[:, None, None] + np.array(offsets)[:, None, None]
    out = normalize_image(img)
    assert out.shape == (3, 128, 128) and out.dtype == np.float32
    assert np.all(out.min(axis=(1, 2)) == 0) and np.allclose(out.max(axis=(1, 2)), 1, atol=1e-6)


@SETTINGS
@given(side=st.integers(1, 20), lead=st.lists(st.integers(1, 3), max_size=2), order=st.sampled_from(["s", "row"]),
       seed=st.integers(0, 2**31 - 1))
def test_fold_unfold_are_inverse(side, lead, order, seed):
    x = np.random.default_rng(seed).normal(size=(*lead, side * side))
    img = fold(x, order)
    assert img.shape == (*lead, side, side)
    assert np.array_equal(unfold(img, order), x)
    assert np.array_equal(fold(unfold(img, order), order), img)
    if order == "s" and side > 1:  # consecutive pixels stay neighbours in the S-shaped fold
        pos = fold(np.arange(side * side), "s")
        rc = np.argwhere(pos >= 0)[np.argsort(pos.ravel())]
        assert np.all(np.abs(np.diff(rc, axis=0)).sum(axis=1) == 1)


def test_fold_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(2 * 4096, dtype=np.float32).reshape(2, 4096)
    np.testing.assert_array_equal(fold(torch.from_numpy(x), "s").numpy(), fold(x, "s"))


@SETTINGS
@given(step=st.floats(0.5, 2.5), period=st.floats(60.0, 600.0), phase=st.floats(0, 6.283),
       coeffs=st.lists(st.floats(-1, 1), min_size=4, max_size=4), jitter=st.floats(0, 0.3),
       seed=st.integers(0, 2**31 - 1))
def test_resampling_accuracy(step, period, phase, coeffs, jitter, seed):
    """Cubic-spline resampling reproduces cubics exactly and smooth curves to ~(h/P)^4."""
    rng = np.random.default_rng(seed)
    w = np.arange(3950.0, 8150.0, step)
    w = w + rng.uniform(-jitter, jitter, w.size) * step * 0.5  # irregular but increasing grid
    grid_step = (8095 - 4000) / 4095
    u = (w - 6000.0) / 2000.0
    cubic = coeffs[0] + coeffs[1] * u + coeffs[2] * u**2 + coeffs[3] * u**3 + 5.0
    smooth = 5.0 + np.sin(2 * np.pi * w / period + phase)
    resample = Pipeline([steps.Resample(4000.0, 8095.0, 4096)])
    g = np.linspace(4000.0, 8095.0, 4096)
    assert abs(g[1] - g[0] - grid_step) < 1e-9
    ug = (g - 6000.0) / 2000.0
    out = resample(Spectrum(w, cubic))
    want = coeffs[0] + coeffs[1] * ug + coeffs[2] * ug**2 + coeffs[3] * ug**3 + 5.0
    np.testing.assert_allclose(out.flux, want, atol=2e-5 * max(1.0, np.abs(want).max()))
    out = resample(Spectrum(w, smooth))
    bound = 2 * (2 * np.pi * step * 1.3 / period) ** 4 + 1e-5  # spline error ~ h^4 f'''' / 384, generous
    assert np.max(np.abs(out.flux - (5.0 + np.sin(2 * np.pi * g / period + phase)))) < bound
    np.testing.assert_allclose(out.wavelength, g)
