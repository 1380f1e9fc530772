"""Sliding-window perturbation importance (SCA-Net Fig. 8).

For every window of ``window`` Angstrom, moved in steps of ``step`` Angstrom along the
wavelength grid, the flux inside the window is replaced (``fill``) and the model is
run again; the importance of the window for an output is the mean over spectra of the
absolute change of the prediction, ``mean_n |f(x_n, window replaced) - f(x_n)|``
(SCA-Net's ``window_lxp.py`` metric: the change of the *prediction*, not of the
error). Classification models are explained through their class probabilities
(softmax), regression models through their raw outputs.

Windows
    A window starting at ``s`` holds the pixels whose (vacuum) wavelength lies in
    ``[s, s + window)``; starts are ``lambda_0 + k * step`` for every window that fits
    in the grid (each pixel spanning one pixel spacing). On SCA-Net's 1 A/pixel grid
    (4000-8095 A) a 15 A window with a 5 A step is 15 pixels, starts at pixels
    0, 5, ..., 4080, and gives 817 windows, as in the authors' code. Padding pixels
    (NaN wavelength) are never perturbed. The reported window wavelength is the mean
    wavelength of its pixels (pixel start + 7 for 15 pixels, as plotted by the authors).

Fills (per spectrum)
    ``"continuum"``: 5th-degree Legendre polynomial fitted by least squares to the flux
    against wavelength mapped to ``[-1, 1]`` (well conditioned, unlike the authors'
    ``np.polyfit`` on raw pixel indices), clipped to the spectrum's own flux range
    (``[0, 1]`` for min-max scaled inputs, as the authors clip); ``"zero"``; ``"mean"``
    (the spectrum's mean flux); ``"noise"``: the continuum plus Gaussian noise whose
    sigma is the robust (1.4826 MAD) scatter of the flux about the continuum (seeded).

Speed
    The (spectrum, window) pairs are enumerated flat and go through the model in full
    batches of ``batch_size`` perturbed copies (the last one shorter), each built with
    one gather and one ``where`` (no Python loop per window), under
    ``torch.inference_mode``; the clean prediction of each spectrum is computed once
    and reused; every output is explained from the same forward passes. CUDA runs under
    autocast (bfloat16 where supported). ``benchmarks/explain.py`` measures the rate
    against captum's ``Occlusion`` and the model's own forward throughput.

Models
    Any ``nn.Module`` whose ``forward`` takes the spectrum batch ``(B, 1, L)`` (plus
    the image batch for models with ``needs_image``); inputs follow the dtype of the
    model's parameters. Models without ``task = "classification"`` are explained
    through their raw outputs.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..errors import InvalidSpectrumError
from ..lines import get_lines, nearest_line
from ..preprocess.continuum import polynomial_continuum
from . import _inputs

FILLS = ("continuum", "zero", "mean", "noise")


@dataclass
class SlidingWindowResult:
    """Importance of each window for each output.

    Attributes
    ----------
    importance
        ``(n_windows, n_outputs)``: mean absolute change of the prediction (output units,
        or probability for classifiers).
    signed
        ``(n_windows, n_outputs)``: mean signed change ``f(perturbed) - f(clean)``.
    wavelength
        ``(n_windows,)`` window centres (mean pixel wavelength, Angstrom, same medium as
        the input grid: vacuum for spectool grids).
    lo, hi
        ``(n_windows,)`` window edges ``[lo, hi)`` in Angstrom.
    pixels
        ``(n_windows, 2)`` pixel ranges ``[start, stop)`` in the model input.
    output_names
        Names of the explained outputs (class names or targets).
    """

    importance: np.ndarray
    signed: np.ndarray
    wavelength: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    pixels: np.ndarray
    output_names: list[str]
    input_length: int
    fill: str
    window: float
    step: float
    n_samples: int
    quantity: str
    meta: dict = field(default_factory=dict)

    def to_frame(self, lines: str | list[str] = "absorption", max_distance: float | None = None) -> pd.DataFrame:
        """Tidy table: one row per (window, output) with the nearest line from ``lines``.

        ``max_distance`` (Angstrom) defaults to half the window width.
        """
        dist = self.window / 2 if max_distance is None else max_distance
        ids = []
        for w in self.wavelength:
            ln = nearest_line(float(w), lines, max_distance=dist)
            ids.append(ln.name if ln else "")
        n_w, n_o = self.importance.shape
        return pd.DataFrame({
            "window": np.repeat(np.arange(n_w), n_o),
            "wavelength": np.repeat(self.wavelength, n_o),
            "lo": np.repeat(self.lo, n_o),
            "hi": np.repeat(self.hi, n_o),
            "output": np.tile(self.output_names, n_w),
            "importance": self.importance.ravel(),
            "signed": self.signed.ravel(),
            "line": np.repeat(ids, n_o),
        })

    def peaks(self, output: int | str = 0, n: int = 5, lines: str | list[str] = "absorption",
              min_separation: float | None = None) -> pd.DataFrame:
        """The ``n`` most important windows of one output, at least ``min_separation`` A
        apart (default: the window width), with their nearest line."""
        j = _inputs.resolve_names(self.output_names, output)[0]
        sep = self.window if min_separation is None else min_separation
        order = np.argsort(-self.importance[:, j], kind="stable")
        picked: list[int] = []
        for i in order:
            if all(abs(self.wavelength[i] - self.wavelength[k]) >= sep for k in picked):
                picked.append(int(i))
            if len(picked) == n:
                break
        rows = []
        for i in picked:
            ln = nearest_line(float(self.wavelength[i]), lines, max_distance=self.window / 2)
            rows.append({"wavelength": float(self.wavelength[i]), "importance": float(self.importance[i, j]),
                         "line": ln.name if ln else "", "line_wavelength": ln.vacuum if ln else np.nan})
        return pd.DataFrame(rows)

    def to_pixels(self, values: str = "importance") -> np.ndarray:
        """Per-pixel ``(input_length, n_outputs)``: mean of ``values`` over the windows
        covering each pixel (captum ``Occlusion``'s convention; 0 where none does)."""
        v = getattr(self, values)
        total = np.zeros((self.input_length, v.shape[1]))
        count = np.zeros(self.input_length)
        for (a, b), row in zip(self.pixels, v):
            total[a:b] += row
            count[a:b] += 1
        return total / np.maximum(count, 1)[:, None]

    def plot(self, outputs=None, lines: str | list[str] = "scanet", axes=None, title: str | None = None):
        """SCA-Net Fig. 8: importance against wavelength, one panel per output, lines marked."""
        import matplotlib.pyplot as plt

        from ..plots import line_labels, style

        idx = _inputs.resolve_names(self.output_names, outputs)
        with style():
            if axes is None:
                _, axes = plt.subplots(len(idx), 1, figsize=(10, 2.4 * len(idx)), sharex=True, squeeze=False)
                axes = axes[:, 0]
            for ax, j in zip(np.atleast_1d(axes), idx):
                ax.plot(self.wavelength, self.importance[:, j], lw=0.8)
                ax.set_ylabel(f"|Delta P({self.output_names[j]})|" if self.quantity == "probability"
                              else _change_label(self.output_names[j]))
                if lines:
                    found = get_lines(lines, (self.lo[0], self.hi[-1]))
                    line_labels(ax, [ln.vacuum for ln in found], [ln.name for ln in found], color="tab:orange",
                                ls="--", lw=0.6)
            axes_arr = np.atleast_1d(axes)
            axes_arr[-1].set_xlabel("Wavelength (vacuum) [Angstrom]")
            axes_arr[0].set_title(title or f"Sliding-window importance ({self.window:g} A window, "
                                  f"{self.step:g} A step, {self.fill} fill, N={self.n_samples})")
        return axes


#: Axis label (with units) of the change of a known output; others read "|Delta name|".
CHANGE_LABELS = {"log_teff": "|Delta log2(Teff/K)|", "teff": "|Delta Teff| [K]", "logg": "|Delta log g| [dex]",
                 "feh": "|Delta [Fe/H]| [dex]", "mass": "|Delta mass| [Msun]", "age": "|Delta age| [Gyr]"}


def _change_label(name: str) -> str:
    return CHANGE_LABELS.get(str(name), f"|Delta {name}|")


def windows(wavelength: np.ndarray, window: float, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window pixel ranges on a grid: ``(pixels (W, 2) [start, stop), lo (W,), hi (W,))``.

    ``window`` and ``step`` are in Angstrom (see the module docstring for the rule).
    """
    if not (window > 0 and step > 0):
        raise InvalidSpectrumError(f"window ({window}) and step ({step}) must be positive Angstrom", "window")
    finite = np.flatnonzero(np.isfinite(wavelength))
    i0, i1 = finite[0], finite[-1]
    if finite.size != i1 - i0 + 1:
        raise InvalidSpectrumError("NaN (padding) pixels must sit only at the ends of the grid", "wavelength")
    lam = wavelength[i0:i1 + 1]
    spacing = np.diff(lam)
    end = lam[-1] + spacing[-1]
    n = int(np.floor((end - lam[0] - window) / step + 1e-9)) + 1
    if n < 1:
        raise InvalidSpectrumError(f"a {window} A window does not fit in {lam[0]:.1f}-{end:.1f} A", "window")
    lo = lam[0] + step * np.arange(n)
    hi = lo + window
    tol = 1e-6 * float(np.min(spacing))
    start = np.searchsorted(lam, lo - tol, side="left")
    stop = np.searchsorted(lam, hi - tol, side="left")
    keep = stop > start
    if not keep.any():
        raise InvalidSpectrumError(f"a {window} A window holds no pixel (spacing {np.median(spacing):.3g} A)",
                                   "window")
    pixels = np.stack([start[keep], stop[keep]], axis=1) + i0
    return pixels.astype(np.int64), lo[keep], hi[keep]


def fill_values(x: torch.Tensor, wavelength: np.ndarray, fill: str = "continuum", degree: int = 5,
                seed: int = 0) -> torch.Tensor:
    """Replacement flux ``(N, 1, L)`` for ``x (N, 1, L)``, in ``x``'s dtype and device (see
    the module docstring). The continuum is :func:`spectool.preprocess.continuum.polynomial_continuum`
    as a plain least-squares fit (no clipping iterations, no floor)."""
    if fill not in FILLS:
        raise InvalidSpectrumError(f"unknown fill {fill!r}; choose from {FILLS}", "fill")
    flux = x[:, 0].detach().cpu().double().numpy()
    good = np.isfinite(wavelength)
    out = flux.copy()
    f = flux[:, good]
    if fill == "zero":
        out[:, good] = 0.0
    elif fill == "mean":
        out[:, good] = f.mean(axis=1, keepdims=True)
    else:
        cont = polynomial_continuum(wavelength[good], f, degree=degree, max_iter=0, floor=False)
        cont = np.clip(cont, f.min(axis=1, keepdims=True), f.max(axis=1, keepdims=True))
        if fill == "noise":
            resid = f - cont
            sigma = 1.4826 * np.median(np.abs(resid - np.median(resid, axis=1, keepdims=True)), axis=1, keepdims=True)
            cont = cont + np.random.default_rng(seed).standard_normal(cont.shape) * sigma
        out[:, good] = cont
    return torch.from_numpy(out).to(x.device, x.dtype)[:, None]


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return nullcontext()


def _predict(model: nn.Module, x: torch.Tensor, image: torch.Tensor | None, classification: bool) -> torch.Tensor:
    out = model(x, image) if image is not None else model(x)
    out = out if out.dtype == torch.float64 else out.float()   # float64 models keep their precision
    return torch.softmax(out, dim=1) if classification else out


def sliding_window_importance(
    model: nn.Module,
    x,
    wavelength: np.ndarray | None = None,
    window: float = 15.0,
    step: float = 5.0,
    fill: str = "continuum",
    outputs=None,
    image=None,
    indices=None,
    batch_size: int | None = None,
    amp: bool = True,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool = True,
) -> SlidingWindowResult:
    """Sliding-window perturbation importance, averaged over a batch or dataset.

    Parameters
    ----------
    model
        Any ``nn.Module`` taking the spectrum batch (and ``image`` for models with
        ``needs_image``); put in eval mode here.
    x
        ``(N, 1, L)`` or ``(N, L)`` model-ready flux, a list of model-ready
        :class:`~spectool.Spectrum`, or a :class:`~spectool.datasets.SpectralDataset`.
    wavelength
        ``(L,)`` vacuum Angstrom of each input pixel (NaN for padding); taken from the
        spectra/dataset when omitted there, pixel index otherwise.
    window, step
        Window width and step in Angstrom (15 and 5 in SCA-Net Fig. 8).
    fill
        ``"continuum"``, ``"zero"``, ``"mean"`` or ``"noise"``.
    outputs
        Output indices or names to explain (default: all; the cost is the same).
    image
        ``(N, 3, H, W)`` cutouts for models that need them (SPFusion); a dataset's own
        cutouts are used when omitted.
    indices
        Rows of ``x`` to use (e.g. ``ds.indices("test")``); only those are loaded from a
        dataset.
    batch_size
        Perturbed copies per forward pass (default 64 on CPU: ConvNeXt-1D at 3584 px runs
        faster per spectrum at 64-128 than at 256 on a 2-core CPU; 2048 on CUDA).
    amp
        Autocast on CUDA (ignored on CPU).
    """
    model.eval()
    dev = _inputs.model_device(model, device)
    dtype = _inputs.model_dtype(model)
    x, ds_grid, image = _inputs.dataset_rows(x, indices, image)
    xt, grid = _inputs.as_batch(x, ds_grid if wavelength is None else wavelength, dtype=dtype)
    img = _inputs.as_image(image, xt.shape[0], dtype)
    _inputs.check_image(model, img)
    classification = _inputs.task_of(model) == "classification"
    pixels, lo, hi = windows(grid, window, step)
    centres = np.array([grid[a:b].mean() for a, b in pixels])
    N, _, L = xt.shape
    xt = xt.to(dev)
    img = img.to(dev) if img is not None else None
    fills = fill_values(xt, grid, fill, seed=seed)
    start = torch.as_tensor(pixels[:, 0], device=dev)
    stop = torch.as_tensor(pixels[:, 1], device=dev)
    n_win = start.numel()
    per_fwd = max(1, batch_size or (2048 if dev.type == "cuda" else 64))

    with torch.inference_mode(), _autocast(dev, amp):
        # the clean predictions, once (reused by every window)
        base = torch.cat([_predict(model, xt[s], img[s] if img is not None else None, classification)
                          for s in _inputs.batches(N, per_fwd)])
        targets = _inputs.resolve_targets(model, outputs, base.shape[1])
        names = [_inputs.output_names(model, base.shape[1])[j] for j in targets]
        base = base[:, targets]
        abs_sum = torch.zeros(n_win, len(targets), device=dev, dtype=torch.float64)
        signed_sum = torch.zeros_like(abs_sum)
        pixel = torch.arange(L, device=dev)
        bar = _inputs.progress_bar(N * n_win, "sliding windows", progress)
        for s in _inputs.batches(N * n_win, per_fwd):   # (spectrum, window) pairs, spectrum-major
            pair = torch.arange(s.start, s.stop, device=dev)
            n, w = pair // n_win, pair % n_win
            inside = (pixel >= start[w, None]) & (pixel < stop[w, None])               # (P, L)
            xp = torch.where(inside[:, None], fills[n], xt[n])                         # (P, 1, L)
            pert = _predict(model, xp, img[n] if img is not None else None, classification)[:, targets]
            delta = (pert - base[n]).double()
            abs_sum.index_add_(0, w, delta.abs())
            signed_sum.index_add_(0, w, delta)
            bar.update(s.stop - s.start)
        bar.close()
    return SlidingWindowResult(
        importance=(abs_sum / N).cpu().numpy(), signed=(signed_sum / N).cpu().numpy(), wavelength=centres,
        lo=lo, hi=hi, pixels=pixels, output_names=names, input_length=L, fill=fill, window=float(window),
        step=float(step), n_samples=N, quantity="probability" if classification else "output",
    )
