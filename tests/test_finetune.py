"""spectool.train.finetune on a tiny synthetic setup (seconds): a subclass head learns main-class labels."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _train_toys import Tiny, register_tiny, toy_store

import spectool
from spectool.datasets import SpectralDataset
from spectool.errors import ModelError
from spectool.store import SpectrumStore
from spectool.train import finetune
from spectool.train.finetune import label_groups, main_class

SUBCLASSES = ["A0", "A5", "F0", "F5", "K0", "K5"]


@pytest.fixture
def tiny():
    remove = register_tiny()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: thread start-up costs more than it saves
    torch.manual_seed(0)
    yield spectool.models.create("tiny_cls", classes=SUBCLASSES)
    torch.set_num_threads(threads)
    remove()


def _main_accuracy(model, ds, rows):
    pred = spectool.predict(model, ds, indices=rows)
    truth = ds.meta["label"].to_numpy()[rows]
    return float(np.mean([main_class(p) == t for p, t in zip(pred["pred_label"], truth)]))


def test_label_groups_map_main_classes_and_exact_names():
    g = label_groups(["K", "F5", "dK"], SUBCLASSES + ["GALAXY"])
    assert g[0].tolist() == [False, False, False, False, True, True, False]
    assert g[1].tolist() == [False, False, False, True, False, False, False]
    assert g[2].tolist() == g[0].tolist()
    with pytest.raises(ModelError, match="QSO"):
        label_groups(["QSO"], SUBCLASSES)
    assert main_class("gK5") == "K" and main_class("GALAXY") == "GALAXY" and main_class("dM1") == "M"


def test_finetune_learns_main_classes_on_a_subclass_head(tiny, tmp_path):
    ds = SpectralDataset(SpectrumStore.open(toy_store(tmp_path / "toy", n=90).path))
    rows = np.arange(len(ds))
    train, held = rows[rows % 4 != 0], rows[rows % 4 == 0]
    before = _main_accuracy(tiny, ds, held)
    w0 = {k: v.clone() for k, v in tiny.state_dict().items()}
    res = finetune(tiny, ds.flux[train], [ds.meta["label"].iloc[i] for i in train], epochs=15, lr=0.03,
                   batch_size=16, seed=3, out=tmp_path / "ft")
    after = _main_accuracy(res.model, ds, held)
    assert after >= 0.9 > before + 0.2, (before, after)
    assert len(res.history) == 15 and res.history["train_loss"].iloc[-1] < res.history["train_loss"].iloc[0]
    assert res.history["epoch"].tolist() == list(range(1, 16))  # counted from 1, as fit's history
    # the pretrained model is not modified
    assert all(torch.equal(w0[k], v) for k, v in tiny.state_dict().items())
    # saved with a card naming the real-data fine-tuning; reloads to the same predictions
    card = spectool.models.io.read_card(res.path)
    assert card["training"]["source"] == "real" and card["finetuned"]["n_spectra"] == train.size
    again = spectool.models.load(res.path)
    p1 = spectool.predict(res.model, ds, indices=held)["pred_label"].tolist()
    assert spectool.predict(again, ds, indices=held)["pred_label"].tolist() == p1


def test_finetune_is_reproducible_from_its_seed(tiny, tmp_path):
    ds = SpectralDataset(SpectrumStore.open(toy_store(tmp_path / "toy", n=40).path))
    a = finetune(tiny, ds.flux, list(ds.meta["label"]), epochs=2, seed=5).model.state_dict()
    b = finetune(tiny, ds.flux, list(ds.meta["label"]), epochs=2, seed=5).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finetune_rejects_mismatched_inputs(tiny, tmp_path):
    ds = SpectralDataset(SpectrumStore.open(toy_store(tmp_path / "toy", n=20).path))
    with pytest.raises(ModelError, match="labels"):
        finetune(tiny, ds.flux, ["A"] * 3, epochs=1)
    with pytest.raises(ModelError, match="matches no output"):
        finetune(tiny, ds.flux, ["QSO"] * 20, epochs=1)
    store_res = finetune(tiny, ds, epochs=1)  # a dataset: labels from its "label" column
    assert store_res.info["n_spectra"] == 20


class _TinyBN(Tiny):
    """The tiny classifier with a BatchNorm in its backbone (as MSPC-Net has)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bn = torch.nn.BatchNorm1d(self.conv.out_channels)

    def forward_features(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1)


def test_freeze_backbone_trains_only_the_last_linear_layer(tiny, tmp_path):
    ds = SpectralDataset(SpectrumStore.open(toy_store(tmp_path / "toy", n=40).path))
    model = _TinyBN(classes=SUBCLASSES)
    labels = list(ds.meta["label"])
    res = finetune(model, ds.flux, labels, epochs=3, lr=0.03, seed=1, freeze_backbone=True)
    before, after = model.state_dict(), res.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # the head's weights moved; nothing else did, BatchNorm running statistics included
    assert changed == {"fc.weight", "fc.bias"}, changed
    assert res.info["freeze_backbone"] is True
    # without freezing, the backbone and its BatchNorm statistics move too
    full = finetune(model, ds.flux, labels, epochs=1, lr=0.03, seed=1).model.state_dict()
    assert not torch.equal(before["bn.running_mean"], full["bn.running_mean"])
    assert not torch.equal(before["conv.weight"], full["conv.weight"])


def test_a_linear_probe_keeps_the_feature_statistics_and_drops_the_confidence_calibration(tiny, tmp_path):
    from spectool import trust

    ds = SpectralDataset(SpectrumStore.open(toy_store(tmp_path / "toy", n=40).path))
    labels = list(ds.meta["label"])
    with torch.no_grad():
        feats = tiny.forward_features(torch.from_numpy(np.array(ds.flux, np.float32))[:, None]).numpy()
    ood = trust.fit_feature_density(feats)
    ood["threshold"] = float(np.percentile(trust.feature_distance(ood, feats), 50))
    tiny.card = {**(getattr(tiny, "card", None) or {}),
                 "calibration": {"temperature": 2.0, "ood": ood, "snr_min": 30.0}}
    probe = finetune(tiny, ds.flux, labels, epochs=2, seed=0, freeze_backbone=True, out=tmp_path / "probe")
    for model in (probe.model, spectool.models.load(probe.path)):  # in memory and reloaded
        cal = model.card["calibration"]
        assert cal["ood"]["precision"] == ood["precision"] and cal["snr_min"] == 30.0
        assert "temperature" not in cal and "top_label" not in cal
    base, after = spectool.predict(tiny, ds), spectool.predict(probe.model, ds)
    np.testing.assert_allclose(after["ood_score"], base["ood_score"])
    ood_rows = base["flag"].str.contains(trust.FLAG_OOD)
    assert 0 < ood_rows.sum() < len(ds)
    assert after["flag"].str.contains(trust.FLAG_OOD).tolist() == ood_rows.tolist()
    assert not after["flag"].str.contains(trust.FLAG_LOW_CONFIDENCE).any()
    assert base.attrs["calibrated"] and not after.attrs["calibrated"]  # raw probabilities
    # training every layer changes the features: nothing of the old calibration is kept
    full = finetune(tiny, ds.flux, labels, epochs=1, seed=0).model
    assert "calibration" not in full.card
    assert spectool.predict(full, ds)["ood_score"].isna().all()
