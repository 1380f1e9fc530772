"""Crash safety and safe loading.

* Downloads killed mid-file (SIGKILL on a subprocess) resume with HTTP Range and end
  with the right bytes; the destination never holds a partial file.
* Stores are replaced atomically: killing a writer at random moments leaves either
  the old or the new store, never a mix.
* Ingest killed mid-way and restarted completes with nothing lost or duplicated.
* Source scan: no ``torch.load`` without ``weights_only=True``, ``pickle``/``marshal``
  loads, ``eval``/``exec``, unsafe ``yaml.load``, ``allow_pickle=True`` or archive
  extraction without the standard library's ``filter="data"`` anywhere in ``spectool/``.
"""
from __future__ import annotations

import ast
import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from http_fixture_server import FixtureServer  # noqa: E402

from spectool.errors import UnsafeInputError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SPECTOOL_OFFLINE"}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **extra)
    return env


def _wait_for(predicate, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


# ------------------------------------------------------------------ downloads
def test_download_killed_mid_file_resumes(tmp_path, monkeypatch):
    monkeypatch.delenv("SPECTOOL_OFFLINE", raising=False)
    from spectool.download import DownloadOptions, DownloadTask, fetch

    blob = np.random.default_rng(7).integers(0, 256, 400_000, dtype=np.uint8).tobytes()
    digest = hashlib.sha256(blob).hexdigest()
    dest = tmp_path / "big.fits"
    part = dest.with_name(dest.name + ".part")
    with FixtureServer(files={"/big.fits": blob}, chunk_delay=0.01, lifetime=60) as srv:
        code = textwrap.dedent(f"""
            from spectool.download import DownloadOptions, DownloadTask, fetch
            fetch(DownloadTask({srv.url('big.fits')!r}, {str(dest)!r}, sha256={digest!r}),
                  DownloadOptions(progress=False, allow_insecure_localhost=True))
        """)
        proc = subprocess.Popen([PY, "-c", code], env=_child_env(), cwd=ROOT)
        try:
            _wait_for(lambda: part.exists() and part.stat().st_size >= 100_000, 30, "a partial download")
        finally:
            _kill(proc)
        assert proc.returncode == -signal.SIGKILL
        assert not dest.exists(), "a killed download must not leave the destination file"
        kept = part.stat().st_size
        assert 0 < kept < len(blob)
        srv.chunk_delay = 0.0
        result = fetch(DownloadTask(srv.url("big.fits"), dest, sha256=digest),
                       DownloadOptions(progress=False, allow_insecure_localhost=True, backoff=0.01))
        assert result.resumed and srv.hits("big.fits")[-1].range == f"bytes={kept}-"
    assert dest.read_bytes() == blob and not part.exists()


# ------------------------------------------------------------------ stores
def test_store_writer_killed_leaves_old_or_new_store(tmp_path):
    """A writer overwriting a store in a loop is killed 3 times; the store always opens and verifies."""
    from spectool.store import SpectrumStore

    store = tmp_path / "store"
    code = textwrap.dedent(f"""
        import numpy as np, pandas as pd
        from spectool.store import SpectrumStore
        for k in range(10_000):
            n = 50 + k % 7
            SpectrumStore.write({str(store)!r}, flux=np.full((n, 512), k, np.float32),
                                wavelength=np.linspace(4000, 9000, 512),
                                meta=pd.DataFrame({{"object_id": [f"o{{i}}" for i in range(n)], "label": "STAR"}}),
                                info={{"name": "crash-test", "synthetic": True, "k": k}})
    """)
    for trial in range(3):
        proc = subprocess.Popen([PY, "-c", code], env=_child_env(), cwd=ROOT)
        try:
            _wait_for(lambda: (store / "info.json").exists(), 60, "the first store")
            time.sleep(0.2 + 0.15 * trial)
        finally:
            _kill(proc)
        opened = SpectrumStore.open(store, verify=True)
        k = opened.info["k"]
        assert len(opened) == len(opened.meta) == 50 + k % 7
        assert np.all(np.asarray(opened.flux) == k), "store mixes arrays from two writes"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "store"]
    # temporaries of a killed writer are hidden dot-files; they never replace the store
    assert all(name.startswith(".") for name in leftovers), leftovers


