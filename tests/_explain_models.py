"""Tiny known-answer models for the explain tests (captum-style toys, not paper models)."""
from __future__ import annotations

import torch
import torch.nn as nn

from spectool.models.base import SpectralModel
from spectool.models.layers import ECA, SE, LayerNorm1d


class LinearToy(SpectralModel):
    """Regression ``y_j = sum_i w_ji x_i``: every attribution has a closed form."""

    task = "regression"

    def __init__(self, length: int = 64, n_out: int = 2, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(length, n_out, bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(n_out, length, generator=g))
        self.output_names = [f"t{j}" for j in range(n_out)]
        self.input_length = length

    def forward_features(self, x, image=None):
        return x.flatten(1)

    def forward_head(self, features):
        return self.lin(features)


class PatchNet(SpectralModel):
    """ConvNeXt-like classifier: stride-8 patchify stem (local prefix), depthwise conv
    with ECA, LN, SE, flatten + linear head."""

    task = "classification"

    def __init__(self, length: int = 256, n_classes: int = 3, patch: int = 8, channels: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, channels, patch, stride=patch)
        self.dw = nn.Conv1d(channels, channels, 5, padding=2, groups=channels)
        self.eca = ECA(channels, kernel_size=3)
        self.norm = LayerNorm1d(channels)
        self.se = SE(channels, hidden=2)
        self.act = nn.GELU()
        self.head = nn.Linear(channels * (length // patch), n_classes)
        self.output_names = [f"c{j}" for j in range(n_classes)]
        self.input_length = length

    def forward_features(self, x, image=None):
        h = self.stem(x)
        h = h + self.eca(self.act(self.dw(h)))
        h = self.se(self.norm(h))
        return h.flatten(1)

    def forward_head(self, features):
        return self.head(features)


class InputSkipNet(PatchNet):
    """PatchNet that also reads its raw input after the stem (breaks a prefix cache)."""

    def forward_features(self, x, image=None):
        h = self.stem(x)
        h = h + x[:, :, :: self.stem.stride[0]]
        return self.se(self.norm(h + self.eca(self.act(self.dw(h))))).flatten(1)


class ImageNet(PatchNet):
    """PatchNet that also takes a (B, 3, H, W) image (adds its mean to the logits)."""

    needs_image = True

    def forward(self, x, image=None):
        return self.forward_head(self.forward_features(x)) + image.mean(dim=(1, 2, 3))[:, None]
