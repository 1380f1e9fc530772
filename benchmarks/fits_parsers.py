"""Per-file FITS read time: spectool's parser vs fitsio (cfitsio) vs astropy, on the real files.

The same work for each library on every FITS file under ``../shared/data/real``:
read the file (gzip-decompressed when ``.gz``), parse the headers of HDUs 0-2 and
read the spectrum (HDU 0 image of LAMOST DR1-DR7, HDU 1 table otherwise) and the
HDU 2 catalogue table when there is one. Each file is timed ``--repeat`` times and
the best time kept; the script prints and stores the median and mean over files,
plus ``spectool.read`` end to end (parser + reader). fitsio is optional
(``pip install fitsio``); without it its row is skipped. Writes
``benchmarks/results/fits_parsers.json``.

    python benchmarks/fits_parsers.py [--repeat 5] [--fitsio-path DIR]
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _files() -> list[Path]:
    real = Path(os.environ.get("SPECTOOL_SHARED", ROOT.parent / "shared")) / "data" / "real"
    return sorted(p for p in real.rglob("*") if p.is_file() and ".fits" in p.name.lower())


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def spectool_parser(path: Path) -> None:
    from spectool.io._fitsfast import FitsIndex

    idx = FitsIndex(_raw(path))
    h0 = idx.get(0).header
    if h0.get("NAXIS") == 2:
        idx.image(0)
    else:
        idx.table(1)
    if idx.get(2) is not None:
        idx.table(2)


def fitsio_parser(path: Path) -> None:
    import fitsio

    with fitsio.FITS(str(path)) as f:
        h0 = f[0].read_header()
        n = len(f)
        if h0.get("NAXIS") == 2:
            f[0].read()
        else:
            f[1].read_header()
            f[1].read()
        if n > 2:
            f[2].read_header()
            f[2].read()


def astropy_parser(path: Path) -> None:
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(io.BytesIO(_raw(path))) as h:
            h0 = h[0].header
            if h0.get("NAXIS") == 2:
                np.asarray(h[0].data)
            else:
                dict(h[1].header)
                np.asarray(h[1].data)
            if len(h) > 2:
                dict(h[2].header)
                np.asarray(h[2].data)
            dict(h0)


def spectool_read(path: Path) -> None:
    import spectool

    spectool.read(path)


def _time(fn, files: list[Path], repeat: int) -> list[float]:
    for p in files[:3]:  # warm imports and caches
        fn(p)
    out = []
    for p in files:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn(p)
            best = min(best, time.perf_counter() - t)
        out.append(best * 1e3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--fitsio-path", help="directory holding an installed fitsio (pip install --target DIR)")
    ap.add_argument("--note", default="", help="free text stored with the numbers (e.g. machine load)")
    args = ap.parse_args()
    if args.fitsio_path:
        sys.path.insert(0, args.fitsio_path)
    files = _files()
    if not files:
        sys.exit("no FITS files under ../shared/data/real")
    runs = {"spectool _fitsfast": spectool_parser, "astropy": astropy_parser,
            "spectool.read (end to end)": spectool_read}
    try:
        import fitsio

        runs["fitsio " + fitsio.__version__] = fitsio_parser
    except ImportError:
        print("fitsio not installed: skipped")
    results = {}
    for name, fn in runs.items():
        ms = _time(fn, files, args.repeat)
        results[name] = {"median_ms": round(float(np.median(ms)), 3), "mean_ms": round(float(np.mean(ms)), 3),
                         "max_ms": round(float(np.max(ms)), 3)}
        print(f"{name:30s} median {results[name]['median_ms']:7.3f} ms  mean {results[name]['mean_ms']:7.3f} ms  "
              f"max {results[name]['max_ms']:7.3f} ms per file")
    out = {"files": len(files), "repeat_best_of": args.repeat, "machine": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "note": args.note, "results": results,
           "task": "read file (+gunzip), headers of HDU 0-2, spectrum HDU data, HDU 2 table"}
    dest = ROOT / "benchmarks" / "results" / "fits_parsers.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
