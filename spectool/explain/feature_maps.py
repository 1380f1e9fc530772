"""Per-channel activations of chosen layers for one spectrum (MSPC-Net Fig. 7).

MSPC-Net Fig. 7 compares the output of a regular convolution with that of the MSPC
module for the same spectrum: channels x length images where, in the MSPC module,
channels 1-48 are the three multiscale kernels (5, 45, 405; 16 channels each) and
49-128 pass through unchanged. :func:`feature_maps` records the ``(C, P)`` outputs of
any named 1-D layers (every model calls its submodules as modules, so any layer can be
hooked), with each position's centre wavelength from
:func:`spectool.explain.receptive.receptive_field`; :func:`plot_feature_maps` draws
them side by side with optional channel-group separators.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..errors import ModelError
from . import _inputs
from .receptive import receptive_field

#: MSPC module channel groups (1-based in the paper, 0-based ranges here).
MSPC_GROUPS: dict[str, tuple[int, int]] = {"k=5": (0, 16), "k=45": (16, 32), "k=405": (32, 48),
                                           "identity": (48, 128)}


@dataclass
class FeatureMap:
    """Activations ``values (C, P)`` of ``layer``; ``wavelength (P,)`` position centres
    (vacuum Angstrom)."""

    layer: str
    values: np.ndarray
    wavelength: np.ndarray


def feature_maps(model: nn.Module, x, layers: list[str] | str, wavelength: np.ndarray | None = None,
                 image=None) -> dict[str, FeatureMap]:
    """Outputs of ``layers`` (module names) for one model-ready spectrum."""
    names = [layers] if isinstance(layers, str) else list(layers)
    xt, grid = _inputs.as_batch(x, wavelength, dtype=_inputs.model_dtype(model))
    if xt.shape[0] != 1:
        raise ModelError(f"feature_maps explains one spectrum, got {xt.shape[0]}", "x")
    img = _inputs.as_image(image, 1, xt.dtype)
    _inputs.check_image(model, img)
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for n in names:
        try:
            mod = model.get_submodule(n)
        except AttributeError as exc:
            raise ModelError(f"{type(model).__name__} has no submodule {n!r}", "layers") from exc
        handles.append(mod.register_forward_hook(lambda m, a, out, n=n: captured.setdefault(n, out.detach())))
    model.eval()
    dev = _inputs.model_device(model)
    try:
        with torch.inference_mode():
            model(xt.to(dev), img.to(dev)) if img is not None else model(xt.to(dev))
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in names if n not in captured]
    if missing:
        raise ModelError(f"layer(s) {missing} were not called in the forward pass", "layers")
    out = {}
    for n in names:
        v = captured[n]
        if v.dim() != 3:
            raise ModelError(f"{n!r} outputs {tuple(v.shape)}, not a 1-D feature map (1, C, P)", "layers")
        rf = receptive_field(model, n, input_length=xt.shape[-1], image=image)
        out[n] = FeatureMap(n, v[0].float().cpu().numpy(), rf.centre_wavelengths(grid))
    return out


def plot_feature_maps(maps: dict[str, FeatureMap], groups: dict[str, dict[str, tuple[int, int]]] | None = None,
                      titles: dict[str, str] | None = None, axes=None, cmap: str = "magma"):
    """Channels x wavelength images, one panel per layer; ``groups[layer]`` adds dashed
    separators and labels (e.g. :data:`MSPC_GROUPS`). Returns the axes."""
    import matplotlib.pyplot as plt

    from ..plots import style

    with style():
        if axes is None:
            _, axes = plt.subplots(1, len(maps), figsize=(5 * len(maps), 4), squeeze=False)
            axes = axes[0]
        for ax, (name, fm) in zip(np.atleast_1d(axes), maps.items()):
            w = fm.wavelength
            ax.imshow(fm.values, aspect="auto", cmap=cmap, interpolation="nearest",
                      extent=(w[0], w[-1], fm.values.shape[0] - 0.5, -0.5))
            for label, (lo, hi) in ((groups or {}).get(name) or {}).items():
                if lo > 0:
                    ax.axhline(lo - 0.5, color="w", ls="--", lw=0.8)
                ax.text(1.01, (lo + hi - 1) / 2, label, va="center", fontsize=7,
                        transform=ax.get_yaxis_transform())
            ax.set_title((titles or {}).get(name, name))
            ax.set_xlabel("Wavelength (vacuum) [Angstrom]")
            ax.set_ylabel("channel")
    return axes
