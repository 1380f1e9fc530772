"""Ingest of the papers' layouts into stores: bad files reported, resumption, parallel and Dask paths, CLI."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_factory as ff  # noqa: E402

import spectool  # noqa: E402
from spectool import preprocess as P  # noqa: E402
from spectool.errors import ConfigError, DatasetError, LabelError, SpectoolWarning  # noqa: E402
from spectool.ingest import (class_order, ingest_files, ingest_mspc, ingest_scanet, ingest_spfusion,  # noqa: E402
                             read_labels, read_mspc_folds, run_ingest, sample_per_class, table_from_paths)
from spectool.store import SpectrumStore  # noqa: E402

QUIET = {"progress": False}


@pytest.fixture
def mspc(tmp_path):
    return ff.mspc_layout(tmp_path / "mspc", n_per_class=3, classes=("O", "B", "A"), corrupt=1)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectoolWarning)
        return fn(*args, **kw)


# ------------------------------------------------------------------ MSPC-Net
def test_mspc_corrupt_file_reported_others_ingested(mspc, tmp_path):
    with pytest.warns(SpectoolWarning, match="skipped"):
        res = ingest_mspc(mspc["folds"], mspc["fits"], tmp_path / "mspc_SC-S_gt5", name="mspc/SC-S>5", **QUIET)
    store = res.store
    assert res.complete and res.n_items == 9 and res.n_ok == 8 and res.n_failed == 1
    report = pd.read_csv(res.report)
    assert report["object_id"].tolist() == mspc["corrupt"]
    assert report["file"].iloc[0].endswith(f"{mspc['corrupt'][0]}.fits") and "truncated" in report["reason"].iloc[0]
    assert store.info["class_names"] == ["O", "B", "A", "F", "G", "K", "M"]  # the preset's order and size
    assert store.info["synthetic"] is False
    assert store.info["preprocess"] == "mspcnet" and store.info["n_folds"] == 5
    assert store.flux.shape == (8, 3584) and store.ivar.shape == (8, 3584)
    assert np.sum(np.isfinite(store.wavelength)) == 3522
    # split columns match the fold CSVs (fold_1.csv -> fold_0)
    fold3 = pd.read_csv(mspc["folds"] / "fold_3.csv").set_index("basename")["dataset"]
    for oid, split in zip(store.meta["object_id"], store.meta["fold_2"]):
        assert fold3[oid] == split
    # every row equals the per-spectrum recipe on its file
    row = 4
    oid = store.meta["object_id"][row]
    want = P.mspcnet(spectool.read(mspc["fits"] / f"{oid}.fits")).flux
    np.testing.assert_array_equal(np.asarray(store.flux[row]), want)
    assert store.meta["label"][row] == mspc["table"].set_index("basename").loc[oid, "label"]
    assert SpectrumStore.open(tmp_path / "mspc_SC-S_gt5", verify=True).info["ingest"]["n_failed"] == 1
    ds = spectool.datasets.load("mspc/SC-S>5", source=tmp_path)
    assert not ds.synthetic and len(ds) == 8
    assert ds.labels.tolist() == [["O", "B", "A"].index(x) for x in store.meta["label"]]


def test_mspc_resume_after_partial_run(mspc, tmp_path):
    out = tmp_path / "store"
    first = _quiet(ingest_mspc, mspc["folds"], mspc["fits"], out, stop_after=4, shard_size=2, **QUIET)
    assert not first.complete and first.store is None and first.n_processed == 4
    assert first.n_ok + first.n_failed == 4 and not out.exists()
    shards = sorted((tmp_path / ".store.ingest").glob("shard-*.npz"))
    assert len(shards) == 2 and not list((tmp_path / ".store.ingest").glob("*.tmp"))
    second = _quiet(ingest_mspc, mspc["folds"], mspc["fits"], out, workers=2, **QUIET)
    assert second.complete and second.n_resumed == 4 and second.n_processed == 5 and len(second.store) == 8
    assert not (tmp_path / ".store.ingest").exists()
    third = _quiet(ingest_mspc, mspc["folds"], mspc["fits"], out, **QUIET)  # already done: nothing redone
    assert third.n_processed == 0 and third.n_resumed == 9 and len(third.store) == 8


def test_resume_refuses_different_settings(mspc, tmp_path):
    out = tmp_path / "store"
    _quiet(ingest_mspc, mspc["folds"], mspc["fits"], out, stop_after=2, **QUIET)
    with pytest.raises(DatasetError, match="different settings"):
        _quiet(ingest_mspc, mspc["folds"], mspc["fits"], out, options={"order": "normalize_first"}, **QUIET)
    res = _quiet(ingest_mspc, mspc["folds"], mspc["fits"], out, options={"order": "normalize_first"},
                 restart=True, **QUIET)
    assert res.complete and res.n_resumed == 0 and res.store.info["preprocess_options"]["order"] == "normalize_first"
    with pytest.raises(ConfigError, match="order"):
        ingest_mspc(mspc["folds"], mspc["fits"], tmp_path / "x", options={"order": "sideways"}, **QUIET)


def test_mspc_folds_dedupe_selection_and_class_order(tmp_path):
    lay = ff.mspc_layout(tmp_path / "m", n_per_class=4, classes=("K", "G"), repeat=3, corrupt=0, variant="long")
    with pytest.warns(SpectoolWarning, match="repeated row"):
        table = read_mspc_folds(lay["folds"])
    assert len(table) == 8 and [c for c in table.columns if c.startswith("fold_")] == [f"fold_{k}" for k in range(5)]
    assert {"ra", "dec", "resource", "snr"} <= set(table.columns)
    a = sample_per_class(table, 2, seed=1)
    b = sample_per_class(table, 2, seed=1)
    assert a["object_id"].tolist() == b["object_id"].tolist() and a["label"].value_counts().tolist() == [2, 2]
    assert class_order(["K", "G", "A", "GALAXY", "M5", "M0"]) == ["A", "G", "K", "M0", "M5", "GALAXY"]
    assert class_order(["O", "B", "A"], "alphabetical") == ["A", "B", "O"]
    with pytest.raises(LabelError, match="not in the given class order"):
        class_order(["O", "X"], ["O"])
    res = _quiet(ingest_mspc, lay["folds"], lay["fits"], tmp_path / "s", snr_min=8.0, per_class=1, seed=3,
                 classes="alphabetical", **QUIET)
    meta = res.store.meta
    assert res.store.info["class_names"] == ["G", "K"] and len(meta) == 2 and (meta["snr"] >= 8).all()


def test_fold_label_conflict_is_a_label_error(tmp_path):
    lay = ff.mspc_layout(tmp_path / "m", n_per_class=2, classes=("G", "K"), corrupt=0)
    f2 = lay["folds"] / "fold_2.csv"
    df = pd.read_csv(f2)
    df.loc[0, "label"] = "M"
    df.to_csv(f2, index=False)
    with pytest.raises(LabelError, match="fold_2.csv"):
        read_mspc_folds(lay["folds"])


def test_read_labels_errors(tmp_path):
    good = tmp_path / "ok.csv"
    good.write_text("# synthetic\nobject_id,label\na,STAR\nb,QSO\n")
    assert read_labels(good, classes=("STAR", "QSO"))["label"].tolist() == ["STAR", "QSO"]
    for text, match in (("object_id,label\na,STAR\na,QSO\n", "duplicate"), ("object_id,label\na,STAR\nb,\n", "blank"),
                        ("object_id,label\na,UNICORN\n", "UNICORN"), ("obsid,SNR\n1,3\n", "label")):
        p = tmp_path / "bad.csv"
        p.write_text(text)
        with pytest.raises(LabelError, match=match):
            read_labels(p, classes=("STAR", "QSO"))


def test_wavelength_grid_mismatch_is_reported(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    paths = [ff.sdss_spec(src, i)[0] for i in range(3)]
    odd = ff.star(9, "sdss")
    # half a pixel (5e-5 dex) off the 1e-4 dex grid
    odd = spectool.Spectrum(odd.wavelength * 10 ** 0.00005, odd.flux, odd.ivar, odd.mask, dict(odd.meta))
    spectool.io.write_sdss_spec(odd, src / "odd.fits")
    res = _quiet(ingest_files, paths + [src / "odd.fits"], tmp_path / "store", **QUIET)
    assert len(res.store) == 3 and pd.read_csv(res.report)["reason"].str.contains("wavelength map").all()


# ------------------------------------------------------------------ SPFusion / SCA-Net
@pytest.mark.parametrize("folds", [False, True])
def test_spfusion_layouts(tmp_path, folds):
    lay = ff.spfusion_layout(tmp_path / "sp", n=6, folds=folds, bad_image=2)
    res = _quiet(ingest_spfusion, lay["root"], tmp_path / "store", **QUIET)
    store = res.store
    assert len(store) == 5 and res.n_failed == 1 and "shape" in pd.read_csv(res.report)["reason"].iloc[0]
    assert store.images.shape == (5, 3, 128, 128) and store.info["targets"] == ["mass", "age"]
    assert [c for c in store.meta.columns if c.startswith("fold_")] == ["fold_0", "fold_1", "fold_2"]
    tests = [set(store.meta.loc[store.meta[f"fold_{k}"] == "test", "object_id"]) for k in range(3)]
    assert not (tests[0] & tests[1]) and not (tests[1] & tests[2])  # k-fold: disjoint test sets
    row = store.meta.index[store.meta["object_id"] == "500004"][0]
    assert store.meta.loc[row, "mass"] == pytest.approx(1.4) and store.meta.loc[row, "age"] == pytest.approx(7.0)
    want = P.spfusion(np.load(store.meta.loc[row, "file"]), ff.image(4))
    np.testing.assert_array_equal(np.asarray(store.flux[row]), want.flux)
    np.testing.assert_allclose(np.asarray(store.images[row]), want.image)
    ds = spectool.datasets.SpectralDataset(store)
    item = ds.torch("train", fold=0)[0]
    assert item["x"].shape == (1, 3584) and item["image"].shape == (3, 128, 128) and item["y"].shape == (2,)


@pytest.mark.parametrize("by", ["filename", "obsid"])
def test_scanet_catalogue(tmp_path, by):
    lay = ff.scanet_layout(tmp_path / "sc", n=5, by=by)
    res = _quiet(ingest_scanet, lay["catalogue"], lay["fits"], tmp_path / "store", snr_min=35.0, **QUIET)
    store = res.store
    assert len(store) == 4 and res.n_failed == 0  # snr 30 row filtered out
    assert store.info["targets"] == ["teff", "logg", "feh"] and store.flux.shape == (4, 4096)
    np.testing.assert_array_equal(store.wavelength, np.linspace(4000, 8095, 4096))
    assert {"teff_err", "logg_err", "feh_err"} <= set(store.meta.columns)
    assert set(store.meta["fold_0"]) <= {"train", "val", "test"}
    row = 1
    want = P.scanet(spectool.read(store.meta["file"][row])).flux
    np.testing.assert_allclose(np.asarray(store.flux[row]), want, rtol=1e-6)


# ------------------------------------------------------------------ Dask
def test_dask_scheduler_code_path(tmp_path):
    distributed = pytest.importorskip("distributed")
    src = tmp_path / "src"
    src.mkdir()
    paths = [ff.sdss_spec(src, i)[0] for i in range(4)]
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        res = run_ingest(table_from_paths(paths), tmp_path / "store", preprocess="mspcnet", scheduler=client,
                         chunk_size=1, **QUIET)
    assert res.complete and len(res.store) == 4 and res.n_failed == 0


# ------------------------------------------------------------------ CLI
@pytest.mark.filterwarnings("ignore::spectool.errors.SpectoolWarning")
def test_cli_info_and_ingest(tmp_path, mspc):
    from spectool.cli import app

    runner = CliRunner()
    path, spec = ff.sdss_spec(tmp_path, 1)
    out = runner.invoke(app, ["info", str(path)])
    assert out.exit_code == 0, out.output
    assert spec.meta["object_id"] in out.output and "3522 in 4000-9000 A" in out.output and "vacuum" in out.output
    bad = runner.invoke(app, ["info", str(tmp_path / "missing.fits")])
    assert bad.exit_code == 2 and "error:" in bad.output
    res = runner.invoke(app, ["ingest", "mspc", "--folds", str(mspc["folds"]), "--fits", str(mspc["fits"]),
                              "--out", str(tmp_path / "cli_store"), "--classes", "A,B,O", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "8 ingested, 1 skipped" in res.output and "ingest_report.csv" in res.output
    assert SpectrumStore.open(tmp_path / "cli_store").info["class_names"] == ["A", "B", "O"]
    nope = runner.invoke(app, ["ingest", "mspc", "--folds", str(tmp_path / "nofolds"), "--fits", str(mspc["fits"]),
                               "--out", str(tmp_path / "x"), "--quiet"])
    assert nope.exit_code == 2 and "error:" in nope.output
