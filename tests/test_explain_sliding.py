"""Sliding-window perturbation importance: windows, fills, captum agreement, brute force."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from _explain_models import ImageNet, InputSkipNet, LinearToy, PatchNet  # noqa: E402

from spectool import Spectrum  # noqa: E402
from spectool.errors import InvalidSpectrumError, ModelError  # noqa: E402
from spectool.explain import fill_values, sliding_window_importance, windows  # noqa: E402

torch.set_num_threads(2)


def _batch(n=4, length=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, length, generator=g), 4000.0 + np.arange(length, dtype=float)


def test_windows_match_scanet_grid():
    grid = np.linspace(4000, 8095, 4096)  # SCA-Net: exactly 1 A per pixel
    pix, lo, hi = windows(grid, 15, 5)
    assert len(pix) == 817  # starts 0, 5, ..., 4080 as in window_lxp.py
    assert pix[0].tolist() == [0, 15] and pix[-1].tolist() == [4080, 4095]
    assert np.all(pix[:, 1] - pix[:, 0] == 15)
    assert lo[1] - lo[0] == pytest.approx(5.0) and hi[0] - lo[0] == pytest.approx(15.0)


def test_windows_skip_padding_and_follow_log_grid():
    grid = np.full(300, np.nan)
    grid[10:290] = 10 ** (3.6 + 1e-4 * np.arange(280))  # log-lambda grid, ~0.9-1.6 A per pixel
    pix, lo, hi = windows(grid, 15, 5)
    assert pix.min() >= 10 and pix.max() <= 290
    for (a, b), l0, h0 in zip(pix, lo, hi):  # every window pixel lies in [lo, hi)
        assert np.all(grid[a:b] >= l0 - 1e-6) and np.all(grid[a:b] < h0)
    assert (pix[:, 1] - pix[:, 0]).max() > (pix[:, 1] - pix[:, 0]).min()  # fewer pixels at the red end


@pytest.mark.parametrize("bad", [(0, 5), (15, -1), (1e6, 5)])
def test_windows_reject_bad_sizes(bad):
    with pytest.raises(InvalidSpectrumError):
        windows(np.arange(100.0), *bad)


def test_continuum_fill_recovers_polynomial_and_clips():
    grid = np.linspace(4000, 8095, 512)
    u = (grid - grid.mean()) / 2000
    smooth = 1 + 0.3 * u - 0.2 * u**3 + 0.1 * u**5
    x = torch.tensor(np.stack([smooth, smooth * 2]), dtype=torch.float32)[:, None]
    cont = fill_values(x, grid, "continuum")[:, 0].numpy()
    np.testing.assert_allclose(cont, x[:, 0].numpy(), rtol=1e-4)
    spiky = x.clone()
    spiky[0, 0, 200] = 50.0  # a spike pulls the fit, the clip keeps it in the flux range
    c2 = fill_values(spiky, grid, "continuum")[0, 0].numpy()
    assert c2.max() <= 50.0 and c2.min() >= float(spiky[0].min())


def test_other_fills():
    x, grid = _batch(2, 128)
    grid = grid.copy()
    grid[:4] = np.nan  # padding pixels keep their flux
    assert torch.all(fill_values(x, grid, "zero")[:, 0, 4:] == 0)
    assert torch.equal(fill_values(x, grid, "zero")[:, :, :4], x[:, :, :4])
    mean = fill_values(x, grid, "mean")
    np.testing.assert_allclose(mean[:, 0, 10].numpy(), x[:, 0, 4:].mean(1).numpy(), rtol=1e-5)
    n1, n2 = fill_values(x, grid, "noise", seed=3), fill_values(x, grid, "noise", seed=3)
    assert torch.equal(n1, n2) and not torch.equal(n1, fill_values(x, grid, "continuum"))
    with pytest.raises(InvalidSpectrumError):
        fill_values(x, grid, "median")


def test_linear_model_known_answer():
    model = LinearToy(length=64, n_out=2)
    x, grid = _batch(3, 64)
    res = sliding_window_importance(model, x, grid, window=4, step=2, fill="zero", progress=False)
    w = model.lin.weight.detach().numpy()
    for k, (a, b) in enumerate(res.pixels):
        change = -(x[:, 0, a:b].numpy() @ w[:, a:b].T)  # (N, outputs): zeroing removes w . x
        np.testing.assert_allclose(res.signed[k], change.mean(0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(res.importance[k], np.abs(change).mean(0), rtol=1e-4, atol=1e-5)
    assert res.quantity == "output" and res.output_names == ["t0", "t1"]


def test_agrees_with_captum_occlusion():
    from captum.attr import Occlusion

    torch.manual_seed(0)
    model = PatchNet(length=260).eval()  # (260 - 15) / 5 is whole: captum adds no truncated last window
    x, grid = _batch(1, 260)
    res = sliding_window_importance(model, x, grid, window=15, step=5, progress=False)
    base = fill_values(x, grid, "continuum")
    probs = lambda inp: torch.softmax(model(inp), 1)  # noqa: E731
    for j in range(3):
        occ = Occlusion(probs).attribute(x, sliding_window_shapes=(1, 15), strides=(1, 5), baselines=base,
                                         target=j, perturbations_per_eval=32)
        np.testing.assert_allclose(-res.to_pixels("signed")[:, j], occ[0, 0].detach().numpy(), atol=2e-6)


def test_agrees_with_captum_feature_ablation_mean_abs():
    from captum.attr import FeatureAblation

    torch.manual_seed(1)
    model = PatchNet(length=256).eval()
    x, grid = _batch(5, 256, seed=2)
    res = sliding_window_importance(model, x, grid, window=15, step=5, outputs=[0, 2], progress=False)
    base = fill_values(x, grid, "continuum")
    probs = lambda inp: torch.softmax(model(inp), 1)  # noqa: E731
    n_win = len(res.pixels)
    for r in range(3):  # windows r, r+3, ... do not overlap (width 15 = 3 steps): one ablation pass each
        mask = torch.full((1, 1, 256), -1, dtype=torch.long)
        ks = list(range(r, n_win, 3))
        for g, k in enumerate(ks):
            a, b = res.pixels[k]
            mask[0, 0, a:b] = g
        keep = mask[0, 0] >= 0
        mask[0, 0, ~keep] = len(ks)  # unperturbed pixels form one extra group, discarded below
        base_r = torch.where(keep, base, x)
        for jj, j in enumerate([0, 2]):
            attr = FeatureAblation(probs).attribute(x, baselines=base_r, target=j, feature_mask=mask,
                                                   perturbations_per_eval=32)
            for g, k in enumerate(ks):
                a = res.pixels[k][0]
                delta = -attr[:, 0, a].detach().numpy()  # captum: f(x) - f(ablated)
                assert np.abs(delta).mean() == pytest.approx(res.importance[k, jj], abs=1e-6)


def _brute_force(model, x, grid, fill="continuum", seed=0):
    """Reference: one forward pass per (spectrum, window), in a Python loop."""
    pixels, _, _ = windows(grid, 15, 5)
    fills = fill_values(x, grid, fill, seed=seed)
    classification = getattr(model, "task", "regression") == "classification"
    f = (lambda t: torch.softmax(model(t), 1)) if classification else model
    with torch.no_grad():
        clean = f(x)
        deltas = []
        for a, b in pixels:
            xp = x.clone()
            xp[:, :, a:b] = fills[:, :, a:b]
            deltas.append((f(xp) - clean).double().numpy())
    d = np.stack(deltas)                                    # (windows, N, outputs)
    return np.abs(d).mean(1), d.mean(1)


@pytest.mark.parametrize("batch_size", [1, 7, 50, None])
@pytest.mark.parametrize("net", [PatchNet, InputSkipNet])
def test_equals_brute_force_for_any_batch_size(net, batch_size):
    """Batches span spectra (flat (spectrum, window) pairs): every batch size gives the
    one-window-at-a-time result, also for a model that reads its input past the stem."""
    torch.manual_seed(0)
    model = net(length=256).eval()
    x, grid = _batch(3, 256)
    res = sliding_window_importance(model, x, grid, batch_size=batch_size, progress=False)
    importance, signed = _brute_force(model, x, grid)
    np.testing.assert_allclose(res.importance, importance, rtol=0, atol=2e-7)
    np.testing.assert_allclose(res.signed, signed, rtol=0, atol=2e-7)


def test_plain_sequential_with_default_arguments():
    """Any nn.Module taking the spectrum batch works (no probe with extra arguments);
    without a ``task`` it is explained through its raw outputs."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv1d(1, 4, 8, stride=8), nn.GELU(), nn.Flatten(), nn.Linear(4 * 32, 2))
    x, grid = _batch(2, 256)
    res = sliding_window_importance(seq, x, grid, progress=False)
    importance, signed = _brute_force(seq, x, grid)
    assert res.quantity == "output" and res.output_names == ["output_0", "output_1"]
    np.testing.assert_allclose(res.importance, importance, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.signed, signed, rtol=0, atol=1e-6)


