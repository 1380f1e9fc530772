"""Penultimate features, t-SNE / UMAP embeddings and their tidy tables."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _explain_models import ImageNet, LinearToy, PatchNet  # noqa: E402

from spectool import Spectrum  # noqa: E402
from spectool.errors import ModelError  # noqa: E402
from spectool.explain import embed, embedding_table, extract_features  # noqa: E402

torch.set_num_threads(2)


def _clusters(n_per=30, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (3, dim))
    x = np.concatenate([c + rng.normal(0, 0.5, (n_per, dim)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(3), n_per)


def test_extract_features_batches_and_table():
    torch.manual_seed(0)
    model = PatchNet(length=128)
    x = torch.rand(10, 1, 128)
    fs = extract_features(model, x, labels=["c0"] * 5 + ["c1"] * 5, snr=np.arange(10.0), batch_size=3,
                          progress=False)
    with torch.no_grad():
        np.testing.assert_allclose(fs.features, model.forward_features(x).numpy(), rtol=1e-5, atol=1e-6)
        pred = np.array(model.output_names)[model(x).argmax(1).numpy()]
    t = fs.table
    assert list(t.row) == list(range(10)) and (t.prediction == pred).all()
    assert (t.correct == (t.prediction == t.label)).all() and t.snr.tolist() == list(range(10))
    assert t.confidence.between(1 / 3, 1).all()


def test_extract_features_regression_spectra_and_images():
    model = LinearToy(length=32, n_out=2)
    grid = np.arange(32.0) + 4000
    specs = [Spectrum(grid, np.full(32, float(i)), meta={"object_id": f"o{i}", "snr": 7.0, "class": "STAR"})
             for i in range(4)]
    fs = extract_features(model, specs, progress=False)
    assert list(fs.table.object_id) == ["o0", "o1", "o2", "o3"] and {"pred_t0", "pred_t1"} <= set(fs.table)
    sub = extract_features(model, specs, indices=[3, 1], snr=[1.0, 2.0, 3.0, 4.0], progress=False)
    assert list(sub.table.object_id) == ["o3", "o1"] and sub.table.snr.tolist() == [4.0, 2.0]
    np.testing.assert_allclose(sub.features, fs.features[[3, 1]])
    assert (fs.table.snr == 7.0).all() and (fs.table.label == "STAR").all()
    img_model = ImageNet(length=64)
    fs2 = extract_features(img_model, torch.rand(3, 1, 64), image=torch.rand(3, 3, 4, 4), progress=False)
    assert fs2.features.shape == (3, 8 * 8)
    with pytest.raises(ModelError, match="image"):
        extract_features(img_model, torch.rand(3, 1, 64), progress=False)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_embeddings_separate_clusters_reproducibly(method):
    x, lab = _clusters()
    short = {"n_iter": 200, "early_exaggeration_iter": 100} if method == "tsne" else {"n_epochs": 100}
    a = embed(x, method, seed=0, **short)
    b = embed(x, method, seed=0, **short)
    assert a.shape == (90, 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    centres = np.stack([a[lab == k].mean(0) for k in range(3)])
    within = max(np.linalg.norm(a[lab == k] - centres[k], axis=1).mean() for k in range(3))
    between = min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3))
    assert between > 2 * within


def test_embed_errors():
    with pytest.raises(ModelError, match="unknown embedding"):
        embed(np.zeros((10, 3)), "pca")
    with pytest.raises(ModelError):
        embed(np.zeros((3, 3)), "tsne")


def test_embedding_table_on_mock_dataset():
    import spectool.datasets

    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    torch.manual_seed(0)
    model = PatchNet(length=ds.flux.shape[1], n_classes=len(ds.class_names), patch=64)
    model.output_names = list(ds.class_names)
    idx = ds.indices("test", 0)
    table = embedding_table(model, ds, method="tsne", indices=idx, progress=False)
    assert len(table) == len(idx) and list(table.columns[:3]) == ["x", "y", "method"]
    assert set(table.label) <= set(ds.class_names) and table.object_id.str.startswith("mock").all()
    np.testing.assert_allclose(table.snr.to_numpy(), ds.snr[idx])
    with pytest.raises(ModelError):
        embedding_table(model)