# ------------------------------------------------------------------ ingest
def _shard_ids(work: Path) -> list[str]:
    """Object ids in the finished shards of an ingest work folder (files ingested so far)."""
    ids: list[str] = []
    for shard in sorted(work.glob("shard-*.npz")):
        with np.load(shard, allow_pickle=False) as z:
            ids += z["ids"].tolist() + z["failed_ids"].tolist()
    return ids


def test_ingest_killed_and_restarted_loses_and_duplicates_nothing(tmp_path):
    """SIGKILL lands mid-run (some shards written, not all), and the restart resumes exactly the rest."""
    from badinput.corpus import sdss_bytes

    from spectool.ingest import ingest_files
    from spectool.store import SpectrumStore

    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(3)
    n = 60
    for i in range(n):
        name = f"spec-9999-55555-{i + 1:04d}.fits"
        (src / name).write_bytes(sdss_bytes(flux=(50 + rng.normal(0, 1, 3840)).astype(np.float32)))
    out = tmp_path / "store"
    work = tmp_path / ".store.ingest"  # the runner's resumable shards
    # the child sleeps 0.2 s per chunk of 4 files, so the run lasts ~3 s after start-up and the kill
    # below (after the second shard) cannot land after the end
    code = textwrap.dedent(f"""
        import glob, time
        import spectool.ingest.runner as runner
        from spectool.ingest import ingest_files
        real = runner.process_chunk
        def slow(*args):
            time.sleep(0.2)
            return real(*args)
        runner.process_chunk = slow
        ingest_files(sorted(glob.glob({str(src / '*.fits')!r})), {str(out)!r}, preprocess="mspcnet",
                     workers=1, chunk_size=4, shard_size=4, progress=False)
    """)
    proc = subprocess.Popen([PY, "-c", code], env=_child_env(), cwd=ROOT)
    try:
        _wait_for(lambda: len(list(work.glob("shard-*.npz"))) >= 2, 120, "two ingest shards")
    finally:
        _kill(proc)
    assert proc.returncode == -signal.SIGKILL
    before = _shard_ids(work)
    assert 0 < len(before) < n, f"the kill must land mid-run: {len(before)} of {n} files were done"
    assert len(set(before)) == len(before)
    assert not (out / "info.json").exists(), "a killed ingest must not leave a store"
    res = ingest_files(sorted(str(p) for p in src.glob("*.fits")), out, preprocess="mspcnet", workers=1,
                       chunk_size=4, progress=False)
    assert res.complete and res.n_resumed == len(before) and res.n_processed == n - len(before)
    store = SpectrumStore.open(out, verify=True)
    assert len(store) == n and store.meta["object_id"].is_unique
    assert sorted(store.meta["object_id"]) == sorted(p.stem for p in src.glob("*.fits"))
    assert len(store.flux) == len(store.meta)


# ------------------------------------------------------------------ safe loading
RISKY = {
    ("pickle", "load"), ("pickle", "loads"), ("cPickle", "load"), ("dill", "load"), ("dill", "loads"),
    ("marshal", "load"), ("marshal", "loads"), ("shelve", "open"), ("joblib", "load"), ("cloudpickle", "load"),
    ("yaml", "unsafe_load"), ("yaml", "full_load"), ("pd", "read_pickle"), ("pandas", "read_pickle"),
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}


