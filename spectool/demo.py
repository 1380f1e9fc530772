"""``python -m spectool.demo --mode quick --out DIR``: the whole toolkit end to end.

1. Preprocessing plots: reads the real SDSS sample ``spec-0324-51616-0159.fits`` from
   ``../shared`` (or ``$SPECTOOL_SHARED``) when present; otherwise writes a tiny *synthetic*
   SDSS spec-lite file (labelled synthetic everywhere) and reads that. ``--mode full``
   repeats these plots for every real file.
2. Executes every numbered notebook (``notebooks/*.ipynb``) with papermill in ``--mode``
   on the embedded synthetic mock survey, into ``DIR/notebooks/``.
3. Runs the paper layer (:func:`spectool.papers.run`) into ``DIR/figures/`` with the
   ``index.html`` gallery. Notebooks and figures share the results cache ``DIR/cache``,
   so every training runs once (the figures run first and fill it).

``--skip-notebooks`` / ``--skip-figures`` leave out steps 2 / 3.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from .spectrum import Spectrum
from .wavelength import LOGLAM_STEP

#: log10(lambda) of the first pixel of the SDSS and LAMOST coadds (both on the 1e-4 dex grid).
GRID_START = {"sdss": 3.5793, "lamost": 3.5682}
GRID_PIXELS = {"sdss": 3840, "lamost": 3909}
#: A few strong stellar absorption lines (vacuum Angstrom) and their depths for the toy model.
_LINES = ((3934.8, 0.6), (3969.6, 0.5), (4102.9, 0.4), (4341.7, 0.45), (4862.7, 0.5), (5176.7, 0.25),
          (5895.9, 0.3), (6564.6, 0.55), (8500.4, 0.2), (8544.4, 0.25), (8664.5, 0.25))


def synthetic_spectrum(seed: int = 0, survey: str = "sdss", teff: float = 6000.0, snr: float = 30.0,
                       redshift: float = 1e-4, n_bad: int = 5) -> Spectrum:
    """A toy *synthetic* stellar spectrum on the survey's native log-lambda grid (vacuum Angstrom).

    Blackbody continuum at ``teff`` (K) times Gaussian absorption lines, Gaussian noise
    giving a median S/N of ``snr``, and ``n_bad`` masked pixels. Not a physical model:
    for demos, tests and benchmarks only; ``meta['synthetic']`` is True.
    """
    rng = np.random.default_rng(seed)
    n = GRID_PIXELS[survey]
    wave = 10.0 ** (GRID_START[survey] + LOGLAM_STEP * np.arange(n))
    rest = wave / (1.0 + redshift)
    x = 1.4388e8 / (rest * teff)  # h c / (lambda k T) with lambda in Angstrom
    cont = (rest / 5500.0) ** -5 / np.expm1(x) * np.expm1(1.4388e8 / (5500.0 * teff))
    depth = np.zeros(n)
    for line, d in _LINES:
        depth += d * np.exp(-0.5 * ((rest - line) / (2.0 + line / 3000.0)) ** 2)
    model = 50.0 * cont * np.clip(1.0 - depth, 0.05, 1.0)
    sigma = np.median(model) / snr
    flux = (model + rng.normal(0.0, sigma, n)).astype(np.float32)
    ivar = np.full(n, 1.0 / sigma**2, np.float32)
    mask = np.zeros(n, bool)
    mask[rng.choice(n, n_bad, replace=False)] = True
    ivar[mask] = 0.0
    fiber = int(rng.integers(1, 640))
    meta = {
        "survey": survey, "synthetic": True, "class": "STAR", "subclass": _subclass(teff),
        "redshift": redshift, "snr": float(snr), "snr_bands": {b: float(snr) for b in "ugriz"},
        "ra": float(rng.uniform(0, 360)), "dec": float(rng.uniform(-10, 60)),
        "plate": 9999, "mjd": 55555, "fiber": fiber, "obsid": str(900000000 + fiber),
        "object_id": f"spec-9999-55555-{fiber:04d}" if survey == "sdss" else f"spec-55555-SYNTH_sp01-{fiber:03d}",
        "title": f"synthetic mock spectrum (Teff {teff:.0f} K, S/N {snr:g})",
    }
    return Spectrum(wave, flux, ivar, mask, meta)


def _subclass(teff: float) -> str:
    for limit, name in ((30000, "O5"), (10000, "B5"), (7500, "A0"), (6000, "F0"), (5200, "G0"), (3900, "K0")):
        if teff >= limit:
            return name
    return "M0"


def _shared() -> Path:
    return Path(os.environ.get("SPECTOOL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def _sample(out: Path) -> tuple[Path, bool]:
    """(spectrum file, is_synthetic): the real SDSS sample, or a freshly written synthetic spec-lite file."""
    real = _shared() / "data" / "real" / "sdss" / "spec-0324-51616-0159.fits"
    if real.is_file():
        return real, False
    from .io import write_sdss_spec

    path = out / "spec-9999-55555-synthetic.fits"
    write_sdss_spec(synthetic_spectrum(seed=0), path)
    return path, True


def _plot_one(path: Path, out: Path, synthetic: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import preprocess as P
    from .io import read
    from .plotting import style

    spec = read(path)
    spec = spec[0] if isinstance(spec, list) else spec
    tag = "synthetic mock" if synthetic else f"real {spec.meta.get('survey', '')} spectrum".strip()
    stem = spec.meta.get("object_id") or path.stem
    ident = f"{stem} ({spec.meta.get('class') or '?'}/{spec.meta.get('subclass') or '?'}), {tag}"
    written = []
    with style():
        fig, ax = plt.subplots(figsize=(10, 3.2))
        spec.plot(ax=ax, show_noise=True, lines="stellar" if spec.meta.get("class") == "STAR" else None)
        ax.set_title(f"raw: {ident}")
        written.append(_save(fig, out / f"{stem}_raw.png"))

        results = {"mspcnet": P.mspcnet(spec), "spfusion": P.spfusion(spec), "scanet": P.scanet(spec)}
        fig, axes = plt.subplots(3, 1, figsize=(10, 7.5), constrained_layout=True)
        for ax, (name, res) in zip(axes, results.items()):
            real = ~res.padding
            ax.plot(res.wavelength[real], res.flux[real], lw=0.6)
            ax.plot(res.wavelength[res.mask], res.flux[res.mask], "r.", ms=2, label="repaired bad pixels")
            frame = "rest-frame" if res.rest_frame else "observed"
            ax.set_title(f"{name}: {len(res)} px model input, {int(real.sum())} real; {ident}", fontsize=8)
            ax.set_xlabel(f"{frame} vacuum wavelength [Angstrom]")
            ax.legend(loc="upper right")
        written.append(_save(fig, out / f"{stem}_recipes.png"))

        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        im = ax.imshow(P.fold_s(results["scanet"].flux), origin="lower", cmap="viridis")
        fig.colorbar(im, ax=ax, label="continuum-normalised flux")
        ax.set_title(f"SCA-Net S-fold 64x64\n{ident}", fontsize=8)
        written.append(_save(fig, out / f"{stem}_scanet_fold.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    return path


def notebook_dir() -> Path:
    """The repository's ``notebooks/`` folder (the demo runs from a source checkout)."""
    return Path(__file__).resolve().parents[1] / "notebooks"


