"""The batch recipes (spectool.preprocess.*_batch) against the per-spectrum recipes, row by row."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from spectool import preprocess as pp
from spectool.errors import ConfigError, CoverageError, InvalidImageError, InvalidSpectrumError, SpectoolWarning
from spectool.mock import generate_stars
from spectool.mock.images import cutouts
from spectool.mock.stars import draw_subclass_labels
from spectool.spectrum import Spectrum


@pytest.fixture(scope="module", params=["sdss", "lamost"])
def batch(request):
    """Synthetic mock stars (12 rows) with masked runs at both ends of some rows, plus their redshifts."""
    rng = np.random.default_rng(11)
    vocab = ["A0", "B5", "F5", "G2", "K5", "M2"]
    lab = draw_subclass_labels(np.array(vocab * 2), vocab, rng)
    obs, meta = generate_stars(lab, request.param, rng.uniform(3.0, 60.0, len(lab)), rng)
    mask = obs.mask.copy()
    mask[0, :5] = True  # a run at the blue edge: constant extrapolation from the first good pixel
    mask[1, -7:] = True  # and at the red edge
    mask[2, 1000:1003] = True
    ivar = np.where(mask, 0.0, obs.ivar).astype(np.float32)
    return obs.wave, obs.flux, ivar, mask, meta["redshift"].to_numpy()


def _one_by_one(recipe, wave, flux, ivar, mask, z=None, images=None, **kw):
    out = []
    for i in range(len(flux)):
        spec = Spectrum(wave, flux[i], ivar[i], mask[i], {"redshift": None if z is None else z[i]})
        res = recipe(spec, images[i], **kw) if images is not None else recipe(spec, **kw)
        out.append(res.finalize())
    return out


def _stack(results, name):
    return np.stack([getattr(r, name) for r in results])


@pytest.mark.parametrize("kw", [{}, {"order": "normalize_first"}, {"bad_pixels": "zero"}, {"bad_pixels": "keep"},
                                {"length": 4000}])
def test_mspcnet_batch_is_bit_identical(batch, kw):
    wave, flux, ivar, mask, _ = batch
    got = pp.mspcnet_batch(wave, flux, ivar, mask, **kw)
    ref = _one_by_one(pp.mspcnet, wave, flux, ivar, mask, **kw)
    for name in ("flux", "ivar", "mask"):
        np.testing.assert_array_equal(getattr(got, name), _stack(ref, name), err_msg=name)
    np.testing.assert_array_equal(got.wavelength, ref[0].wavelength)
    np.testing.assert_array_equal(got.params["std"], [r.params["std"] for r in ref])
    assert got.flux.dtype == np.float32 and got.flux.flags.c_contiguous and len(got) == len(flux)


@pytest.mark.parametrize("kw", [{}, {"bad_pixels": "zero"}, {"crop": None, "length": 4096}])
def test_spfusion_batch_is_bit_identical(batch, kw):
    wave, flux, ivar, mask, _ = batch
    images = cutouts(np.random.default_rng(3).uniform(13.0, 17.0, (len(flux), 3)), np.random.default_rng(4))
    got = pp.spfusion_batch(wave, flux, ivar, mask, images=images, **kw)
    ref = _one_by_one(pp.spfusion, wave, flux, ivar, mask, images=images, **kw)
    for name in ("flux", "ivar", "mask", "image"):
        np.testing.assert_array_equal(getattr(got, name), _stack(ref, name), err_msg=name)
    assert got.flux.min() == 0.0 and got.flux.max() == 1.0


@pytest.mark.parametrize("kw", [{}, {"bad_pixels": "zero"}, {"continuum": "minmax"}, {"continuum": "percentile"}])
def test_scanet_batch_matches_to_float32_rounding(batch, kw):
    wave, flux, ivar, mask, z = batch
    got = pp.scanet_batch(wave, flux, ivar, mask, redshift=z, **kw)
    ref = _one_by_one(pp.scanet, wave, flux, ivar, mask, z=z, **kw)
    np.testing.assert_array_equal(got.mask, _stack(ref, "mask"))
    np.testing.assert_allclose(got.flux, _stack(ref, "flux"), rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(got.ivar, _stack(ref, "ivar"), rtol=1e-5)
    np.testing.assert_array_equal(got.wavelength, pp.scanet_grid())
    assert got.rest_frame


def test_batch_errors_name_the_row(batch):
    wave, flux, ivar, mask, z = batch
    bad = ivar.copy()
    bad[2] = 0.0
    with pytest.raises(InvalidSpectrumError, match="row 2: ivar is zero everywhere"):
        pp.mspcnet_batch(wave, flux, bad, mask)
    flat = flux.copy()
    flat[3] = 1.0
    with pytest.raises(InvalidSpectrumError, match="row 3: flux is constant"):
        pp.spfusion_batch(wave, flat, ivar, mask)
    nan = flux.copy()
    nan[4, 10] = np.nan
    with pytest.raises(InvalidSpectrumError, match="row 4: flux has 1 NaN"):
        pp.mspcnet_batch(wave, nan, ivar, mask)
    with pytest.raises(CoverageError, match="row 1: rest-frame coverage"):
        pp.scanet_batch(wave, flux, ivar, mask, redshift=np.where(np.arange(len(z)) == 1, 0.2, z))
    with pytest.raises(CoverageError, match="does not include 4000-9000"):
        pp.mspcnet_batch(wave[wave > 4500], flux[:, wave > 4500])
    with pytest.raises(InvalidSpectrumError, match=r"flux \(N, L\)"):
        pp.mspcnet_batch(wave, flux[0])
    images = np.ones((len(flux), 3, 128, 128), np.float32)
    with pytest.raises(InvalidImageError, match="image 0: image band g"):
        pp.spfusion_batch(wave, flux, ivar, mask, images=images)
    with pytest.raises(InvalidImageError, match="2 images for"):
        pp.spfusion_batch(wave, flux, ivar, mask, images=images[:2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pp.scanet_batch(wave, flux[:2], ivar[:2], mask[:2], continuum="none")
    assert any(issubclass(w.category, SpectoolWarning) and "2 spectra have no catalogue redshift" in str(w.message)
               for w in caught)


def test_custom_pipeline_batch_equals_per_spectrum(batch):
    """Pipeline.batch runs the steps' one implementation: padding excluded from later statistics, as per spectrum."""
    wave, flux, ivar, mask, _ = batch
    pipe = pp.Pipeline([pp.steps.RepairBadPixels("zero"), pp.steps.Crop(4500, 8500, inclusive=True),
                        pp.steps.Pad(3000), pp.steps.ZScore(), pp.steps.MinMax()], name="mine")
    got = pipe.batch(wave, flux, ivar, mask)
    ref = _one_by_one(pipe, wave, flux, ivar, mask)
    for name in ("flux", "ivar", "mask"):
        np.testing.assert_array_equal(getattr(got, name), _stack(ref, name), err_msg=name)
    np.testing.assert_array_equal(got.wavelength, ref[0].wavelength)
    assert got.recipe == "mine" and len(got.steps) == len(ref[0].steps) == 5
    assert ref[0].steps[1].startswith("crop 4500 <= lambda <= 8500 A")
    for key in ("n_bad", "mean", "std", "min", "max"):
        np.testing.assert_array_equal(got.params[key], [r.params[key] for r in ref], err_msg=key)
    real = np.isfinite(got.wavelength)
    assert got.params["n_real"] == real.sum() and np.all(got.flux[:, real].max(1) == 1)


