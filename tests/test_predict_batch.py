"""spectool.predict on batches with bad members: one row per input, in order, nothing aborts."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import spectool
from spectool.cli import app
from spectool.preprocess.batch import EXACT_BATCH
from spectool.trust import main_class

from conftest import shared_path

MODEL = "sscnn-mock-sc"  # stars-only classifier (O..M), MSPC-Net recipe, fast on a CPU
FIXED = ["object_id", "source", "error", "flag", "ood_score"]
CATALOGUE = ["cat_class", "cat_subclass", "cat_z", "cat_snr"]


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return spectool.models.load(MODEL)


@pytest.fixture(scope="module")
def good():
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    return [ds.spectrum(i) for i in (0, 1, 2, 3)]


def _bad_members(tmp_path, good):
    s = good[0]
    short = spectool.Spectrum(s.wavelength[:300], s.flux[:300], meta={"object_id": "short"})  # ~4000-4300 A only
    flat = spectool.Spectrum(s.wavelength, np.ones_like(s.flux), meta={"object_id": "flat"})  # constant flux
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"SIMPLE  = T" + b"\0" * 50)
    return short, flat, junk, tmp_path / "missing.fits"


def test_bad_members_become_error_rows_in_input_order(model, good, tmp_path):
    short, flat, junk, missing = _bad_members(tmp_path, good)
    batch = [good[0], short, good[1], flat, junk, good[2], missing, good[3]]
    df = spectool.predict(model, batch, progress=False)
    assert len(df) == len(batch)
    assert df["object_id"].tolist()[:4] == [good[0].meta["object_id"], "short", good[1].meta["object_id"], "flat"]
    assert df["object_id"].iloc[4] == "junk" and df["object_id"].iloc[6] == "missing"
    bad = [1, 3, 4, 6]
    assert (df["error"].iloc[bad] != "").all() and (df["error"].drop(index=bad) == "").all()
    assert "CoverageError" in df["error"].iloc[1] and "window_not_covered" in df["flag"].iloc[1]
    assert df["flag"].iloc[4] == "unreadable" and df["flag"].iloc[6] == "unreadable"
    assert df["source"].iloc[6].endswith("missing.fits")
    prob_cols = [c for c in df.columns if c.startswith("prob_")]
    assert df.loc[bad, prob_cols + ["pred_prob"]].isna().all().all()
    assert (df.loc[bad, "pred_index"] == -1).all() and df.loc[bad, "pred_label"].isna().all()
    assert df.loc[bad, "pred_main_class"].isna().all() and df.loc[bad, "pred_main_prob"].isna().all()
    # every good row gets exactly the prediction it gets alone (no shifting of rows past the bad ones)
    for i, s in zip([0, 2, 5, 7], good):
        alone = spectool.predict(model, [s], progress=False)
        np.testing.assert_allclose(df.loc[i, prob_cols].to_numpy(float), alone[prob_cols].to_numpy(float)[0],
                                   rtol=1e-5, atol=1e-6)
        assert df.loc[i, "pred_label"] == alone["pred_label"].iloc[0]


def test_main_class_is_the_most_probable_sum_of_subclasses():
    """``pred_main_class`` of a subclass model: the main class whose subclasses together are most
    probable (the rule of fine-tuning and of the cards' real-data figures), not necessarily the
    main class of ``pred_label``."""
    sub = spectool.models.load("convnext1d-mock-ss")
    ds = spectool.datasets.load("mspc/SS-S>5", size="quick")
    df = spectool.predict(sub, ds, indices=range(0, len(ds), 8), progress=False)
    names = list(sub.output_names)
    mains = list(dict.fromkeys(main_class(n) for n in names))
    summed = np.stack([df[[f"prob_{n}" for n in names if main_class(n) == m]].to_numpy(float).sum(1)
                       for m in mains], 1)
    assert df["pred_main_class"].tolist() == [mains[j] for j in summed.argmax(1)]
    np.testing.assert_allclose(df["pred_main_prob"].to_numpy(float), summed.max(1), rtol=1e-6)
    assert len(df) > 100 and df["pred_main_class"].nunique() > 3


def test_catalogue_labels_beside_the_prediction(model, good):
    df = spectool.predict(model, good, progress=False)
    for row, s in zip(df.itertuples(), good):
        assert row.cat_class == s.meta["class"] and row.cat_subclass == s.meta["subclass"]
        assert row.cat_z == pytest.approx(s.meta["redshift"]) and row.cat_snr == pytest.approx(s.meta["snr"])


def test_same_columns_for_every_kind_of_input(model, good):
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    from_spectra = spectool.predict(model, good, progress=False)
    from_dataset = spectool.predict(model, ds, indices=np.arange(4), progress=False)
    from_array = spectool.predict(model, np.asarray(ds.flux[:4]), progress=False)
    assert list(from_spectra.columns) == list(from_dataset.columns) == list(from_array.columns)
    assert list(from_spectra.columns[:5]) == FIXED and list(from_spectra.columns[-4:]) == CATALOGUE
    assert from_dataset["cat_class"].tolist() == ds.meta["class"].iloc[:4].tolist()
    assert from_array["cat_class"].isna().all() and (from_array["error"] == "").all()


def test_progress_bar_only_when_asked_or_long(model, good, capsys):
    spectool.predict(model, good, progress=False)
    assert "preprocess" not in capsys.readouterr().err
    spectool.predict(model, good)  # 4 inputs: below the automatic threshold
    assert "preprocess" not in capsys.readouterr().err
    spectool.predict(model, good, progress=True)
    assert "preprocess" in capsys.readouterr().err


def test_whole_batch_of_bad_members_still_returns_rows(model, tmp_path):
    df = spectool.predict(model, [tmp_path / "a.fits", tmp_path / "b.fits"], progress=False)
    assert len(df) == 2 and (df["flag"] == "unreadable").all() and (df["pred_index"] == -1).all()


def test_real_validation_files_with_a_window_gap(model):
    root = shared_path("data", "real", "validation")
    man = pd.read_csv(root / "manifest.csv", keep_default_na=False).set_index("file")
    # a z=0.26 galaxy whose rest frame misses SCA-Net's 4000-8095 A window, and two stars
    files = ["spec-0266-51602-0573.fits", "101008.fits", "101009.fits"]
    df = spectool.predict("scanet_mmtt-mock-afgk", [root / "files" / f for f in files], progress=False)
    assert len(df) == 3 and df["flag"].iloc[0].split(";")[0] == "window_not_covered"
    assert np.isnan(df["teff"].iloc[0]) and np.isfinite(df["teff"].iloc[1:]).all()
    assert df["cat_class"].tolist() == [man.loc[f, "class"] for f in files]
    assert df["cat_z"].to_numpy() == pytest.approx([man.loc[f, "z"] for f in files], rel=1e-4, abs=1e-7)


def test_models_list_cli():
    res = CliRunner().invoke(app, ["models", "list", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    assert [a["architecture"] for a in got["architectures"]] == spectool.models.list_models()
    assert [p["name"] for p in got["pretrained"]] == spectool.models.list_pretrained()
    sc = next(p for p in got["pretrained"] if p["name"] == MODEL)
    assert sc["trained_on"] == "mock: mspc/SC-S>5" and sc["outputs"] == ["O", "B", "A", "F", "G", "K", "M"]
    text = CliRunner().invoke(app, ["models", "list", "-p", "scanet*"])
    assert text.exit_code == 0 and "scanet_mmtt-mock-afgk" in text.output and MODEL not in text.output


def test_mspcnet_predict_runs_the_fused_copy_and_follows_weight_changes():
    """On the CPU predict runs MSPC-Net's fused inference copy: same outputs as the plain
    eval-mode forward (float32, 1e-4 relative), one copy per set of weights, rebuilt after
    the weights change."""
    from spectool.inference import _FUSED, model_outputs

    torch.manual_seed(0)
    net = spectool.models.create("mspcnet_sdss", num_classes=4, depths=[1, 1, 1, 1], embed_dim=32).eval()
    x = torch.randn(3, net.input_length)
    _, out = model_outputs(net, x.numpy(), device="cpu")
    with torch.no_grad():
        ref = net(x[:, None]).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    first = _FUSED[net][1]
    model_outputs(net, x.numpy(), device="cpu")
    assert _FUSED[net][1] is first  # weights unchanged: the copy is reused
    with torch.no_grad():
        net.fc.weight.mul_(2.0)  # an in-place change, as an optimiser step makes
    _, out2 = model_outputs(net, x.numpy(), device="cpu")
    assert _FUSED[net][1] is not first
    with torch.no_grad():
        ref2 = net(x[:, None]).numpy()
    np.testing.assert_allclose(out2, ref2, rtol=1e-4, atol=1e-5)
    assert not np.allclose(out2, out)


# ------------------------------------------- spectra of one grid are preprocessed together
@pytest.fixture(scope="module")
def grid_spectra():
    """Eight synthetic spectra on one SDSS grid (as the mock survey writes them)."""
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    out = [ds.spectrum(i) for i in range(8)]
    assert len({s.wavelength.tobytes() for s in out}) == 1, "the fixture needs one shared grid"
    return out


def _per_spectrum(model, spectra):
    """(rows of the spectra the recipe accepts, per-input error type or None), one spectrum at a time."""
    rows, errors = [], []
    for s in spectra:
        try:
            rows.append(spectool.preprocess.apply(model.card["preprocess"], s).flux)
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - the reference outcome of each input
            errors.append(type(exc).__name__)
    return np.stack(rows), errors


def test_grid_batches_give_the_per_spectrum_rows_and_errors(model, grid_spectra):
    assert model.card["preprocess"] in EXACT_BATCH
    s = grid_spectra[0]
    flat = spectool.Spectrum(s.wavelength, np.ones_like(s.flux), meta={"object_id": "flat"})  # fails z-score
    # two spectra on a second grid: a group whose batch succeeds (the first group's fails on "flat"
    # and is redone one by one)
    shifted = [spectool.Spectrum(g.wavelength * 0.99995, g.flux, g.ivar, g.mask, meta={"object_id": f"shifted{i}"})
               for i, g in enumerate(grid_spectra[:2])]
    short = spectool.Spectrum(s.wavelength[:300], s.flux[:300], meta={"object_id": "short"})  # window not covered
    batch = [*grid_spectra[:3], flat, shifted[0], *grid_spectra[3:], short, shifted[1]]
    want_rows, want_errors = _per_spectrum(model, batch)
    assert want_errors.count(None) == len(batch) - 2  # flat and short fail, the rest not

    df = spectool.predict(model, batch, progress=False)
    ref = spectool.predict(model, want_rows, progress=False)  # the same model-ready rows, given as an array
    ok = df["error"] == ""
    assert ok.tolist() == [e is None for e in want_errors]
    assert "InvalidSpectrumError" in df.loc[3, "error"] and "CoverageError" in df.loc[len(batch) - 2, "error"]
    prob = [c for c in df.columns if c.startswith("prob_")]
    np.testing.assert_array_equal(df.loc[ok, prob].to_numpy(), ref[prob].to_numpy())
    np.testing.assert_array_equal(df.loc[ok, "ood_score"].to_numpy(), ref["ood_score"].to_numpy())


def test_a_batch_of_one_grid_equals_the_recipe_bit_for_bit(model, grid_spectra):
    from spectool.inference import _prepare_spectra

    want, _ = _per_spectrum(model, grid_spectra)
    got = _prepare_spectra(model, grid_spectra, None, {}, False)
    assert got.flux.dtype == np.float32 and got.flux.shape == want.shape
    np.testing.assert_array_equal(got.flux, want)
