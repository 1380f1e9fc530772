"""Model registry: ``@register_model`` on a small builder function per preset (timm style)."""
from __future__ import annotations

import fnmatch
from typing import Callable

import torch.nn as nn

from ..errors import ModelError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its function name; ``fn(**overrides)`` builds the model."""
    _MODELS[fn.__name__] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob ``pattern`` (e.g. ``"scanet_*"``)."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create(name: str, **overrides) -> nn.Module:
    """Build the preset ``name`` with keyword ``overrides`` (``None`` values are ignored)."""
    if name not in _MODELS:
        raise ModelError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    try:
        model = _MODELS[name](**kwargs)
    except TypeError as exc:
        raise ModelError(f"bad options for {name!r}: {exc}") from exc
    model.model_name = name
    model.model_overrides = kwargs
    return model
