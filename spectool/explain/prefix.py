"""Prefix cache: reuse a model's clean *local prefix* output under local perturbations.

A **local prefix** is the first layer a model applies to its raw input ``x (B, 1, L)``
when that layer is local and unpadded: its output position ``p`` depends only on
input pixels ``[p * stride, p * stride + size)``. A perturbation confined to pixels
``[a, b)`` then changes only the prefix outputs whose field overlaps ``[a, b)``, so
for every perturbed copy spectool

1. computes the clean prefix output ``h`` once per spectrum,
2. runs the prefix on a short input *segment* around the window only (``K`` affected
   positions, ``(K - 1) * stride + size`` pixels),
3. splices those ``K`` columns into a copy of ``h`` and runs the rest of the model from
   there (the prefix module is short-circuited with hooks; nothing in the model is
   modified).

Examples: ConvNeXt-1D (SCM) and SPFusion's spectral ConvNeXt start with a stride-32
patchify ``Conv1d(1, 64, k=32, s=32)``: a 15 A window on the 1 A/pixel grid touches one
or two of the 112 patches. MSPC-Net's ``PatchEmbed`` is ``Conv1d(1, 128, k=3, s=1,
padding=0)``: a 15-pixel window touches 17 of 3582 positions.

How a model declares its prefix
-------------------------------
A model may define ``local_prefix() -> LocalPrefix`` (name of the submodule, stride and
field size). Otherwise :func:`find_local_prefix` detects it: the first leaf module
called on the very input tensor, if it is an unpadded single-input-channel ``Conv1d``.
Because a model could also read ``x`` elsewhere (a skip from the input, say), callers
verify cached against uncached outputs on a first batch (``sliding_window_importance(cache="auto")`` does) and
fall back to plain evaluation when they differ.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn as nn


@dataclass(frozen=True)
class LocalPrefix:
    """The local, unpadded first layer of a model.

    Attributes
    ----------
    module_name
        Qualified name of the submodule (``model.get_submodule(module_name)``); it must
        receive the model input ``x (B, 1, L)`` unchanged and return ``(B, C, P)``.
    stride
        Input pixels between adjacent output positions.
    size
        Input pixels seen by one output position (``dilation * (k - 1) + 1`` for a conv).
    """

    module_name: str
    stride: int
    size: int

    def n_positions(self, length: int) -> int:
        """Number of output positions for an input of ``length`` pixels."""
        return (length - self.size) // self.stride + 1

    def affected(self, start: torch.Tensor, stop: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """First and last (inclusive) output positions touched by pixel ranges ``[start, stop)``."""
        n = self.n_positions(length)
        first = torch.clamp(torch.div(start - self.size + self.stride, self.stride, rounding_mode="floor"), 0, n - 1)
        last = torch.clamp(torch.div(stop - 1, self.stride, rounding_mode="floor"), 0, n - 1)
        return first, last


def find_local_prefix(model: nn.Module, length: int, image: torch.Tensor | None = None) -> LocalPrefix | None:
    """The model's :class:`LocalPrefix`: declared by ``model.local_prefix()`` or detected.

    Detection runs one probe forward pass on zeros ``(1, 1, length)`` and picks the first
    leaf module whose input *is* the probe tensor; it qualifies when it is a ``Conv1d``
    with one input channel, ``groups=1`` and zero padding. Returns None otherwise.
    """
    declared = getattr(model, "local_prefix", None)
    if callable(declared):
        return declared()
    device = next(iter(model.parameters())).device
    probe = torch.zeros(1, 1, length, device=device)
    found: list[str] = []
    names = {m: n for n, m in model.named_modules()}
    handles = []

    def pre(mod, args):
        if not found and args and args[0] is probe:
            found.append(names[mod])

    for m in model.modules():
        if not list(m.children()):
            handles.append(m.register_forward_pre_hook(pre))
    try:
        with torch.no_grad():
            model(probe, image[:1] if image is not None else None)
    finally:
        for h in handles:
            h.remove()
    if not found:
        return None
    conv = model.get_submodule(found[0])
    if (not isinstance(conv, nn.Conv1d) or conv.in_channels != 1 or conv.groups != 1
            or conv.padding not in ((0,), "valid") or conv.padding_mode != "zeros"):
        return None
    return LocalPrefix(found[0], int(conv.stride[0]), int(conv.dilation[0] * (conv.kernel_size[0] - 1) + 1))


@contextmanager
def replay_prefix(model: nn.Module, prefix: LocalPrefix, output: torch.Tensor) -> Iterator[None]:
    """Within the block, the prefix module returns ``output`` instead of computing.

    The prefix still gets called (on a one-patch dummy input, to keep its cost nil) so
    that models that inspect its output type keep working.
    """
    module = model.get_submodule(prefix.module_name)
    dummy = output.new_zeros(1, 1, prefix.size)
    h1 = module.register_forward_pre_hook(lambda mod, args: (dummy,) + tuple(args[1:]))
    h2 = module.register_forward_hook(lambda mod, args, out: output)
    try:
        yield
    finally:
        h1.remove()
        h2.remove()


def spliced_prefix_output(prefix: LocalPrefix, module: nn.Module, h_clean: torch.Tensor,
                          x: torch.Tensor, fill: torch.Tensor, start: torch.Tensor, stop: torch.Tensor,
                          n_affected: int) -> torch.Tensor:
    """Prefix outputs of every (spectrum, window) pair, recomputing only affected positions.

    Parameters
    ----------
    h_clean
        Clean prefix output ``(B, C, P)`` of ``x``.
    x, fill
        Clean input and replacement values, ``(B, 1, L)``.
    start, stop
        Pixel ranges ``[start, stop)`` of the W windows, int64 tensors ``(W,)``.
    n_affected
        ``K``: positions recomputed per window, at least the largest number any window
        touches (see :meth:`LocalPrefix.affected`).

    Returns
    -------
    ``(B * W, C, P)``, sample-major (all windows of spectrum 0 first).
    """
    B, C, P = h_clean.shape
    L = x.shape[-1]
    W = start.numel()
    first, _ = prefix.affected(start, stop, L)
    p0 = torch.clamp(first, max=P - n_affected)  # (W,)
    seg_len = (n_affected - 1) * prefix.stride + prefix.size
    idx = p0[:, None] * prefix.stride + torch.arange(seg_len, device=x.device)  # (W, S)
    in_window = (idx >= start[:, None]) & (idx < stop[:, None])
    seg = torch.where(in_window, fill[:, 0][:, idx], x[:, 0][:, idx])  # (B, W, S)
    h_seg = module(seg.reshape(B * W, 1, seg_len))  # (B*W, C, K)
    out = h_clean[:, None].expand(B, W, C, P).reshape(B * W, C, P).clone()
    pos = (p0[:, None] + torch.arange(n_affected, device=x.device)).repeat(B, 1)  # (B*W, K)
    out.scatter_(2, pos[:, None, :].expand(B * W, C, n_affected), h_seg.to(out.dtype))
    return out
