"""The explain tools on the registry's paper models (small or default sizes, random weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import spectool.models as models
from spectool.errors import ModelError
from spectool.explain import (
    SPFUSION_GROUPS,
    attention_overlay,
    attention_weights,
    attribute,
    feature_maps,
    receptive_field,
    sliding_window_importance,
)

torch.set_num_threads(2)


def _create(name: str, **kw):
    assert name in models.list_models(), f"model {name} is not registered"
    torch.manual_seed(0)
    return models.create(name, **kw).eval()


def test_convnext1d_sliding_windows_and_fields():
    model = _create("convnext1d", num_classes=3, input_length=512)
    x = torch.rand(2, 1, 512)
    grid = 4000.0 + np.arange(512)
    res = sliding_window_importance(model, x, grid, progress=False, batch_size=40)
    assert res.importance.shape == (len(res.pixels), 3) and np.all(res.importance >= 0)
    np.testing.assert_allclose(res.importance, sliding_window_importance(model, x, grid, progress=False).importance,
                               rtol=0, atol=1e-7)   # the batch size changes nothing
    full = _create("convnext1d", num_classes=3)
    rf = receptive_field(full, "stages.0")  # documented: start -672, jump 64, field 1504 px
    assert (rf.start, rf.jump, rf.size, rf.n_positions) == (-672, 64, 1504, 56)


def test_mspcnet_eca_everywhere_fields_and_feature_maps():
    model = _create("mspcnet_sdss", num_classes=7)
    x = torch.rand(2, 1, 3584)
    rec = attention_weights(model, x)
    assert len(rec.layers) == 12 and all(w.shape == (2, 128) for w in rec.weights.values())
    emb = receptive_field(model, "embed")
    assert (emb.start, emb.jump, emb.size, emb.n_positions) == (0, 1, 3, 3582)
    st1 = receptive_field(model, "stages.0")  # 2 MSPC blocks, k=405 branch: 3 + 2 * 404 px
    assert (st1.start, st1.jump, st1.size) == (-404, 1, 811)
    grid = np.geomspace(4000, 9000, 3584)
    maps = feature_maps(model, x[:1], ["embed", "stages.0.blocks.0.mixer"], wavelength=grid)  # default build
    assert maps["stages.0.blocks.0.mixer"].values.shape == (128, 3582)
    np.testing.assert_array_equal(maps["stages.0.blocks.0.mixer"].values[48:], maps["embed"].values[48:])


def test_spfusion_head_se_groups_and_overlay():
    model = _create("spfusion")
    x, img = torch.rand(1, 1, 3584), torch.rand(1, 3, 128, 128)
    rec = attention_weights(model, x, image=img)
    assert rec.weights["head.se"].shape == (1, 96) and max(hi for _, hi in SPFUSION_GROUPS.values()) == 96
    grid = np.full(3584, np.nan)
    grid[31:3553] = np.linspace(3700, 9000, 3522)  # min-max spectrum zero-padded symmetrically
    ov = attention_overlay(model, x, "head.se", wavelength=grid, channels="spectral", image=img,
                           wavelength_range=(None, 5500))
    assert ov.field.n_positions == 28 and ov.field.mixes_positions
    np.testing.assert_array_equal(ov.field.footprints()[1], [128, 256])  # 128 input pixels per position
    assert ov.wavelength.max() <= 5500 and np.isfinite(ov.weight).all()
    assert all(ln.vacuum < 5500 for ln in ov.lines) and ov.lines


def test_scanet_folds_inside_so_attributions_are_1d():
    model = _create("scanet_mmtt", channels=(8, 16, 16, 32, 32), blocks=(1, 1, 1, 1, 1), heads=2, dim_head=8)
    x = torch.rand(2, 1, 4096)
    grid = np.linspace(4000, 8095, 4096)
    att = attribute(model, x, "saliency", target="logg", wavelength=grid)
    assert att.values.shape == (2, 4096) and att.target == "logg" and np.abs(att.values).sum() > 0
    rec = attention_weights(model, x)
    assert rec.layers and all(w.shape[0] == 2 for w in rec.weights.values())  # MBConv SE on 2-D maps
