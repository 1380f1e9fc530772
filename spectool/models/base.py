"""The forward contract every spectool model follows.

* ``forward(x, image=None) -> (B, num_outputs)``: ``x`` is the preprocessed spectrum
  (B, 1, L); ``image`` the (B, 3, 128, 128) g,r,i cutout for models that take one.
* ``forward_features(x, image=None) -> (B, F)``: the penultimate vector (input of the
  last linear layer), used for t-SNE/UMAP.
* ``attention_modules() -> dict[str, nn.Module]``: every channel-attention module (ECA,
  SE) by its qualified name; each has a ``gate`` submodule whose forward output is the
  channel weights, so interpretability can hook ``module.gate``.
* class attributes ``task`` ("classification" | "regression"), ``preprocess`` (name of
  the :mod:`spectool.preprocess` recipe), ``input_length``, ``needs_image`` and
  ``output_names`` (class names or target names).
"""
from __future__ import annotations

import torch
import torch.nn as nn


class SpectralModel(nn.Module):
    task: str = "classification"
    preprocess: str = "mspcnet"
    input_length: int = 3584
    needs_image: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.output_names: list[str] = []

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, image))

    def attention_modules(self) -> dict[str, nn.Module]:
        return {name: m for name, m in self.named_modules() if hasattr(m, "gate") and name}