def scan_source(text: str, name: str = "<src>") -> list[str]:
    """Unsafe-loading patterns in Python source ``text`` as ``name:line: what`` strings."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                found.append(f"{name}:{node.value.lineno}: allow_pickle not False")
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        kw = {k.arg: k.value for k in node.keywords}
        if isinstance(f, ast.Name) and f.id in {"eval", "exec", "__import__"}:
            found.append(f"{name}:{node.lineno}: {f.id}()")
        if not isinstance(f, ast.Attribute):
            continue
        owner = f.value.id if isinstance(f.value, ast.Name) else None
        if (owner, f.attr) in RISKY:
            found.append(f"{name}:{node.lineno}: {owner}.{f.attr}()")
        if owner == "torch" and f.attr == "load":
            w = kw.get("weights_only")
            if not (isinstance(w, ast.Constant) and w.value is True):
                found.append(f"{name}:{node.lineno}: torch.load without weights_only=True")
        if owner == "yaml" and f.attr == "load":
            loader = kw.get("Loader", node.args[1] if len(node.args) > 1 else None)
            lname = getattr(loader, "attr", getattr(loader, "id", None))
            if lname not in SAFE_YAML_LOADERS:
                found.append(f"{name}:{node.lineno}: yaml.load without SafeLoader")
        risky_extract = f.attr == "extractall" or (f.attr == "extract" and owner in {None, "tf", "zf", "tar", "zip"})
        data_filter = isinstance(kw.get("filter"), ast.Constant) and kw["filter"].value == "data"
        if risky_extract and not data_filter:
            found.append(f"{name}:{node.lineno}: archive {f.attr}() without filter=\"data\" (tarfile data filter)")
    return found


def test_scanner_catches_every_pattern():
    bad = textwrap.dedent("""
        import torch, pickle, yaml, numpy as np
        torch.load("w.pt")
        torch.load("w.pt", weights_only=False)
        pickle.load(open("x", "rb"))
        eval("1+1"); exec("x = 1")
        yaml.load(text)
        yaml.load(text, Loader=yaml.Loader)
        np.load("a.npy", allow_pickle=True)
        tarfile.open("a.tar").extractall("d")
        tf.extractall("d", filter="fully_trusted")
        zf.extract("member")
    """)
    assert len(scan_source(bad)) == 11, scan_source(bad)
    good = textwrap.dedent("""
        torch.load("w.pt", weights_only=True, map_location="cpu")
        yaml.safe_load(text); yaml.load(text, Loader=yaml.SafeLoader)
        np.load("a.npy", allow_pickle=False); model.eval()
        tarfile.open("a.tar").extractall("d", filter="data")
    """)
    assert scan_source(good) == []


def test_spectool_source_has_no_unsafe_loading():
    problems = []
    for path in sorted((ROOT / "spectool").rglob("*.py")):
        problems += scan_source(path.read_text(), str(path.relative_to(ROOT)))
    assert problems == [], "\n".join(problems)


def test_store_arrays_load_without_pickle(tmp_path):
    """Stores hold plain npy arrays (loadable with allow_pickle=False), parquet and JSON only."""
    from spectool.store import SpectrumStore

    meta = pd.DataFrame({"object_id": ["a", "b"], "label": ["STAR", "QSO"]})
    flux = np.arange(16, dtype=np.float32).reshape(2, 8)
    SpectrumStore.write(tmp_path / "s", flux=flux, wavelength=np.arange(8.0) + 4000.0, meta=meta,
                        info={"name": "t", "synthetic": True})
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert {p.rsplit(".", 1)[-1] for p in files} <= {"npy", "parquet", "json", "csv"}, files
    arrays = {npy.stem: np.load(npy, allow_pickle=False) for npy in (tmp_path / "s").glob("*.npy")}  # no pickle
    assert {"flux", "wavelength"} <= set(arrays), files
    assert all(a.dtype != object for a in arrays.values())
    np.testing.assert_array_equal(arrays["flux"], flux)
    np.testing.assert_array_equal(arrays["wavelength"], np.arange(8.0) + 4000.0)

