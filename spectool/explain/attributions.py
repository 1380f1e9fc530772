"""Gradient and perturbation attributions through captum, on the wavelength grid.

``attribute(model, x, method, target)`` runs one of captum's
``IntegratedGradients`` ("ig"), ``Saliency`` ("saliency"), ``Occlusion``
("occlusion") or ``DeepLift`` ("deeplift") on any spectool model and returns an
:class:`Attribution` whose ``values`` are ``(N, L)``, one value per model-input pixel,
with the pixels' wavelengths. Models that fold spectra internally (SCA-Net takes
``(B, 1, 4096)`` and folds to 64 x 64 inside ``forward``) are attributed on the 1-D
input, so no unfolding is needed.

Targets are output indices or names (class name for classifiers, target name for
regressors). Classifiers are attributed through their logits by default, or through
softmax probabilities with ``probabilities=True``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..errors import ModelError
from . import _inputs

METHODS = ("ig", "saliency", "occlusion", "deeplift")


@dataclass
class Attribution:
    """Per-pixel attributions.

    Attributes
    ----------
    values
        ``(N, L)`` attribution of each input pixel (units of the explained output).
    wavelength
        ``(L,)`` vacuum Angstrom of each pixel (NaN for padding).
    method, target
        captum method key and explained output name.
    delta
        ``(N,)`` completeness error of IG / DeepLIFT (sum of attributions minus
        ``f(x) - f(baseline)``), else None.
    """

    values: np.ndarray
    wavelength: np.ndarray
    method: str
    target: str
    delta: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: sample, pixel, wavelength, attribution (padding pixels dropped)."""
        n, L = self.values.shape
        frame = pd.DataFrame({"sample": np.repeat(np.arange(n), L), "pixel": np.tile(np.arange(L), n),
                              "wavelength": np.tile(self.wavelength, n), "attribution": self.values.ravel()})
        return frame[np.isfinite(frame["wavelength"])].reset_index(drop=True)

    def smoothed(self, width: int = 15) -> np.ndarray:
        """``(N, L)`` mean of ``|values|`` in a running window of ``width`` pixels."""
        kernel = np.ones(width) / width
        return np.stack([np.convolve(np.abs(v), kernel, mode="same") for v in self.values])

    def profile(self, width: int = 15) -> np.ndarray:
        """``(L,)`` mean over the spectra of :meth:`smoothed` (units of the explained output
        per pixel): where along the spectrum the output is decided, for the whole batch."""
        return self.smoothed(width).mean(0)

    def top_regions(self, share: float = 0.5, width: int = 15,
                    wavelength_range: tuple[float | None, float | None] | None = None
                    ) -> tuple[list[tuple[float, float]], float]:
        """The fewest pixels whose :meth:`profile` holds ``share`` of the total attribution
        inside ``wavelength_range`` (vacuum Angstrom, None = open; padding pixels excluded).

        Returns ``(regions, pixel_fraction)``: contiguous ``(lo, hi)`` Angstrom runs of those
        pixels, and the fraction of the range's pixels they are. An attribution spread evenly
        over the spectrum gives ``pixel_fraction`` close to ``share``; one concentrated on a
        few features, much less.
        """
        if not 0.0 < share < 1.0:
            raise ModelError(f"share must be in (0, 1), got {share}", "share")
        from .overlay import regions_above

        lo, hi = wavelength_range or (None, None)
        wl = self.wavelength
        keep = np.isfinite(wl) & (wl >= (-np.inf if lo is None else lo)) & (wl <= (np.inf if hi is None else hi))
        if not keep.any():
            raise ModelError(f"wavelength_range {wavelength_range} holds no pixel of the input grid",
                             "wavelength_range")
        prof = self.profile(width)[keep]
        order = np.argsort(prof)[::-1]
        held = np.cumsum(prof[order])
        n = int(np.searchsorted(held, share * held[-1]) + 1) if held[-1] > 0 else prof.size
        top = np.zeros(prof.size, bool)
        top[order[:n]] = True
        return regions_above(wl[keep], top.astype(float), 0.5), n / prof.size


