"""Layers shared by the spectool architectures.

Every layer here works on channels-first tensors ``(B, C, *spatial)`` of any spatial
rank (1-D spectra ``(B, C, L)`` and 2-D folded spectra/images ``(B, C, H, W)``).

Channel-attention modules (:class:`ECA`, :class:`SE`) expose a ``gate`` submodule:
``gate(x)`` maps the feature map ``x`` to the channel weights ``(B, C)`` in (0, 1), so
interpretability code can hook ``module.gate`` and read the weights directly.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _broadcast_channels(weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape ``(B, C)`` channel weights so they broadcast against ``x`` (B, C, *spatial)."""
    return weights.reshape(weights.shape + (1,) * (x.dim() - 2))


def _global_avg(x: torch.Tensor) -> torch.Tensor:
    """Mean over every spatial axis: ``(B, C, *spatial) -> (B, C)``."""
    return x.flatten(2).mean(dim=2)


class LayerNorm1d(nn.Module):
    """Channels-first LayerNorm: at every position, normalise across the C channels.

    Uses the biased variance with ``eps`` inside the square root, then a per-channel
    affine ``weight``/``bias`` (shape ``(C,)``). This is the ConvNeXt "channels_first"
    LayerNorm (default ``eps`` 1e-6), valid for ``(B, C, *spatial)`` inputs.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.movedim(1, -1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.movedim(-1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


class DropPath(nn.Module):
    """Stochastic depth per sample (timm semantics).

    In training, each sample's whole branch is zeroed with probability ``p`` and the kept
    samples are rescaled by ``1 / (1 - p)``; in eval mode (or with ``p == 0``) it is the
    identity.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path rate must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p:.4g}"


def eca_kernel_size(channels: int) -> int:
    """ECA kernel size as computed by the MSPC-Net code: ceil(log2(C)/2 + 0.5), made odd.

    Gives 5 for C = 128 (the standard ECA gamma=2, b=1 rule gives the same there).
    """
    k = math.ceil(math.log2(channels) / 2 + 0.5)
    return k if k % 2 else k + 1


class _ECAGate(nn.Module):
    """ECA channel weights: global mean -> 1-D conv across channels -> sigmoid, (B, C)."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ECA kernel size must be odd, got {kernel_size}")
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = _global_avg(x).unsqueeze(1)  # (B, 1, C): the channels as a 1-channel sequence
        return torch.sigmoid(self.conv(pooled)).squeeze(1)


class ECA(nn.Module):
    """Efficient channel attention (Wang et al. 2020): ``x * gate(x)``.

    ``gate`` pools over the spatial axes, convolves the C pooled values with a
    ``kernel_size``-tap kernel (zero padding at the channel ends, no bias) and applies a
    sigmoid. ``kernel_size=None`` uses :func:`eca_kernel_size`.
    """

    def __init__(self, channels: int, kernel_size: int | None = None) -> None:
        super().__init__()
        self.channels = channels
        self.gate = _ECAGate(eca_kernel_size(channels) if kernel_size is None else kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * _broadcast_channels(self.gate(x), x)


class _SEGate(nn.Module):
    """SE channel weights: global mean -> Linear -> act -> Linear -> sigmoid, (B, C)."""

    def __init__(self, channels: int, hidden: int, act: type[nn.Module], bias: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.act = act()
        self.fc2 = nn.Linear(hidden, channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(self.act(self.fc1(_global_avg(x)))))


class SE(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): ``x * gate(x)``.

    Parameters
    ----------
    channels
        C, the number of channels weighted.
    hidden
        Width of the bottleneck (e.g. ``C // 16`` or ``int(0.25 * C_in)``).
    act
        Activation class between the two linear layers (GELU in SPFusion/SCA-Net).
    bias
        Whether the two linear layers have biases (False in SPFusion/SCA-Net).
    """

    def __init__(self, channels: int, hidden: int, act: type[nn.Module] = nn.GELU,
                 bias: bool = False) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"SE hidden width must be >= 1, got {hidden}")
        self.channels = channels
        self.gate = _SEGate(channels, hidden, act, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * _broadcast_channels(self.gate(x), x)


def same_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """(left, right) zero padding of PyTorch ``padding="same"`` at stride 1.

    An even kernel pads one more zero on the right: k=16 gives (7, 8).
    """
    total = dilation * (kernel_size - 1)
    return total // 2, total - total // 2


class Conv1dSame(nn.Conv1d):
    """``nn.Conv1d`` with PyTorch 'same' zero padding done explicitly (stride 1).

    Numerically identical to ``nn.Conv1d(..., padding="same")`` (k=16 pads 7 left, 8
    right) without PyTorch's even-kernel warning, and exportable to ONNX as Pad + Conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, groups=groups, bias=bias)
        self._pad = same_padding(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self._pad))
