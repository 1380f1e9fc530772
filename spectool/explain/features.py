"""Penultimate features and their 2-D embeddings (MSPC-Net Fig. 4).

:func:`extract_features` runs ``model.forward_features`` (the input of the last linear
layer) batch by batch and returns the features with a tidy table of ids, labels,
predictions and S/N. :func:`embed` maps features to 2-D with t-SNE (openTSNE,
FFT-interpolated gradients as in FIt-SNE, multi-threaded; scikit-learn if openTSNE
is missing), UMAP (umap-learn) or PCA; it is the one embedding helper of spectool (the
widgets' :class:`~spectool.widgets.EmbeddingExplorer` uses it too). :func:`embedding_table` does both and returns one
tidy table ready for plotting (columns ``x``, ``y`` plus the table columns).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..errors import ModelError
from . import _inputs

EMBEDDINGS = ("tsne", "umap", "pca")


@dataclass
class FeatureSet:
    """Features ``(N, F)`` float32 and a table with one row per spectrum.

    ``table`` columns: ``row`` (position in the input or dataset row), ``object_id``,
    ``label`` (class name or NaN), ``prediction`` (class name, or one ``pred_<target>``
    column per regression output), ``correct`` (classification with labels), ``snr``.
    """

    features: np.ndarray
    table: pd.DataFrame


def _data_columns(data, rows: np.ndarray, labels, ids, snr) -> dict:
    """ids / labels / S/N for the selected rows from a dataset, spectra or arrays."""
    cols: dict = {"row": rows}
    if hasattr(data, "store"):  # SpectralDataset
        meta = data.meta.iloc[rows]
        cols["object_id"] = meta["object_id"].to_numpy() if "object_id" in meta else rows.astype(str)
        if data.task == "classification" and "label" in meta:
            cols["label"] = meta["label"].astype(str).to_numpy()
        elif data.task == "regression":
            for t in data.targets:
                if t in meta:
                    cols[t] = meta[t].to_numpy()
        cols["snr"] = data.snr[rows]
    elif isinstance(data, (list, tuple)) and data and hasattr(data[0], "meta"):
        specs = [data[i] for i in rows]
        cols["object_id"] = np.array([s.meta.get("object_id", str(i)) for i, s in zip(rows, specs)], dtype=object)
        cols["label"] = np.array([s.meta.get("subclass") or s.meta.get("class") or np.nan for s in specs],
                                 dtype=object)
        cols["snr"] = np.array([s.meta.get("snr", np.nan) for s in specs], dtype=float)
    for key, val in (("object_id", ids), ("label", labels), ("snr", snr)):
        if val is not None:
            arr = np.asarray(val)
            cols[key] = arr[rows] if arr.shape[0] != rows.size else arr
    cols.setdefault("object_id", rows.astype(str))
    cols.setdefault("snr", np.full(rows.size, np.nan))
    return cols


def extract_features(
    model: nn.Module,
    data,
    wavelength: np.ndarray | None = None,
    image=None,
    indices: np.ndarray | None = None,
    labels=None,
    ids=None,
    snr=None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> FeatureSet:
    """Penultimate features of ``data`` under ``model`` in eval mode, batch by batch.

    Parameters
    ----------
    data
        A :class:`~spectool.datasets.SpectralDataset` (rows ``indices``, e.g.
        ``ds.indices("test")``; images used automatically), model-ready spectra, or a
        flux array ``(N, 1, L)`` / ``(N, L)``.
    labels, ids, snr
        Per-spectrum columns for array input (override the dataset's); given for all
        input rows, they are subset by ``indices`` too.

    The forward pass is :func:`spectool.inference.model_outputs`, the one that
    :func:`spectool.predict` uses: on the CPU MSPC-Net runs through its fused copy, so
    forward hooks on its submodules do not fire here (use
    :func:`spectool.explain.attention_weights` or call the model for hook-based analysis).
    """
    if not (callable(getattr(model, "forward_features", None)) and callable(getattr(model, "forward_head", None))):
        raise ModelError(f"{type(model).__name__} has no forward_features/forward_head: penultimate features "
                         "are defined by the spectool model contract (spectool.models.SpectralModel)",
                         "forward_features")
    model.eval()
    dev = _inputs.model_device(model, device)
    flux, ds_grid, image = _inputs.dataset_rows(data, indices, image)
    xt, _ = _inputs.as_batch(flux, ds_grid if wavelength is None else wavelength,
                             dtype=_inputs.model_dtype(model))
    rows = np.arange(xt.shape[0]) if indices is None else np.asarray(indices, dtype=np.int64)
    img = _inputs.as_image(image, xt.shape[0], xt.dtype)
    _inputs.check_image(model, img)
    from ..inference import model_outputs

    # the forward path of spectool.predict (MSPC-Net: its fused copy on the CPU, ~2x faster)
    features, out = model_outputs(model, xt[:, 0].cpu().numpy(), None if img is None else img.cpu().numpy(),
                                  batch_size=batch_size, device=dev, progress=progress)
    if features is None or features.ndim != 2:
        raise ModelError(f"{type(model).__name__}.forward_features returned "
                         f"{None if features is None else features.shape}, not (B, F)", "forward_features")
    cols = _data_columns(data, rows, labels, ids, snr)  # rows index the original input
    names = _inputs.output_names(model, out.shape[1])
    if _inputs.task_of(model) == "classification":
        cols["prediction"] = np.asarray(names, dtype=object)[out.argmax(1)]
        cols["confidence"] = torch.softmax(torch.from_numpy(out), 1).max(1).values.numpy()
        if "label" in cols:
            cols["correct"] = cols["prediction"] == np.asarray(cols["label"]).astype(str)
    else:
        for j, n in enumerate(names):
            cols[f"pred_{n}"] = out[:, j]
    return FeatureSet(features, pd.DataFrame(cols))


def embed(features: np.ndarray, method: str = "tsne", seed: int | None = 0, n_jobs: int | None = None,
          **kwargs) -> np.ndarray:
    """2-D embedding ``(N, 2)`` float32 of ``features`` (N, F).

    ``method="tsne"`` uses openTSNE (perplexity ``min(30, (N - 1) / 3)``, PCA
    initialisation, ``n_jobs`` threads, default all CPUs of this process;
    FFT-interpolated gradients from 10,000 points up, Barnes-Hut below, where the FFT
    grid's fixed cost dominates; exact neighbours below 1,000 points) and falls back to
    scikit-learn; ``"umap"`` uses umap-learn (``n_neighbors=15``, ``min_dist=0.1``);
    ``"pca"`` projects the centred features on their first two principal axes (exact,
    deterministic, N >= 3; t-SNE and UMAP need N >= 5).
    ``seed`` makes t-SNE and UMAP reproducible; umap-learn runs single-threaded with a
    seed, so pass ``seed=None`` for its parallel (non-deterministic) mode. ``kwargs`` go
    to the underlying estimator.
    """
    if method not in EMBEDDINGS:
        raise ModelError(f"unknown embedding {method!r}; choose from {EMBEDDINGS}", "method")
    x = np.asarray(features, dtype=np.float32)
    n_min = 3 if method == "pca" else 5
    if x.ndim != 2 or x.shape[0] < n_min:
        raise ModelError(f"{method} needs (N >= {n_min}, F) features, got {x.shape}", "features")
    if method == "pca":
        xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        return (xc @ vt[:2].T).astype(np.float32)
    jobs = n_jobs or len(os.sched_getaffinity(0))
    if method == "tsne":
        kwargs.setdefault("perplexity", min(30.0, (x.shape[0] - 1) / 3))
        try:
            from openTSNE import TSNE
        except ImportError:
            from sklearn.manifold import TSNE as SkTSNE

            return SkTSNE(2, random_state=seed, n_jobs=jobs, **kwargs).fit_transform(x).astype(np.float32)
        kwargs.setdefault("negative_gradient_method", "fft" if x.shape[0] >= 10_000 else "bh")
        kwargs.setdefault("neighbors", "exact" if x.shape[0] < 1_000 else "auto")
        return np.asarray(TSNE(n_components=2, random_state=seed, n_jobs=jobs, **kwargs).fit(x), dtype=np.float32)
    import umap

    kwargs.setdefault("n_neighbors", min(15, x.shape[0] - 1))
    reducer = umap.UMAP(n_components=2, random_state=seed, n_jobs=1 if seed is not None else jobs, **kwargs)
    return reducer.fit_transform(x).astype(np.float32)


def embedding_table(model: nn.Module | None = None, data=None, method: str = "tsne",
                    features: FeatureSet | None = None, seed: int | None = 0, **kwargs) -> pd.DataFrame:
    """Tidy table of a 2-D embedding: ``x``, ``y``, ``method`` plus the feature table.

    Pass ``features`` (from :func:`extract_features`) to reuse them, else ``model`` and
    ``data`` (and :func:`extract_features` keywords in ``kwargs``).
    """
    if features is None:
        if model is None or data is None:
            raise ModelError("pass features=, or model and data", "features")
        features = extract_features(model, data, **kwargs)
    xy = embed(features.features, method, seed=seed)
    table = features.table.copy()
    table.insert(0, "y", xy[:, 1])
    table.insert(0, "x", xy[:, 0])
    table.insert(2, "method", method)
    return table
