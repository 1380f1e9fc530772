"""Receptive fields: from a feature position back to input pixels and wavelengths.

A 1-D feature map ``(C, P)`` inside a model has, for each position ``p``, a
**field** (the input pixels that can influence it) and a **footprint** (the input
pixels it stands for when a position-wise quantity is drawn on the spectrum: the
pixels closer to its field centre than to any other position's, so footprints tile
the input). For a stack of convolutions/poolings with total stride ``jump``, the field
of ``p`` is ``[start + p * jump, start + p * jump + size)`` (clipped to the input).

The paper models (input pixels; L = model input length)

* **ConvNeXt-1D** (MSPC-Net comparison, L = 3584): stem ``Conv1d(k=32, s=32)`` -> 112
  positions, field = footprint = 32 px. Each stage adds ``3 * 15 * jump`` (three
  depthwise k=16 'same' convs) and each k2/s2 downsample ``jump``: stage 0 output
  field 1472 px (jump 32), after the first downsample 1504 px at jump 64 (56 positions);
  from stage 1 on the field covers the whole spectrum.
* **SPFusion spectral branch** (its ConvNeXt-1D, L = 3584): output ``(32, 28)``, jump
  128: each of the 28 positions has a **128-pixel footprint** (position p <-> pixels
  ``128 p .. 128 p + 127``) while its field is the whole spectrum. The fusion
  transformer mixes channels, and the last MetaFormer block's ``Linear(28, 28)`` mixes
  positions, so at the SE head (96 x 28) the position <-> footprint link is nominal
  (``mixes_positions`` is True there); the overlay of Fig. 10 uses the footprints.
* **MSPC-Net** (L = 3584, unpadded k3 convs): PatchEmbed ``k3 s1 p0`` -> 3582 positions,
  field 3 px, position p centred on pixel ``p + 1``; every MSPC block adds 404 px
  (the k=405 'same' branch on channels 33-48) for the multiscale channels, nothing for
  the 80 identity channels; each PatchMerging ``k3 s2 p0`` doubles the jump (3582 ->
  1790 -> 894 -> 446 positions) and adds ``2 * jump``. Stage-1 output (2 blocks): field
  811 px; after merging 1: 813 px at jump 2; stage 3 onwards: whole spectrum.
* **SCA-Net** folds the 4096-pixel spectrum row-major into 64 x 64 inside ``forward``:
  2-D positions (i, j) at jump s map to pixels ``64 * s * i + s * j`` (row-major),
  so 1-D maps are not defined; use :mod:`spectool.explain.attributions` (1-D input).

:func:`receptive_field` measures the field of any named 1-D module from input
gradients (exact support for convolutional stacks), so the numbers above are tested,
not trusted; :func:`analytic_receptive_field` computes them from layer parameters.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ..errors import ModelError
from . import _inputs
from .attention import attention_modules


@dataclass(frozen=True)
class ReceptiveField:
    """Field geometry of a 1-D feature map over an input of ``input_length`` pixels.

    ``start`` (may be negative: padding), ``jump`` and ``size`` are in input pixels;
    ``mixes_positions`` is True when every position sees the same (whole) input, in
    which case footprints are the equal split of the input into ``n_positions`` tiles.
    """

    start: float
    jump: float
    size: float
    n_positions: int
    input_length: int
    mixes_positions: bool = False

    def span(self, p: int) -> tuple[int, int]:
        """Field of position ``p`` as clipped pixel range ``[lo, hi)``."""
        lo = self.start + p * self.jump
        return max(0, int(np.floor(lo))), min(self.input_length, int(np.ceil(lo + self.size)))

    def centres(self) -> np.ndarray:
        """``(P,)`` fractional input-pixel centre of each position."""
        p = np.arange(self.n_positions)
        if self.mixes_positions:
            return (p + 0.5) * self.input_length / self.n_positions - 0.5
        return self.start + p * self.jump + (self.size - 1) / 2

    def footprints(self) -> np.ndarray:
        """``(P, 2)`` pixel ranges ``[lo, hi)`` tiling the input, one per position."""
        c = self.centres()
        edges = np.concatenate([[0], np.ceil((c[:-1] + c[1:]) / 2), [self.input_length]]).astype(int)
        edges = np.clip(edges, 0, self.input_length)
        return np.stack([edges[:-1], edges[1:]], axis=1)

    def to_pixels(self, values: np.ndarray, mode: str = "footprint") -> np.ndarray:
        """Spread position values ``(..., P)`` onto input pixels ``(..., L)``.

        ``"footprint"`` paints each tile with its position's value; ``"field"`` averages
        the values of all positions whose field covers a pixel (NaN where none does).
        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape[-1] != self.n_positions:
            raise ModelError(f"got {values.shape[-1]} positions, the field has {self.n_positions}", "values")
        out = np.zeros(values.shape[:-1] + (self.input_length,))
        if mode == "footprint":
            for p, (lo, hi) in enumerate(self.footprints()):
                out[..., lo:hi] = values[..., p, None]
            return out
        if mode != "field":
            raise ModelError(f"unknown mode {mode!r}; use 'footprint' or 'field'", "mode")
        count = np.zeros(self.input_length)
        for p in range(self.n_positions):
            lo, hi = self.span(p)
            out[..., lo:hi] += values[..., p, None]
            count[lo:hi] += 1
        with np.errstate(invalid="ignore"):
            return np.where(count > 0, out / np.maximum(count, 1), np.nan)

    def centre_wavelengths(self, wavelength: np.ndarray) -> np.ndarray:
        """``(P,)`` wavelength (Angstrom) at each position's centre, interpolated on the grid."""
        good = np.isfinite(wavelength)
        return np.interp(self.centres(), np.flatnonzero(good), wavelength[good])


