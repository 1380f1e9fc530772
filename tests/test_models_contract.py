"""The forward contract of every registered model (``spectool.models.list_models()``), small sizes, random weights.

For each model: ``forward(x)`` (plus ``image`` when the model declares ``needs_image``) gives one finite
row per spectrum and one column per output name; it equals ``forward_head(forward_features(x))``;
every submodule's forward hook fires in eval and in train mode (no fused path that bypasses modules);
in eval mode a spectrum's output does not depend on the rest of the batch.
"""
from __future__ import annotations

import pytest
import torch

import spectool.models as models

torch.set_num_threads(2)

#: Small sizes so the whole registry runs in seconds; a model not listed runs at its default size.
SMALL = {
    "mspcnet_": {"depths": (1, 1, 1, 1)},
    "scanet_": {"channels": (8, 16, 16, 32, 32), "blocks": (1, 1, 1, 1, 1), "heads": 2, "dim_head": 8},
    "sscnn": {"input_length": 512}, "racnet": {"input_length": 512},
    "convnext1d": {"input_length": 512, "depths": (1, 1, 1, 1)},
}


def _small(name: str) -> torch.nn.Module:
    kw = next((v for k, v in SMALL.items() if name.startswith(k)), {})
    torch.manual_seed(0)
    return models.create(name, **kw)


def _inputs(model, n: int = 2) -> tuple:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 1, model.input_length, generator=g)
    if getattr(model, "needs_image", False):
        return x, torch.rand(n, 3, 128, 128, generator=g)
    return (x,)


def test_registry_is_not_empty():
    assert len(models.list_models()) >= 6


def _hooked_forward(model, args) -> tuple[torch.Tensor, list[str]]:
    """``model(*args)`` with a forward hook on every submodule that has a forward (containers such as
    ModuleList/ModuleDict/ParameterList are never called); returns the output and the submodules whose
    hook never fired."""
    containers = (torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.ParameterList, torch.nn.ParameterDict)
    fired: set[str] = set()
    mods = {key: m for key, m in model.named_modules() if key and not isinstance(m, containers)}
    handles = [m.register_forward_hook(lambda mod, i, o, key=key: fired.add(key)) for key, m in mods.items()]
    try:
        out = model(*args)
    finally:
        for h in handles:
            h.remove()
    return out, sorted(set(mods) - fired)


@pytest.mark.parametrize("name", models.list_models())
def test_forward_contract(name):
    model = _small(name).eval()
    args = _inputs(model)
    with torch.no_grad():
        out = model(*args)
        assert out.shape == (len(args[0]), len(model.output_names)) and torch.isfinite(out).all()
        torch.testing.assert_close(model.forward_head(model.forward_features(*args)), out)
        alone = model(*(a[:1] for a in args))
    torch.testing.assert_close(alone, out[:1], rtol=1e-4, atol=1e-5)  # eval: rows do not interact


@pytest.mark.parametrize("name", models.list_models())
def test_every_submodule_hook_fires_in_eval_and_train(name):
    model = _small(name)
    args = _inputs(model)
    with torch.no_grad():
        out, silent_eval = _hooked_forward(model.eval(), args)
        torch.testing.assert_close(out, model(*args))  # hooks change nothing
    _, silent_train = _hooked_forward(model.train(), args)
    assert silent_eval == [] and silent_train == [], (
        f"{name}: forward hooks never fired in eval on {silent_eval}, in train on {silent_train}")