def run_notebooks(out: Path, mode: str, cache: Path, source: str = "mock", names: list[str] | None = None,
                  progress: bool = True, jobs: int | None = None) -> list[tuple[str, str, float]]:
    """Execute the numbered notebooks with papermill into ``out``; returns (name, status,
    seconds) in notebook order.

    ``jobs`` notebooks run at once (default: one per CPU core, at most 2), each in its own
    process whose kernel gets ``cpu_count // jobs`` OpenMP/torch threads, so concurrent
    kernels do not oversubscribe the cores. The notebooks read the results cache that
    ``papers.run`` filled; one that fails is reported and the others go on.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    src = notebook_dir()
    books = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if names:
        books = [b for b in books if b.stem in names]
    out.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs or min(2, cores), len(books) or 1))
    threads = max(1, cores // jobs)
    params = {"mode": mode, "source": source, "cache": str(cache.resolve())}
    args = [(str(nb), str(out / nb.name), params, str(src), threads if jobs > 1 else None) for nb in books]
    results: dict[str, tuple[str, float]] = {}
    bar = tqdm(total=len(books), desc="notebooks", unit="nb", disable=not progress)
    if jobs == 1:
        for a in args:
            results[Path(a[0]).stem] = _execute_notebook(*a)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_execute_notebook, *a): Path(a[0]).stem for a in args}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
    bar.close()
    return [(nb.stem, *results[nb.stem]) for nb in books]


def _execute_notebook(src: str, dst: str, parameters: dict, cwd: str, threads: int | None) -> tuple[str, float]:
    """Run one notebook with papermill (in this or a worker process); (status, seconds)."""
    import time

    import papermill as pm

    if threads:
        # the kernel inherits this environment; torch reads it when the kernel imports it
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    _quiet_kernels()
    t0 = time.time()
    try:
        pm.execute_notebook(src, dst, parameters=parameters, cwd=cwd, kernel_name="python3",
                            progress_bar=False, kernel_manager_class=_ipc_kernel_manager())
        status = "ok"
    except Exception as exc:  # noqa: BLE001 - papermill raises its own error types; report and go on
        status = f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    return status, time.time() - t0


def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernel talks over local IPC sockets (files in the Jupyter runtime
    directory) instead of loopback TCP: nothing listens on a port, and the kernel does not print
    its "running over TCP without encryption" warning."""
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import CaselessStrEnum, default

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _unique_ipc_path(self) -> str:
            # jupyter_client's default can be "kernel-ipc" in the working directory, which
            # two kernels started at once (run_notebooks with jobs > 1) would share
            Path(jupyter_runtime_dir()).mkdir(parents=True, exist_ok=True)
            return str(Path(jupyter_runtime_dir()) / f"spectool-{uuid.uuid4().hex}-ipc")

    return IPCKernelManager


