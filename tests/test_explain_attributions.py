"""captum attributions on the wavelength grid: closed forms on a linear toy model."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _explain_models import ImageNet, LinearToy, PatchNet  # noqa: E402

from spectool.errors import ModelError  # noqa: E402
from spectool.explain import attribute, fill_values  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def toy():
    model = LinearToy(length=64, n_out=2)
    x = torch.rand(3, 1, 64, generator=torch.Generator().manual_seed(0))
    return model, x, model.lin.weight.detach().numpy(), 5000.0 + 2.0 * np.arange(64)


@pytest.mark.parametrize("method", ["ig", "deeplift"])
def test_ig_and_deeplift_are_w_times_x(toy, method):
    model, x, w, grid = toy
    att = attribute(model, x, method, target="t1", wavelength=grid)
    np.testing.assert_allclose(att.values, x[:, 0].numpy() * w[1], rtol=1e-4, atol=1e-6)
    assert att.target == "t1" and att.method == method
    np.testing.assert_allclose(att.delta, 0, atol=1e-4)  # completeness
    np.testing.assert_array_equal(att.wavelength, grid)


def test_ig_with_continuum_baseline(toy):
    model, x, w, grid = toy
    att = attribute(model, x, "ig", target=0, wavelength=grid, baselines="continuum")
    base = fill_values(x, grid, "continuum")[:, 0].numpy()
    np.testing.assert_allclose(att.values, (x[:, 0].numpy() - base) * w[0], rtol=1e-3, atol=1e-5)


def test_saliency_is_abs_w(toy):
    model, x, w, grid = toy
    att = attribute(model, x, "saliency", target=0)
    np.testing.assert_allclose(att.values, np.broadcast_to(np.abs(w[0]), (3, 64)), rtol=1e-6)
    np.testing.assert_array_equal(att.wavelength, np.arange(64))  # pixel index without a grid


def test_occlusion_single_pixel(toy):
    model, x, w, _ = toy
    att = attribute(model, x, "occlusion", target=1, window=1, stride=1, baselines=0.5)
    # Occlusion is a difference of two float32 forward passes whose outputs are sums of 64
    # terms (|y| up to ~30 here): each carries a rounding error of a few eps32 * sum|w x|,
    # which depends on the CPU's BLAS summation order. A fixed atol of 1e-6 sat below that
    # resolution (it failed on another CPU by 1.5e-6); the bound below is the float32 one.
    resolution = 4 * np.finfo(np.float32).eps * np.abs(w[1] * x[:, 0].numpy()).sum(1, keepdims=True)
    err = np.abs(att.values - (x[:, 0].numpy() - 0.5) * w[1])
    assert (err < resolution).all(), (err.max(), resolution.min())


def test_classifier_probabilities_and_images():
    torch.manual_seed(0)
    model = ImageNet(length=128)
    x, img = torch.rand(2, 1, 128), torch.rand(2, 3, 8, 8)
    att = attribute(model, x, "ig", target="c2", image=img, probabilities=True, n_steps=16)
    assert att.values.shape == (2, 128) and np.isfinite(att.values).all()
    probs = torch.softmax(model(x, img), 1)[:, 2] - torch.softmax(model(torch.zeros_like(x), img), 1)[:, 2]
    np.testing.assert_allclose(att.values.sum(1), probs.detach().numpy(), atol=2e-2)  # completeness, 16 steps
    frame = att.to_frame()
    assert list(frame.columns) == ["sample", "pixel", "wavelength", "attribution"] and len(frame) == 256
    assert att.smoothed(5).shape == (2, 128)


def test_errors():
    model = PatchNet(length=128)
    with pytest.raises(ModelError, match="unknown attribution"):
        attribute(model, torch.rand(1, 1, 128), "lime")
    with pytest.raises(ModelError, match="out of range"):
        attribute(model, torch.rand(1, 1, 128), "saliency", target=7)
    with pytest.raises(ModelError, match="image"):
        attribute(ImageNet(length=128), torch.rand(1, 1, 128), "saliency")


def _sequential() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(1, 4, 8, stride=8), torch.nn.GELU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8, 3))


@pytest.mark.parametrize("method", ["ig", "saliency", "occlusion", "deeplift"])
def test_plain_sequential_with_default_arguments(method):
    """Any nn.Module taking the spectrum batch: defaults work, IG stays complete (captum's
    DeepLIFT has no rule for GELU, so its delta is not small here)."""
    seq = _sequential()
    x = torch.rand(2, 1, 64, generator=torch.Generator().manual_seed(1))
    att = attribute(seq, x, method)
    assert att.values.shape == (2, 64) and att.target == "output_0" and np.abs(att.values).sum() > 0
    if method == "ig":
        assert np.abs(att.delta).max() < 1e-3


def test_float64_model_is_attributed_in_float64(toy):
    model, x, w, grid = toy
    model64 = LinearToy(length=64, n_out=2).double()
    x64 = x.double()
    att = attribute(model64, x64, "ig", target="t1", wavelength=grid)
    # below float32 resolution (6e-8); captum's IG step weights limit it to ~1e-9
    np.testing.assert_allclose(att.values, w[1] * x64[:, 0].numpy(), rtol=1e-8, atol=1e-12)
    occ = attribute(model64, x64, "occlusion", target=0, window=1, stride=1, baselines="continuum")
    base = fill_values(x64, np.arange(64.0), "continuum")[:, 0].numpy()   # float64 fill for a float64 input
    np.testing.assert_allclose(occ.values, w[0] * (x64[:, 0].numpy() - base), rtol=1e-5, atol=1e-6)


def test_profile_and_top_regions_find_where_the_output_is_decided():
    """``profile`` averages the smoothed |attribution| over spectra; ``top_regions`` returns
    the fewest pixels holding a share of it (padding and out-of-range pixels excluded)."""
    from spectool.explain import Attribution

    grid = 4000.0 + np.arange(200.0)
    grid[:5] = np.nan  # padding
    vals = np.zeros((2, 200))
    vals[0, 100:110] = 1.0
    vals[1, 100:110] = -3.0  # the sign does not matter
    vals[:, 150:160] = 0.5
    vals[:, 0:5] = 100.0  # padding: never counted
    att = Attribution(vals, grid, "ig", "mass")
    np.testing.assert_allclose(att.profile(width=1), np.abs(vals).mean(0))
    regions, frac = att.top_regions(0.75, width=1)  # 20 of 25: the ten pixels at 4100-4109 A
    assert regions == [(4100.0, 4109.0)] and frac == pytest.approx(10 / 195)
    regions, frac = att.top_regions(0.99, width=1, wavelength_range=(None, 4155.0))
    assert regions == [(4100.0, 4109.0), (4150.0, 4155.0)] and frac == pytest.approx(16 / 151)
    for bad in ({"share": 1.0}, {"wavelength_range": (9000.0, None)}):
        with pytest.raises(ModelError):
            att.top_regions(**bad)
