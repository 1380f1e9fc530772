"""SPFusion (red-clump mass and age from a LAMOST spectrum plus an SDSS g,r,i cutout).

Re-implementation of the network of seed 002 as trained and released by its authors
(``weights/model.onnx``), with the wiring facts measured from their code:

* spectral extractor: ConvNeXt-1D, dims (64, 128, 32), depths (3, 3, 3), patch-32 stem,
  no norm after the stem, depthwise kernel 16 with PyTorch ``"same"`` padding (7 left,
  8 right), no layer scale, Dropout 0.2 inside every block. (B, 1, 3584) -> (B, 32, 28).
* photometric extractor: the ResNet-10-T stem and first BasicBlock (written here, no
  timm), a conv block 64 -> 32 -> 32 (no activation between), flatten to (B, 32, 1024),
  GELU, Linear 1024 -> 28. (B, 3, 128, 128) -> (B, 32, 28).
* star fusion of the two (B, 32, 28) maps; the GELU sits on the *spectral* branch, as in
  the released weights (the authors' modules are named the other way round because their
  call site swaps the arguments; only :mod:`spectool.models.onnx_import` keeps that map).
* channel concat in the order [photometric, fused, spectral] -> (B, 96, 28).
* fusion transformer: the 96 channels are the tokens and the 28 positions the embedding,
  no Q/K/V projections, one LayerNorm per q/k/v, "SoftmaxOne as implemented"
  normalisation (see :func:`softmax_one_as_implemented`), conv feed-forward.
* MetaFormer block(s) with an average-pool mixer and ``x + pool(x)`` residual; the last
  block returns its feed-forward output only (after a Linear 28 -> 28 along L).
* SE prediction head -> (B, 2) = [mass (solar masses), age (Gyr)].

Regularisation as the authors place it (training only): DropPath 0.3 on the whole star
fusion output (which is concatenated, not a residual branch) and on the attention-weight
matrix; Dropout 0.3 at the end of each feed-forward.

939,398 parameters with the defaults; 0.254 GMAC (0.507 GFLOPs) per sample, 0.21 GMAC of
them in the photometric extractor. Inputs follow ``preprocess="spfusion"``: flux
min-max scaled and zero-padded symmetrically to 3584 pixels; each image band min-max
scaled over its 128 x 128 pixels.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Literal

import torch
import torch.nn as nn

from ..errors import ModelError
from ._registry import register_model
from .base import SpectralModel
from .baselines import ConvNeXtStage1d
from .layers import SE, DropPath, LayerNorm1d

SPECTRUM_LENGTH = 3584
IMAGE_SIZE = 128
FEATURE_CHANNELS = 32
FEATURE_LENGTH = 28


def softmax_one_as_implemented(logits: torch.Tensor) -> torch.Tensor:
    """The authors' "SoftmaxOne" along the last axis: ``e / (1 + sum(e))``, ``e = exp(a - max a)``.

    The row maximum is subtracted *before* the ``+ 1``, so this is not the textbook
    softmax_1 (``exp(a) / (1 + sum exp(a))``): rows sum to a value in [0.5, 1) that
    depends on the logit spread. The released weights were trained with exactly this.
    """
    e = torch.exp(logits - logits.amax(dim=-1, keepdim=True))
    return e / (1.0 + e.sum(dim=-1, keepdim=True))


# --------------------------------------------------------------------------- spectral
class SpectralConvNeXt(nn.Module):
    """ConvNeXt-1D spectral extractor, (B, 1, 3584) -> (B, dims[-1], 28) with the defaults.

    Patch stem (Conv1d k = stride = ``stem_patch``, no norm), then one
    :class:`~spectool.models.baselines.ConvNeXtStage1d` per width (blocks: depthwise
    k16 "same" conv, LN, 1x1 to 4C, GELU, 1x1, Dropout 0.2, residual; then LN and a k2/s2
    conv to the next width, none after the last stage).
    """

    def __init__(self, dims: tuple[int, ...] = (64, 128, 32), depths: tuple[int, ...] = (3, 3, 3),
                 stem_patch: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, dims[0], stem_patch, stride=stem_patch)
        self.stages = nn.Sequential(*(
            ConvNeXtStage1d(c, d, n, kernel_size=16, mlp_ratio=4, dropout=dropout, eps=1e-6)
            for c, d, n in zip(dims, depths, [*dims[1:], None])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


# ------------------------------------------------------------------------ photometric
class BasicBlock2d(nn.Module):
    """ResNet BasicBlock at constant width: conv3x3-BN-ReLU-conv3x3-BN, + x, ReLU (no conv bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(x + y)


class PhotometricExtractor(nn.Module):
    """ResNet-10-T stem + layer1, conv block, per-channel Linear: (B, 3, 128, 128) -> (B, 32, 28).

    The trunk is timm's ``resnet10t`` up to ``layer1`` (``out_indices=[1]``): a
    deep-tiered stem (3x3 convs 3 -> 24 stride 2, 24 -> 32, 32 -> 64, BN + ReLU between),
    BN + ReLU, 3x3/2 max-pool, one BasicBlock(64). Then conv 64 -> 32 3x3 + BN, conv
    32 -> 32 3x3 (no activation in between), flatten each channel's 32 x 32 map, GELU
    and Linear 1024 -> 28 along the flattened pixels. ``widths`` (default the paper's
    24, 32, 64) sets the three stem widths; the CPU modes of :mod:`spectool.papers` use
    narrower ones, where this trunk costs two thirds of a training step.
    """

    def __init__(self, out_channels: int = FEATURE_CHANNELS, out_length: int = FEATURE_LENGTH,
                 image_size: int = IMAGE_SIZE, widths: tuple[int, int, int] = (24, 32, 64)) -> None:
        super().__init__()
        if len(widths) != 3 or min(widths) < 1:
            raise ModelError(f"widths must be three positive channel counts, got {widths!r}", "widths")
        w1, w2, w3 = (int(w) for w in widths)
        self.stem = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, w1, 3, stride=2, padding=1, bias=False)),
            ("bn1", nn.BatchNorm2d(w1)),
            ("act1", nn.ReLU(inplace=True)),
            ("conv2", nn.Conv2d(w1, w2, 3, padding=1, bias=False)),
            ("bn2", nn.BatchNorm2d(w2)),
            ("act2", nn.ReLU(inplace=True)),
            ("conv3", nn.Conv2d(w2, w3, 3, padding=1, bias=False)),
        ]))
        self.stem_norm = nn.BatchNorm2d(w3)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.block = BasicBlock2d(w3)
        self.project = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(w3, out_channels, 3, padding="same")),
            ("bn", nn.BatchNorm2d(out_channels)),
            ("conv2", nn.Conv2d(out_channels, out_channels, 3, padding="same")),
        ]))
        self.linear_act = nn.GELU()
        self.linear = nn.Linear((image_size // 4) ** 2, out_length)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # channels-last: the same values, and oneDNN's 2-D convolutions run 10-17 % faster
        # per training step on the CPU (slim model, 16 images of 128 x 128, one thread)
        image = image.contiguous(memory_format=torch.channels_last)
        x = self.pool(self.act(self.stem_norm(self.stem(image))))
        x = self.project(self.block(x))
        return self.linear(self.linear_act(x.flatten(2)))


# ----------------------------------------------------------------------------- fusion
def _branch(channels: int, kernel: int, ratio: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("dwconv", nn.Conv1d(channels, channels, kernel, padding="same", groups=channels)),
        ("bn", nn.BatchNorm1d(channels)),
        ("expand", nn.Conv1d(channels, ratio * channels, kernel, padding="same")),
    ]))


