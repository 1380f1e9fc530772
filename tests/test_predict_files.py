"""spectool.predict_files / ``spectool predict``: one row per input with errors as rows,
kill-and-resume, shards, Dask workers, provenance. Small *synthetic* files written by
tests/fixtures_factory.py and a tiny (untrained) ConvNeXt-1D checkpoint."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import spectool
from spectool.streaming import expand_inputs, predict_files

import fixtures_factory as ff

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["A", "F", "K"]
N_GOOD = 10


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """10 good SDSS-like files (in in/ and in/sub/), a non-FITS file, a truncated FITS file, a
    spectrum that does not cover MSPC-Net's 4000-9000 A window, and a tiny checkpoint."""
    d = tmp_path_factory.mktemp("predict_files")
    inp = d / "in"
    (inp / "sub").mkdir(parents=True)
    good, truth = [], {}
    for i in range(N_GOOD):
        path, spec = ff.sdss_spec(inp / "sub" if i % 2 else inp, i, name=f"good{i:02d}", teff=4000.0 + 400 * i)
        good.append(str(path))
        truth[str(path)] = spec
    notfits = inp / "notfits.fits"
    notfits.write_bytes(b"this is not a FITS file\n" * 10)
    trunc, _ = ff.sdss_spec(inp, 99, name="truncated")
    trunc.write_bytes(trunc.read_bytes()[:20000])
    w = np.linspace(5000.0, 6000.0, 800)
    short = inp / "sub" / "short.npy"
    np.save(short, np.vstack([w, 1.0 + 0.01 * np.sin(w)]), allow_pickle=False)
    bad = {str(notfits): "", str(trunc): "truncated", str(short): "4000-9000"}
    import torch
    torch.manual_seed(0)
    model = spectool.models.create("convnext1d", classes=CLASSES, dims=(8, 4), depths=(1, 1))
    ckpt = spectool.models.save(model, d / "tiny.safetensors")
    return {"dir": d, "in": inp, "good": good, "truth": truth, "bad": bad, "ckpt": ckpt,
            "all": sorted(good + list(bad))}


def _read(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out).sort_values(["input", "index"]).reset_index(drop=True)


def test_one_row_per_input_errors_are_rows_and_rerun_skips(survey, tmp_path):
    out = tmp_path / "out"
    s = predict_files(str(survey["ckpt"]), [survey["in"]], out=out, chunk_size=4, progress=False)
    n = len(survey["all"])
    assert (s.done, s.errors, s.skipped, s.n_inputs) == (n, len(survey["bad"]), 0, n)
    df = _read(out)
    assert len(df) == n and df["input"].is_unique and sorted(df["input"]) == survey["all"]
    assert df["index"].eq(0).all()
    for path, why in survey["bad"].items():
        row = df[df["input"] == path].iloc[0]
        assert isinstance(row["error"], str) and why in row["error"], (path, row["error"])
        assert pd.isna(row["pred_label"]) and row["flag"] in ("unreadable", "window_not_covered", "failed")
    ok = df[df["input"].isin(survey["good"])]
    assert ok["error"].isna().all() and set(ok["pred_label"]) <= set(CLASSES)
    short = next(p for p in survey["bad"] if p.endswith("short.npy"))
    assert df.loc[df["input"] == short, "flag"].item() == "window_not_covered"
    # the same numbers as spectool.predict on the in-memory spectra
    model = spectool.models.load(survey["ckpt"])
    direct = spectool.predict(model, [spectool.read(p) for p in ok["input"]])
    for c in ("prob_A", "prob_F", "prob_K"):
        np.testing.assert_allclose(ok[c].to_numpy(), direct[c].to_numpy(), atol=1e-5)
    assert ok["object_id"].tolist() == direct["object_id"].tolist()
    # catalogue labels read from the files
    for _, row in ok.iterrows():
        meta = survey["truth"][row["input"]].meta
        assert row["cat_class"] == meta["class"] and row["cat_subclass"] == meta["subclass"]
        assert row["cat_z"] == pytest.approx(meta["redshift"])
        assert row["cat_snr"] == pytest.approx(meta["snr"], rel=1e-3)
    again = predict_files(str(survey["ckpt"]), [survey["in"]], out=out, chunk_size=4, progress=False)
    assert (again.done, again.skipped) == (0, n)
    assert len(pd.read_parquet(out)) == n


