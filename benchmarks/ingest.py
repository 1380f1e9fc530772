"""Benchmark: read + MSPC-Net preprocessing of 1000 synthetic SDSS spec-lite files, 1 and 2 processes.

Writes ``benchmarks/results/ingest.json`` and prints files/s (target: >= 200 files/s per core).
The files are *synthetic* (spectool.demo.synthetic_spectrum written with spectool.io.write_sdss_spec):
50 distinct spectra, each copied to 20 file names, in a temporary directory.

    python benchmarks/ingest.py [--files 1000] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spectool.demo import synthetic_spectrum  # noqa: E402
from spectool.ingest import process_chunk, run_ingest, table_from_paths  # noqa: E402
from spectool.ingest.runner import _limit_threads  # noqa: E402
from spectool.io import write_sdss_spec  # noqa: E402


def make_files(directory: Path, n: int, distinct: int = 50) -> list[str]:
    """``n`` synthetic spec-lite files: ``distinct`` spectra written once, then copied under new names."""
    bases = []
    for i in range(distinct):
        spec = synthetic_spectrum(seed=i, teff=4000.0 + 100.0 * (i % 40), snr=10.0 + i % 30)
        bases.append(write_sdss_spec(spec, directory / f"base-{i:03d}.fits"))
    paths = []
    for k in range(n):
        p = directory / f"spec-9999-55555-{k + 1:04d}.fits"
        shutil.copyfile(bases[k % distinct], p)
        paths.append(str(p))
    return paths


def read_and_preprocess(paths: list[str], workers: int, chunk: int = 25) -> float:
    """Seconds to read + preprocess every file with ``workers`` processes (1 = in this process)."""
    items = [{"object_id": Path(p).stem, "path": p} for p in paths]
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    t0 = time.perf_counter()
    if workers == 1:
        results = [r for c in chunks for r in process_chunk(c, "mspcnet", {})]
    else:
        with ProcessPoolExecutor(workers, initializer=_limit_threads) as ex:
            ex.submit(_limit_threads).result()  # pool started before the clock matters little; keep it simple
            t0 = time.perf_counter()
            results = [r for rs in ex.map(process_chunk, chunks, ["mspcnet"] * len(chunks), [{}] * len(chunks))
                       for r in rs]
    dt = time.perf_counter() - t0
    bad = [r for r in results if not r["ok"]]
    if bad:
        raise SystemExit(f"{len(bad)} files failed, e.g. {bad[0]['reason']}")
    return dt


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    _limit_threads()
    tmp = Path(tempfile.mkdtemp(prefix="spectool-bench-"))
    try:
        paths = make_files(tmp, args.files)
        read_and_preprocess(paths[:50], 1)  # warm imports and the page cache
        cpu0 = time.process_time()
        read_and_preprocess(paths, 1)
        cpu_ms = (time.process_time() - cpu0) / len(paths) * 1e3
        print(f"CPU time per file (read + preprocess, one process): {cpu_ms:.2f} ms "
              f"-> {1e3 / cpu_ms:.0f} files/s per fully available core")
        rows = []
        for w in args.workers:
            dt = read_and_preprocess(paths, w)
            rows.append({"workers": w, "seconds": round(dt, 3), "files_per_s": round(len(paths) / dt, 1),
                         "files_per_s_per_core": round(len(paths) / dt / w, 1)})
            print(f"read + mspcnet preprocess, {w} process(es): {len(paths) / dt:7.1f} files/s "
                  f"({len(paths) / dt / w:.1f} per core, {dt:.2f} s for {len(paths)} files)")
        store_rows = []
        for w in args.workers:
            t0 = time.perf_counter()
            res = run_ingest(table_from_paths(paths), tmp / f"store-{w}", preprocess="mspcnet", workers=w,
                             progress=False)
            dt = time.perf_counter() - t0
            store_rows.append({"workers": w, "seconds": round(dt, 3), "files_per_s": round(len(paths) / dt, 1),
                               "n_ok": res.n_ok})
            print(f"full ingest into a store,  {w} process(es): {len(paths) / dt:7.1f} files/s ({dt:.2f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "read + MSPC-Net preprocess of synthetic SDSS spec-lite files",
        "synthetic": True,
        "n_files": args.files,
        "target_files_per_s_per_core": 200,
        "cpu_ms_per_file": round(cpu_ms, 3),
        "read_preprocess": rows,
        "ingest_to_store": store_rows,
        "machine": {"cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = ROOT / "benchmarks" / "results" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
