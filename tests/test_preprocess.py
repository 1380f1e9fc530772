"""Preprocessing recipes, steps, bad-pixel policy, folding: numerical checks."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_factory as ff  # noqa: E402

import spectool  # noqa: E402
from spectool import Spectrum  # noqa: E402
from spectool import preprocess as P  # noqa: E402
from spectool.errors import (ConfigError, CoverageError, InvalidImageError, InvalidSpectrumError,  # noqa: E402
                             SpectoolWarning)


def flat_star(n_bad: int = 0, seed: int = 0, survey: str = "sdss", **kw) -> Spectrum:
    return ff.star(seed, survey, n_bad=n_bad, **kw)


# ------------------------------------------------------------------ MSPC-Net
def test_mspcnet_done_when_on_real_sdss(real_sdss):
    spec = spectool.read(real_sdss)
    x = P.mspcnet(spec)
    real = np.isfinite(x.wavelength)
    assert x.flux.dtype == np.float32 and x.flux.shape == (3584,)
    assert real.sum() == 3522 and np.array_equal(np.flatnonzero(real), np.arange(31, 31 + 3522))
    assert x.wavelength[31] == pytest.approx(4000.37, abs=0.005)
    assert x.wavelength[31 + 3521] == pytest.approx(8999.12, abs=0.005)
    assert x.params["pad_left"] == 31 and x.params["pad_right"] == 31
    assert abs(float(x.flux[real].mean())) < 1e-5 and float(x.flux[real].std()) == pytest.approx(1.0, abs=1e-5)
    assert np.all(x.flux[~real] == 0) and np.all(x.ivar[~real] == 0)
    assert int(x.mask.sum()) == 240  # and-mask pixels inside the window, repaired by interpolation


def test_mspcnet_authors_order_reproduces_reference_numbers(real_sdss):
    # reference facts section 4: z-score whole spectrum, then crop -> mean 0.066, std 0.870 (masks ignored)
    x = P.mspcnet(spectool.read(real_sdss), order="normalize_first", bad_pixels="keep")
    real = np.isfinite(x.wavelength)
    assert float(x.flux[real].mean()) == pytest.approx(0.066, abs=5e-4)
    assert float(x.flux[real].std()) == pytest.approx(0.870, abs=5e-4)


def test_mspcnet_on_real_lamost(real_dir):
    path = next(iter(sorted((real_dir / "lamost").glob("*.fits.gz"))), None) if (real_dir / "lamost").is_dir() else None
    if path is None:
        pytest.skip("no LAMOST sample")
    x = P.mspcnet(spectool.read(path))
    assert int(np.isfinite(x.wavelength).sum()) == 3522 and x.params["pad_left"] == 31


def test_mspcnet_matches_hand_computation():
    spec = flat_star(n_bad=0)
    x = P.mspcnet(spec)
    keep = (spec.wavelength > 4000) & (spec.wavelength < 9000)
    f = spec.flux[keep].astype(np.float64)
    want = (f - f.mean()) / f.std()
    left = (3584 - keep.sum()) // 2
    np.testing.assert_allclose(x.flux[left:left + keep.sum()], want, atol=1e-6)
    np.testing.assert_array_equal(x.wavelength[left:left + keep.sum()], spec.wavelength[keep])
    np.testing.assert_allclose(x.ivar[left:left + keep.sum()], spec.ivar[keep] * f.std() ** 2, rtol=1e-6)
    first = P.mspcnet(spec, order="normalize_first")
    g = spec.flux.astype(np.float64)
    np.testing.assert_allclose(first.flux[left:left + keep.sum()], ((g - g.mean()) / g.std())[keep], atol=1e-6)


def test_padding_rule_for_odd_difference():
    x = P.mspcnet(flat_star(), length=3600)
    n = x.params["n_real"]
    assert x.params["pad_left"] == (3600 - n) // 2 and x.params["pad_right"] == 3600 - n - (3600 - n) // 2
    with pytest.raises(InvalidSpectrumError, match="do not fit"):
        P.mspcnet(flat_star(), length=3000)


# ------------------------------------------------------------------ bad pixels
def _with_bad(idx: list[int]) -> Spectrum:
    spec = flat_star(n_bad=0)
    spec.ivar[idx] = 0
    spec.flux[idx] = 1e4  # garbage values that must not leak into the output
    spec.meta["source_path"] = "synthetic-bad.fits"
    return spec


def test_bad_pixels_interpolate_zero_keep():
    spec = _with_bad([1000, 1001, 2000])
    keep_px = (spec.wavelength > 4000) & (spec.wavelength < 9000)
    offset = int(np.flatnonzero(keep_px)[0])
    left = (3584 - int(keep_px.sum())) // 2
    out_idx = left + 1000 - offset

    x = P.mspcnet(spec, bad_pixels="interpolate")
    w, f = spec.wavelength, spec.flux.astype(np.float64)
    lin = np.interp(w[1000], [w[999], w[1002]], [f[999], f[1002]])
    mean, std = x.params["mean"], x.params["std"]
    assert x.flux[out_idx] == pytest.approx((lin - mean) / std, abs=1e-4)
    assert x.mask[out_idx] and x.ivar[out_idx] == 0 and x.mask.sum() == 3

    z = P.mspcnet(spec, bad_pixels="zero")
    assert z.flux[out_idx] == 0 and z.flux[out_idx + 1] == 0 and z.ivar[out_idx] == 0
    good = np.isfinite(z.wavelength) & ~z.mask
    assert abs(float(z.flux[good].mean())) < 1e-5  # statistics exclude the bad pixels

    k = P.mspcnet(spec, bad_pixels="keep")
    assert k.flux[out_idx] > 10 and k.mask[out_idx]  # raw garbage kept, still flagged

    with pytest.raises(ConfigError, match="bad_pixels"):
        P.mspcnet(spec, bad_pixels="drop")


def test_invalid_inputs_are_typed_and_name_the_file():
    spec = flat_star()
    spec.meta["source_path"] = "/data/spec-x.fits"
    nan = spec.copy()
    nan.flux[10] = np.nan
    with pytest.raises(InvalidSpectrumError, match="spec-x.fits.*NaN"):
        P.mspcnet(nan)
    dead = spec.copy()
    dead.ivar[:] = 0
    with pytest.raises(InvalidSpectrumError, match="spec-x.fits.*ivar"):
        P.mspcnet(dead)
    const = spec.copy()
    const.flux[:] = 3.0
    with pytest.raises(InvalidSpectrumError, match="constant"):
        P.mspcnet(const)
    short = spec.crop(4500, 9500)
    with pytest.raises(CoverageError, match="spec-x.fits.*4000"):
        P.mspcnet(short)
    with pytest.raises(InvalidSpectrumError, match="increasing"):
        P.mspcnet(np.vstack([spec.wavelength[::-1], spec.flux]))


def test_array_inputs_equal_spectrum_input():
    spec = flat_star()
    a = P.mspcnet(spec)
    b = P.mspcnet(np.vstack([spec.wavelength, spec.flux, spec.ivar]))
    c = P.mspcnet(spec.flux, wavelength=spec.wavelength, ivar=spec.ivar)
    d = P.mspcnet((spec.wavelength, spec.flux, spec.ivar))
    for other in (b, c, d):
        np.testing.assert_array_equal(a.flux[~a.mask], other.flux[~a.mask])
    with pytest.raises(InvalidSpectrumError, match="wavelength="):
        P.mspcnet(spec.flux)


# ------------------------------------------------------------------ SPFusion
def test_spfusion_spectrum_and_image():
    spec = flat_star(survey="lamost")
    img = ff.image(1)
    x = P.spfusion(spec, img)
    real = np.isfinite(x.wavelength)
    assert real.sum() == 3522 and x.flux.shape == (3584,)
    assert x.flux[real].min() == 0.0 and x.flux[real].max() == 1.0 and np.all(x.flux[~real] == 0)
    assert x.image.shape == (3, 128, 128) and x.image.dtype == np.float32
    for b in range(3):
        want = (img[b] - img[b].min()) / (img[b].max() - img[b].min())
        np.testing.assert_allclose(x.image[b], want, atol=1e-6)
    lo, hi = x.params["min"], x.params["max"]
    f = spec.flux[(spec.wavelength > 4000) & (spec.wavelength < 9000)].astype(np.float64)
    assert (lo, hi) == pytest.approx((f.min(), f.max()))


def test_spfusion_npy_layout_and_bare_flux(tmp_path):
    path, spec = ff.npy_file(tmp_path)
    arr = np.load(path)
    a = P.spfusion(arr)  # authors' (2, 3522) array: already cropped, crop is a no-op
    assert int(np.isfinite(a.wavelength).sum()) == 3522
    bare = P.spfusion(arr[1])
    np.testing.assert_array_equal(bare.flux, a.flux)
    assert np.all(np.isnan(bare.wavelength)) and bare.params["pad_left"] == 31


@pytest.mark.parametrize("bad,match", [
    (np.ones((3, 64, 64)), "shape"),
    (np.ones((128, 128, 3)), "channels-last"),
    (np.concatenate([np.ones((1, 128, 128)), np.random.default_rng(0).random((2, 128, 128))]), "band g"),
    (np.full((3, 128, 128), np.nan), "NaN"),
    (np.full((3, 128, 128), "x"), "numeric"),
])
def test_spfusion_bad_images(bad, match):
    with pytest.raises(InvalidImageError, match=match):
        P.spfusion(flat_star(survey="lamost"), bad)


# ------------------------------------------------------------------ SCA-Net
def test_scanet_grid_rest_frame_and_continuum():
    z = 0.01
    spec = flat_star(n_bad=0, snr=500.0, redshift=z, teff=6500.0)
    x = P.scanet(spec)
    np.testing.assert_array_equal(x.wavelength, np.linspace(4000, 8095, 4096))
    assert x.flux.shape == (4096,) and x.rest_frame and x.params["redshift"] == pytest.approx(z)
    # the H-alpha line (6564.6 A vacuum, rest) sits at its rest wavelength after the shift
    window = (x.wavelength > 6540) & (x.wavelength < 6590)
    assert x.wavelength[window][np.argmin(x.flux[window])] == pytest.approx(6564.6, abs=1.0)
    # continuum-normalised: line-free regions sit at 1 within a few per cent
    free = (x.wavelength > 6900) & (x.wavelength < 8000)
    assert float(np.median(x.flux[free])) == pytest.approx(1.0, abs=0.03)
    assert float(np.percentile(x.flux, 99)) < 1.1


def test_scanet_options_and_coverage():
    spec = flat_star()
    mm = P.scanet(spec, continuum="minmax")
    assert mm.flux.min() == 0 and mm.flux.max() == 1
    pct = P.scanet(spec, continuum="percentile")
    assert float(np.median(pct.flux)) == pytest.approx(0.97, abs=0.05)
    clean = flat_star(snr=1e4)
    raw = P.scanet(clean, continuum="none")  # spline of a smooth spectrum ~ linear interpolation
    np.testing.assert_allclose(raw.flux[raw.valid], np.interp(raw.wavelength, clean.wavelength / (1 + 1e-4),
                                                              clean.flux)[raw.valid], rtol=0.02)
    with pytest.raises(CoverageError, match="rest-frame"):
        P.scanet(spec, redshift=0.2)
    with pytest.raises(ConfigError, match="continuum"):
        P.scanet(spec, continuum="spline")
    nored = flat_star()
    nored.meta["redshift"] = None
    with pytest.warns(SpectoolWarning, match="redshift"):
        P.scanet(nored)


def test_continuum_recovers_known_shape():
    w = np.linspace(4000, 8095, 4096)
    cont = 2.0 + np.sin((w - 4000) / 1500.0)
    lines = 1 - 0.6 * np.exp(-0.5 * ((w - 5000) / 3) ** 2) - 0.4 * np.exp(-0.5 * ((w - 6500) / 3) ** 2)
    est = P.polynomial_continuum(w, cont * lines)
    np.testing.assert_allclose(est, cont, rtol=0.01)
    est2 = P.percentile_continuum(cont * lines)  # a running 95th percentile leads a rising slope by ~half a window
    np.testing.assert_allclose(est2[300:-300], cont[300:-300], rtol=0.05)


# ------------------------------------------------------------------ folding
def test_fold_s_layout_and_inverse():
    x = np.arange(16)
    img = P.fold(x, "s")
    np.testing.assert_array_equal(img, [[0, 1, 2, 3], [7, 6, 5, 4], [8, 9, 10, 11], [15, 14, 13, 12]])
    np.testing.assert_array_equal(P.fold(x, "row"), x.reshape(4, 4))
    big = np.random.default_rng(0).normal(size=(2, 3, 4096))
    f = P.fold_s(big)
    assert f.shape == (2, 3, 64, 64)
    assert f[0, 0, 1, 0] == big[0, 0, 127] and f[0, 0, 1, 63] == big[0, 0, 64]
    np.testing.assert_array_equal(P.unfold_s(f), big)
    np.testing.assert_array_equal(P.unfold(P.fold(big, "row"), "row"), big)
    with pytest.raises(InvalidSpectrumError, match="square"):
        P.fold(np.zeros(4095))


def test_fold_torch_and_wavelength_map():
    torch = pytest.importorskip("torch")
    x = P.scanet(flat_star())
    t = torch.from_numpy(np.stack([x.flux, x.flux * 2]))
    folded = P.fold_s(t)
    assert isinstance(folded, torch.Tensor) and folded.shape == (2, 64, 64)
    assert torch.equal(P.unfold_s(folded), t)
    wmap = P.fold_s(x.wavelength)
    i, j = 3, 10  # odd row: reversed
    assert wmap[i, j] == pytest.approx(4000 + 64 * i + 63 - j)


# ------------------------------------------------------------------ pipeline
def test_pipeline_composition_and_description():
    pipe = P.Pipeline([P.steps.RepairBadPixels(), P.steps.Crop(4500, 8500)], name="mine")
    longer = pipe.then(P.steps.MinMax(), P.steps.Pad(4096))
    out = longer(flat_star())
    assert len(out) == 4096 and out.flux[out.valid].max() == 1.0
    assert longer.to_dict()["steps"] == ["RepairBadPixels('interpolate')", "Crop(4500, 8500)", "MinMax()", "Pad(4096)"]
    assert "crop 4500 < lambda < 8500 A" in out.steps[1]
    assert P.mspcnet_pipeline(order="normalize_first").to_dict()["steps"][1] == "ZScore()"
    assert repr(out).startswith("Preprocessed(spec-9999-55555-")
    s = out.to_spectrum()
    assert len(s) == int(np.isfinite(out.wavelength).sum())
    with pytest.raises(ConfigError, match="recipe"):
        P.apply("nope", flat_star())
    np.testing.assert_array_equal(P.apply("mspcnet", flat_star()).flux, P.mspcnet(flat_star()).flux)
