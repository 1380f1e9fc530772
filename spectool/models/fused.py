"""Fused inference copies of models, and :func:`for_inference` that picks one.

A model's ``forward`` applies its submodules literally, so that module hooks fire in
every mode. Fast CPU inference is a separate, explicit object: ``model.fused()`` returns
an inference-only ``nn.Module`` computing the same eval-mode function (to ~1e-6 relative
in float32, 1e-10 in float64), built from a snapshot of the weights. It has none of the
model's submodules: hooks registered on the model do not see it, and it never computes
gradients. Build it again after changing the weights.

:class:`FusedMSPCNet` (``MSPCNet.fused()``):

* every BatchNorm is folded into the convolution before it (``fc1`` in a block, the
  embedding and merge convs), its shift riding on an extra all-ones input row;
* the embedding ``Conv1d(1 -> C, k=3)`` is one matmul with the unfolded input (the CPU
  convolution library is slow with a single input channel);
* in a block, the mixed and identity channels are never concatenated: ``fc1`` is split
  into the columns acting on each, the ECA channel weights (from per-channel means)
  scale those columns per sample instead of the activations, and ``x + fc2(h)`` is one
  fused matmul-add into ``x`` (in place);
* the long kernels run through one FFT with cached kernel spectra (complex batched
  matmul, :mod:`spectool.models.fftconv`);
* on CPU, sub-batches of about :data:`STREAM_COLUMNS` samples x positions are streamed
  through each stage, so that a block's activations stay in cache (batch 32 at 3584 px
  is 59 MB per tensor).

Measured speed: ``benchmarks/models.py`` (fused vs the literal ``forward`` with direct
convolutions, the authors' code path).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError
from .fftconv import grouped_conv1d_same
from .layers import ECA

#: CPU inference streams sub-batches of about this many samples x input positions through
#: each stage, so that a block's activations stay in cache (batch 32 at 3584 px is 59 MB).
STREAM_COLUMNS = 16384

#: model attributes the fused copy carries over (so it can stand in for the model in
#: prediction code that reads them).
_META = ("output_names", "task", "preprocess", "input_length", "needs_image", "config", "model_name",
         "model_overrides", "card")


def for_inference(model: nn.Module) -> nn.Module:
    """The fastest module computing ``model``'s eval-mode function, for inference only.

    ``model.fused()`` when the model offers one (MSPC-Net), else ``model`` itself (in eval
    mode). The fused copy bypasses hooks registered on ``model`` and computes no
    gradients: use it only where neither is wanted (e.g. ``spectool.predict``).
    """
    model.eval()
    fused = getattr(model, "fused", None)
    return fused() if callable(fused) else model


def _folded(weight: torch.Tensor, norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight scaled per output channel, shift) with ``norm(conv(x)) == conv_w'(x) + shift``
    for the BatchNorm's running statistics."""
    if norm.running_mean is None or norm.running_var is None:
        raise ModelError("a fused copy needs BatchNorm running statistics (track_running_stats=True)", "norm")
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    return weight * scale.reshape(-1, *([1] * (weight.dim() - 1))), shift


