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
from spectool.models.base import SpectralModel  # noqa: E402

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


class _TinyRegressor(SpectralModel):
    """A 2-layer patchify CNN regressing one standardised target (sanity test only)."""

    task = "regression"

    def __init__(self, length: int) -> None:
        super().__init__()
        self.stem = torch.nn.Conv1d(1, 8, 16, stride=16)
        self.conv = torch.nn.Conv1d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * (length // 16), 1)
        self.output_names = ["teff"]

    def forward_features(self, x, image=None):
        return torch.relu(self.conv(torch.relu(self.stem(x)))).flatten(1)

    def forward_head(self, features):
        return self.fc(features)


@pytest.mark.slow
def test_mock_teff_importance_finds_temperature_lines():
    """On the synthetic mock SCA-Net set, Teff importance peaks sit on Balmer / metal lines."""
    import spectool.datasets

    ds = spectool.datasets.load("scanet/AFGK", size="quick")
    x = torch.tensor(np.asarray(ds.flux), dtype=torch.float32)[:, None]
    teff = torch.tensor(ds.meta["teff"].to_numpy(np.float32))
    y = (teff - teff.mean()) / teff.std()
    torch.manual_seed(0)
    model = _TinyRegressor(x.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    n_train = 360
    for _ in range(15):
        perm = torch.randperm(n_train)
        for i in range(0, n_train, 60):
            b = perm[i:i + 60]
            loss = torch.nn.functional.mse_loss(model(x[b])[:, 0], y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        rmse = torch.sqrt(torch.nn.functional.mse_loss(model(x[n_train:])[:, 0], y[n_train:])).item()
    assert rmse < 0.6, f"tiny model did not learn Teff (standardised RMSE {rmse:.2f})"
    res = sliding_window_importance(model, x[n_train:], ds.wavelength, window=15, step=15, progress=False)
    top = res.peaks("teff", n=6, lines=["balmer", "stellar"])
    assert (top.line != "").sum() >= 4, top  # ~16% of windows hold a listed line by chance
    assert top.line.str.startswith("H ").any(), top