def test_float64_model_gets_float64_inputs():
    model = LinearToy(64).double()
    x = torch.rand(2, 1, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grid = np.arange(64.0)
    res = sliding_window_importance(model, x, grid, window=4, step=2, fill="zero", progress=False)
    w = model.lin.weight.detach().numpy()
    for k, (a, b) in enumerate(res.pixels):   # closed form in float64
        change = -(x[:, 0, a:b].numpy() @ w[:, a:b].T)
        np.testing.assert_allclose(res.signed[k], change.mean(0), rtol=1e-12, atol=1e-13)
    assert fill_values(x, grid).dtype == torch.float64


def test_spectra_input_outputs_and_tables():
    torch.manual_seed(0)
    model = PatchNet(length=256)
    x, grid = _batch(2, 256)
    specs = [Spectrum(grid, x[i, 0].numpy(), meta={"object_id": f"s{i}"}) for i in range(2)]
    res = sliding_window_importance(model, specs, outputs="c1", progress=False)
    ref = sliding_window_importance(model, x, grid, progress=False)
    np.testing.assert_allclose(res.importance[:, 0], ref.importance[:, 1], atol=1e-7)
    assert res.output_names == ["c1"] and res.quantity == "probability" and res.n_samples == 2
    frame = ref.to_frame(lines="balmer", max_distance=8)
    assert len(frame) == 3 * len(ref.wavelength)
    near = frame[(frame.wavelength - 4101.74 * 1.00028).abs() < 3]
    assert (near.line == "H delta").all() and len(near) > 0
    top = ref.peaks(output="c0", n=3)
    assert len(top) == 3 and top.importance.is_monotonic_decreasing
    assert np.diff(np.sort(top.wavelength)).min() >= 15


def test_image_models_and_errors():
    model = ImageNet(length=256)
    x, grid = _batch(2, 256)
    img = torch.rand(2, 3, 8, 8)
    res = sliding_window_importance(model, x, grid, image=img, progress=False)
    ref = sliding_window_importance(PatchNetFrom(model), x, grid, progress=False)
    np.testing.assert_allclose(res.importance, ref.importance, atol=1e-6)  # image shifts logits of all classes
    with pytest.raises(ModelError, match="image"):
        sliding_window_importance(model, x, grid, progress=False)
    with pytest.raises(InvalidSpectrumError):
        sliding_window_importance(model, torch.full((1, 1, 256), float("nan")), grid, image=img[:1])
    with pytest.raises(ModelError, match="unknown output"):
        sliding_window_importance(PatchNetFrom(model), x, grid, outputs="nope", progress=False)


def PatchNetFrom(model: ImageNet) -> PatchNet:
    twin = PatchNet(length=256)
    twin.load_state_dict(model.state_dict())
    return twin


def test_plot_runs():
    import matplotlib.pyplot as plt

    res = sliding_window_importance(PatchNet(length=256), *_batch(1, 256), progress=False)
    axes = res.plot(lines="balmer")
    assert len(axes) == 3 and "Sliding-window" in axes[0].get_title()
    plt.close("all")


def test_dataset_rows_padding_and_images_are_used():
    import spectool.datasets

    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")  # synthetic mock, NaN-padded log grid
    torch.manual_seed(0)
    model = PatchNet(length=ds.flux.shape[1], n_classes=len(ds.class_names), patch=64)
    rows = ds.indices("test", 0)[:2]
    res = sliding_window_importance(model, ds, indices=rows, window=60, step=60, progress=False)
    ref = sliding_window_importance(model, np.asarray(ds.flux[rows]), ds.wavelength, window=60, step=60,
                                    progress=False)
    np.testing.assert_allclose(res.importance, ref.importance, atol=1e-7)
    finite = np.isfinite(ds.wavelength)
    assert res.pixels.min() >= np.argmax(finite) and res.n_samples == 2
    assert res.lo[0] == pytest.approx(np.nanmin(ds.wavelength))


def test_fig8_line_labels_do_not_overlap():
    """SCA-Net Fig. 8 marks Fe I 4308 and H gamma 34 A apart: their labels must not collide."""
    import matplotlib.pyplot as plt

    from spectool.explain import SlidingWindowResult

    nw = 800
    c = np.linspace(4010, 8080, nw)
    res = SlidingWindowResult(importance=np.random.default_rng(0).random((nw, 3)), signed=np.zeros((nw, 3)),
                              wavelength=c, lo=c - 7.5, hi=c + 7.5, pixels=np.stack([np.arange(nw), np.arange(nw) + 1], 1),
                              output_names=["teff", "logg", "feh"], input_length=nw + 1, fill="continuum",
                              window=15.0, step=5.0, n_samples=1, quantity="output")
    axes = res.plot(lines="scanet")
    try:
        fig = axes[0].figure
        fig.canvas.draw()
        for ax in axes:
            names = [t.get_text() for t in ax.texts]
            assert "H gamma" in names and any(n.startswith("Fe I") for n in names)
            boxes = [t.get_window_extent() for t in ax.texts]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    assert not boxes[i].overlaps(boxes[j]), (names[i], names[j])
    finally:
        plt.close("all")


def test_fig8_axes_name_the_quantity_and_its_unit():
    """Each panel's y axis says what changed, in which unit (log2 Teff, dex), not the raw
    output name."""
    import matplotlib.pyplot as plt

    from spectool.explain import SlidingWindowResult

    w = np.linspace(4000.0, 8000.0, 50)
    res = SlidingWindowResult(importance=np.ones((50, 3)), signed=np.zeros((50, 3)), wavelength=w, lo=w - 7.5,
                              hi=w + 7.5, pixels=np.zeros((50, 2), int), output_names=["log_teff", "logg", "feh"],
                              input_length=4096, fill="continuum", window=15.0, step=5.0, n_samples=4,
                              quantity="output")
    axes = res.plot(lines=None)
    try:
        assert [ax.get_ylabel() for ax in axes] == ["|Delta log2(Teff/K)|", "|Delta log g| [dex]",
                                                    "|Delta [Fe/H]| [dex]"]
    finally:
        plt.close("all")
