"""What makes survey-scale inference fast must not change a result (the grid batches of
``spectool.predict`` are tested in test_predict_batch.py):

* the FITS reader caches header values, table layouts and log-lambda grids: a cached value
  must never leak into another file or be modified through a spectrum;
* ``keep_freed_memory`` keeps a CPU forward pass from faulting its memory in afresh.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import spectool
from spectool.io import write_sdss_spec
from spectool.io._fitsfast import FitsIndex

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spectrum():
    return spectool.datasets.load("mspc/SC-S>5", size="quick").spectrum(0)


def _write(spec, path, **meta):
    s = spectool.Spectrum(spec.wavelength, spec.flux, spec.ivar, spec.mask,
                          meta={"plate": 9000, "mjd": 60000, "fiber": 1, "class": "STAR", "subclass": "K5",
                                "redshift": 0.0, "snr": 10.0, "synthetic": True, **meta})
    write_sdss_spec(s, path)
    return path


def test_reader_caches_do_not_leak_between_files(spectrum, tmp_path):
    s = spectrum
    first = spectool.read(_write(s, tmp_path / "spec-9000-60000-0001.fits", subclass="K5"))
    wave = first.wavelength.copy()
    first.wavelength[:] = 0.0  # a spectrum's arrays are its own: the cached grid must not change
    again = spectool.read(_write(s, tmp_path / "spec-9000-60000-0002.fits", subclass="M0", fiber=2))
    np.testing.assert_array_equal(again.wavelength, wave)
    np.testing.assert_allclose(again.wavelength, s.wavelength, rtol=1e-12)
    assert again.meta["subclass"] == "M0" and again.meta["fiber"] == 2 and first.meta["subclass"] == "K5"
    # a shorter spectrum: another log-lambda grid length, another COADD row length
    short = spectool.Spectrum(s.wavelength[:1000], s.flux[:1000], s.ivar[:1000], s.mask[:1000])
    c = spectool.read(_write(short, tmp_path / "spec-9000-60000-0003.fits", fiber=3))
    np.testing.assert_array_equal(c.wavelength, wave[:1000])
    np.testing.assert_array_equal(c.flux, s.flux[:1000])


def test_table_layout_cache_follows_the_column_cards(tmp_path):
    from astropy.io import fits

    def table(fmt, name="X"):
        hdu = fits.BinTableHDU.from_columns([fits.Column(name, fmt, array=np.arange(3))])
        path = tmp_path / f"t-{fmt}-{name}.fits"
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
        return FitsIndex(path.read_bytes()).table(1)

    e, d, j, y = table("E"), table("D"), table("J"), table("E", "Y")
    assert (e.dtype["X"], d.dtype["X"], j.dtype["X"]) == (np.dtype(">f4"), np.dtype(">f8"), np.dtype(">i4"))
    assert y.dtype.names == ("Y",)
    np.testing.assert_array_equal(d["X"], [0, 1, 2])


def test_forward_passes_reuse_their_memory():
    """A repeated CPU forward pass faults far fewer pages in once freed memory is kept (glibc)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt is a Linux matter")
    code = textwrap.dedent("""
        import json, os, resource, sys
        import numpy as np, torch
        sys.path.insert(0, sys.argv[1])
        import spectool, spectool.inference as inf
        torch.set_num_threads(1)
        torch.manual_seed(0)
        model = spectool.models.create("convnext1d", num_classes=7).eval()
        rows = np.random.default_rng(0).normal(size=(64, model.input_length)).astype(np.float32)
        def faults():
            inf.model_outputs(model, rows, device="cpu")  # warm
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            first = inf.model_outputs(model, rows, device="cpu")[1]
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, first
        off, out_off = faults()                     # SPECTOOL_KEEP_FREED_MEMORY=0: glibc's defaults
        os.environ.pop("SPECTOOL_KEEP_FREED_MEMORY")
        inf._HEAP_KEPT = None
        on, out_on = faults()
        print(json.dumps({"kept": inf.keep_freed_memory(), "off": off, "on": on,
                          "same": bool(np.array_equal(out_off, out_on))}))
    """)
    import os

    env = {**os.environ, "SPECTOOL_KEEP_FREED_MEMORY": "0"}
    res = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    if not got["kept"]:
        pytest.skip("not glibc: mallopt unavailable")
    assert got["same"]
    assert got["on"] * 5 < got["off"], got
