"""Sanity checks: explanations of a trained model point at the feature that carries the
label, and differ from those of a weight-randomised model (Adebayo et al. 2018).

The toy set is synthetic: continuum + noise + an H delta absorption line whose depth
sets the class, plus a distractor line at 4200 A whose depth is random. A tiny
patchify CNN is trained on it for a few seconds.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
from _explain_models import PatchNet  # noqa: E402

from spectool.explain import attribute, sliding_window_importance  # noqa: E402
from spectool.lines import get_lines  # noqa: E402

torch.set_num_threads(2)
GRID = 4000.0 + np.arange(256.0)  # 1 A per pixel, vacuum Angstrom
H_DELTA = get_lines("balmer", (4000, 4256))[0].vacuum  # 4102.9 A (vacuum)


def _toy_set(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    depth = np.where(label == 1, rng.uniform(0.5, 0.7, n), rng.uniform(0.0, 0.15, n))
    distractor = rng.uniform(0.0, 0.7, n)
    prof = lambda c: np.exp(-0.5 * ((GRID - c) / 3.0) ** 2)  # noqa: E731
    cont = 1.0 + 0.1 * rng.standard_normal((n, 1)) * (GRID - 4128) / 128
    flux = cont - depth[:, None] * prof(H_DELTA) - distractor[:, None] * prof(4200.0)
    flux += 0.02 * rng.standard_normal(flux.shape)
    return torch.tensor(flux, dtype=torch.float32)[:, None], torch.tensor(label)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    x, y = _toy_set(256, seed=1)
    model = PatchNet(length=256, n_classes=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt, yt = _toy_set(64, seed=2)
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    assert acc > 0.95, f"toy model did not learn the line (accuracy {acc:.2f})"
    return model, xt


def _randomised() -> PatchNet:
    """The trained architecture with fresh random weights (model-randomisation test)."""
    torch.manual_seed(123)
    return PatchNet(length=256, n_classes=2).eval()


def test_sliding_window_peak_is_the_label_line(trained):
    model, x = trained
    res = sliding_window_importance(model, x, GRID, window=15, step=5, outputs=1, progress=False)
    top = res.peaks("c1", n=1, lines="balmer")
    assert abs(top.wavelength[0] - H_DELTA) <= 7.5 and top.line[0] == "H delta"
    far = np.abs(res.wavelength - 4200.0) <= 7.5  # the distractor varies as much but carries no label
    assert res.importance[far, 0].max() < 0.5 * res.importance[:, 0].max()


def test_gradient_attributions_peak_at_the_line(trained):
    model, x = trained
    att = attribute(model, x[:16], "ig", target=1, wavelength=GRID, baselines="continuum", n_steps=24)
    profile = att.smoothed(9).mean(0)
    assert abs(GRID[profile.argmax()] - H_DELTA) <= 8


def test_randomised_model_explanations_differ(trained):
    model, x = trained
    rand = _randomised()
    a = attribute(model, x[:16], "saliency", target=1, wavelength=GRID).smoothed(9).mean(0)
    b = attribute(rand, x[:16], "saliency", target=1, wavelength=GRID).smoothed(9).mean(0)
    rho = spearmanr(a, b).statistic
    assert rho < 0.5, f"randomised model's saliency correlates with the trained one (rho={rho:.2f})"
    s_trained = sliding_window_importance(model, x, GRID, outputs=1, progress=False).importance[:, 0]
    s_rand = sliding_window_importance(rand, x, GRID, outputs=1, progress=False).importance[:, 0]
    assert abs(GRID[np.argmax(s_rand)] - H_DELTA) > 7.5 or spearmanr(s_trained, s_rand).statistic < 0.5