class StarFusion(nn.Module):
    """Star-operator fusion of the spectral and photometric feature maps (B, C, L) -> (B, C, L).

    Each stream: depthwise conv (``kernel``, "same") + BN, then conv C -> ratio*C
    (``kernel``, no BN). Product ``act(spectral) * photometric`` with the GELU on the
    branch named by ``gelu_branch`` ("spectral" in the released model; "photometric"
    reproduces the repository config, which the released weights do not use). Then conv
    ratio*C -> C + BN and a depthwise conv. DropPath on the whole output (training only).
    """

    def __init__(self, channels: int = FEATURE_CHANNELS, kernel_size: int = 7, ratio: int = 4,
                 gelu_branch: Literal["spectral", "photometric"] = "spectral",
                 drop_path: float = 0.3) -> None:
        super().__init__()
        if gelu_branch not in ("spectral", "photometric"):
            raise ModelError(f"gelu_branch must be 'spectral' or 'photometric', "
                             f"got {gelu_branch!r}")
        self.gelu_branch = gelu_branch
        self.spectral_branch = _branch(channels, kernel_size, ratio)
        self.photometric_branch = _branch(channels, kernel_size, ratio)
        self.act = nn.GELU()
        self.fuse = nn.Sequential(OrderedDict([
            ("reduce", nn.Conv1d(ratio * channels, channels, kernel_size, padding="same")),
            ("bn", nn.BatchNorm1d(channels)),
            ("dwconv", nn.Conv1d(channels, channels, kernel_size, padding="same", groups=channels)),
        ]))
        self.drop_path = DropPath(drop_path)

    def forward(self, spectral: torch.Tensor, photometric: torch.Tensor) -> torch.Tensor:
        s = self.spectral_branch(spectral)
        p = self.photometric_branch(photometric)
        star = self.act(s) * p if self.gelu_branch == "spectral" else s * self.act(p)
        return self.drop_path(self.fuse(star))


