"""Adapters from models and precomputed arrays to what the inspectors show.

The inspectors only need (N, K) output arrays and per-pixel attribution arrays;
these functions produce them from whatever the user has: a prediction table
from :func:`spectool.predict`, a raw array, or a model (computed lazily, one
object at a time for attributions).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import ModelError
from .state import ModelOutputs, SpectraSource, WidgetInputError


def as_outputs(predictions: Any, names: Sequence[str] | None, kind: str | None, n_rows: int) -> ModelOutputs:
    """Coerce ``predictions`` (ModelOutputs, DataFrame or (N, K) array) to :class:`ModelOutputs`.

    ``names`` are class or target names (taken from the DataFrame's ``prob_*`` columns when
    omitted); ``kind`` defaults to "classification" when rows sum to 1.
    """
    if isinstance(predictions, ModelOutputs):
        out = predictions
    elif isinstance(predictions, pd.DataFrame):
        if names is None:
            names = [c[5:] for c in predictions.columns if str(c).startswith("prob_")]
            if not names:
                raise WidgetInputError("pass names= for a prediction table without prob_<class> columns", "predictions")
        kind = kind or ("classification" if any(f"prob_{n}" in predictions.columns for n in names) else "regression")
        out = ModelOutputs.from_frame(predictions, names, kind)
    else:
        values = np.asarray(predictions, dtype=np.float64)
        if values.ndim != 2:
            raise WidgetInputError(f"predictions must be (N, K), got shape {values.shape}", "predictions")
        if names is None:
            raise WidgetInputError("pass names= (class or target names) with a predictions array", "predictions")
        if kind is None:
            kind = "classification" if np.allclose(values.sum(axis=1), 1.0, atol=1e-3) and (values >= 0).all() else "regression"
        out = ModelOutputs(kind, [str(n) for n in names], values)
    if len(out.values) != n_rows:
        raise WidgetInputError(f"has {len(out.values)} rows for {n_rows} spectra", "predictions")
    return out


def model_input(model: Any, source: SpectraSource, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Model-ready (B, 1, L) inputs (and (B, 3, H, W) images) for ``rows`` of a preprocessed dataset.

    Only a :class:`~spectool.datasets.SpectralDataset` whose preprocessing matches the model's
    holds model-ready flux; other inputs go through :func:`spectool.predict`.
    """
    ds = source._dataset
    if ds is None or (ds.preprocess and ds.preprocess != getattr(model, "preprocess", ds.preprocess)):
        raise WidgetInputError(
            f"model inputs need a dataset preprocessed with {getattr(model, 'preprocess', '?')!r}; "
            "pass precomputed predictions/attributions for other data", "model")
    rows = np.asarray(rows, dtype=np.int64)
    x = np.asarray(ds.flux[rows], dtype=np.float32)[:, None, :]
    length = getattr(model, "input_length", x.shape[-1])
    if x.shape[-1] != length:
        raise WidgetInputError(f"dataset rows have {x.shape[-1]} pixels, the model expects {length}", "model")
    img = None
    if getattr(model, "needs_image", False):
        if ds.images is None:
            raise WidgetInputError("the model needs g,r,i images but the dataset has none", "model")
        img = np.asarray(ds.images[rows], dtype=np.float32)
    return x, img


def outputs_from_model(model: Any, source: SpectraSource) -> ModelOutputs:
    """Run ``model`` over every row with :func:`spectool.predict`: class probabilities or estimates."""
    from ..inference import predict

    names = [str(n) for n in (getattr(model, "output_names", None) or source.class_names)]
    kind = getattr(model, "task", "classification")
    data = source._dataset if source._dataset is not None else [source.spectrum(i) for i in range(len(source))]
    return as_outputs(predict(model, data), names, kind, len(source))


def _target(outputs: ModelOutputs | None, row: int) -> int:
    return int(outputs.values[row].argmax()) if outputs is not None and outputs.kind == "classification" else 0


def model_overlays(model: Any, source: SpectraSource, outputs: ModelOutputs | None) -> dict[str, Callable[[int], np.ndarray]]:
    """Per-row overlays computed on demand with :mod:`spectool.explain` (model-ready datasets only).

    * "integrated gradients": captum IG of the predicted class (first target for regressors);
    * "sliding-window importance": 15 A windows, 5 A step; each pixel gets the largest
      importance of a window covering it;
    * "ECA/SE attention": channel weights of the last attention module mapped to pixels
      through the receptive field (only for models with attention modules).

    Each function returns values on the model-input pixels (or the spectrum's wavelengths).
    """
    from .. import explain

    def ig(row: int) -> np.ndarray:
        x, img = model_input(model, source, [row])
        return explain.attribute(model, x, method="ig", target=_target(outputs, row), image=img, n_steps=32).values[0]

    def sliding(row: int) -> np.ndarray:
        x, img = model_input(model, source, [row])
        res = explain.sliding_window_importance(model, x, wavelength=source._dataset.wavelength, image=img,
                                                progress=False)
        imp = res.importance[:, min(_target(outputs, row), res.importance.shape[1] - 1)]
        pix = np.zeros(x.shape[-1])
        for (start, stop), v in zip(res.pixels, imp):
            pix[start:stop] = np.maximum(pix[start:stop], v)
        return pix

    found: dict[str, Callable[[int], np.ndarray]] = {"integrated gradients": ig, "sliding-window importance": sliding}
    layers = list(model.attention_modules()) if hasattr(model, "attention_modules") else []
    if layers:
        def attention(row: int) -> np.ndarray:
            x, img = model_input(model, source, [row])
            wave = source._dataset.wavelength
            try:
                ov = explain.attention_overlay(model, x, layers[-1], wavelength=wave, image=img, lines=None)
            except (ModelError, IndexError, ValueError) as exc:
                raise WidgetInputError(f"no ECA/SE overlay for {type(model).__name__}: {exc!r}", layers[-1]) from exc
            keep = np.isfinite(wave)
            return np.interp(wave[keep], ov.wavelength, ov.weight, left=0.0, right=0.0)

        found["ECA/SE attention"] = attention
    return found
