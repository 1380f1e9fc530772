"""Builders of small *synthetic* survey files and dataset layouts in a temporary directory.

Every file is synthetic (FITS headers carry a SYNTHETIC comment, spectra come from
:func:`spectool.demo.synthetic_spectrum`); nothing here needs ../shared.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spectool.demo import synthetic_spectrum
from spectool.io import write_lamost, write_sdss_spec
from spectool.spectrum import Spectrum

SYNTHETIC = "SYNTHETIC test fixture written by tests/fixtures_factory.py"


def star(seed: int = 0, survey: str = "sdss", **kw) -> Spectrum:
    """A synthetic star with deterministic labels."""
    return synthetic_spectrum(seed=seed, survey=survey, **kw)


def sdss_spec(directory: Path, seed: int = 0, *, lite: bool = True, table: str = "SPECOBJ", gz: bool = False,
              name: str | None = None, **kw) -> tuple[Path, Spectrum]:
    spec = star(seed, "sdss", **kw)
    m = spec.meta
    stem = name or f"spec-{m['plate']:04d}-{m['mjd']:05d}-{m['fiber']:04d}"
    path = directory / (stem + (".fits.gz" if gz else ".fits"))
    write_sdss_spec(spec, path, lite=lite, table=table)
    return path, spec


def lamost_spec(directory: Path, seed: int = 0, *, layout: str = "dr8", gz: bool = True,
                name: str | None = None, **kw) -> tuple[Path, Spectrum]:
    spec = star(seed, "lamost", **kw)
    path = directory / ((name or spec.meta["object_id"]) + (".fits.gz" if gz else ".fits"))
    write_lamost(spec, path, layout=layout)
    return path, spec


#: The LAMOST DR1 and DR2-DR7 row descriptors (EXTEN0) as the surveys wrote them.
EXTEN0_DR1 = "Flux Inverse Subcontinuum Andmask Ormask"
EXTEN0_DR2 = "Flux, Inverse, Wavelength, Andmask, Ormask"


def lamost_image(directory: Path, seed: int = 0, *, exten0: str | None = EXTEN0_DR1,
                 rows: tuple[str, ...] = ("flux", "inverse", "subcontinuum", "andmask", "ormask"),
                 wcs: str | None = "coeff", sn_prefix: str = "SN_", air: bool = False, name: str | None = None,
                 **kw) -> tuple[Path, Spectrum]:
    """A LAMOST DR1-DR7-style primary image written with astropy, row by row as named in ``rows``.

    ``exten0`` is the EXTEN0 card (None: no card); ``rows`` the content of each image
    row (flux, inverse, wavelength, subcontinuum = flux / continuum, andmask,
    ormask); ``wcs`` the wavelength cards: ``"coeff"`` (COEFF0/COEFF1, DR1-DR7),
    ``"crval"`` (only CRVAL1/CD1_1/CRPIX1/DC-FLAG) or None; ``sn_prefix`` the per-band
    S/N keys (``"SN_"`` in DR1, ``"SNR"`` from DR2); ``air`` writes VACUUM = F with
    the grid read as air wavelengths. The truth spectrum's andmask marks its masked pixels.
    """
    from astropy.io import fits

    spec = star(seed, "lamost", **kw)
    m = spec.meta
    n = len(spec)
    loglam = np.log10(spec.wavelength)
    c0, c1 = float(np.round(loglam[0], 6)), 1e-4
    andmask = spec.mask.astype(np.float32) * 4
    content = {"flux": spec.flux, "inverse": spec.ivar, "wavelength": spec.wavelength.astype(np.float32),
               "subcontinuum": spec.flux / np.median(spec.flux), "andmask": andmask, "ormask": andmask}
    img = np.vstack([content[r] for r in rows]).astype(np.float32)
    hdr = fits.Header()
    hdr.update(TELESCOP="LAMOST", AUTHOR="LAMOST Pipeline", FILENAME=f"{m['object_id']}.fits",
               RA=float(m["ra"]), DEC=float(m["dec"]), FIBERID=int(m["fiber"]), VACUUM=not air,
               CLASS=str(m["class"]), SUBCLASS=str(m["subclass"]), Z=float(m["redshift"]))
    if exten0 is not None:
        hdr["EXTEN0"] = exten0
    if wcs == "coeff":
        hdr.update(COEFF0=c0, COEFF1=c1)
    if wcs in ("coeff", "crval"):
        hdr.update(CRVAL1=c0, CD1_1=c1, CRPIX1=1, CTYPE1="LINEAR", **{"DC-FLAG": 1})
    m["snr_bands"] = {b: float(v) + k for k, (b, v) in enumerate(m["snr_bands"].items())}  # distinct per band
    for b, v in m["snr_bands"].items():
        hdr[f"{sn_prefix}{b.upper()}"] = v
    hdr["COMMENT"] = SYNTHETIC
    path = directory / ((name or m["object_id"]) + ".fits")
    fits.PrimaryHDU(img, header=hdr).writeto(path)
    return path, spec


def lamost_table(directory: Path, seed: int = 0, *, columns: tuple[str, ...] = ("FLUX", "IVAR", "WAVELENGTH",
                                                                                 "ANDMASK", "ORMASK"),
                 per_pixel: bool = False, nrows: int = 1, wcs: bool = True, extname: str = "COADD",
                 **kw) -> tuple[Path, list[Spectrum]]:
    """A LAMOST DR8+-style table written with astropy: ``columns`` (any case; LOGLAM allowed),
    one row of array cells (``nrows`` rows: one spectrum each) or one pixel per row."""
    from astropy.io import fits

    specs = [star(seed + k, "lamost", **kw) for k in range(nrows)]
    m = specs[0].meta
    n = len(specs[0])

    def values(spec: Spectrum, name: str) -> np.ndarray:
        return {"flux": spec.flux, "ivar": spec.ivar, "wavelength": spec.wavelength.astype(np.float32),
                "loglam": np.log10(spec.wavelength), "andmask": spec.mask.astype(np.float32),
                "ormask": spec.mask.astype(np.float32)}[name.lower()]

    cols = []
    for c in columns:
        arr = np.vstack([values(s, c) for s in specs])
        code = "D" if c.lower() == "loglam" else "E"
        cols.append(fits.Column(c, code, array=arr[0]) if per_pixel else fits.Column(c, f"{n}{code}", array=arr))
    hdr = fits.Header()
    hdr.update(TELESCOP="LAMOST", FILENAME=f"{m['object_id']}.fits", OBSID=int(m["obsid"]), VACUUM=True,
               CLASS=str(m["class"]), SUBCLASS=str(m["subclass"]), Z=float(m["redshift"]), DATA_V="LAMOST DR10")
    if wcs:
        hdr.update(COEFF0=float(np.round(np.log10(specs[0].wavelength[0]), 6)), COEFF1=1e-4)
    m["snr_bands"] = {b: float(v) + k for k, (b, v) in enumerate(m["snr_bands"].items())}  # distinct per band
    for b, v in m["snr_bands"].items():
        hdr[f"SNR{b.upper()}"] = v
    hdr["COMMENT"] = SYNTHETIC
    path = directory / f"{m['object_id']}.fits"
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols, name=extname)]).writeto(path)
    return path, specs


def sdss_unnamed(directory: Path, seed: int = 0, *, table: str = "SPALL", **kw) -> tuple[Path, Spectrum]:
    """An SDSS/BOSS spec file whose HDUs carry no EXTNAME and whose columns are upper case
    (FLUX, LOGLAM, IVAR, AND_MASK; CLASS, Z, ...), as some archive copies are."""
    from astropy.io import fits

    path, spec = sdss_spec(directory, seed, table=table, name=f"named-{seed}", **kw)
    with fits.open(path) as h:
        hdus = [fits.PrimaryHDU(header=h[0].header)]
        for hdu in h[1:]:
            cols = [fits.Column(c.name.upper(), c.format, array=hdu.data[c.name]) for c in hdu.columns]
            if table == "SPALL" and "CLASS" in hdu.columns.names:
                cols.append(fits.Column("FIBER_RA", "D", array=hdu.data["PLUG_RA"]))
            new = fits.BinTableHDU.from_columns(cols)
            new.header.pop("EXTNAME", None)
            hdus.append(new)
        out = directory / f"spec-unnamed-{seed}.fits"
        fits.HDUList(hdus).writeto(out)
    path.unlink()
    return out, spec


def spplate(directory: Path, nfiber: int = 4, *, plugmap: bool = True) -> tuple[Path, list[Spectrum]]:
    """An spPlate-like file: HDU0 flux (nfiber, npix), HDU1 ivar, HDU2 and-mask, HDU3 or-mask,
    HDU4 dispersion, HDU5 plug map."""
    from astropy.io import fits

    specs = [star(100 + i, "sdss", teff=5000 + 500 * i) for i in range(nfiber)]
    flux = np.vstack([s.flux for s in specs]).astype(np.float32)
    ivar = np.vstack([s.ivar for s in specs]).astype(np.float32)
    andmask = np.vstack([s.mask.astype(np.int32) * 2**22 for s in specs])
    hdr = fits.Header()
    hdr.update(TELESCOP="SDSS 2.5-M", PLATEID=1234, MJD=54321, COEFF0=3.5793, COEFF1=1e-4, VACUUM=True)
    hdr["COMMENT"] = SYNTHETIC
    hdus = [fits.PrimaryHDU(flux, header=hdr), fits.ImageHDU(ivar), fits.ImageHDU(andmask), fits.ImageHDU(andmask),
            fits.ImageHDU(np.ones_like(flux))]
    if plugmap:
        hdus.append(fits.BinTableHDU.from_columns([
            fits.Column("OBJTYPE", "20A", array=["SPECTROPHOTO_STD"] + ["SCIENCE"] * (nfiber - 1)),
            fits.Column("RA", "D", array=[10.0 + i for i in range(nfiber)]),
            fits.Column("DEC", "D", array=[-5.0 - i for i in range(nfiber)]),
            fits.Column("FIBERID", "J", array=[i + 1 for i in range(nfiber)]),
            fits.Column("MAG", "5E", array=np.full((nfiber, 5), 17.0)),
        ], name="PLUGMAP"))
    path = directory / "spPlate-1234-54321.fits"
    fits.HDUList(hdus).writeto(path)
    return path, specs


# ------------------------------------------------------------------ generic formats
def fits_table(directory: Path, unit: str = "nm", air: bool = False,
               rows_per_pixel: bool = True) -> tuple[Path, Spectrum]:
    """Generic FITS table; wavelengths written in ``unit`` (converted back by the reader)."""
    import astropy.units as u
    from astropy.io import fits

    spec = star(7, "sdss")
    w = spec.wavelength
    if air:
        from spectool.wavelength import vacuum_to_air

        w = vacuum_to_air(w)
    w_unit = (w * u.AA).to(u.Unit(unit)).value
    hdr = fits.Header()
    hdr["COMMENT"] = SYNTHETIC
    hdr["OBJECT"] = "synthetic-table"
    hdr["CLASS"] = "STAR"
    if air:
        hdr["AIRORVAC"] = "air"
    if rows_per_pixel:
        cols = [fits.Column("WAVE", "D", unit=unit, array=w_unit), fits.Column("FLUX", "E", array=spec.flux),
                fits.Column("ERR", "E", array=np.where(spec.ivar > 0, 1 / np.sqrt(np.maximum(spec.ivar, 1e-30)), 0))]
    else:
        n = w.size
        cols = [fits.Column("WAVELENGTH", f"{n}D", unit=unit, array=w_unit[None]),
                fits.Column("FLUX", f"{n}E", array=spec.flux[None]),
                fits.Column("IVAR", f"{n}E", array=spec.ivar[None])]
    path = directory / "generic_table.fits"
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    return path, spec


def fits_image(directory: Path, air: bool = True) -> tuple[Path, np.ndarray, np.ndarray]:
    """A linear-dispersion 1-D FITS image (CRVAL1/CDELT1), in air by default (VACUUM = F)."""
    from astropy.io import fits

    wave_air = 4500.0 + 1.25 * np.arange(2000)
    flux = (100 + 10 * np.sin(wave_air / 50.0)).astype(np.float32)
    hdr = fits.Header()
    hdr.update(CRVAL1=4500.0, CDELT1=1.25, CRPIX1=1.0, CUNIT1="Angstrom", VACUUM=not air, OBJECT="synthetic-image")
    hdr["COMMENT"] = SYNTHETIC
    path = directory / "generic_image.fits"
    fits.PrimaryHDU(flux, header=hdr).writeto(path)
    return path, wave_air, flux


def text_files(directory: Path) -> dict[str, Path]:
    """CSV with header (wavelength,flux,ivar), whitespace text without header, and a gzipped CSV."""
    import gzip

    spec = star(3, "sdss")
    df = pd.DataFrame({"wavelength": spec.wavelength, "flux": spec.flux, "ivar": spec.ivar})
    csv = directory / "spectrum.csv"
    csv.write_text(f"# {SYNTHETIC}\n" + df.to_csv(index=False))
    txt = directory / "spectrum.txt"
    np.savetxt(txt, np.c_[spec.wavelength, spec.flux], header=SYNTHETIC)
    gz = directory / "spectrum.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    nm = directory / "spectrum_nm.csv"
    nm.write_text("wavelength_nm,flux\n" + "\n".join(f"{w / 10:.5f},{f}" for w, f in zip(spec.wavelength, spec.flux)))
    return {"csv": csv, "txt": txt, "gz": gz, "nm": nm, "spec": spec}


def npy_file(directory: Path, name: str = "123456.npy", seed: int = 5) -> tuple[Path, Spectrum]:
    """The SPFusion (2, L) layout, cropped to 4000 < lambda < 9000 A like the authors' files."""
    spec = star(seed, "lamost").crop(4000, 9000)
    path = directory / name
    np.save(path, np.vstack([spec.wavelength, spec.flux]), allow_pickle=False)
    return path, spec