def test_provenance_columns(survey, tmp_path):
    out = tmp_path / "out"
    assert spectool.predict_files is predict_files
    predict_files(str(survey["ckpt"]), survey["good"][:3] + [next(iter(survey["bad"]))], out=out, progress=False)
    df = _read(out)
    sha = hashlib.sha256(Path(survey["ckpt"]).read_bytes()).hexdigest()
    assert (df["model_sha256"] == sha).all() and (df["model"] == str(survey["ckpt"])).all()
    assert (df["model_arch"] == "convnext1d").all() and (df["spectool_version"] == spectool.__version__).all()
    card = spectool.models.read_card(survey["ckpt"])
    assert (df["preprocess"] == card["preprocess"]).all()
    assert all(json.loads(v) == (card.get("preprocess_options") or {}) for v in df["preprocess_options"])
    gate = "convnext1d-mock-fc" if not {"GALAXY", "QSO"} & set(card.get("output_names") or []) else None
    assert all(json.loads(v) == {"min_confidence": 0.8, "kind_gate": gate} for v in df["trust"])
    for _, row in df.iterrows():
        st = os.stat(row["input"])
        assert row["input_size"] == st.st_size
        assert abs(row["input_mtime"].timestamp() - st.st_mtime) < 1e-5


def test_shards_are_disjoint_and_cover(survey, tmp_path):
    got = []
    for i in range(2):
        s = predict_files(str(survey["ckpt"]), [survey["in"]], out=tmp_path / f"s{i}", shard=f"{i}/2",
                          progress=False)
        got.append(set(pd.read_parquet(tmp_path / f"s{i}")["input"]))
        assert s.done == len(got[-1]) > 0
    assert not got[0] & got[1] and sorted(got[0] | got[1]) == survey["all"]
    with pytest.raises(spectool.ConfigError, match="shard"):
        predict_files(str(survey["ckpt"]), [survey["in"]], out=tmp_path / "x", shard="2/2")


@pytest.mark.slow  # a fresh interpreter importing torch: ~25 s on the shared 2-core machine, ~8 s idle
def test_sigkill_mid_run_then_rerun_is_complete_without_duplicates(survey, tmp_path):
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import time
        import spectool.inference as inference
        from spectool.streaming import predict_files
        slow = inference.predict
        def predict(*a, **k):  # slow each chunk down so that the kill lands mid-run
            time.sleep(0.4)
            return slow(*a, **k)
        inference.predict = predict
        predict_files({str(survey['ckpt'])!r}, [{str(survey['in'])!r}], out={str(out)!r}, chunk_size=1,
                      progress=False)
        print("FINISHED")
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and len(list(out.glob("part-*.parquet"))) < 3 and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        output = proc.communicate()[0].decode()
    assert proc.returncode == -signal.SIGKILL and "FINISHED" not in output, output
    n = len(survey["all"])
    parts = list(out.glob("part-*.parquet"))
    assert 3 <= len(parts) < n  # killed mid-run: some, not all, chunks were written
    s = predict_files(str(survey["ckpt"]), [survey["in"]], out=out, chunk_size=1, progress=False)
    assert s.skipped == len(parts) and s.done == n - len(parts)
    df = pd.read_parquet(out)
    assert len(df) == n and df["input"].is_unique and sorted(df["input"]) == survey["all"]
    assert df.loc[df["input"].isin(survey["good"]), "error"].isna().all()


@pytest.mark.slow  # starting a 2-process LocalCluster: ~15-50 s on the shared 2-core machine
def test_two_dask_workers_equal_one_process(survey, tmp_path):
    import socket
    import warnings

    one = predict_files(str(survey["ckpt"]), [survey["in"]], out=tmp_path / "one", chunk_size=3, progress=False)
    # another Dask scheduler (a second shard's run, say) holds the default HTTP port: this run
    # takes a free one instead of warning about 8787
    blocker = socket.socket()
    try:
        blocker.bind(("", 8787))
        blocker.listen()
    except OSError:
        pass  # already taken: the same situation
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            two = predict_files(str(survey["ckpt"]), [survey["in"]], out=tmp_path / "two", chunk_size=3, workers=2,
                                progress=False)
    finally:
        blocker.close()
    assert not [str(w.message) for w in caught if "already in use" in str(w.message)]
    assert (one.done, one.errors) == (two.done, two.errors) == (len(survey["all"]), len(survey["bad"]))
    a, b = _read(tmp_path / "one"), _read(tmp_path / "two")
    assert list(a.columns) == list(b.columns)
    floats = [c for c in a.columns if c.startswith("prob_") or c == "pred_prob"]
    pd.testing.assert_frame_equal(a.drop(columns=floats), b.drop(columns=floats))
    np.testing.assert_allclose(a[floats].to_numpy(float), b[floats].to_numpy(float), atol=1e-5)


