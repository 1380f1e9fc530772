"""The comparison models of the MSPC-Net paper: SSCNN, RAC-Net and ConvNeXt-1D.

These follow the authors' comparison implementations
(``qintianjian-lab/Spectrum-Classification-Models`` @ 44a02b8). Conventions shared by
all three: every conv and linear layer has a bias; PyTorch 'same' padding (an even kernel
such as 16 pads 7 zeros left and 8 right); flatten is channel-major
(feature = channel * length + position). The flattened sizes are computed from the real
layer output lengths for the given ``input_length`` (the authors' ConvNeXt formula is
only right for multiples of 256).

Parameter counts at 24 classes and 3584 pixels: SSCNN 7,481,560, RAC-Net 759,192,
ConvNeXt-1D 573,288. :data:`LARGE_PARAMETER_OVERRIDES` builds the wider
"large-parameter" RAC-Net / ConvNeXt of the paper's Appendix B (Table 18).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..errors import ModelError
from ._registry import register_model
from .base import SpectralModel
from .layers import Conv1dSame, LayerNorm1d


def _class_names(num_classes: int, classes: Sequence[str] | None) -> list[str]:
    return list(classes) if classes is not None else [f"class_{i}" for i in range(num_classes)]


#: Weight initialisations of SSCNN and RAC-Net: ``"torch"`` (PyTorch's layer defaults, as in the
#: authors' comparison code) or ``"kaiming"`` (He-normal for ReLU on every hidden conv and
#: linear weight, zero biases, and a zero output layer, so the untrained network answers its
#: output bias for every spectrum: the mean label once ``loss.init_bias`` has set it).
INITS = ("torch", "kaiming")


def _initialise(model: nn.Module, init: str, output: nn.Linear) -> None:
    """Apply weight initialisation ``init`` (:data:`INITS`) to ``model`` in place.

    Under PyTorch's default (uniform with variance 1 / (3 fan_in)) each ReLU layer of SSCNN
    shrinks the signal about 2.4 x. On the min-max red-clump spectra of SPFusion's mock (stars
    that differ little) the slim SSCNN's features then vary by 0.0013 (standard deviation over
    stars) at initialisation, against 0.17 with He initialisation; within ten Adam steps its
    ReLUs die, and as a regressor it stays at the mean label (measured: 30 epochs at the best
    constant). He initialisation keeps the variance through the ReLUs; the zero output layer
    keeps those large random features from giving large random first predictions, which
    the network would otherwise unlearn by flattening its features again (RAC-Net: initial
    loss 3000 x that of the mean)."""
    if init not in INITS:
        raise ModelError(f"init must be one of {INITS}, got {init!r}", "init")
    if init == "torch" or output.weight.is_meta:  # meta tensors (built for their shape) hold no values
        return
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    nn.init.zeros_(output.weight)


class _FlattenHeadModel(SpectralModel):
    """Shared input check for models whose flatten head fixes the input length."""

    preprocess = "mspcnet"

    def _check_length(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != 1 or x.shape[-1] != self.input_length:
            raise ModelError(f"{type(self).__name__} expects input (B, 1, {self.input_length}), got "
                             f"{tuple(x.shape)}; build it with input_length={x.shape[-1]}", "x")


class SSCNN(_FlattenHeadModel):
    """SSCNN (Liu et al. 2019): four 'same' convs with ReLU, two max-pools, two FC layers.

    conv(1->c0) conv(c0->c0) pool | conv(c0->c1) conv(c1->c1) pool | flatten -> FC(fc_hidden)
    -> ReLU -> FC(classes). No normalisation, no dropout. ``init``: :data:`INITS`.
    """

    def __init__(self, num_classes: int = 7, classes: Sequence[str] | None = None,
                 input_length: int = 3584, channels: Sequence[int] = (64, 32), kernel_size: int = 16,
                 pool: int = 4, fc_hidden: int = 1024, init: str = "torch") -> None:
        super().__init__()
        self.output_names = _class_names(num_classes, classes)
        self.input_length = input_length
        layers: list[nn.Module] = []
        c_in, length = 1, input_length
        for c in channels:
            layers += [Conv1dSame(c_in, c, kernel_size), nn.ReLU(),
                       Conv1dSame(c, c, kernel_size), nn.ReLU(), nn.MaxPool1d(pool, pool)]
            c_in, length = c, length // pool
        if length < 1:
            raise ModelError(f"input_length={input_length} is too short for {len(channels)} pools of {pool}",
                             "input_length")
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(c_in * length, fc_hidden)
        self.act = nn.ReLU()
        self.fc = nn.Linear(fc_hidden, len(self.output_names))
        _initialise(self, init, self.fc)

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        self._check_length(x)
        return self.act(self.fc1(self.features(x).flatten(1)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


class _RACGate(nn.Module):
    """RAC channel weights (B, C): sigmoid(Conv1x1(concat[global max, global mean]))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv1d(2 * channels, channels, 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([a.amax(dim=-1, keepdim=True), a.mean(dim=-1, keepdim=True)], dim=1)
        return torch.sigmoid(self.fc(pooled)).squeeze(-1)


class RACAttention(nn.Module):
    """RAC-Net's channel attention: ``a = Conv1x1(x)``, output ``a * gate(a)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv1d(channels, channels, 1)
        self.gate = _RACGate(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.proj(x)
        return a * self.gate(a).unsqueeze(-1)


class RACBlock(nn.Module):
    """Residual attention conv block, followed by MaxPool(2).

    main: conv3 -> ReLU -> BN -> conv3 -> ReLU -> BN -> conv3 -> ReLU -> attention;
    out = MaxPool2(ReLU(main + Conv1x1(x))).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.conv3 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.attn = RACAttention(c_out)
        self.shortcut = nn.Conv1d(c_in, c_out, 1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool1d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn1(self.act(self.conv1(x)))
        y = self.bn2(self.act(self.conv2(y)))
        y = self.attn(self.act(self.conv3(y)))
        return self.pool(self.act(y + self.shortcut(x)))


class RACNet(_FlattenHeadModel):
    """RAC-Net (Zou et al. 2020): eight RAC blocks, flatten, FC(fc_hidden) -> ReLU -> FC.
    ``init``: :data:`INITS`."""

    def __init__(self, num_classes: int = 7, classes: Sequence[str] | None = None,
                 input_length: int = 3584, widths: Sequence[int] = (16, 16, 32, 32, 64, 64, 128, 128),
                 fc_hidden: int = 128, init: str = "torch") -> None:
        super().__init__()
        self.output_names = _class_names(num_classes, classes)
        self.input_length = input_length
        chans = [1, *widths]
        self.blocks = nn.Sequential(*(RACBlock(a, b) for a, b in zip(chans[:-1], chans[1:])))
        length = input_length >> len(widths)
        if length < 1:
            raise ModelError(f"input_length={input_length} is too short for {len(widths)} halvings",
                             "input_length")
        self.fc1 = nn.Linear(widths[-1] * length, fc_hidden)
        self.act = nn.ReLU()
        self.fc = nn.Linear(fc_hidden, len(self.output_names))
        _initialise(self, init, self.fc)

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        self._check_length(x)
        return self.act(self.fc1(self.blocks(x).flatten(1)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


class ConvNeXtBlock1d(nn.Module):
    """Depthwise conv (k, 'same') -> channels-first LN -> Conv1x1(4C) -> GELU -> Conv1x1(C)
    -> Dropout, plus the input (no layer scale, no drop path)."""

    def __init__(self, channels: int, kernel_size: int, mlp_ratio: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.dwconv = Conv1dSame(channels, channels, kernel_size, groups=channels)
        self.norm = LayerNorm1d(channels, eps)
        self.fc1 = nn.Conv1d(channels, mlp_ratio * channels, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv1d(mlp_ratio * channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.fc2(self.act(self.fc1(self.norm(self.dwconv(x))))))


class ConvNeXtStage1d(nn.Module):
    """Blocks -> channels-first LN -> optional Conv(k2, s2) downsample to the next width."""

    def __init__(self, channels: int, depth: int, next_channels: int | None, **block_kw) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ConvNeXtBlock1d(channels, **block_kw) for _ in range(depth)))
        self.norm = LayerNorm1d(channels, block_kw["eps"])
        self.downsample = nn.Conv1d(channels, next_channels, 2, 2) if next_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.norm(self.blocks(x)))


class ConvNeXt1D(_FlattenHeadModel):
    """ConvNeXt-1D of the MSPC-Net comparison (not the original ConvNeXt).

    Stem Conv1d(1 -> dims[0], k=stem, stride=stem) without norm; stages of ``depths`` blocks
    with widths ``dims`` (64, 128, 32, 16), each ending with LN and, except the last, a
    k2/s2 conv to the next width; flatten -> Linear. No global pooling, no final norm.
    """

    def __init__(self, num_classes: int = 7, classes: Sequence[str] | None = None,
                 input_length: int = 3584, dims: Sequence[int] = (64, 128, 32, 16),
                 depths: Sequence[int] = (3, 3, 3, 3), stem_kernel: int = 32, kernel_size: int = 16,
                 mlp_ratio: int = 4, dropout: float = 0.2, eps: float = 1e-6) -> None:
        super().__init__()
        if len(dims) != len(depths):
            raise ModelError(f"dims ({len(dims)}) and depths ({len(depths)}) differ in length", "dims")
        self.output_names = _class_names(num_classes, classes)
        self.input_length = input_length
        self.stem = nn.Conv1d(1, dims[0], stem_kernel, stem_kernel)
        nexts = [*dims[1:], None]
        self.stages = nn.Sequential(*(
            ConvNeXtStage1d(c, d, n, kernel_size=kernel_size, mlp_ratio=mlp_ratio, dropout=dropout, eps=eps)
            for c, d, n in zip(dims, depths, nexts)))
        length = (input_length - stem_kernel) // stem_kernel + 1
        for _ in dims[1:]:
            length = (length - 2) // 2 + 1
        if length < 1:
            raise ModelError(f"input_length={input_length} is too short for ConvNeXt1D", "input_length")
        self.fc = nn.Linear(dims[-1] * length, len(self.output_names))

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        self._check_length(x)
        return self.stages(self.stem(x)).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


#: Overrides for the "large-parameter" versions of Appendix B (Table 18), sized to MSPC-Net:
#: RAC-Net widths x1.75 with a 160-unit FC layer (2,112,088 parameters at 24 classes) and
#: ConvNeXt-1D widths x2 with depths (3, 5, 5, 3) (3,371,704). The paper prints only the
#: sizes (2.1M, 3.4M), not the structures; these overrides match the sizes.
LARGE_PARAMETER_OVERRIDES: dict[str, dict] = {
    "racnet": {"widths": (28, 28, 56, 56, 112, 112, 224, 224), "fc_hidden": 160},
    "convnext1d": {"dims": (128, 256, 64, 32), "depths": (3, 5, 5, 3)},
}


@register_model
def sscnn(**overrides) -> SSCNN:
    """SSCNN (Liu et al. 2019) as in the MSPC-Net comparison; 7,481,560 parameters at 24 classes."""
    return SSCNN(**overrides)


@register_model
def racnet(**overrides) -> RACNet:
    """RAC-Net (Zou et al. 2020) as in the MSPC-Net comparison; 759,192 parameters at 24 classes."""
    return RACNet(**overrides)


@register_model
def convnext1d(**overrides) -> ConvNeXt1D:
    """ConvNeXt-1D as in the MSPC-Net comparison; 573,288 parameters at 24 classes."""
    return ConvNeXt1D(**overrides)