class _FusedConvBN(nn.Module):
    """``norm(conv(x))`` of an unpadded, bias-free conv + BatchNorm, the norm folded."""

    def __init__(self, conv_bn: nn.Module) -> None:
        super().__init__()
        weight, shift = _folded(conv_bn.conv.weight.detach(), conv_bn.norm)
        self.register_buffer("weight", weight.clone())
        self.register_buffer("shift", shift.detach().clone())
        self.stride = int(conv_bn.conv.stride[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.shape[1] > 1:
            return F.conv1d(x, self.weight.to(x.dtype), self.shift.to(x.dtype), stride=self.stride)
        k = self.weight.shape[-1]
        windows = x.unfold(-1, k, self.stride).squeeze(1).transpose(1, 2)   # (B, k, L_out)
        # the shift rides on an extra all-ones input row
        windows = torch.cat([windows, windows.new_ones(x.shape[0], 1, windows.shape[-1])], dim=1)
        weight = torch.cat([self.weight.squeeze(1), self.shift[:, None]], dim=1).to(windows.dtype)
        return torch.bmm(weight.expand(x.shape[0], -1, -1), windows)


def _fresh_gate(attention: nn.Module) -> nn.Module | None:
    """A new ECA gate with the weights of ``attention.gate`` (a deep copy would carry
    the hooks registered on the model's gate), or None without ECA."""
    if not isinstance(attention, ECA):
        return None
    gate = ECA(attention.channels, kernel_size=attention.gate.conv.kernel_size[0]).gate
    gate.load_state_dict(attention.gate.state_dict())
    return gate.to(attention.gate.conv.weight)


class _FusedBlock(nn.Module):
    """An MSPC block's eval-mode function with fewer passes over the (B, C, L) activations."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        mixer = block.mixer
        self.group = mixer.group
        self.mixer_weights = nn.ParameterList(nn.Parameter(w.detach().clone(), requires_grad=False)
                                              for w in mixer.weights)
        self._spectra: dict = {}
        w1, shift = _folded(block.fc1.weight.detach().squeeze(-1), block.norm)    # (H, C), (H,)
        self.register_buffer("w1", w1.clone())
        self.register_buffer("shift", shift.detach().clone())
        self.register_buffer("w2", block.fc2.weight.detach().squeeze(-1).clone())  # (C, H)
        self.gate_front = _fresh_gate(block.eca_front)
        self.gate_back = _fresh_gate(block.eca_back)

    def forward(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """``block(x)`` in eval mode; ``inplace`` (the caller owns ``x``) adds into ``x``."""
        n_groups = len(self.mixer_weights)
        *groups, ident = x.split([self.group] * n_groups + [x.shape[1] - n_groups * self.group], dim=1)
        groups = grouped_conv1d_same(groups, list(self.mixer_weights), True, self._spectra)
        batch, length = x.shape[0], x.shape[-1]
        dtype = groups[0].dtype
        w1 = self.w1.expand(batch, -1, -1)                                      # (B, H, C)
        if self.gate_front is not None:
            pooled = torch.cat([g.mean(-1) for g in groups] + [ident.mean(-1)], dim=1)   # (B, C)
            w1 = w1 * self.gate_front(pooled.unsqueeze(-1)).unsqueeze(1)
        n_mixed = sum(g.shape[1] for g in groups)
        w_mixed, w_ident = w1.to(dtype).split([n_mixed, ident.shape[1]], dim=-1)
        w_mixed = torch.cat([w_mixed, self.shift.to(dtype)[:, None].expand(batch, -1, 1)], dim=-1)
        h = torch.bmm(w_mixed, torch.cat([*groups, groups[0].new_ones(batch, 1, length)], dim=1))
        h = h.baddbmm_(w_ident, ident.to(dtype))   # h is fresh: in place is safe
        h = torch.ops.aten.gelu_(h)
        w2 = self.w2.to(dtype)
        if self.gate_back is not None:
            y = torch.matmul(w2, h)
            y = y * self.gate_back(y).unsqueeze(-1)
            return x.add_(y) if inplace and x.dtype == y.dtype else x + y
        if inplace and x.dtype == dtype:
            return x.baddbmm_(w2.expand(batch, -1, -1), h)
        return torch.baddbmm(x.to(dtype), w2.expand(batch, -1, -1), h)


class _FusedStage(nn.Module):
    def __init__(self, stage: nn.Module, stem: nn.Module | None = None) -> None:
        super().__init__()
        self.stem = _FusedConvBN(stem) if stem is not None else None
        self.downsample = _FusedConvBN(stage.downsample) if hasattr(stage.downsample, "conv") else None
        self.blocks = nn.ModuleList(_FusedBlock(b) for b in stage.blocks)

    def forward(self, x: torch.Tensor, stream: bool) -> torch.Tensor:
        """The stage (with its stem) on ``x``; ``stream``: in sub-batches of
        :data:`STREAM_COLUMNS` samples x positions."""
        if not stream:
            return self._run(x)
        step = max(1, STREAM_COLUMNS // x.shape[-1])
        chunks = [self._run(chunk) for chunk in x.split(step)]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for layer in (self.stem, self.downsample):
            if layer is not None:
                y = layer(y)
        for block in self.blocks:   # y is ours unless it is (a chunk of) the caller's x
            y = block(y, inplace=y is not x)
        return y


class FusedMSPCNet(nn.Module):
    """Inference-only copy of an :class:`~spectool.models.mspcnet.MSPCNet`'s eval-mode
    function (see the module docstring). ``forward(x, image=None)`` takes the (B, 1, L)
    model-ready spectra and returns the (B, classes) logits, without autograd."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        stages = list(model.stages)
        self.stages = nn.ModuleList([_FusedStage(stages[0], stem=model.embed)]
                                    + [_FusedStage(s) for s in stages[1:]])
        self.register_buffer("head_weight", model.head_conv.weight.detach().squeeze(-1).clone())  # (F, C)
        self.head_approximate = model.head_act.approximate
        self.register_buffer("fc_weight", model.fc.weight.detach().clone())
        self.register_buffer("fc_bias", model.fc.bias.detach().clone())
        for name in _META:
            if hasattr(model, name):
                setattr(self, name, copy.deepcopy(getattr(model, name)))
        device = next(model.parameters()).device
        self.to(device).eval().requires_grad_(False)

    def train(self, mode: bool = True) -> FusedMSPCNet:
        if mode:
            raise ModelError("a fused copy is inference-only: train the model it was made from", "train")
        return super().train(False)

    @torch.inference_mode()
    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        stream = x.device.type == "cpu"
        for stage in self.stages:
            x = stage(x, stream)
        pooled = x.mean(dim=-1)                                                   # (B, C)
        return F.gelu(pooled @ self.head_weight.to(pooled.dtype).T, approximate=self.head_approximate)

    @torch.inference_mode()
    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(features, self.fc_weight.to(features.dtype), self.fc_bias.to(features.dtype))

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, image))