class _Forward(nn.Module):
    """Wraps a model as ``f(x, image) -> outputs`` (softmax optional) for captum."""

    def __init__(self, model: nn.Module, probabilities: bool) -> None:
        super().__init__()
        self.model = model
        self.probabilities = probabilities

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        out = self.model(x, image) if image is not None else self.model(x)
        return torch.softmax(out, dim=1) if self.probabilities else out


def attribute(
    model: nn.Module,
    x,
    method: str = "ig",
    target: int | str = 0,
    wavelength: np.ndarray | None = None,
    image=None,
    baselines: float | torch.Tensor | str = 0.0,
    probabilities: bool = False,
    n_steps: int = 50,
    window: int = 15,
    stride: int = 5,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> Attribution:
    """Attribute output ``target`` of ``model`` to each input pixel.

    Parameters
    ----------
    x
        ``(N, 1, L)`` / ``(N, L)`` model-ready flux or a list of model-ready spectra.
    method
        ``"ig"`` (Integrated Gradients, ``n_steps`` Riemann steps), ``"saliency"``
        (absolute gradient), ``"occlusion"`` (``window``/``stride`` in *pixels*) or
        ``"deeplift"`` (rescale rule; models whose modules are reused in one forward
        pass are refused by captum).
    baselines
        Reference input for IG / DeepLIFT / Occlusion: a number, a tensor broadcastable
        to ``x``, or ``"continuum"`` (each spectrum's 5th-degree continuum, see
        :func:`spectool.explain.sliding.fill_values`).
    probabilities
        Explain softmax probabilities instead of logits (classifiers).
    batch_size
        Internal batch size (IG steps, occlusion perturbations) per forward pass.
    """
    from captum.attr import DeepLift, IntegratedGradients, Occlusion, Saliency

    if method not in METHODS:
        raise ModelError(f"unknown attribution method {method!r}; choose from {METHODS}", "method")
    model.eval()
    dev = _inputs.model_device(model, device)
    xt, grid = _inputs.as_batch(x, wavelength, dtype=_inputs.model_dtype(model))
    img = _inputs.as_image(image, xt.shape[0], xt.dtype)
    _inputs.check_image(model, img)
    xt = xt.to(dev)
    img = img.to(dev) if img is not None else None
    fwd = _Forward(model, probabilities)
    with torch.no_grad():
        n_out = fwd(xt[:1], img[:1] if img is not None else None).shape[1]
    j = _inputs.resolve_targets(model, target, n_out)[0]
    if isinstance(baselines, str):
        from .sliding import fill_values

        base = fill_values(xt, grid, baselines).to(dev)
    else:
        base = torch.as_tensor(baselines, dtype=xt.dtype, device=dev).expand_as(xt).contiguous()
    extra = (img,) if img is not None else None
    xt = xt.clone().requires_grad_(method != "occlusion")
    delta = None
    try:
        if method == "saliency":
            vals = Saliency(fwd).attribute(xt, target=j, abs=True, additional_forward_args=extra)
        elif method == "occlusion":
            vals = Occlusion(fwd).attribute(xt, sliding_window_shapes=(1, window), strides=(1, stride),
                                            baselines=base, target=j, additional_forward_args=extra,
                                            perturbations_per_eval=batch_size)
        elif method == "ig":
            vals, d = IntegratedGradients(fwd).attribute(
                xt, baselines=base, target=j, n_steps=n_steps, additional_forward_args=extra,
                internal_batch_size=max(batch_size, xt.shape[0]), return_convergence_delta=True)
            delta = d.detach().cpu().numpy()
        else:
            with warnings.catch_warnings():  # captum announces its temporary hooks on every call
                warnings.filterwarnings("ignore", message="Setting forward, backward hooks", category=UserWarning)
                vals, d = DeepLift(fwd).attribute(xt, baselines=base, target=j, additional_forward_args=extra,
                                                  return_convergence_delta=True)
            delta = d.detach().cpu().numpy()
    except (AssertionError, RuntimeError) as exc:
        raise ModelError(f"captum {method} failed on {type(model).__name__}: {exc}", "method") from exc
    names = _inputs.output_names(model, n_out)
    return Attribution(vals[:, 0].detach().cpu().numpy(), grid, method, names[j], delta)