def test_inputs_lists_globs_and_multi_spectrum_files(survey, tmp_path):
    listing = tmp_path / "paths.txt"
    rel = os.path.relpath(survey["good"][0], tmp_path)
    listing.write_text(f"# inputs\n{rel}\n{survey['good'][1]}\n")
    pattern = str(survey["in"] / "**" / "good0[0-3].fits")
    items = expand_inputs([listing, pattern, survey["good"][0]])
    names = [p for p, _ in items]
    assert names[:2] == survey["good"][:2] and sorted(names) == sorted(survey["good"][:4])  # once each
    h5, spectra = ff.hdf5_file(tmp_path, n=3)
    out = tmp_path / "out"
    s = predict_files(str(survey["ckpt"]), [h5, tmp_path / "missing.fits"], out=out, progress=False)
    df = _read(out)
    assert (s.done, s.errors, s.rows) == (2, 1, 4)
    assert df.loc[df["input"] == str(h5), "index"].tolist() == [0, 1, 2]
    assert df.loc[df["input"] == str(tmp_path / "missing.fits"), "error"].notna().all()


def test_cli_predict_summary_resume_and_errors(survey, tmp_path):
    from spectool.cli import app
    out = tmp_path / "out"
    args = ["predict", str(survey["ckpt"]), str(survey["in"]), "--out", str(out), "--batch-size", "4", "-q"]
    res = CliRunner().invoke(app, args)
    n, nbad = len(survey["all"]), len(survey["bad"])
    assert res.exit_code == 0, res.output
    assert f"done: {n}  errors: {nbad}  skipped (already done): 0" in res.output
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and f"done: 0  errors: 0  skipped (already done): {n}" in res.output
    # another model into the same OUT would mix predictions: refused, naming OUT
    res = CliRunner().invoke(app, ["predict", "convnext1d-mock-sc", str(survey["in"]), "--out", str(out), "-q"])
    assert res.exit_code == 2 and "error:" in res.output and "model_sha256" in res.output


def test_store_rows_are_inputs(survey, tmp_path):
    from spectool.store import SpectrumStore
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"object_id": [f"row{i}" for i in range(5)], "class": ["STAR"] * 5, "snr": np.arange(5.0)})
    store = SpectrumStore.write(tmp_path / "store", flux=rng.normal(size=(5, 3584)).astype(np.float32),
                                wavelength=np.linspace(4000, 9000, 3584), meta=meta,
                                info={"name": "toy", "task": "classification", "preprocess": "mspcnet",
                                      "synthetic": True})
    out = tmp_path / "out"
    s = predict_files(str(survey["ckpt"]), [store.path], out=out, chunk_size=2, progress=False)
    df = pd.read_parquet(out)
    assert s.done == 5 and df["input"].tolist() == [f"{store.path}#{i}" for i in range(5)]
    direct = spectool.predict(spectool.models.load(survey["ckpt"]), spectool.datasets.SpectralDataset(store))
    np.testing.assert_allclose(df["prob_A"].to_numpy(), direct["prob_A"].to_numpy(), atol=1e-5)
    assert df["object_id"].tolist() == meta["object_id"].tolist() and df["cat_snr"].tolist() == meta["snr"].tolist()


def test_spfusion_images_folder(tmp_path):
    lay = ff.spfusion_layout(tmp_path / "spf", n=3, bad_image=1)
    out = tmp_path / "out"
    with pytest.raises(spectool.ConfigError, match="images"):
        predict_files("spfusion-mock-redclump", [lay["root"] / "spectrum"], out=out, progress=False)
    s = predict_files("spfusion-mock-redclump", [lay["root"] / "spectrum"], out=out,
                      images=lay["root"] / "photometric", progress=False)
    df = _read(out)
    assert (s.done, s.errors) == (3, 1) and df["object_id"].tolist() == ["500000", "500001", "500002"]
    assert df["error"].notna().tolist() == [False, True, False]
    ok = df[df["error"].isna()]
    imgs = np.stack([np.load(lay["root"] / "photometric" / f"{i}.npy") for i in ok["object_id"]])
    direct = spectool.predict("spfusion-mock-redclump", [spectool.read(p) for p in ok["input"]], images=imgs)
    np.testing.assert_allclose(ok[["mass", "age"]].to_numpy(), direct[["mass", "age"]].to_numpy(), rtol=1e-5)