def hdf5_file(directory: Path, n: int = 0) -> tuple[Path, list[Spectrum]]:
    """HDF5 with ``wavelength`` and ``flux`` (+ ``ivar``); ``n > 0`` stores n spectra (N, L)."""
    import h5py

    specs = [star(20 + i, "sdss") for i in range(max(n, 1))]
    path = directory / "spectra.h5"
    with h5py.File(path, "w") as f:
        f["wavelength"] = specs[0].wavelength
        f["flux"] = np.vstack([s.flux for s in specs]) if n else specs[0].flux
        f["ivar"] = np.vstack([s.ivar for s in specs]) if n else specs[0].ivar
        f.attrs["class"] = "STAR"
        f.attrs["redshift"] = 1e-4
        f.attrs["comment"] = SYNTHETIC
        if n:
            f["object_id"] = np.array([f"obj{i}" for i in range(n)], dtype="S")
    return path, specs


# ------------------------------------------------------------------ dataset layouts
def mspc_layout(root: Path, n_per_class: int = 3, classes: tuple[str, ...] = ("G", "K", "A"), *,
                repeat: int = 1, corrupt: int = 1, variant: str = "short") -> dict:
    """An MSPC-Net dataset: ``folds/fold_1..5.csv`` + ``fits/<basename>.fits``; ``corrupt`` broken files.

    ``variant="short"`` writes ``basename,label,dataset,snr``; ``"long"`` writes
    ``basename,label,ra,dec,snr,resource,dataset``. ``repeat=3`` repeats every row
    three times (like the authors' folder 04).
    """
    fits_dir = root / "fits"
    folds = root / "folds"
    fits_dir.mkdir(parents=True)
    folds.mkdir()
    rows = []
    teff = {"A": 8500.0, "F": 6800.0, "G": 5700.0, "K": 4500.0, "M": 3500.0}
    for c, cls in enumerate(classes):
        for i in range(n_per_class):
            seed = 1000 + 10 * c + i
            path, spec = sdss_spec(fits_dir, seed, teff=teff.get(cls, 6000.0), snr=5.0 + 3 * i,
                                   name=f"spec-{1000 + c:04d}-55555-{i + 1:04d}")
            rows.append({"basename": path.name[:-5], "label": cls, "ra": spec.meta["ra"], "dec": spec.meta["dec"],
                         "snr": 5.0 + 3 * i, "resource": "sdss"})
    for i in range(corrupt):
        good = (fits_dir / f"{rows[i]['basename']}.fits").read_bytes()
        (fits_dir / f"{rows[i]['basename']}.fits").write_bytes(good[: len(good) // 2])
    df = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    n = len(df)
    for k in range(5):
        split = np.array(["train"] * n, dtype=object)
        order = rng.permutation(n)
        split[order[k::5]] = "test"
        split[order[(k + 1) % 5::5]] = "val"
        fold = df.assign(dataset=split)
        cols = ["basename", "label", "dataset", "snr"] if variant == "short" else \
            ["basename", "label", "ra", "dec", "snr", "resource", "dataset"]
        fold = pd.concat([fold[cols]] * repeat, ignore_index=True)
        fold.to_csv(folds / f"fold_{k + 1}.csv", index=False)
    return {"folds": folds, "fits": fits_dir, "table": df, "corrupt": [r["basename"] for r in rows[:corrupt]]}


def image(seed: int = 0) -> np.ndarray:
    """A synthetic (3, 128, 128) g, r, i cutout: a Gaussian star on noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128]
    blob = np.exp(-((xx - 64) ** 2 + (yy - 64) ** 2) / (2 * 4.0**2))
    return np.stack([100 * blob * (1 + 0.2 * b) + rng.normal(0, 1, (128, 128)) for b in range(3)]).astype(np.float32)


def spfusion_layout(root: Path, n: int = 6, *, folds: bool = False, bad_image: int | None = None) -> dict:
    """SPFusion data: flat (``label.csv``, ``spectrum/``, ``photometric/``) or the per-fold layout (3 folds)."""
    specs = []
    labels = []
    for i in range(n):
        obsid = str(500000 + i)
        labels.append({"obsid": obsid, "SNR": 20.0 + i, "teff_K": 4800.0 + 10 * i, "logg_cm_s2": 2.4,
                       "feh_dex": -0.1, "mass_Msun": 1.0 + 0.1 * i, "age_Gyr": 3.0 + i})
        specs.append(obsid)
    lab = pd.DataFrame(labels)

    def write(base: Path, part: pd.DataFrame) -> None:
        (base / "spectrum").mkdir(parents=True, exist_ok=True)
        (base / "photometric").mkdir(exist_ok=True)
        (base / "label").mkdir(exist_ok=True)
        part.to_csv(base / "label" / "label.csv", index=False)
        for obsid in part["obsid"]:
            i = int(obsid) - 500000
            npy_file(base / "spectrum", f"{obsid}.npy", seed=40 + i)
            img = image(i)
            if bad_image == i:
                img = img[:, :64, :64]
            np.save(base / "photometric" / f"{obsid}.npy", img, allow_pickle=False)

    if not folds:
        write(root, lab)
        (root / "label" / "label.csv").rename(root / "label.csv")
        (root / "label").rmdir()
    else:
        for k in range(3):
            test = lab.iloc[k::3]
            rest = lab.drop(test.index)
            val = rest.iloc[:1]
            for split, part in (("train", rest.iloc[1:]), ("val", val), ("test", test)):
                write(root / f"fold{k + 1}" / split, part)
    return {"root": root, "labels": lab}


def scanet_layout(root: Path, n: int = 5, *, by: str = "filename") -> dict:
    """An SCA-Net catalogue CSV + LAMOST DR8-layout FITS files."""
    fits_dir = root / "fits"
    fits_dir.mkdir(parents=True)
    rows = []
    for i in range(n):
        path, spec = lamost_spec(fits_dir, 300 + i, teff=5000.0 + 400 * i, snr=40.0)
        obsid = spec.meta["obsid"]
        if by == "obsid":
            path = path.rename(fits_dir / f"{obsid}.fits.gz")
        rows.append({"filename": path.name, "obsid": obsid, "teff": 5000.0 + 400 * i, "teff_err": 50.0,
                     "logg": 4.2, "logg_err": 0.1, "feh": -0.2, "feh_err": 0.05, "snr": 30.0 + 5 * i})
    cat = pd.DataFrame(rows)
    if by == "obsid":
        cat = cat.drop(columns=["filename"])
    path = root / "catalogue.csv"
    cat.to_csv(path, index=False)
    return {"catalogue": path, "fits": fits_dir, "table": cat}
