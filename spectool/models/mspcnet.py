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

The 45- and 405-tap convolutions dominate the cost of the direct evaluation. With
``fast=True`` (default, for inference and training) they run through one shared FFT
(:mod:`spectool.models.fftconv`) and the block is evaluated with fewer passes over the
activations (see :meth:`MSPCBlock.forward_fast`; on CPU, inference also streams sub-batches
through each stage, see :meth:`MSPCNet.streams`); ``fast=False`` (or
:meth:`MSPCNet.set_fast`) applies the submodules literally. Both compute the same
function (tested to 1e-10 relative in float64). In inference the kernel spectra are
cached per input length (about 41 MB for ``mspcnet_sdss`` and 18 MB for
``mspcnet_lamost`` at 3584 pixels, float32).
Presets: ``mspcnet_sdss`` (depths [2,2,6,2], n_div 8: 16-channel groups, 80 identity
channels; 2,098,644 parameters at 24 classes) and ``mspcnet_lamost`` (Table 2 of the
paper: depths [4,4,8,4], n_div 16: 8-channel groups, 104 identity channels).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules import module as _nn_module

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


def _folded_norm(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(scale, shift) with ``norm(h) == h * scale + shift`` per channel for an eval-mode
    BatchNorm with running statistics; None when it normalises with batch statistics."""
    if norm.training or norm.running_mean is None:
        return None
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale


class _ConvBN(nn.Module):
    """Unpadded, bias-free Conv1d followed by BatchNorm1d (embedding and merge layers).

    With ``fast``: in eval mode the BatchNorm is folded into the convolution (one pass
    over the output instead of two), and with a single input channel (the embedding) the
    conv runs as one matmul of the kernel with the unfolded input: the same sums, without
    the very slow 1-input-channel path of the CPU convolution library.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, fast: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, stride=stride, bias=False)
        self.norm = nn.BatchNorm1d(c_out)
        self.fast = fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return self.norm(self.conv(x))
        folded = _folded_norm(self.norm)
        if self.conv.in_channels > 1:
            if folded is None:
                return self.norm(self.conv(x))
            scale, shift = folded
            weight = self.conv.weight * scale[:, None, None]
            return F.conv1d(x, weight, shift, stride=self.conv.stride)
        k, stride = self.conv.kernel_size[0], self.conv.stride[0]
        windows = x.unfold(-1, k, stride).squeeze(1).transpose(1, 2)   # (B, k, L_out)
        weight = self.conv.weight.squeeze(1)                            # (C, k)
        if folded is None:
            return self.norm(torch.matmul(weight, windows))
        scale, shift = folded
        # the folded BatchNorm's shift rides on an extra all-ones input row
        windows = torch.cat([windows, windows.new_ones(x.shape[0], 1, windows.shape[-1])], dim=1)
        weight = torch.cat([weight * scale[:, None], shift[:, None]], dim=1).to(windows.dtype)
        return torch.bmm(weight.expand(x.shape[0], -1, -1), windows)