def analytic_receptive_field(layers: Sequence[nn.Module], input_length: int) -> ReceptiveField:
    """Field of the output of a chain of ``Conv1d`` / ``MaxPool1d`` / ``AvgPool1d`` layers.

    Other layers in the chain are taken as position-wise (norms, activations, 1x1 ops)
    and must not be passed if they mix positions. 'same' padding follows PyTorch
    (``(k - 1) // 2`` zeros on the left).
    """
    start, jump, size, length = 0.0, 1.0, 1.0, input_length
    for layer in layers:
        if isinstance(layer, nn.Conv1d):
            k, s, d = layer.kernel_size[0], layer.stride[0], layer.dilation[0]
            pad = (d * (k - 1)) // 2 if layer.padding == "same" else layer.padding[0]
            right = d * (k - 1) - pad if layer.padding == "same" else pad
        elif isinstance(layer, (nn.MaxPool1d, nn.AvgPool1d)):
            k = _one(layer.kernel_size)
            s = _one(layer.stride) if layer.stride is not None else k
            d = _one(getattr(layer, "dilation", 1))
            pad = right = _one(layer.padding)
        else:
            continue
        span = d * (k - 1)
        start -= pad * jump
        size += span * jump
        length = (length + pad + right - span - 1) // s + 1
        jump *= s
    return ReceptiveField(start, jump, size, int(length), input_length)


def _one(v) -> int:
    return int(v[0] if isinstance(v, (tuple, list)) else v)


class _StopForward(Exception):
    """Raised by the probe hook once the wanted feature map exists."""


