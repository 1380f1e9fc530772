"""Crash safety and safe loading.

* Downloads killed mid-file (SIGKILL on a subprocess) resume with HTTP Range and end
  with the right bytes; the destination never holds a partial file.
* Stores are replaced atomically: killing a writer at random moments leaves either
  the old or the new store, never a mix.
* Ingest killed mid-way and restarted completes with nothing lost or duplicated.
* Source scan: no ``torch.load`` without ``weights_only=True``, ``pickle``/``marshal``
  loads, ``eval``/``exec``, unsafe ``yaml.load``, ``allow_pickle=True`` or raw
  ``extractall`` anywhere in ``spectool/``.
* :func:`spectool.safety.safe_extract` refuses malicious tar and zip archives.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
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
from spectool.safety import safe_extract  # noqa: E402

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
def test_ingest_killed_and_restarted_loses_and_duplicates_nothing(tmp_path):
    ingest = pytest.importorskip("spectool.ingest", reason="spectool.ingest does not exist yet")
    from badinput.corpus import sdss_bytes

    run = getattr(ingest, "ingest_files", None)
    wanted = {"preprocess", "workers", "chunk_size"}
    if run is None or not wanted <= set(inspect.signature(run).parameters):
        pytest.skip("spectool.ingest.ingest_files(paths, out, preprocess=, workers=, chunk_size=) is not available")
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(3)
    ids = []
    for i in range(60):
        name = f"spec-9999-55555-{i + 1:04d}.fits"
        (src / name).write_bytes(sdss_bytes(flux=(50 + rng.normal(0, 1, 3840)).astype(np.float32)))
        ids.append(name)
    out = tmp_path / "store"
    code = textwrap.dedent(f"""
        import glob
        from spectool.ingest import ingest_files
        ingest_files(sorted(glob.glob({str(src / '*.fits')!r})), {str(out)!r}, preprocess="mspcnet",
                     workers=1, chunk_size=4)
    """)
    proc = subprocess.Popen([PY, "-c", code], env=_child_env(), cwd=ROOT)
    try:
        time.sleep(4.0)
    finally:
        _kill(proc)
    run(sorted(str(p) for p in src.glob("*.fits")), out, preprocess="mspcnet", workers=1, chunk_size=4)
    from spectool.store import SpectrumStore

    store = SpectrumStore.open(out, verify=True)
    assert len(store) == 60 and store.meta["object_id"].is_unique
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
        if risky_extract and name != "safety.py":
            found.append(f"{name}:{node.lineno}: archive {f.attr}() outside spectool.safety.safe_extract")
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
    """)
    assert len(scan_source(bad)) == 9, scan_source(bad)
    good = textwrap.dedent("""
        torch.load("w.pt", weights_only=True, map_location="cpu")
        yaml.safe_load(text); yaml.load(text, Loader=yaml.SafeLoader)
        np.load("a.npy", allow_pickle=False); model.eval()
    """)
    assert scan_source(good) == []


def test_spectool_source_has_no_unsafe_loading():
    problems = []
    for path in sorted((ROOT / "spectool").rglob("*.py")):
        problems += scan_source(path.read_text(), path.name if path.name == "safety.py"
                                else str(path.relative_to(ROOT)))
    assert problems == [], "\n".join(problems)


def _tar_with(tmp_path: Path, name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> Path:
    path = tmp_path / f"evil-{len(list(tmp_path.iterdir()))}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
        tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return path


def test_safe_extract_refuses_malicious_archives(tmp_path):
    arch = tmp_path / "arch"
    arch.mkdir()
    dest = tmp_path / "dest"
    evil = [
        _tar_with(arch, "../escape.txt"),
        _tar_with(arch, "/abs/escape.txt"),
        _tar_with(arch, "ok/../../escape.txt"),
        _tar_with(arch, "link", kind=tarfile.SYMTYPE, link="../../etc/passwd"),
        _tar_with(arch, "hard", kind=tarfile.LNKTYPE, link="/etc/passwd"),
        _tar_with(arch, "dev", kind=tarfile.CHRTYPE),
    ]
    zpath = arch / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("good.txt", "fine")
        zf.writestr("../../zip-escape.txt", "bad")
    for archive in [*evil, zpath]:
        with pytest.raises(UnsafeInputError, match="escapes|absolute|links|device|outside") as info:
            safe_extract(archive, dest)
        assert archive.name in str(info.value)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "zip-escape.txt").exists()
    assert not dest.exists() or not any(dest.rglob("*")), "nothing is written from a malicious archive"
    good = arch / "good.tar"
    with tarfile.open(good, "w") as tf:
        for n, payload in {"a/b.txt": b"hello", "c.txt": b"world"}.items():
            info = tarfile.TarInfo(n)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    out = safe_extract(good, dest)
    assert sorted(p.relative_to(dest.resolve()).as_posix() for p in out) == ["a/b.txt", "c.txt"]
    assert (dest / "a" / "b.txt").read_bytes() == b"hello"
    junk = arch / "junk.tar"
    junk.write_bytes(b"junk" * 100)
    with pytest.raises(UnsafeInputError, match="not a readable"):
        safe_extract(junk, dest)


def test_store_arrays_load_without_pickle(tmp_path):
    """Stores hold plain npy arrays (loadable with allow_pickle=False), parquet and JSON only."""
    from spectool.store import SpectrumStore

    meta = pd.DataFrame({"object_id": ["a", "b"], "label": ["STAR", "QSO"]})
    SpectrumStore.write(tmp_path / "s", flux=np.zeros((2, 8), np.float32), wavelength=np.arange(8.0), meta=meta,
                        info={"name": "t", "synthetic": True})
    for npy in (tmp_path / "s").glob("*.npy"):
        np.load(npy, allow_pickle=False)  # raises if anything needed pickle