class AddFusion(nn.Module):
    """Ablation of Table 3 (no star operator): the two feature maps are simply added."""

    def forward(self, spectral: torch.Tensor, photometric: torch.Tensor) -> torch.Tensor:
        return spectral + photometric


# ------------------------------------------------------------------------ transformer
class ConvFFN(nn.Module):
    """Channel-mixing feed-forward on (B, C, L).

    LN -> 1x1 C -> rC -> GELU -> 1x1 rC -> C [-> Linear L -> L along the positions] -> Dropout.
    """

    def __init__(self, channels: int, ratio: int, dropout: float,
                 length: int | None = None) -> None:
        super().__init__()
        self.norm = LayerNorm1d(channels, eps=1e-6)
        self.fc1 = nn.Conv1d(channels, ratio * channels, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv1d(ratio * channels, channels, 1)
        self.length_proj = None if length is None else nn.Linear(length, length, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(self.act(self.fc1(self.norm(x))))
        if self.length_proj is not None:
            y = self.length_proj(y)
        return self.drop(y)


class ChannelAttention(nn.Module):
    """Self-attention whose tokens are the C channels and whose embedding is the L positions.

    No Q/K/V/output projections: q, k and v are three channels-first LayerNorms of the same
    input. With ``heads`` h > 1 the L positions are split into h contiguous groups of
    L/h (a proper head split: (B, C, L) -> (B, h, C, L/h)); the authors' code reshaped
    without the transpose, mixing channels across heads, which only mattered for h > 1.
    Logits are scaled by 1/sqrt(L/h) and normalised with :func:`softmax_one_as_implemented`.
    The attention weights (B, h, C, C) go through DropPath (training only) and are kept in
    ``last_attention`` (detached) after every forward.
    """

    def __init__(self, channels: int, length: int, heads: int = 1, drop_path: float = 0.3) -> None:
        super().__init__()
        if heads < 1 or length % heads:
            raise ModelError(f"heads must divide the token embedding length {length}, got {heads}")
        self.heads = heads
        self.norm_q = LayerNorm1d(channels, eps=1e-6)
        self.norm_k = LayerNorm1d(channels, eps=1e-6)
        self.norm_v = LayerNorm1d(channels, eps=1e-6)
        self.drop_path = DropPath(drop_path)
        self.last_attention: torch.Tensor | None = None

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, c, length = x.shape
        return x.reshape(b, c, self.heads, length // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (self._split(norm(x)) for norm in (self.norm_q, self.norm_k, self.norm_v))
        logits = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)
        weights = softmax_one_as_implemented(logits)
        self.last_attention = weights.detach()
        out = self.drop_path(weights) @ v  # (B, h, C, L/h)
        return out.transpose(1, 2).reshape(x.shape)


class FusionTransformerBlock(nn.Module):
    """x + attention(x), then + ConvFFN(x) (the FFN has its own pre-norm; attention norms q/k/v)."""

    def __init__(self, channels: int, length: int, heads: int, ffn_ratio: int, drop: float) -> None:
        super().__init__()
        self.attn = ChannelAttention(channels, length, heads, drop_path=drop)
        self.ffn = ConvFFN(channels, ffn_ratio, drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.ffn(x)


class PoolMetaFormerBlock(nn.Module):
    """MetaFormer block with an average-pool token mixer along L (k3, s1, p1, no pad counting).

    ``y = x + pool(x)`` (no norm before the mixer, and *plus* pool(x), unlike
    PoolFormer's pool(x) - x). A non-final block returns ``y + ffn(y)``; the final block
    (``last=True``) returns ``ffn(y)`` only, its FFN ending in a Linear L -> L.
    """

    def __init__(self, channels: int, length: int, ratio: int = 2, dropout: float = 0.3,
                 last: bool = True) -> None:
        super().__init__()
        self.last = last
        self.mixer = nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)
        self.ffn = ConvFFN(channels, ratio, dropout, length=length if last else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.mixer(x)
        return self.ffn(y) if self.last else y + self.ffn(y)


def _keep_se_weights(gate: nn.Module, args, weights: torch.Tensor) -> None:
    """Forward hook of ``head.se.gate``: the SE channel weights (B, C) of the latest call,
    detached, kept on the gate (``SEHead.last_se_weights`` reads them)."""
    gate.last_weights = weights.detach()


class SEHead(nn.Module):
    """SE gating -> conv C -> 32 (k7, "same") + BN -> mean over L (features) -> Linear."""

    def __init__(self, channels: int, num_outputs: int = 2, hidden: int = FEATURE_CHANNELS,
                 reduction: int = 16) -> None:
        super().__init__()
        self.se = SE(channels, hidden=channels // reduction, act=nn.GELU, bias=False)
        self.conv = nn.Conv1d(channels, hidden, 7, padding="same")
        self.bn = nn.BatchNorm1d(hidden)
        self.linear = nn.Linear(hidden, num_outputs)
        self.se.gate.register_forward_hook(_keep_se_weights)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # self.se (not its parts) is called, so hooks on head.se and head.se.gate both fire
        return self.bn(self.conv(self.se(x))).mean(dim=-1)

    @property
    def last_se_weights(self) -> torch.Tensor | None:
        """SE channel weights (B, C) of the latest forward (None before the first)."""
        return getattr(self.se.gate, "last_weights", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x))


# ------------------------------------------------------------------------------ model
class SPFusion(SpectralModel):
    """SPFusion: ``forward(x, image) -> (B, 2)`` = [mass (M_sun), age (Gyr)].

    Parameters
    ----------
    fusion
        ``"star"`` (the paper's model) or ``"add"`` (Table 3 ablation: spectral +
        photometric features, no convolutions, no star operator).
    star_kernel
        Kernel of every star-fusion convolution (Table 4: 3, 7, 11; paper 7).
    ffn_ratio
        Hidden-channel ratio of the fusion transformer's feed-forward (Table 5: 2-5; 4).
    heads
        Attention heads of the fusion transformer (Table 6: 1, 2, 4, 7; paper 1). Must
        divide the 28-long token embedding (7 heads of 4 positions each).
    metaformer_blocks
        Number of MetaFormer blocks (Table 7: 1-3; paper 1).
    gelu_branch
        Which star-fusion stream gets the GELU: ``"spectral"`` (released weights) or
        ``"photometric"`` (the authors' repository config).
    drop_rate
        DropPath / dropout probability of the fusion and later modules (0.3).
    spectral_dropout
        Dropout probability inside the spectral ConvNeXt blocks (0.2). Training only, like
        ``drop_rate``: neither changes what a trained model computes. On the synthetic
        red-clump mock, training with the authors' rates (and lr 1e-3) leaves the network at
        the mean mass and age; ``scripts/train_pretrained.py`` trains the shipped checkpoint
        with both at 0 (``docs/mock_survey.md``).
    spectral_dims, spectral_depths
        Widths and block counts of the spectral ConvNeXt's three stages (paper: 64, 128, 32
        and 3, 3, 3). The last width is the 32 fused channels.
    image_widths
        Stem widths of the photometric ResNet trunk (paper: 24, 32, 64).

    After every forward, ``last_attention`` (B, heads, 96, 96) holds the fusion
    attention weights and ``last_se_weights`` (B, 96) the head's SE channel weights,
    channels ordered [photometric 0-31, fused 32-63, spectral 64-95]; hook
    ``head.se.gate`` for the non-detached weights.
    """

    task = "regression"
    preprocess = "spfusion"
    input_length = SPECTRUM_LENGTH
    needs_image = True

    def __init__(self, fusion: Literal["star", "add"] = "star", star_kernel: int = 7,
                 ffn_ratio: int = 4, heads: int = 1, metaformer_blocks: int = 1,
                 gelu_branch: Literal["spectral", "photometric"] = "spectral",
                 drop_rate: float = 0.3, spectral_dropout: float = 0.2,
                 spectral_dims: tuple[int, int, int] = (64, 128, FEATURE_CHANNELS),
                 spectral_depths: tuple[int, int, int] = (3, 3, 3),
                 image_widths: tuple[int, int, int] = (24, 32, 64)) -> None:
        super().__init__()
        if fusion not in ("star", "add"):
            raise ModelError(f"fusion must be 'star' or 'add', got {fusion!r}")
        if star_kernel < 1 or star_kernel % 2 == 0:
            raise ModelError(f"star_kernel must be a positive odd integer, got {star_kernel}")
        if ffn_ratio < 1 or metaformer_blocks < 1:
            raise ModelError(f"ffn_ratio and metaformer_blocks must be >= 1, "
                             f"got {ffn_ratio}, {metaformer_blocks}")
        if len(spectral_dims) != 3 or len(spectral_depths) != 3 or spectral_dims[-1] != FEATURE_CHANNELS:
            raise ModelError(f"spectral_dims and spectral_depths must have 3 stages and the last width must be "
                             f"{FEATURE_CHANNELS} (the fused channels), got {spectral_dims!r}, {spectral_depths!r}")
        self.output_names = ["mass", "age"]
        self.output_units = ["Msun", "Gyr"]
        tokens = 3 * FEATURE_CHANNELS
        self.spectral = SpectralConvNeXt(tuple(spectral_dims), tuple(spectral_depths), dropout=spectral_dropout)
        self.photometric = PhotometricExtractor(widths=tuple(image_widths))
        self.fusion = (StarFusion(FEATURE_CHANNELS, star_kernel, 4, gelu_branch, drop_rate)
                       if fusion == "star" else AddFusion())
        self.transformer = FusionTransformerBlock(tokens, FEATURE_LENGTH, heads, ffn_ratio,
                                                  drop_rate)
        self.metaformer = nn.Sequential(*[
            PoolMetaFormerBlock(tokens, FEATURE_LENGTH, 2, drop_rate,
                                last=i == metaformer_blocks - 1)
            for i in range(metaformer_blocks)])
        self.head = SEHead(tokens, num_outputs=2)

    @property
    def last_attention(self) -> torch.Tensor | None:
        """Fusion-transformer attention weights (B, heads, 96, 96) of the latest forward."""
        return self.transformer.attn.last_attention

    @property
    def last_se_weights(self) -> torch.Tensor | None:
        """SE channel weights (B, 96) of the latest forward."""
        return self.head.last_se_weights

    def _check_inputs(self, x: torch.Tensor, image: torch.Tensor | None) -> None:
        if x.dim() != 3 or x.shape[1:] != (1, SPECTRUM_LENGTH):
            raise ModelError(f"spectrum must have shape (B, 1, {SPECTRUM_LENGTH}), "
                             f"got {tuple(x.shape)}", "x")
        if image is None:
            raise ModelError("SPFusion needs the (B, 3, 128, 128) g,r,i image", "image")
        if image.dim() != 4 or image.shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE) \
                or image.shape[0] != x.shape[0]:
            raise ModelError(f"image must have shape ({x.shape[0]}, 3, {IMAGE_SIZE}, "
                             f"{IMAGE_SIZE}), got {tuple(image.shape)}", "image")

    def forward_tokens(self, x: torch.Tensor, image: torch.Tensor | None) -> torch.Tensor:
        """The (B, 96, 28) map entering the head (after the MetaFormer block(s))."""
        self._check_inputs(x, image)
        spectral = self.spectral(x)
        photometric = self.photometric(image)
        fused = self.fusion(spectral, photometric)
        mixed = torch.cat([photometric, fused, spectral], dim=1)
        return self.metaformer(self.transformer(mixed))

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        """Penultimate vector (B, 32): the head's conv features averaged over L."""
        return self.head.features(self.forward_tokens(x, image))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head.linear(features)

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None,
                return_extras: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predictions (B, 2); ``return_extras`` adds attention (B, h, 96, 96) and SE (B, 96).

        Equal to ``forward_head(forward_features(x, image))``; calls ``self.head`` itself so
        that hooks on the head fire."""
        out = self.head(self.forward_tokens(x, image))
        if return_extras:
            return out, self.last_attention, self.last_se_weights
        return out


@register_model
def spfusion(**overrides) -> SPFusion:
    """SPFusion as released (939,398 parameters); overrides select the ablations of Tables 3-7."""
    return SPFusion(**overrides)
