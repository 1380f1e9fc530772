"""Attention capture, heatmaps, receptive fields, overlays and feature maps."""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from _explain_models import LinearToy, PatchNet  # noqa: E402

from spectool.errors import ModelError  # noqa: E402
from spectool.explain import (  # noqa: E402
    MSPC_GROUPS,
    SPFUSION_GROUPS,
    analytic_receptive_field,
    attention_overlay,
    attention_weights,
    capture_attention,
    feature_maps,
    plot_attention_heatmap,
    plot_feature_maps,
    receptive_field,
)
from spectool.explain.overlay import regions_above, weighted_positions  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return PatchNet(length=256).eval()


def test_capture_records_gate_outputs_per_sample_and_layer(net):
    x = torch.rand(5, 1, 256)
    with capture_attention(net) as rec, torch.no_grad():
        net(x[:3])
        net(x[3:])
    assert rec.layers == ["eca", "se"]
    w = rec.weights
    assert w["eca"].shape == (5, 8) and w["se"].shape == (5, 8)
    with torch.no_grad():  # recompute the SE gate by hand
        h = net.stem(x)
        h = h + net.eca(net.act(net.dw(h)))
        expected = net.se.gate(net.norm(h)).numpy()
    np.testing.assert_allclose(w["se"], expected, rtol=1e-5)
    assert not net.se.gate._forward_hooks  # hooks removed on exit
    frame = rec.to_frame()
    assert len(frame) == 2 * 5 * 8 and set(frame.columns) == {"sample", "layer", "channel", "weight"}
    assert ((frame.weight > 0) & (frame.weight < 1)).all()
    assert set(rec.summary().layer) == {"eca", "se"}


def test_repeated_module_calls_are_numbered(net):
    class Twice(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def attention_modules(self):
            return {"se": self.inner.se}

        def forward(self, x):
            h = self.inner.stem(x)
            return self.inner.se(self.inner.se(h)).mean()

    model = Twice(net)
    rec = attention_weights(model, torch.rand(2, 1, 256), keep_inputs=True)
    assert rec.layers == ["se", "se#2"]
    assert rec.inputs["se"].shape == (2, 8, 32)


def test_capture_errors(net):
    with pytest.raises(ModelError, match="no channel-attention"):
        with capture_attention(LinearToy(16)):
            pass
    with pytest.raises(ModelError, match="unknown attention layer"):
        with capture_attention(net, layers=["nope"]):
            pass


def test_heatmap_has_group_separators():
    w = np.random.default_rng(0).random((16, 96))
    ax = plot_attention_heatmap(w, groups=SPFUSION_GROUPS, title="synthetic mock batch")
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert sorted(ln.get_xdata()[0] for ln in dashed) == [31.5, 63.5]
    assert {t.get_text() for t in ax.texts} == {"photometric", "fused", "spectral"}
    with pytest.raises(ModelError):
        plot_attention_heatmap(w[0])
    plt.close("all")


def test_receptive_field_measured_matches_analytic(net):
    rf = receptive_field(net, "stem")
    assert (rf.start, rf.jump, rf.size, rf.n_positions) == (0, 8, 8, 32) and not rf.mixes_positions
    ana = analytic_receptive_field([net.stem], 256)
    assert (ana.start, ana.jump, ana.size, ana.n_positions) == (0, 8, 8, 32)
    deep = receptive_field(net, "dw")  # k=5 'same' depthwise conv after the stem: 5 patches
    ana2 = analytic_receptive_field([net.stem, net.dw], 256)
    assert (deep.start, deep.jump, deep.size) == (ana2.start, ana2.jump, ana2.size) == (-16, 8, 40)
    # the feature map the SE gates: a LayerNorm output whose channel sum is constant (unit
    # weight, zero bias), so a channel-summed probe would measure only round-off
    gated = receptive_field(net, "se", of="input")
    assert (gated.start, gated.jump, gated.size) == (-16, 8, 40) and not gated.mixes_positions
    np.testing.assert_array_equal(rf.footprints()[:2], [[0, 8], [8, 16]])
    assert rf.to_pixels(np.arange(32.0))[15] == 1.0
    field = deep.to_pixels(np.ones(32), mode="field")
    assert np.allclose(field, 1.0)
    with pytest.raises(ModelError):
        receptive_field(net, "head")  # (B, n) output: not a 1-D map


def test_receptive_field_refuses_a_map_without_input_gradient():
    class Constant(nn.Module):
        input_length = 64

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 4, stride=4)
            self.flat = nn.Identity()

        def forward(self, x):
            return self.flat(self.conv(x) * 0.0)

    with pytest.raises(ModelError, match="no field"):
        receptive_field(Constant(), "flat")


