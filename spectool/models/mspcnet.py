"""MSPC-Net (Wu et al. 2024): multiscale partial-convolution network for 1-D spectra.

Structure (following the authors' code, ``qintianjian-lab/MSPC-Net`` @ 8ea0293)::

    embed   Conv1d(1 -> C, k=3, stride 1, no padding, no bias) -> BatchNorm        3584 -> 3582
    stage 1 blocks
    merge   Conv1d(C -> C, k=3, stride 2, no padding, no bias) -> BatchNorm        -> 1790
    stage 2 blocks, merge (-> 894), stage 3 blocks, merge (-> 446), stage 4 blocks
    head    global mean -> Conv1d(C -> 1024, k=1, no bias) -> GELU -> Linear(1024 -> classes)

Block (FasterNet style, shortcut taken *before* the token mixer)::

    out = x + DropPath(MLP(PConv(x)))
    PConv: channel group g (g = 0, 1, 2, each C // n_div channels) gets a dense
           Conv1d(k_g, 'same' padding, no bias); the remaining channels pass unchanged.
    MLP:   [ECA] -> Conv1x1(C -> C*r) -> BatchNorm -> GELU -> Conv1x1(C*r -> C) [-> ECA]

``forward`` applies the submodules one by one in every mode (every submodule's hooks
fire). The 45- and 405-tap convolutions dominate the cost of the direct evaluation; with
``fast=True`` (default) the token mixer runs them through one shared FFT
(:mod:`spectool.models.fftconv`) inside its own ``forward``; ``fast=False`` uses the
direct convolution. Both compute the same function (tested to 1e-10 relative in
float64). Without autograd the kernel spectra are cached per input length (about 41 MB
for ``mspcnet_sdss`` and 18 MB for ``mspcnet_lamost`` at 3584 pixels, float32).
Fast CPU inference is a separate, explicit copy: :meth:`MSPCNet.fused` (see
:mod:`spectool.models.fused`), which :func:`spectool.models.for_inference` returns.
Presets: ``mspcnet_sdss`` (depths [2,2,6,2], n_div 8: 16-channel groups, 80 identity
channels; 2,098,644 parameters at 24 classes) and ``mspcnet_lamost`` (Table 2 of the
paper: depths [4,4,8,4], n_div 16: 8-channel groups, 104 identity channels).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ..errors import ModelError
from ._registry import register_model
from .base import SpectralModel
from .fftconv import grouped_conv1d_same
from .layers import ECA, DropPath

ATTENTION_CHOICES = ("none", "eca", "eca_back")


class PartialMultiScaleConv(nn.Module):
    """MSPC token mixer: dense 'same' convs on leading channel groups, identity on the rest.

    Group ``g`` covers channels ``[g * c_d, (g + 1) * c_d)`` with ``c_d = channels // n_div``
    and kernel ``kernel_sizes[g]``; channels from ``len(kernel_sizes) * c_d`` on are passed
    through untouched. There is no norm, activation or bias.
    """

    def __init__(self, channels: int, n_div: int, kernel_sizes: Sequence[int], fast: bool = True) -> None:
        super().__init__()
        if n_div < len(kernel_sizes):
            raise ModelError(f"n_div={n_div} must be >= the number of kernel groups ({len(kernel_sizes)})",
                             "n_div")
        self.group = channels // n_div
        if self.group < 1:
            raise ModelError(f"n_div={n_div} leaves no channel per group at {channels} channels", "n_div")
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.fast = fast
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(self.group, self.group, k)) for k in self.kernel_sizes)
        for w in self.weights:  # Conv1d's default initialisation
            nn.init.kaiming_uniform_(w, a=5 ** 0.5)
        # kernel spectra reused across inference calls (not state: rebuilt from the weights)
        self._spectra: dict = {}

    def group_forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """([output of each kernel group (B, group, L)], untouched channels (B, rest, L))."""
        n_groups = len(self.weights)
        # one split (not slices): its backward is a single concatenation
        *groups, ident = x.split([self.group] * n_groups + [x.shape[1] - n_groups * self.group], dim=1)
        return grouped_conv1d_same(groups, list(self.weights), self.fast, self._spectra), ident

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed, ident = self.group_forward(x)
        return torch.cat([*mixed, ident], dim=1)

    def extra_repr(self) -> str:
        return f"group={self.group}, kernel_sizes={self.kernel_sizes}, fast={self.fast}"


class _ConvBN(nn.Module):
    """Unpadded, bias-free Conv1d followed by BatchNorm1d (embedding and merge layers)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, stride=stride, bias=False)
        self.norm = nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class MSPCBlock(nn.Module):
    """One MSPC block: ``x + DropPath(MLP(PConv(x)))`` with the MLP of the module docstring,
    applied submodule by submodule (every submodule's hooks fire)."""

    def __init__(self, channels: int, n_div: int, kernel_sizes: Sequence[int], mlp_ratio: float,
                 attention: str, drop_path: float, fast: bool) -> None:
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.mixer = PartialMultiScaleConv(channels, n_div, kernel_sizes, fast)
        self.eca_front = ECA(channels) if attention == "eca" else nn.Identity()
        self.fc1 = nn.Conv1d(channels, hidden, 1, bias=False)
        self.norm = nn.BatchNorm1d(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv1d(hidden, channels, 1, bias=False)
        self.eca_back = ECA(channels) if attention == "eca_back" else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.eca_front(self.mixer(x))
        y = self.eca_back(self.fc2(self.act(self.norm(self.fc1(y)))))
        return x + self.drop_path(y)


class MSPCStage(nn.Module):
    """Optional merge layer (stride-2 conv + BN) followed by one MSPC block per drop-path rate."""

    def __init__(self, channels: int, merge: bool, merge_kernel: int, drop_paths: Sequence[float],
                 fast: bool = True, **block_kw) -> None:
        super().__init__()
        self.downsample = _ConvBN(channels, channels, merge_kernel, 2) if merge else nn.Identity()
        self.blocks = nn.Sequential(*(MSPCBlock(channels, drop_path=p, fast=fast, **block_kw)
                                      for p in drop_paths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class MSPCNet(SpectralModel):
    """MSPC-Net classifier for (B, 1, L) spectra (any L >= ~24; the papers use 3584).

    Parameters
    ----------
    num_classes
        Number of output classes (ignored when ``classes`` is given).
    classes
        Class names in output order (become ``output_names``).
    depths
        Blocks per stage (4 stages in the paper; any number >= 1 works).
    embed_dim
        Channels C, constant through the network (Table 7(c): 64 / 128 / 256).
    n_div
        Each kernel group has ``C // n_div`` channels; the identity ratio is
        ``1 - len(kernel_sizes) / n_div`` for C divisible by ``n_div`` (n_div 8 -> 5/8,
        16 -> 13/16, 4 -> 1/4, 3 -> ~0).
    kernel_sizes
        One kernel size per group (paper: 5, 45, 405; Table 7(b) ablations e.g. 3, 9, 27).
    mlp_ratio
        Hidden width of the channel MLP as a multiple of C.
    attention
        ``"eca"`` (ECA before the MLP, the paper/code default ``ECA_F``), ``"eca_back"``
        (after the MLP, ``ECA_B``) or ``"none"`` (Table 7(d)).
    drop_path_rate
        Stochastic depth, linearly increasing from 0 over all blocks.
    head_dim
        Width of the head's 1x1 conv (the penultimate feature size).
    embed_kernel, merge_kernel
        Kernel sizes of the unpadded embedding (stride 1) and merge (stride 2) convs.
    fast
        Run the mixer's long kernels through the FFT (same function, much faster on CPU;
        stored in the model card, so it is kept across save/load).
    """

    preprocess = "mspcnet"
    input_length = 3584

    def __init__(self, num_classes: int = 7, classes: Sequence[str] | None = None,
                 depths: Sequence[int] = (2, 2, 6, 2), embed_dim: int = 128, n_div: int = 8,
                 kernel_sizes: Sequence[int] = (5, 45, 405), mlp_ratio: float = 1.0,
                 attention: str = "eca", drop_path_rate: float = 0.2, head_dim: int = 1024,
                 embed_kernel: int = 3, merge_kernel: int = 3, fast: bool = True) -> None:
        super().__init__()
        if attention not in ATTENTION_CHOICES:
            raise ModelError(f"unknown attention {attention!r}; choose one of {ATTENTION_CHOICES}", "attention")
        if not depths or min(depths) < 1:
            raise ModelError(f"depths must be a non-empty list of positive ints, got {list(depths)}", "depths")
        self.output_names = list(classes) if classes is not None else [f"class_{i}" for i in range(num_classes)]
        self.config = dict(depths=list(depths), embed_dim=embed_dim, n_div=n_div,
                           kernel_sizes=list(kernel_sizes), mlp_ratio=mlp_ratio, attention=attention,
                           drop_path_rate=drop_path_rate, head_dim=head_dim)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.embed = _ConvBN(1, embed_dim, embed_kernel, 1)
        stages, start = [], 0
        for i, depth in enumerate(depths):
            stages.append(MSPCStage(embed_dim, merge=i > 0, merge_kernel=merge_kernel,
                                    drop_paths=rates[start:start + depth], n_div=n_div,
                                    kernel_sizes=kernel_sizes, mlp_ratio=mlp_ratio,
                                    attention=attention, fast=fast))
            start += depth
        self.stages = nn.Sequential(*stages)
        self.head_conv = nn.Conv1d(embed_dim, head_dim, 1, bias=False)
        self.head_act = nn.GELU()
        self.fc = nn.Linear(head_dim, len(self.output_names))

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        x = self.stages(self.embed(x))
        return self.head_act(self.head_conv(x.mean(dim=-1, keepdim=True))).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)

    def fused(self) -> nn.Module:
        """An inference-only copy of this model's eval-mode function, several times faster
        on CPU (see :class:`spectool.models.fused.FusedMSPCNet`): BatchNorms folded, one
        FFT for the long kernels, streamed sub-batches and in-place ops. A snapshot of the
        current weights, without this model's submodules: hooks registered here do not
        see it. Use it through :func:`spectool.models.for_inference`."""
        from .fused import FusedMSPCNet

        return FusedMSPCNet(self)


@register_model
def mspcnet_sdss(**overrides) -> MSPCNet:
    """MSPC-Net for SDSS: depths [2,2,6,2], C 128, kernels 5/45/405 on 16-channel groups
    (n_div 8, identity 80 of 128 channels), MLP ratio 1, ECA before the MLP.

    2,098,644 parameters at 24 classes (paper: 2.1M).
    """
    return MSPCNet(**{"depths": (2, 2, 6, 2), "n_div": 8, "mlp_ratio": 1.0, **overrides})


@register_model
def mspcnet_lamost(**overrides) -> MSPCNet:
    """MSPC-Net for LAMOST (paper Table 2): depths [4,4,8,4], kernels 5/45/405 on 8-channel
    groups (n_div 16, identity 104 of 128 channels), ECA before the MLP.

    The MLP ratio is not printed in Table 2; ratio 2 is the value that reproduces the
    paper's sizes: 2.2M here (2,189,546 at 6 classes) and, in Table 13, 3.9M / 10.9M /
    17.7M for n_div 8 / 4 / 3.
    """
    return MSPCNet(**{"num_classes": 6, "depths": (4, 4, 8, 4), "n_div": 16, "mlp_ratio": 2.0, **overrides})
