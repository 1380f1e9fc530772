"""Batch inference: ``spectool.predict(model, spectra)`` -> a pandas DataFrame.

Accepted inputs:

* a :class:`~spectool.datasets.SpectralDataset` (rows are already model-ready; images
  are taken from the store; ``indices`` selects rows);
* one :class:`~spectool.Spectrum` or a list of them (raw survey spectra: each is run
  through ``spectool.preprocess.<recipe>`` where the recipe is the model card's
  ``preprocess`` or else ``model.preprocess``);
* a NumPy array (N, L) or (L,) of model-ready flux (with ``images`` (N, 3, 128, 128) for
  models that need an image).

The result has one row per spectrum: ``object_id``; for classifiers ``pred_label``,
``pred_index``, ``pred_prob`` and ``prob_<class>`` for every class; for regression one
column per target in physical units (e.g. ``teff`` in K from a model that predicts
log Teff, ``mass`` in Msun, ``age`` in Gyr).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .errors import InvalidSpectrumError, ModelError
from .spectrum import Spectrum

_INVERSE = {"identity": lambda v: v, "log10": lambda v: 10.0 ** v, "log2": lambda v: 2.0 ** v, "ln": np.exp}


def output_spec(model: torch.nn.Module) -> tuple[list[str], list[int], list[str]]:
    """(target names, model output column of each, transform of each) for a regression model.

    Read from ``model.card`` (``targets``, ``output_index``, ``target_transforms``) when
    present; otherwise every output named ``log_<t>`` is taken as a logarithm of ``t`` in
    base ``model.<t>_log_base`` (default 10) and other outputs as the target itself.
    """
    card = getattr(model, "card", None) or {}
    names = list(getattr(model, "output_names", []) or [])
    if card.get("targets") and card.get("output_index") is not None:
        targets = list(card["targets"])
        tr = card.get("target_transforms") or {}
        return targets, list(card["output_index"]), [tr.get(t, "identity") for t in targets]
    targets, transforms = [], []
    for n in names:
        if n.startswith("log_"):
            t = n[4:]
            base = float(getattr(model, f"{t}_log_base", 10.0))
            targets.append(t)
            transforms.append({10.0: "log10", 2.0: "log2"}.get(base, "ln" if np.isclose(base, np.e) else "log10"))
        else:
            targets.append(n)
            transforms.append("identity")
    return targets, list(range(len(names))), transforms


def _model_inputs(model: torch.nn.Module, spectra: Any, images: np.ndarray | None,
                  indices: np.ndarray | None, preprocess_options: dict[str, Any]
                  ) -> tuple[np.ndarray | Any, np.ndarray | None, list[str]]:
    """Turn the accepted inputs into (flux rows (N, L), images or None, object ids)."""
    from .datasets import SpectralDataset

    if isinstance(spectra, SpectralDataset):
        idx = np.arange(len(spectra)) if indices is None else np.asarray(indices, dtype=np.int64)
        ids = spectra.meta["object_id"].astype(str).to_numpy()[idx].tolist()
        imgs = spectra.images
        return _Rows(spectra.flux, idx), (None if imgs is None else _Rows(imgs, idx)), ids
    if isinstance(spectra, Spectrum):
        spectra = [spectra]
    if isinstance(spectra, Sequence) and spectra and all(isinstance(s, Spectrum) for s in spectra):
        from .preprocess import apply

        card = getattr(model, "card", None) or {}
        recipe = card.get("preprocess") or getattr(model, "preprocess", None)
        if not recipe:
            raise ModelError("model has no preprocess recipe (card 'preprocess' or model.preprocess)")
        options = {**(card.get("preprocess_options") or {}), **preprocess_options}
        rows, imgs, ids = [], [], []
        for k, s in enumerate(spectra):
            image = None if images is None else images[k]
            p = apply(recipe, s, image=image, **options) if recipe == "spfusion" else apply(recipe, s, **options)
            rows.append(p.flux)
            imgs.append(p.image)
            ids.append(str(s.meta.get("object_id", k)))
        stacked = None if any(i is None for i in imgs) else np.stack(imgs)
        return np.stack(rows).astype(np.float32), stacked, ids
    arr = np.asarray(spectra, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    length = getattr(model, "input_length", None)
    if arr.ndim != 2 or (length and arr.shape[1] != length):
        raise InvalidSpectrumError(f"expected model-ready flux of shape (N, {length or 'L'}) or ({length or 'L'},), "
                                   f"got {arr.shape}; pass Spectrum objects to have them preprocessed")
    return arr, None if images is None else np.asarray(images, dtype=np.float32), [str(i) for i in range(len(arr))]


class _Rows:
    """Lazy row view ``array[indices]`` so memory-mapped stores are read batch by batch."""

    def __init__(self, array: np.ndarray, indices: np.ndarray) -> None:
        self.array, self.indices = array, indices

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, sl: slice) -> np.ndarray:
        return np.asarray(self.array[self.indices[sl]], dtype=np.float32)


@torch.inference_mode()
def predict(model: torch.nn.Module | str, spectra: Any, *, images: np.ndarray | None = None,
            indices: np.ndarray | None = None, batch_size: int = 64, device: str | torch.device | None = None,
            progress: bool = False, **preprocess_options: Any) -> pd.DataFrame:
    """Run ``model`` on ``spectra`` and return one row of predictions per spectrum.

    Parameters
    ----------
    model
        A :class:`~spectool.models.SpectralModel` or a model/pretrained name for
        :func:`spectool.models.load` (e.g. ``"mspcnet_sdss-mock-sc"``).
    spectra
        A SpectralDataset, Spectrum(s) or model-ready flux array (see module docstring).
    images
        (N, 3, 128, 128) cutouts for image models when ``spectra`` is not a dataset.
    indices
        Rows of a SpectralDataset to predict (default: all).
    batch_size, device
        Batching and device (default: CUDA if available, else CPU).
    progress
        Show a tqdm progress bar.
    preprocess_options
        Extra keyword options for the preprocessing recipe (raw spectra only).
    """
    if isinstance(model, str):
        from .models import load

        model = load(model)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    flux, imgs, ids = _model_inputs(model, spectra, images, indices, preprocess_options)
    n = len(flux)
    needs_image = bool(getattr(model, "needs_image", False))
    if needs_image and imgs is None:
        raise ModelError(f"{type(model).__name__} needs (N, 3, 128, 128) images: pass images= or a dataset with images")
    was_training = model.training
    model.eval().to(device)
    outs = []
    from tqdm.auto import tqdm

    for start in tqdm(range(0, n, batch_size), disable=not progress, desc="predict", unit="batch"):
        x = torch.from_numpy(np.ascontiguousarray(flux[start:start + batch_size], dtype=np.float32))[:, None].to(device)
        if needs_image:
            img = torch.from_numpy(np.ascontiguousarray(imgs[start:start + batch_size], dtype=np.float32)).to(device)
            outs.append(model(x, img).float().cpu())
        else:
            outs.append(model(x).float().cpu())
    model.train(was_training)
    out = torch.cat(outs).numpy() if outs else np.zeros((0, len(getattr(model, "output_names", []))), np.float32)
    return _to_frame(model, out, ids)


def _to_frame(model: torch.nn.Module, out: np.ndarray, ids: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({"object_id": ids})
    card = getattr(model, "card", None) or {}
    if card.get("task", getattr(model, "task", "classification")) == "classification":
        names = list(getattr(model, "output_names", []) or [f"class_{i}" for i in range(out.shape[1])])
        prob = torch.softmax(torch.from_numpy(out), dim=1).numpy() if len(out) else out
        k = prob.argmax(1) if len(prob) else np.zeros(0, int)
        df["pred_index"] = k
        df["pred_label"] = [names[i] for i in k]
        df["pred_prob"] = prob[np.arange(len(k)), k] if len(k) else np.zeros(0)
        for j, c in enumerate(names):
            df[f"prob_{c}"] = prob[:, j]
        return df
    targets, index, transforms = output_spec(model)
    for t, i, tr in zip(targets, index, transforms):
        df[t] = _INVERSE[tr](out[:, i].astype(np.float64))
    return df