def receptive_field(model: nn.Module, module_name: str, input_length: int | None = None,
                    image=None, seed: int = 0, of: str = "output", rel_tol: float = 1e-9) -> ReceptiveField:
    """Measure the field of the 1-D output ``(B, C, P)`` of submodule ``module_name``
    (or of its first input, with ``of="input"``: e.g. the feature map an SE/ECA gates).

    The gradient of a random (seeded, Gaussian) combination of the channels at interior
    positions with respect to a random input gives each field's support for
    convolutional stacks: pixels with ``|grad| > rel_tol * max |grad|``, computed on a
    float64 copy of the model so that round-off of FFT-based convolutions stays far
    below ``rel_tol`` (a lower bound if ReLUs happen to cut paths). A random combination,
    not the plain channel sum: the channel sum of a normalised map (LayerNorm with its
    initial unit weight and zero bias) is constant, so its gradient is pure round-off
    whose pattern (and whether it is exactly zero) depends on the CPU's vector units.
    A position whose gradient is zero or not finite raises :class:`ModelError`. Channel-attention gates (ECA / SE) pool
    over the whole map, so during the probe their outputs are held constant (gradients
    stopped): the field is the *local* field, the one positions and footprints refer to.
    Models that need an image get ``image`` or a random one.
    """
    L = int(input_length or getattr(model, "input_length", 0))
    if L <= 0:
        raise ModelError("pass input_length: the model does not declare one", "input_length")
    try:
        model.get_submodule(module_name)
    except AttributeError as exc:
        raise ModelError(f"{type(model).__name__} has no submodule {module_name!r}", "module_name") from exc
    g = torch.Generator().manual_seed(seed)
    probe_model = copy.deepcopy(model).double().eval()  # float64: FFT round-off far below real gradients
    dev = _inputs.model_device(model)
    x = torch.randn(1, 1, L, generator=g, dtype=torch.float64).to(dev).requires_grad_(True)
    img = None
    if getattr(model, "needs_image", False):
        img = (torch.as_tensor(image)[:1] if image is not None else torch.rand(1, 3, 128, 128, generator=g))
        img = img.to(dev, torch.float64)
    if of not in ("output", "input"):
        raise ModelError(f"of must be 'output' or 'input', got {of!r}", "of")
    target = probe_model.get_submodule(module_name)
    if of == "input" and hasattr(target, "gate"):
        target = target.gate  # attention modules may call their gate directly: it reads the gated map
    captured: list[torch.Tensor] = []

    def grab(m, a, out):
        captured.append(out if of == "output" else a[0])
        raise _StopForward  # the rest of the model is not needed

    handles = [target.register_forward_hook(grab)]
    handles += [att.gate.register_forward_hook(lambda m, a, out: out.detach())
                for att in attention_modules(probe_model).values()]
    try:
        probe_model(x, img) if img is not None else probe_model(x)
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    if not captured:
        raise ModelError(f"{module_name!r} was not called in the forward pass", "module_name")
    out = captured[0]
    if out.dim() != 3 or out.shape[0] != 1:
        raise ModelError(f"{module_name!r} outputs {tuple(out.shape)}, not a 1-D feature map (1, C, P)", "module_name")
    P = out.shape[-1]

    mix = torch.randn(out.shape[1], generator=g, dtype=torch.float64).to(out.device)

    def support(p: int) -> tuple[int, int]:
        (grad,) = torch.autograd.grad((out[0, :, p] * mix).sum(), x, retain_graph=True)
        g_abs = grad[0, 0].abs()
        top = g_abs.max()
        if not bool(torch.isfinite(top)) or float(top) == 0.0:
            raise ModelError(f"the input gradient of {module_name!r} at position {p} is {float(top)}: "
                             "no field can be measured there", "module_name")
        nz = torch.nonzero(g_abs > rel_tol * top).flatten()
        return int(nz.min()), int(nz.max()) + 1

    if P == 1:
        lo, hi = support(0)
        return ReceptiveField(lo, L, hi - lo, 1, L, mixes_positions=(lo, hi) == (0, L))
    mid = P // 2
    (a0, b0), (a1, b1) = support(mid - 1), support(mid)
    if (a0, b0) == (a1, b1) or (a1, b1) == (0, L):
        return ReceptiveField(0.0, L / P, float(L), P, L, mixes_positions=True)
    jump = a1 - a0 if a0 > 0 else b1 - b0  # the unclipped side moves by one jump
    return ReceptiveField(float(a1 - mid * jump), float(jump), float(b1 - a1), P, L)
