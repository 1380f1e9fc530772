"""SCA-Net (LAMOST low-resolution spectra -> log Teff, log g, [Fe/H]), seed 004.

A CoAtNet-style network on the spectrum folded to a 64 x 64 image:

* **fold**: the (B, 1, 4096) spectrum (4000-8095 A, 1 A per pixel) becomes (B, 1, 64, 64)
  inside the model, so explanations stay 1-D. Default ``fold="s"`` is the paper's S-shape
  (row i holds pixels 64i..64i+63, odd rows reversed); ``fold="row"`` is the plain
  row-major reshape the authors' data loaders use. An already folded (B, 1, 64, 64) input
  is accepted as is.
* **S0**: 3x3 conv 1 -> C0 (stride 1) + BN + GELU, then ``blocks[0] - 1`` MBConv.
* **S1..S4**: ``layout`` letters, "M" = MBConv (expansion 4 of the *input* width, SE with
  ``int(0.25 * C_in)`` hidden units, pre-norm BN, max-pool downsampling) and "T" =
  Transformer block (1x1 size adjustment, 8 heads x 32, relative position bias, MLP
  ratio 4). The first block of each stage downsamples (S4 only if ``s4_downsample``).
* **MFF** (multi-scale feature fusion): 1x1 laterals of S2, S3, S4 to ``mff_channels``,
  bilinear resize to S2's size, concat, 3x3 conv + BN + GELU, 1x1 conv -> C4, bilinear
  resize to S4's size, added to the S4 output, then global average pooling.
* **head** (paper, Sec. 3.1: "two fully connected layers"): Linear C4 -> ``head_hidden``
  + GELU, Linear -> 3 = [log Teff, log g, [Fe/H]].

Log base: the paper only says Teff is predicted "on a log scale"; the authors' code uses
log2 (and evaluates Teff in K after ``2 ** x``). ``teff_log_base`` (default 2) records the
base; convert with :meth:`SCANet.teff_kelvin`. log g is log10(g / cm s^-2) as catalogued.

Design decisions (see docs of :class:`TransformerBlock`): the default Transformer block
is the standard pre-norm block ``x + A(LN x)`` then ``+ F(LN x')``, downsampling once by
2; ``transformer_style="authors"`` reproduces the released code (attention and FFN each
applied twice with shared weights in parallel branches, and a downsampling block that
pools twice, by 4). Either way the network has no dead weights: no unused second FFN or
LayerNorm, no unused token expander, and every relative-position-bias table is sized for
the token grid it actually sees. Parameter counts therefore sit below the paper's Table 2,
which includes the authors' dead weights and their larger head (M-M-T-T: 67.34M standard
style / 67.32M authors style vs 114.239M); ``tests/test_models_scanet.py`` checks that our
count plus exactly those dead weights and head gives the paper's numbers.

FLOPs per spectrum in multiply-adds (torch flop counter, which skips norms, pooling and
resizing, hence 0.5-1 % below the paper's fvcore numbers): with
``transformer_style="authors"`` and the default ``s4_downsample`` M-M-M-M 4.70, M-M-M-T
6.98, M-M-T-T 4.50, M-T-T-T 1.86, T-T-T-T 0.96 GMAC (paper 4.738, 7.013, 4.523, 1.876,
0.967 G); the standard style keeps 2x larger token grids after a downsampling T block:
4.70, 5.76, 6.35, 7.05, 8.49 GMAC. ``block="standard"`` (authors style): 57.80, 57.05,
22.59, 7.28 GMAC (paper 57.826, 57.085, 22.609, 7.294 G). Reproduce with
``benchmarks/models_spfusion_scanet.py``.

The MFF takes S2, S3 and S4 as the authors' code does (the paper's text mentions four
feature maps; its parameter counts fit three). The authors' code head (six value/error
tokens, masked multi-head attention, catalogue uncertainties as extra targets) is not
the paper's and is not reproduced. With ``transformer_style="authors"`` T-T-T-T pools S3
and S4 to a single token, where attention is the identity on v (q, k and the position
bias receive no gradient): a property of that geometry, reported by the tests.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError
from ..preprocess.fold import fold
from ._registry import register_model
from .base import SpectralModel
from .layers import SE

SPECTRUM_LENGTH = 4096
SIDE = 64
FULL_CHANNELS = (64, 128, 256, 512, 1024)
FULL_BLOCKS = (2, 2, 6, 14, 2)


def fold_spectrum(x: torch.Tensor, mode: Literal["s", "row"] = "s",
                  side: int = SIDE) -> torch.Tensor:
    """Fold (B, 1, side*side) spectra to (B, 1, side, side) images with :func:`spectool.preprocess.fold`.

    ``mode="s"``: element (i, j) = x[side*i + j] on even rows and x[side*i + side-1-j] on
    odd rows (boustrophedon, so neighbouring pixels stay adjacent across row ends);
    ``mode="row"``: plain row-major reshape.
    """
    return fold(x.reshape(x.shape[0], 1, side * side), mode)


# ------------------------------------------------------------------------ conv blocks
class MBConv(nn.Module):
    """Mobile inverted bottleneck (MobileNetV2) with SE, as in CoAtNet/SCA-Net.

    ``branch = BN -> 1x1 (C_in -> 4 C_in) BN GELU -> 3x3 depthwise BN GELU -> SE ->
    1x1 (-> C_out) BN``. Non-downsampling: ``x + branch(x)`` (a 1x1 projection replaces the
    identity when C_in != C_out). Downsampling: ``p = maxpool3x3/2(x)``, ``proj(p) + branch(p)``.
    ``dense=True`` gives the "standard" bottleneck of the paper's Table 2: dense 3x3 conv
    and no SE.
    """

    def __init__(self, inp: int, oup: int, downsample: bool, expansion: int = 4,
                 dense: bool = False) -> None:
        super().__init__()
        hidden = expansion * inp
        self.pool = nn.MaxPool2d(3, stride=2, padding=1) if downsample else nn.Identity()
        self.shortcut = (nn.Conv2d(inp, oup, 1, bias=False) if downsample or inp != oup
                         else nn.Identity())
        layers: list[tuple[str, nn.Module]] = [
            ("norm", nn.BatchNorm2d(inp)),
            ("expand", nn.Conv2d(inp, hidden, 1, bias=False)),
            ("bn1", nn.BatchNorm2d(hidden)),
            ("act1", nn.GELU()),
            ("conv", nn.Conv2d(hidden, hidden, 3, padding=1, groups=1 if dense else hidden,
                               bias=False)),
            ("bn2", nn.BatchNorm2d(hidden)),
            ("act2", nn.GELU()),
        ]
        if not dense:
            layers.append(("se", SE(hidden, hidden=max(1, int(0.25 * inp)), act=nn.GELU,
                                   bias=False)))
        layers += [("project", nn.Conv2d(hidden, oup, 1, bias=False)),
                   ("bn3", nn.BatchNorm2d(oup))]
        self.branch = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        return self.shortcut(x) + self.branch(x)


# ------------------------------------------------------------------------ transformer
class RelativeAttention(nn.Module):
    """Multi-head self-attention over an h x w token grid with a learned relative position bias.

    ``qkv``: Linear dim -> 3 * heads * dim_head (no bias); logits scaled by
    ``dim_head ** -0.5`` plus ``bias_table[index]`` (one bias per head and relative offset,
    table of (2h - 1)(2w - 1) rows, CoAtNet style); softmax; Linear heads*dim_head -> dim.
    """

    def __init__(self, dim: int, grid: int, heads: int = 8, dim_head: int = 32) -> None:
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        inner = heads * dim_head
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.out = nn.Linear(inner, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * grid - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(grid), torch.arange(grid),
                                            indexing="ij")).flatten(1)  # (2, N)
        rel = coords[:, :, None] - coords[:, None, :] + grid - 1  # (2, N, N) in [0, 2g-2]
        self.register_buffer("bias_index", rel[0] * (2 * grid - 1) + rel[1], persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, _ = tokens.shape
        qkv = self.qkv(tokens).reshape(b, n, 3, self.heads, self.dim_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, dim_head)
        bias = self.bias_table[self.bias_index].permute(2, 0, 1)  # (heads, N, N)
        logits = (q * self.dim_head ** -0.5) @ k.transpose(-2, -1) + bias
        out = logits.softmax(dim=-1) @ v  # (B, heads, N, dim_head)
        return self.out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """Token-wise MLP: Linear dim -> ratio*dim, GELU, Linear -> dim."""

    def __init__(self, dim: int, ratio: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, ratio * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    """SCA-Net "T" block on (B, C_in, H, W) -> (B, C_out, H', W').

    Size adjustment: 1x1 conv C_in -> C_out (with bias) when the widths differ, then, when
    downsampling, 2x2/2 average pooling (``style="authors"`` pools twice: H' = H / 4, as the
    released code does). Tokens are the H' x W' positions (``grid`` = H').

    * ``style="standard"`` (default): ``t = t + A(LN1 t)``; ``t = t + F(LN2 t)``.
    * ``style="authors"``: ``t + A(A(LN1 t)) + F(F(LN2 t))``: attention and FFN each
      applied twice with shared weights, in parallel branches that both read ``t``.
    """

    def __init__(self, inp: int, oup: int, grid: int, downsample: bool, heads: int = 8,
                 dim_head: int = 32, style: Literal["standard", "authors"] = "standard") -> None:
        super().__init__()
        self.style = style
        self.adjust = nn.Conv2d(inp, oup, 1) if inp != oup else nn.Identity()
        pools = (2 if style == "authors" else 1) if downsample else 0
        self.pool = nn.Sequential(*[nn.AvgPool2d(2, 2) for _ in range(pools)])
        self.norm1 = nn.LayerNorm(oup)
        self.attn = RelativeAttention(oup, grid, heads, dim_head)
        self.norm2 = nn.LayerNorm(oup)
        self.ffn = FeedForward(oup, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.adjust(x))
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        if self.style == "authors":
            t = t + self.attn(self.attn(self.norm1(t))) + self.ffn(self.ffn(self.norm2(t)))
        else:
            t = t + self.attn(self.norm1(t))
            t = t + self.ffn(self.norm2(t))
        return t.transpose(1, 2).reshape(b, c, h, w)


# ----------------------------------------------------------------------------- fusion
class MultiScaleFusion(nn.Module):
    """MFF: fuse several stage outputs and add the result to the last stage's map.

    Each input gets a 1x1 lateral conv (bias) to ``lateral`` channels and is resized
    bilinearly (align_corners=False) to the first input's size; the concatenation goes
    through 3x3 conv (bias) + BN + GELU and 1x1 conv -> ``out_channels``; that map is
    resized bilinearly to the last stage's size and added to it.
    """

    def __init__(self, in_channels: list[int], lateral: int, out_channels: int) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(c, lateral, 1) for c in in_channels)
        width = lateral * len(in_channels)
        self.fuse = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(width, width, 3, padding=1)),
            ("bn", nn.BatchNorm2d(width)),
            ("act", nn.GELU()),
            ("project", nn.Conv2d(width, out_channels, 1)),
        ]))

    def forward(self, features: list[torch.Tensor], last: torch.Tensor) -> torch.Tensor:
        size = features[0].shape[-2:]
        maps = [F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False)
                if f.shape[-2:] != size else lat(f) for lat, f in zip(self.laterals, features)]
        fused = self.fuse(torch.cat(maps, dim=1))
        if fused.shape[-2:] != last.shape[-2:]:
            fused = F.interpolate(fused, size=last.shape[-2:], mode="bilinear", align_corners=False)
        return last + fused


# ------------------------------------------------------------------------------ model
class SCANet(SpectralModel):
    """SCA-Net: ``forward(x) -> (B, 3)`` = [log Teff (base ``teff_log_base``), log g, [Fe/H]].

    Parameters
    ----------
    layout
        Four letters for S1..S4, "M" (MBConv) or "T" (Transformer), with every T after
        every M: "MMMM", "MMMT", "MMTT" (the paper's SCA-Net), "MTTT", "TTTT".
    channels, blocks
        Widths and block counts of S0..S4 (paper: (64, 128, 256, 512, 1024) and
        (2, 2, 6, 14, 2)).
    width
        Multiplier applied to ``channels`` (rounded, at least 1); e.g. 0.125 gives a
        CPU-friendly model for tests and demos.
    block
        ``"mbconv"`` or ``"standard"`` (dense 3x3 bottleneck without SE, Table 2) for every
        "M" block (and the MBConv of S0).
    transformer_style
        ``"standard"`` or ``"authors"``; see :class:`TransformerBlock`.
    s4_downsample
        Whether S4's first block downsamples. ``None`` picks the setting that reproduces
        the paper's FLOPs: True for "MMMM", False for layouts ending in "T".
    fold
        ``"s"`` (paper) or ``"row"`` (authors' loaders); see :func:`fold_spectrum`.
    heads, dim_head
        Attention heads and head width of every Transformer block (8 x 32).
    mff_channels
        Lateral width of the MFF (default ``channels[2]``, i.e. 256 at full size).
    head_hidden
        Width of the first fully connected layer (default ``channels[4] // 2``).
    dropout
        Dropout before the last Linear (0 in the paper).
    teff_log_base
        Base of the Teff logarithm the model was trained on (2 as in the authors' code).
    """

    task = "regression"
    preprocess = "scanet"
    input_length = SPECTRUM_LENGTH
    needs_image = False

    def __init__(self, layout: str = "MMTT", channels: tuple[int, ...] = FULL_CHANNELS,
                 blocks: tuple[int, ...] = FULL_BLOCKS, width: float = 1.0,
                 block: Literal["mbconv", "standard"] = "mbconv",
                 transformer_style: Literal["standard", "authors"] = "standard",
                 s4_downsample: bool | None = None, fold: Literal["s", "row"] = "s",
                 heads: int = 8, dim_head: int = 32, mff_channels: int | None = None,
                 head_hidden: int | None = None, dropout: float = 0.0,
                 teff_log_base: float = 2.0) -> None:
        super().__init__()
        layout = layout.upper()
        if len(layout) != 4 or set(layout) - {"M", "T"} or "TM" in layout:
            raise ModelError(f"layout must be 4 letters M/T with no M after a T, got {layout!r}")
        if len(channels) != 5 or len(blocks) != 5 or min(blocks) < 1:
            raise ModelError(f"channels and blocks need 5 entries (S0..S4, blocks >= 1), "
                             f"got {channels}, {blocks}")
        if block not in ("mbconv", "standard"):
            raise ModelError(f"block must be 'mbconv' or 'standard', got {block!r}")
        if transformer_style not in ("standard", "authors"):
            raise ModelError(f"transformer_style must be 'standard' or 'authors', "
                             f"got {transformer_style!r}")
        if fold not in ("s", "row"):
            raise ModelError(f"fold must be 's' or 'row', got {fold!r}")
        if width <= 0:
            raise ModelError(f"width must be positive, got {width}")
        ch = [max(1, round(c * width)) for c in channels]
        if s4_downsample is None:
            s4_downsample = layout[-1] == "M"
        self.layout, self.fold, self.teff_log_base = layout, fold, float(teff_log_base)
        self.transformer_style, self.block_type = transformer_style, block
        self.s4_downsample = bool(s4_downsample)
        self.channels = tuple(ch)
        self.output_names = ["log_teff", "logg", "feh"]
        dense = block == "standard"

        stem: list[nn.Module] = [nn.Conv2d(1, ch[0], 3, padding=1, bias=False),
                                 nn.BatchNorm2d(ch[0]), nn.GELU()]
        stem += [MBConv(ch[0], ch[0], False, dense=dense) for _ in range(blocks[0] - 1)]
        stages = [nn.Sequential(*stem)]
        size = SIDE
        self.grid_sizes = [size]
        for k, letter in enumerate(layout, start=1):
            down = k < 4 or self.s4_downsample
            factor = (4 if letter == "T" and transformer_style == "authors" else 2) if down else 1
            if size % factor:
                raise ModelError(f"stage S{k} ({letter}) cannot downsample a {size}x{size} map "
                                 f"by {factor}; set s4_downsample=False or use another layout")
            size //= factor
            if letter == "M":
                stage = [MBConv(ch[k - 1] if i == 0 else ch[k], ch[k], down and i == 0, dense=dense)
                         for i in range(blocks[k])]
            else:
                stage = [TransformerBlock(ch[k - 1] if i == 0 else ch[k], ch[k], size,
                                          down and i == 0, heads, dim_head, transformer_style)
                         for i in range(blocks[k])]
            stages.append(nn.Sequential(*stage))
            self.grid_sizes.append(size)
        self.stages = nn.ModuleList(stages)
        self.mff = MultiScaleFusion([ch[2], ch[3], ch[4]], mff_channels or ch[2], ch[4])
        hidden = head_hidden or max(1, ch[4] // 2)
        self.head_fc = nn.Linear(ch[4], hidden)
        self.head_act = nn.GELU()
        self.head_drop = nn.Dropout(dropout)
        self.head_out = nn.Linear(hidden, 3)

    def fold_input(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 4096) -> (B, 1, 64, 64) with the model's fold; a (B, 1, 64, 64) input passes."""
        if x.dim() == 4 and x.shape[1:] == (1, SIDE, SIDE):
            return x
        if x.dim() == 3 and x.shape[1:] == (1, SPECTRUM_LENGTH):
            return fold_spectrum(x, self.fold)
        raise ModelError(f"SCA-Net expects (B, 1, {SPECTRUM_LENGTH}) spectra or (B, 1, {SIDE}, "
                         f"{SIDE}) folded spectra, got {tuple(x.shape)}", "x")

    def forward_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of S0..S4, the last one with the MFF map added."""
        h = self.fold_input(x)
        maps = []
        for stage in self.stages:
            h = stage(h)
            maps.append(h)
        maps[-1] = self.mff(maps[2:], maps[-1])
        return maps

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        """Penultimate vector (B, head_hidden): GELU(Linear(global-average-pooled MFF output))."""
        pooled = self.forward_maps(x)[-1].mean(dim=(-2, -1))
        return self.head_act(self.head_fc(pooled))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head_out(self.head_drop(features))

    def teff_kelvin(self, log_teff: torch.Tensor) -> torch.Tensor:
        """Teff in K from the model's ``log_teff`` output (``teff_log_base ** log_teff``)."""
        return torch.pow(torch.as_tensor(self.teff_log_base, dtype=log_teff.dtype), log_teff)


def _builder(layout: str):
    def build(**overrides) -> SCANet:
        return SCANet(layout=layout, **overrides)
    build.__name__ = f"scanet_{layout.lower()}"
    build.__qualname__ = build.__name__
    build.__doc__ = (f"SCA-Net variant {'-'.join(layout)} (S1..S4); keyword overrides go to "
                     ":class:`SCANet`.")
    return register_model(build)


scanet_mmmm = _builder("MMMM")
scanet_mmmt = _builder("MMMT")
scanet_mmtt = _builder("MMTT")
scanet_mttt = _builder("MTTT")
scanet_tttt = _builder("TTTT")