class MSPCBlock(nn.Module):
    """One MSPC block: ``x + DropPath(MLP(PConv(x)))`` with the MLP of the module docstring.

    With ``mixer.fast`` the block runs an algebraically identical, lighter evaluation
    (see :meth:`forward_fast`); otherwise it applies its submodules one by one.
    """

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
        if self.mixer.fast:
            return self.forward_fast(x)
        y = self.eca_front(self.mixer(x))
        y = self.eca_back(self.fc2(self.act(self.norm(self.fc1(y)))))
        return x + self.drop_path(y)

    def forward_fast(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """The same function with fewer passes over the (B, C, L) activations.

        * the mixer's long kernels run through the FFT;
        * the mixed and identity channels are never concatenated: ``fc1`` is split into
          the columns acting on each, and the ECA channel weights (computed from the
          per-channel means, through ``eca_front.gate`` so hooks still see them) scale
          those columns per sample instead of the activations;
        * in eval mode the BatchNorm is folded into ``fc1`` (its shift rides on an extra
          all-ones input row), and ``x + fc2(h)`` is one fused matmul-add.

        ``inplace=True`` (only without autograd, when the caller owns ``x``) applies the
        GELU in place and adds the residual into ``x``, which is returned.
        """
        groups, ident = self.mixer.group_forward(x)
        batch, length = x.shape[0], x.shape[-1]
        dtype = groups[0].dtype
        w1 = self.fc1.weight.squeeze(-1).expand(batch, -1, -1)                  # (B, H, C)
        if isinstance(self.eca_front, ECA):
            pooled = torch.cat([g.mean(-1) for g in groups] + [ident.mean(-1)], dim=1)   # (B, C)
            w1 = w1 * self.eca_front.gate(pooled.unsqueeze(-1)).unsqueeze(1)        # gate(B, C, 1)
        folded = _folded_norm(self.norm)
        if folded is not None:
            w1 = w1 * folded[0][:, None]
        n_mixed = sum(g.shape[1] for g in groups)
        w_mixed, w_ident = w1.to(dtype).split([n_mixed, ident.shape[1]], dim=-1)
        if folded is not None:
            shift = folded[1].to(dtype)[:, None].expand(batch, -1, 1)
            w_mixed = torch.cat([w_mixed, shift], dim=-1)
            groups = [*groups, groups[0].new_ones(batch, 1, length)]
        h = torch.bmm(w_mixed, torch.cat(groups, dim=1))
        h = h.baddbmm_(w_ident, ident.to(dtype))   # h is fresh: in place is safe
        if folded is None:
            h = self.norm(h)
        h = torch.ops.aten.gelu_(h) if inplace else self.act(h)
        w2 = self.fc2.weight.squeeze(-1).to(dtype)
        if isinstance(self.eca_back, ECA) or (self.training and isinstance(self.drop_path, DropPath)):
            return x + self.drop_path(self.eca_back(torch.matmul(w2, h)))
        if inplace and x.dtype == dtype:
            return x.baddbmm_(w2.expand(batch, -1, -1), h)
        return torch.baddbmm(x.to(dtype), w2.expand(batch, -1, -1), h)


#: CPU inference streams sub-batches of about this many samples x input positions through
#: each stage, so that a block's activations stay in cache (batch 32 at 3584 px is 59 MB).
STREAM_COLUMNS = 16384


def _hooked(module: nn.Module) -> bool:
    """Whether any forward hook could observe ``module`` or its submodules."""
    if _nn_module._global_forward_hooks or _nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


class MSPCStage(nn.Module):
    """Optional merge layer (stride-2 conv + BN) followed by one MSPC block per drop-path rate."""

    def __init__(self, channels: int, merge: bool, merge_kernel: int, drop_paths: Sequence[float],
                 fast: bool = True, **block_kw) -> None:
        super().__init__()
        self.downsample = (_ConvBN(channels, channels, merge_kernel, 2, fast) if merge
                           else nn.Identity())
        self.blocks = nn.Sequential(*(MSPCBlock(channels, drop_path=p, fast=fast, **block_kw)
                                      for p in drop_paths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))

    def stream(self, x: torch.Tensor, stem: nn.Module | None = None) -> torch.Tensor:
        """``self(stem(x))`` evaluated in sub-batches of :data:`STREAM_COLUMNS` samples x
        positions with the blocks' fast path (eval mode; bypasses module hooks, so callers
        check that there are none). Without autograd the blocks work in place."""
        step = max(1, STREAM_COLUMNS // x.shape[-1])
        chunks = [self._stream(chunk, stem) for chunk in x.split(step)]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def _stream(self, x: torch.Tensor, stem: nn.Module | None) -> torch.Tensor:
        y = self.downsample(x if stem is None else stem(x))
        if torch.is_grad_enabled():
            return self.blocks(y)
        for i, block in enumerate(self.blocks):   # y is ours except a chunk of the caller's x
            y = block.forward_fast(y, inplace=i > 0 or y is not x)
        return y


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
        Run long kernels through the FFT (same function, much faster on CPU).
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
        self.embed = _ConvBN(1, embed_dim, embed_kernel, 1, fast)
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

    def set_fast(self, fast: bool) -> MSPCNet:
        """Switch every token mixer between the FFT (``True``) and direct (``False``) path."""
        for m in self.modules():
            if isinstance(m, (PartialMultiScaleConv, _ConvBN)):
                m.fast = fast
        return self

    def streams(self, x: torch.Tensor) -> bool:
        """Whether a forward pass on ``x`` streams sub-batches through the stages: inference
        (eval mode) on CPU with the fast path and no hooks attached. The function is the
        same; at batch 32 it is about 1.1-1.2x faster than one pass over the whole batch, whose
        activations (59 MB per tensor at 3584 px) do not fit in cache. With hooks the whole
        batch runs at once, so that every hook sees it in one call."""
        return (not self.training and x.device.type == "cpu" and self.stages[0].blocks[0].mixer.fast
                and not _hooked(self))

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        if self.streams(x):
            x = self.stages[0].stream(x, stem=self.embed)
            for stage in self.stages[1:]:
                x = stage.stream(x)
        else:
            x = self.stages(self.embed(x))
        return self.head_act(self.head_conv(x.mean(dim=-1, keepdim=True))).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)


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
