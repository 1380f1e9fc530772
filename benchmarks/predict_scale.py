"""End-to-end survey-scale inference: files/s of ``spectool.predict_files`` vs pure inference.

Writes N *synthetic* SDSS-like FITS files (spectool's mock survey: ``spectool.mock.generate_stars``
on the SDSS grid, written by ``spectool.io.write_sdss_spec``), then for ConvNeXt-1D and MSPC-Net
(the shipped ``-mock-`` checkpoints) measures

* ``pure_infer_spectra_per_s``: ``spectool.predict`` on model-ready arrays already in memory
  (no reading, no preprocessing, no writing), this process, default torch threads; it
  alternates with the 1-process end-to-end run for ``--repeats`` rounds and both keep the
  median (the rate of a shared VM drifts by 10-20 % over minutes);
* ``files_per_s`` for ``predict_files`` (read + preprocess + infer + write parquet parts)
  with one process (default torch threads) and with a 2-worker Dask ``LocalCluster``
  (one thread per worker), each into a fresh output directory: ``workers_2`` starts the
  cluster inside ``predict_files`` (start-up included), ``workers_2_warm`` runs through
  ``scheduler=`` on a cluster started beforehand (``cluster_start_s``) whose workers have
  loaded the model (``worker_warmup_s``), as on a long-running cluster;
* ``workers_1_threads1``: one process with one torch thread
  (``speedup_2_workers_warm_vs_1thread``); it still reads the next chunk's files in a second
  thread, so it uses about 1.2 cores, and the ratio is capped below 2 by that overlap;
* ``workers_1_warm``: a warm cluster of one one-thread worker, the same code path as each of
  the two workers on one core (``speedup_2_workers_warm_vs_1worker``, the scaling figure);
  it alternates with the 2-worker warm cluster, ``--repeats`` rounds, medians kept;
* ``cli_cold``: wall time of the whole ``spectool predict`` command in a fresh interpreter
  (imports, model load, cluster start-up included), with 1 and 2 workers.

Usage::

    python benchmarks/predict_scale.py [--n 5000] [--n-mspcnet 5000] [--out-dir /tmp/predict_scale]
        [--workers 1,2] [--jobs 1] [--batch-size 64] [--chunk-size 256]

On a GPU machine (inference on CUDA, reading and preprocessing on the CPU workers), e.g.
``--workers 1,4,8 --jobs 8 --batch-size 256 --chunk-size 1024 --results
benchmarks/results/predict_scale_gpu.json`` (``scripts/gpu_bench.sh``).

Results go to ``benchmarks/results/predict_scale.json`` with the load average before each
measurement: the numbers are only as good as the machine was quiet. On a machine busier than
its cores, torch's idle OpenMP threads spin (with the default ``OMP_WAIT_POLICY``): a 2-thread
forward pass then burns several times its CPU time and wall time; the CPU times recorded
(``pure_infer_cpu_ms_per_spectrum``, ``cpu_ms_per_file`` of one process) show it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import spectool  # noqa: E402
from spectool.io import write_sdss_spec  # noqa: E402
from spectool.mock import generate_stars, subclass_from_teff  # noqa: E402
from spectool.mock.spectype import DWARF_TEFF  # noqa: E402
from spectool.streaming import local_cluster, predict_files  # noqa: E402

MODELS = {"convnext1d": "convnext1d-mock-sc", "mspcnet_sdss": "mspcnet_sdss-mock-sc"}


def make_files(folder: Path, n: int, seed: int = 0, block: int = 250) -> list[Path]:
    """``n`` synthetic SDSS spec-lite files (stars, S/N 5-60) in ``folder``; reused if present."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"spec-9000-60000-{i:05d}.fits" for i in range(n)]
    missing = [i for i, p in enumerate(paths) if not p.is_file()]
    rng = np.random.default_rng(seed)
    for start in range(0, len(missing), block):
        idx = missing[start:start + block]
        m = len(idx)
        labels = pd.DataFrame({"teff": rng.uniform(3500, 20000, m), "logg": rng.uniform(1.0, 5.0, m),
                               "feh": rng.uniform(-2.0, 0.4, m)})
        snr = rng.uniform(5.0, 60.0, m)
        obs, meta = generate_stars(labels, "sdss", snr, rng)
        sub = subclass_from_teff(labels["teff"].to_numpy(), labels["logg"].to_numpy(), [name for name, _ in DWARF_TEFF])
        for k, i in enumerate(idx):
            spec = spectool.Spectrum(wavelength=obs.wave, flux=obs.flux[k], ivar=obs.ivar[k], mask=obs.mask[k],
                                     meta={"plate": 9000, "mjd": 60000, "fiber": i, "class": "STAR",
                                           "subclass": str(sub[k]), "redshift": float(meta["redshift"][k]),
                                           "snr": float(obs.snr[k]), "synthetic": True})
            write_sdss_spec(spec, paths[i])
    return paths