def test_receptive_field_global_mixing():
    class Mixer(nn.Module):
        input_length = 64

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 4, stride=4)
            self.mix = nn.Linear(16, 16)

        def forward(self, x):
            return self.mix(self.conv(x)).sum((1, 2))

    rf = receptive_field(Mixer(), "mix")
    assert rf.mixes_positions and rf.n_positions == 16 and rf.jump == 4
    np.testing.assert_array_equal(rf.footprints()[3], [12, 16])


@pytest.mark.parametrize("layers,expected", [
    ([nn.Conv1d(1, 4, 3), nn.Conv1d(4, 4, 405, padding="same"), nn.Conv1d(4, 4, 3, stride=2)], (-202, 2, 409, 1790)),
    ([nn.Conv1d(1, 4, 32, 32)] + [nn.Conv1d(4, 4, 16, padding="same", groups=4)] * 3 + [nn.Conv1d(4, 8, 2, 2)],
     (-672, 64, 1504, 56)),
])
def test_analytic_documented_models(layers, expected):
    rf = analytic_receptive_field(layers, 3584)  # MSPC-Net PatchEmbed + block + merge; ConvNeXt stage 0
    assert (rf.start, rf.jump, rf.size, rf.n_positions) == expected


def test_overlay_maps_weights_to_wavelength(net):
    grid = 4000.0 + 2 * np.arange(256)
    x = torch.rand(1, 1, 256)
    ov = attention_overlay(net, x, "se", wavelength=grid, threshold=0.5, lines="balmer",
                           wavelength_range=(None, 4400))
    assert ov.wavelength.max() <= 4400 and ov.weight.shape == ov.wavelength.shape
    assert ov.position_weight.shape == (32,)
    w = attention_weights(net, x, layers=["se"]).weights["se"][0]
    assert w.min() - 1e-6 <= ov.position_weight.min() and ov.position_weight.max() <= w.max() + 1e-6
    for lo, hi in ov.regions:
        assert np.all(ov.weight[(ov.wavelength >= lo) & (ov.wavelength <= hi)] > 0.5)
    assert {ln.name for ln in ov.lines} >= {"H delta", "H gamma"}
    ax = ov.plot(title="synthetic mock spectrum")
    assert ax.get_title() == "synthetic mock spectrum"
    plt.close("all")
    half = attention_overlay(net, x, "se", wavelength=grid, channels=(0, 4), lines=None)
    assert half.meta["channels"] == (0, 4) and half.lines == []
    with pytest.raises(ModelError):
        attention_overlay(net, torch.rand(2, 1, 256), "se")
    with pytest.raises(ModelError):
        attention_overlay(net, x, "se", channels="spectral")  # 64..96 > 8 channels


def test_weighted_positions_and_regions():
    w = np.array([1.0, 0.0])
    f = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 2.0]])
    np.testing.assert_allclose(weighted_positions(w, f), [1.0, 0.0, 0.5])
    wl = np.arange(10.0)
    assert regions_above(wl, np.array([0, 1, 1, 0, 0, 1, 0, 0, 1, 1.0]), 0.5) == [(1, 2), (5, 5), (8, 9)]


def test_feature_maps(net):
    grid = 4000.0 + np.arange(256)
    maps = feature_maps(net, torch.rand(1, 1, 256), ["stem", "dw"], wavelength=grid)
    assert maps["stem"].values.shape == (8, 32)
    np.testing.assert_allclose(maps["stem"].wavelength[:2], [4003.5, 4011.5])
    axes = plot_feature_maps(maps, groups={"dw": {"a": (0, 4), "b": (4, 8)}})
    assert len(axes) == 2
    plt.close("all")
    assert MSPC_GROUPS["identity"] == (48, 128)
    with pytest.raises(ModelError):
        feature_maps(net, torch.rand(1, 1, 256), "nope")


def test_plain_sequential_capture_and_feature_maps():
    """A plain nn.Sequential: feature maps and fields work; attention capture says why not."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv1d(1, 4, 8, stride=8), nn.GELU(), nn.Conv1d(4, 4, 3, padding=1), nn.Flatten(),
                        nn.Linear(4 * 32, 2))
    x = torch.rand(1, 1, 256)
    maps = feature_maps(seq, x, ["0", "2"], wavelength=4000.0 + np.arange(256))
    assert maps["0"].values.shape == (4, 32) and maps["2"].values.shape == (4, 32)
    np.testing.assert_allclose(maps["0"].wavelength[:2], [4003.5, 4011.5])
    with pytest.raises(ModelError, match="no channel-attention"):
        attention_weights(seq, x)