def _quiet_kernels() -> None:
    """Keep the kernel machinery's log lines (connection and TCP/port messages of
    jupyter_client, papermill's INFO lines) off the demo's output; failures still raise."""
    import logging

    for name in ("papermill", "traitlets", "jupyter_client", "nbclient", "asyncio"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def main(argv: list[str] | None = None) -> list[Path]:
    import time

    parser = argparse.ArgumentParser(prog="python -m spectool.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("smoke", "quick", "medium", "full"), default="quick")
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-figures", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    sample, synthetic = _sample(args.out)
    files = [sample]
    if args.mode == "full" and not synthetic:
        files = sorted(p for p in (_shared() / "data" / "real").rglob("*") if p.is_file())
    written = []
    for f in files:
        written += _plot_one(f, args.out, synthetic)
    source = ("synthetic mock spectrum (../shared absent)" if synthetic
              else f"{len(files)} real file(s) from {_shared()}")
    print(f"spectool demo ({args.mode}): preprocessing plots of {source}")
    for p in written:
        print(f"  wrote {p}")
    cache = args.out / "cache"
    made = []
    if not args.skip_figures:
        from .papers import run

        made = run(None, mode=args.mode, source="mock", out=args.out / "figures", cache=cache)
        ok = sum(a.status == "ok" for a in made)
        print(f"figures: {ok} of {len(made)} catalog artefacts -> {args.out / 'figures'} "
              f"(gallery {args.out / 'figures' / 'index.html'})")
        for a in made:
            if a.status != "ok":
                print(f"  failed {a.id}: {a.error.splitlines()[0]}")
    books: list[tuple[str, str, float]] = []
    if not args.skip_notebooks:
        # two at a time once the figures filled the results cache; without it, notebooks
        # would compute the same steps concurrently, so they run one after another
        books = run_notebooks(args.out / "notebooks", args.mode, cache, jobs=1 if args.skip_figures else None)
        print(f"notebooks ({args.mode} mode, synthetic mock survey) -> {args.out / 'notebooks'}")
        for name, status, sec in books:
            print(f"  {status:8s} {name:28s} {sec:7.1f} s")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"output: {size / 1e6:.0f} MB in {args.out}")
    print(f"demo finished in {time.time() - t_start:.0f} s")
    if [b for b in books if b[1] != "ok"] or [a for a in made if a.status != "ok"]:
        raise SystemExit(1)
    return written


if __name__ == "__main__":
    main()