def make_files_parallel(folder: Path, n: int, jobs: int) -> list[Path]:
    """``n`` files written by ``jobs`` processes, each into ``folder/part<k>`` with its own seed."""
    if jobs <= 1:
        return make_files(folder, n)
    from concurrent.futures import ProcessPoolExecutor

    sizes = [n // jobs + (k < n % jobs) for k in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        parts = list(pool.map(make_files, [folder / f"part{k}" for k in range(jobs)], sizes, range(jobs)))
    return [p for part in parts for p in part]


def pure_inference(name: str, files: list[Path], batch_size: int) -> tuple[float, float]:
    """(spectra/s, CPU ms per spectrum) of one spectool.predict call on model-ready rows in
    memory (files preprocessed first). CPU time (all threads of this process) is less disturbed
    than wall time by other jobs on a shared machine, except that idle OpenMP threads spin."""
    model = spectool.models.load(name)
    rows = np.stack([spectool.preprocess.apply(model.card["preprocess"], spectool.read(p)).flux for p in files])
    spectool.predict(model, rows[:batch_size], batch_size=batch_size)  # warm-up
    t, c = time.perf_counter(), time.process_time()
    spectool.predict(model, rows, batch_size=batch_size)
    return len(rows) / (time.perf_counter() - t), (time.process_time() - c) / len(rows) * 1e3


def end_to_end(name: str, files: list[Path], out: Path, workers: int, batch_size: int, chunk_size: int,
               scheduler=None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    c = time.process_time()
    s = predict_files(name, files, out=out, workers=workers, scheduler=scheduler, batch_size=batch_size,
                      chunk_size=chunk_size, progress=False)
    cpu = time.process_time() - c
    assert s.done == len(files) and s.errors == 0, s
    assert len(pd.read_parquet(out, columns=["input"])) == len(files)
    row = {"files_per_s": s.done / s.seconds, "seconds": s.seconds, "files": s.done}
    if workers == 1 and scheduler is None:  # the work ran in this process: its CPU time per file
        row["cpu_ms_per_file"] = cpu / s.done * 1e3
    return row


def _warm_worker(name: str) -> int:
    """Load ``name`` (and its kind gate) in a Dask worker, as its first chunk would."""
    import numpy as np
    import spectool
    from spectool.streaming import _load_model

    model = _load_model(name)
    spectool.predict(model, np.zeros((2, model.input_length), np.float32), progress=False)
    return os.getpid()


def _median_run(runs: list[dict]) -> dict:
    """The run of median rate, with every run's rate (a shared VM's rate varies by 10-20 %)."""
    runs = sorted(runs, key=lambda r: r["files_per_s"])
    return {**runs[len(runs) // 2], "runs_files_per_s": [r["files_per_s"] for r in runs]}


def cli_cold(name: str, files: list[Path], out: Path, workers: int, batch_size: int, chunk_size: int) -> dict:
    """Wall time of ``spectool predict`` as a fresh command (a path-list file as input)."""
    import subprocess

    shutil.rmtree(out, ignore_errors=True)
    listing = out.parent / f"{out.name}.txt"
    listing.write_text("".join(f"{p}\n" for p in files))
    cmd = [sys.executable, "-m", "spectool", "predict", name, str(listing), "--out", str(out), "-q",
           "--workers", str(workers), "--batch-size", str(batch_size), "--chunk-size", str(chunk_size)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    seconds = time.perf_counter() - t
    assert len(pd.read_parquet(out, columns=["input"])) == len(files)
    return {"seconds": seconds, "files_per_s": len(files) / seconds, "files": len(files)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="mock files for ConvNeXt-1D")
    ap.add_argument("--n-mspcnet", type=int, default=5000, help="of those, files for MSPC-Net (slower)")
    ap.add_argument("--n-pure", type=int, default=512, help="spectra for the pure-inference timing")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--models", default=",".join(MODELS), help="comma list of " + ", ".join(MODELS))
    ap.add_argument("--out-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "spectool_predict_scale")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "predict_scale.json")
    ap.add_argument("--note", default="", help="free text stored with the results (e.g. machine load)")
    ap.add_argument("--workers", default="1,2", help="comma list of worker counts (1 = this process, N > 1 = a "
                    "Dask LocalCluster of N one-thread workers); the largest N > 1 is also timed on a cluster "
                    "started beforehand")
    ap.add_argument("--jobs", type=int, default=1, help="processes writing the mock files")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of pure inference and of the 1-process run (alternating), of the one-thread "
                         "process and of the warm cluster (the median of each is kept)")
    ap.add_argument("--no-cli", dest="cli", action="store_false", help="skip the cold command-line timings")
    args = ap.parse_args()

    import torch

    t = time.perf_counter()
    files = make_files_parallel(args.out_dir / "files", args.n, args.jobs)
    worker_counts = [int(w) for w in args.workers.split(",")]
    print(f"{len(files)} mock files ready ({time.perf_counter() - t:.0f} s)", flush=True)
    results = []
    for arch in args.models.split(","):
        name = MODELS[arch]
        use = files[: args.n_mspcnet] if arch.startswith("mspcnet") else files
        row = {"model": arch, "checkpoint": name, "files": len(use), "batch_size": args.batch_size,
               "chunk_size": args.chunk_size, "load_average_before": list(os.getloadavg()), "note": args.note,
               "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
        # pure inference and the 1-process end-to-end run alternate, ``--repeats`` rounds, so that a
        # drift of the shared machine's speed hits both; the medians are kept
        pure, e2e = [], []
        for _ in range(args.repeats if 1 in worker_counts else 1):
            pure.append(pure_inference(name, files[: args.n_pure], args.batch_size))
            if 1 in worker_counts:
                row["load_average_before_w1"] = list(os.getloadavg())
                e2e.append(end_to_end(name, use, args.out_dir / f"out-{arch}-1", 1, args.batch_size, args.chunk_size))
        pure.sort()
        row["pure_infer_spectra_per_s"], row["pure_infer_cpu_ms_per_spectrum"] = pure[len(pure) // 2]
        row["pure_infer_runs_spectra_per_s"] = [p[0] for p in pure]
        print(arch, "pure inference", f"{row['pure_infer_spectra_per_s']:.1f} spectra/s", flush=True)
        if e2e:
            row["workers_1"] = _median_run(e2e)
            print(arch, "1 worker(s)", f"{row['workers_1']['files_per_s']:.1f} files/s", flush=True)
        for workers in [w for w in worker_counts if w != 1]:
            row[f"load_average_before_w{workers}"] = list(os.getloadavg())
            row[f"workers_{workers}"] = end_to_end(name, use, args.out_dir / f"out-{arch}-{workers}", workers,
                                                   args.batch_size, args.chunk_size)
            print(arch, f"{workers} worker(s)", f"{row[f'workers_{workers}']['files_per_s']:.1f} files/s",
                  flush=True)
        many = max(worker_counts)
        if many > 1:
            # one process with one torch thread: the fair partner of one-thread workers
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                row["load_average_before_w1_threads1"] = list(os.getloadavg())
                row["workers_1_threads1"] = _median_run([end_to_end(name, use, args.out_dir / f"out-{arch}-1t", 1,
                                                                    args.batch_size, args.chunk_size)
                                                         for _ in range(args.repeats)])
            finally:
                torch.set_num_threads(threads)
            print(arch, "1 process, 1 thread", f"{row['workers_1_threads1']['files_per_s']:.1f} files/s", flush=True)
            # the same workers on a cluster started beforehand, model loaded: steady state without the
            # start-up; beside it a warm cluster of ONE such worker, the same code path on one core (the
            # scaling pair); the two alternate, ``--repeats`` rounds, and keep their medians
            from distributed import Client

            t = time.perf_counter()
            with local_cluster(many) as cluster, Client(cluster) as client, \
                    local_cluster(1) as one, Client(one) as client_one:
                row["cluster_start_s"] = time.perf_counter() - t
                t = time.perf_counter()
                client.run(_warm_worker, name)
                client_one.run(_warm_worker, name)
                row["worker_warmup_s"] = time.perf_counter() - t
                row[f"load_average_before_w{many}_warm"] = list(os.getloadavg())
                runs_many, runs_one = [], []
                for _ in range(args.repeats):
                    runs_one.append(end_to_end(name, use, args.out_dir / f"out-{arch}-1w", 1, args.batch_size,
                                               args.chunk_size, scheduler=client_one))
                    runs_many.append(end_to_end(name, use, args.out_dir / f"out-{arch}-{many}w", 1, args.batch_size,
                                                args.chunk_size, scheduler=client))
                row["workers_1_warm"] = _median_run(runs_one)
                row[f"workers_{many}_warm"] = _median_run(runs_many)
            print(arch, f"1 / {many} workers, cluster up and warm",
                  f"{row['workers_1_warm']['files_per_s']:.1f} / {row[f'workers_{many}_warm']['files_per_s']:.1f} "
                  "files/s", flush=True)
            if args.cli:
                for w in (1, many):
                    row[f"load_average_before_cli_w{w}"] = list(os.getloadavg())
                    row[f"cli_cold_workers_{w}"] = cli_cold(name, use, args.out_dir / f"cli-{arch}-{w}", w,
                                                            args.batch_size, args.chunk_size)
                    print(arch, f"CLI, {w} worker(s), cold", f"{row[f'cli_cold_workers_{w}']['seconds']:.1f} s",
                          flush=True)
        if "workers_1" in row:
            row["end_to_end_over_pure_1proc"] = row["workers_1"]["files_per_s"] / row["pure_infer_spectra_per_s"]
            for w in [w for w in worker_counts if w > 1]:
                row[f"speedup_{w}_workers"] = row[f"workers_{w}"]["files_per_s"] / row["workers_1"]["files_per_s"]
            if many > 1:
                row[f"speedup_{many}_workers_warm"] = (row[f"workers_{many}_warm"]["files_per_s"]
                                                       / row["workers_1"]["files_per_s"])
                row[f"speedup_{many}_workers_warm_vs_1thread"] = (row[f"workers_{many}_warm"]["files_per_s"]
                                                                  / row["workers_1_threads1"]["files_per_s"])
                row[f"speedup_{many}_workers_warm_vs_1worker"] = (row[f"workers_{many}_warm"]["files_per_s"]
                                                                  / row["workers_1_warm"]["files_per_s"])
                if args.cli:
                    row[f"speedup_{many}_workers_cli_cold"] = (row["cli_cold_workers_1"]["seconds"]
                                                               / row[f"cli_cold_workers_{many}"]["seconds"])
        results.append(row)
    doc = {"note": ("synthetic mock SDSS spec-lite FITS files; files/s = read + preprocess + infer + write parquet "
                    "(Dask cluster start-up included for 2 workers); pure inference = spectool.predict on "
                    "model-ready rows in memory. " + args.note).strip(),
           "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "torch": torch.__version__,
           "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
           "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "results": results}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    if args.results.is_file():  # keep the rows of models not measured now
        old = json.loads(args.results.read_text())
        done = {r["model"] for r in results}
        doc["results"] = [r for r in old.get("results", []) if r["model"] not in done] + results
    args.results.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
