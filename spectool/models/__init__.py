"""Model registry, architectures, save/load and pretrained models.

* ``create(name, **overrides)`` builds a registered preset; ``list_models()`` lists them:
  ``mspcnet_sdss``, ``mspcnet_lamost``, ``sscnn``, ``racnet``, ``convnext1d``,
  ``spfusion``, ``scanet_mmmm`` ... ``scanet_tttt``.
* ``save(model, path, training=..., metrics=...)`` writes safetensors weights plus the
  model card; ``load(path_or_pretrained_name)`` rebuilds the model from its card.
* ``list_pretrained()`` lists the pretrained models shipped in ``spectool/data/pretrained``.
* ``load_reference_state(model, state)`` loads weights named as in the authors' code.
* ``for_inference(model)`` returns the fastest inference-only module computing the
  model's eval-mode function (MSPC-Net: its fused copy ``model.fused()``; hooks on the
  model do not fire there), or the model itself.

Importing this package imports every architecture module, which registers its presets.
"""
from __future__ import annotations

from . import baselines, mspcnet, scanet, spfusion  # noqa: F401  (registers the presets)
from ._registry import create, list_models, register_model
from .base import SpectralModel
from .fused import for_inference
from .io import build_card, load, read_card, save
from .onnx_import import spfusion_from_onnx
from .pretrained import list_pretrained, pretrained_card
from .reference import load_reference_state

__all__ = ["SpectralModel", "build_card", "create", "for_inference", "list_models", "list_pretrained", "load",
           "load_reference_state", "pretrained_card", "read_card", "register_model", "save",
           "spfusion_from_onnx"]
