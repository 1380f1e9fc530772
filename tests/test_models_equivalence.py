"""Equivalence with the authors' reference code (fixtures in shared/reference/classifiers).

Each fixture holds reference weights, an input batch (3, 1, 3584) and the reference
logits/features in float64 and float32 (see the README there). We load the weights into
spectool's modules through the explicit key mapping and reproduce the outputs, for
MSPC-Net's direct and FFT token mixers and for its fused inference copy (``fused()``). The float64 tolerance (1e-10) is far below
the smallest implementation mistake the README lists (BatchNorm eps 1e-6: 6.7e-7).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

import spectool.models as models
from spectool.models.reference import load_reference_state

from conftest import shared_path

torch.set_num_threads(2)

FIXTURES = {   # fixture -> (preset, overrides besides num_classes)
    "mspcnet_sdss": ("mspcnet_sdss", {}),
    "mspcnet_ndiv16": ("mspcnet_sdss", {"n_div": 16}),
    "sscnn": ("sscnn", {}),
    "racnet": ("racnet", {}),
    "convnext1d": ("convnext1d", {}),
}
ATOL_F64 = 1e-10
# float32 vs the float64 reference: README's recommendation (reference f32 noise <= 5.6e-7)
ATOL_F32 = {"convnext1d": (5e-6, 1.5e-5)}
ATOL_F32_DEFAULT = (1e-6, 3e-6)


def _fixture(name: str) -> dict[str, np.ndarray]:
    path = shared_path("reference", "classifiers", f"{name}.npz")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _model(name: str, fixture: dict[str, np.ndarray], path: str) -> nn.Module:
    """``path``: "direct" (literal convolutions), "fft" (MSPC-Net's FFT mixer, the default)
    or "fused" (MSPC-Net's fused inference copy, built at the dtype it is run in)."""
    preset, overrides = FIXTURES[name]
    meta = json.loads(str(fixture["meta"]))
    if preset.startswith("mspcnet"):
        overrides = {**overrides, "fast": path != "direct"}
    model = models.create(preset, num_classes=meta["num_classes"], **overrides)
    load_reference_state(model, fixture)
    model.eval()
    model.fused_path = path == "fused"
    return model


def _run(model: nn.Module, x: np.ndarray, dtype: torch.dtype) -> tuple[np.ndarray, np.ndarray]:
    model = model.to(dtype)
    if model.fused_path:
        model = model.fused()
    with torch.no_grad():
        features = model.forward_features(torch.from_numpy(x).to(dtype))
        logits = model.forward_head(features)
    return logits.double().numpy(), features.double().numpy()


def _cases():
    for name, (preset, _) in FIXTURES.items():
        for path in (("fft", "direct", "fused") if preset.startswith("mspcnet") else ("direct",)):
            yield pytest.param(name, path, id=f"{name}-{path}")


@pytest.mark.parametrize("name, path", list(_cases()))
def test_reference_equivalence(name, path):
    fixture = _fixture(name)
    meta = json.loads(str(fixture["meta"]))
    model = _model(name, fixture, path)
    assert sum(p.numel() for p in model.parameters()) == meta["trainable_parameters"]

    logits, features = _run(model, fixture["input"], torch.float64)
    np.testing.assert_allclose(logits, fixture["logits_f64"], rtol=0, atol=ATOL_F64)
    np.testing.assert_allclose(features, fixture["features_f64"], rtol=0, atol=ATOL_F64)

    atol_logits, atol_features = ATOL_F32.get(name, ATOL_F32_DEFAULT)
    logits, features = _run(model, fixture["input"], torch.float32)
    np.testing.assert_allclose(logits, fixture["logits_f64"], rtol=0, atol=atol_logits)
    np.testing.assert_allclose(features, fixture["features_f64"], rtol=0, atol=atol_features)
    np.testing.assert_allclose(logits, fixture["logits_f32"], rtol=0, atol=atol_logits)


def _bn_eps_1e6(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.eps = 1e-6


def _gelu_tanh(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.GELU):
            m.approximate = "tanh"


@pytest.mark.parametrize("mutate", [_bn_eps_1e6, _gelu_tanh], ids=["bn-eps-1e-6", "gelu-tanh"])
def test_tolerance_catches_smallest_mutations(mutate):
    """The README's two smallest MSPC-Net mutations must fail the float64 tolerance."""
    fixture = _fixture("mspcnet_sdss")
    model = _model("mspcnet_sdss", fixture, "fft")
    mutate(model)
    logits, features = _run(model, fixture["input"], torch.float64)
    assert np.abs(logits - fixture["logits_f64"]).max() > 100 * ATOL_F64
    assert np.abs(features - fixture["features_f64"]).max() > 100 * ATOL_F64
