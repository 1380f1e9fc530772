"""Capture channel-attention (ECA / SE) weights per sample and per layer.

Every spectool model lists its channel-attention modules in ``attention_modules()``;
each has a ``gate`` submodule whose output is the channel weights ``(B, C)`` in (0, 1)
(MSPC-Net: one ECA(128) per MSPC block; SPFusion: the SE over the 96 head channels,
ordered photometric 0-31, fused 32-63, spectral 64-95; SCA-Net: the SE inside every
MBConv). :func:`capture_attention` hooks those gates::

    with capture_attention(model) as rec:
        model(x)            # any number of forward passes
    rec.weights["stages.0.blocks.1.mlp.eca"]   # (N, C) numpy array
    rec.to_frame()                             # tidy: sample, layer, call, channel, weight

A module applied several times in one forward pass is recorded once per call
(``layer#1``, ``layer#2``, ...). With ``keep_inputs=True`` the feature map the gate
reads (``(N, C, *spatial)``, the tensor its weights scale) is kept too, which
:mod:`spectool.explain.overlay` uses to place channel weights along the spectrum.

:func:`plot_attention_heatmap` draws SPFusion Fig. 9.
"""
from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..errors import ModelError
from . import _inputs

#: SPFusion's SE head channel groups in concat order (reference facts, SPFusion 1.2 / 9).
SPFUSION_GROUPS: dict[str, tuple[int, int]] = {"photometric": (0, 32), "fused": (32, 64), "spectral": (64, 96)}


class AttentionRecord:
    """Weights captured by :func:`capture_attention`, concatenated over forward passes.

    ``weights[name]`` is ``(N, C)``; ``inputs[name]`` (with ``keep_inputs``) the gate's
    input ``(N, C, *spatial)``.
    """

    def __init__(self) -> None:
        self._w: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._x: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._calls: dict[str, int] = defaultdict(int)

    def _reset_calls(self) -> None:
        self._calls.clear()

    def _add(self, name: str, weights: torch.Tensor, inp: torch.Tensor | None) -> None:
        self._calls[name] += 1
        key = name if self._calls[name] == 1 else f"{name}#{self._calls[name]}"
        self._w[key].append(weights.detach().float().reshape(weights.shape[0], -1).cpu())
        if inp is not None:
            self._x[key].append(inp.detach().float().cpu())

    @property
    def layers(self) -> list[str]:
        return list(self._w)

    @property
    def weights(self) -> dict[str, np.ndarray]:
        return {k: torch.cat(v).numpy() for k, v in self._w.items()}

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return {k: torch.cat(v).numpy() for k, v in self._x.items()}

    def to_frame(self) -> pd.DataFrame:
        """Tidy table with columns ``sample``, ``layer``, ``channel``, ``weight``."""
        parts = []
        for layer, w in self.weights.items():
            n, c = w.shape
            parts.append(pd.DataFrame({"sample": np.repeat(np.arange(n), c), "layer": layer,
                                       "channel": np.tile(np.arange(c), n), "weight": w.ravel()}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["sample", "layer", "channel", "weight"])

    def summary(self) -> pd.DataFrame:
        """Per layer: channels, mean / std / min / max weight, fraction above 0.5."""
        rows = [{"layer": k, "channels": w.shape[1], "mean": w.mean(), "std": w.std(), "min": w.min(),
                 "max": w.max(), "frac_above_0.5": (w > 0.5).mean()} for k, w in self.weights.items()]
        return pd.DataFrame(rows)


def attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The model's channel-attention modules by name (``attention_modules()`` or any
    submodule with a ``gate``)."""
    if hasattr(model, "attention_modules"):
        mods = dict(model.attention_modules())
    else:
        mods = {n: m for n, m in model.named_modules() if n and hasattr(m, "gate")}
    return mods


@contextmanager
def capture_attention(model: nn.Module, layers: list[str] | None = None,
                      keep_inputs: bool = False) -> Iterator[AttentionRecord]:
    """Record the channel weights of ``layers`` (default: all attention modules).

    Hooks are removed on exit, also after an exception.
    """
    mods = attention_modules(model)
    if not mods:
        raise ModelError(f"{type(model).__name__} has no channel-attention module (nothing with a 'gate')",
                         "attention_modules")
    if layers is not None:
        unknown = [n for n in layers if n not in mods]
        if unknown:
            raise ModelError(f"unknown attention layer(s) {unknown}; the model has {list(mods)}", "layers")
        mods = {n: mods[n] for n in layers}
    rec = AttentionRecord()
    handles = [model.register_forward_pre_hook(lambda m, a: rec._reset_calls())]
    for name, mod in mods.items():
        def hook(m, args, out, name=name):
            rec._add(name, out, args[0] if keep_inputs else None)
        handles.append(mod.gate.register_forward_hook(hook))
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()


def attention_weights(model: nn.Module, x, image=None, layers: list[str] | None = None,
                      batch_size: int = 256, keep_inputs: bool = False, device=None,
                      progress: bool = False) -> AttentionRecord:
    """Run ``model`` over ``x`` (flux array or model-ready spectra) in eval mode and
    return the captured :class:`AttentionRecord`."""
    model.eval()
    dev = _inputs.model_device(model, device)
    xt, _ = _inputs.as_batch(x, dtype=_inputs.model_dtype(model))
    img = _inputs.as_image(image, xt.shape[0], xt.dtype)
    _inputs.check_image(model, img)
    with capture_attention(model, layers, keep_inputs) as rec, torch.inference_mode():
        for s in _inputs.progress(list(_inputs.batches(xt.shape[0], batch_size)), None, "attention", progress):
            model(xt[s].to(dev), img[s].to(dev)) if img is not None else model(xt[s].to(dev))
    return rec


def plot_attention_heatmap(weights: np.ndarray, groups: dict[str, tuple[int, int]] | None = None,
                           ax=None, title: str | None = None, cmap: str = "viridis"):
    """Batch x channel heatmap of channel weights (SPFusion Fig. 9); returns the Axes.

    ``groups`` (name -> channel range ``[lo, hi)``, e.g. :data:`SPFUSION_GROUPS`) are
    labelled on top and separated by gray dashed lines. Yellow = high weight.
    """
    import matplotlib.pyplot as plt

    from ..plots import style

    w = np.asarray(weights)
    if w.ndim != 2:
        raise ModelError(f"weights must be (batch, channels), got {w.shape}", "weights")
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        im = ax.imshow(w, aspect="auto", cmap=cmap, interpolation="nearest", vmin=0, vmax=1)
        ax.figure.colorbar(im, ax=ax, label="channel weight")
        for name, (lo, hi) in (groups or {}).items():
            if lo > 0:
                ax.axvline(lo - 0.5, color="0.5", ls="--", lw=1.2)
            ax.text((lo + hi - 1) / 2, 1.01, name, ha="center", va="bottom", transform=ax.get_xaxis_transform())
        ax.set_xlabel("feature channel")
        ax.set_ylabel("sample in batch")
        if title:
            ax.set_title(title, pad=16 if groups else None)
    return ax