def test_batch_refuses_what_needs_a_shared_grid(batch):
    wave, flux, ivar, mask, z = batch
    with pytest.raises(ConfigError, match="Crop needs one wavelength grid"):
        pp.Pipeline([pp.steps.RestFrame(), pp.steps.Crop(4000, 8000)]).batch(wave, flux, ivar, mask, z)
    with pytest.raises(ConfigError, match="must resample"):
        pp.Pipeline([pp.steps.RestFrame()]).batch(wave, flux, ivar, mask, z)
    with pytest.raises(ConfigError, match="one spectrum only"):
        pp.Pipeline([pp.steps.MinMax(), lambda state: state]).batch(wave, flux, ivar, mask)
    one = pp.Pipeline([pp.steps.RestFrame(), pp.steps.Crop(4000, 8000)])(Spectrum(wave, flux[0], meta={"redshift": 0.1}))
    assert one.rest_frame and np.nanmax(one.wavelength) < 8000  # a single spectrum shifts its own grid


def test_continuum_of_a_batch_equals_row_by_row(batch):
    wave, flux, ivar, mask, z = batch
    res = pp.scanet_batch(wave, flux, ivar, mask, redshift=z, continuum="none")
    f = res.flux.astype(np.float64)
    good = ~res.mask
    together = pp.polynomial_continuum(res.wavelength, f, good)
    rows = np.stack([pp.polynomial_continuum(res.wavelength, f[i], good[i]) for i in range(len(f))])
    np.testing.assert_allclose(together, rows, rtol=1e-9)
    np.testing.assert_array_equal(pp.percentile_continuum(f, good),
                                  np.stack([pp.percentile_continuum(f[i], good[i]) for i in range(len(f))]))
    dark = f.copy()
    dark[5] = -1.0
    with pytest.raises(InvalidSpectrumError, match="row 5: continuum estimate is not positive"):
        pp.polynomial_continuum(res.wavelength, dark)
    with pytest.raises(InvalidSpectrumError, match="^continuum estimate is not positive"):
        pp.polynomial_continuum(res.wavelength, dark[5])


def test_unclipped_unfloored_continuum_is_least_squares():
    """``max_iter=0, floor=False``: the plain Legendre least-squares fit (what explain's continuum fill needs)."""
    rng = np.random.default_rng(0)
    lam = np.linspace(4000.0, 9000.0, 3522)
    f = rng.normal(size=(3, lam.size)) + np.sin(lam / 700.0)  # z-scored-like: median ~ 0, no floor possible
    u = 2.0 * (lam - lam[0]) / (lam[-1] - lam[0]) - 1.0
    basis = np.polynomial.legendre.legvander(u, 5)
    want = (basis @ np.linalg.lstsq(basis, f.T, rcond=None)[0]).T
    np.testing.assert_allclose(pp.polynomial_continuum(lam, f, degree=5, max_iter=0, floor=False), want, atol=1e-12)
    with pytest.raises(InvalidSpectrumError, match="not positive"):
        pp.polynomial_continuum(lam, f - 5.0, degree=5, max_iter=0)
