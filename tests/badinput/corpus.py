"""A generated corpus of bad inputs and the rule each one must obey.

Every :class:`Case` writes one broken input (a spectrum file, an image array, a
label CSV, a training config or a store directory) into a scratch directory and
names what must happen when spectool meets it: a typed
:class:`~spectool.errors.SpectoolError` of one of ``errors`` whose message names the
file (or ``field``) and matches ``reason``, or a documented repair checked by
``repair``. A bare exception from numpy/astropy/yaml is always a failure.

Every file is synthetic (headers carry ``COMMENT synthetic bad-input corpus``); no
real data is needed. :func:`run_case` drives the public API:

* ``spectrum`` cases: ``spectool.read(path)`` then, for ``stage="preprocess"``,
  ``spectool.preprocess.mspcnet(spec)`` (4000-9000 A crop, z-score, pad to 3584);
* ``image`` cases: ``spectool.preprocess.spfusion`` with a valid spectrum and the bad image;
* ``labels`` cases: ``spectool.ingest.read_labels`` on the CSV;
* ``config`` cases: ``spectool.train.config.load_config``;
* ``store`` cases: ``spectool.store.SpectrumStore.open(path, verify=True)``.
"""
from __future__ import annotations

import gzip
import importlib
import inspect
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from spectool.errors import (ConfigError, CorruptFileError, CoverageError, DatasetError, InvalidImageError,
                             InvalidSpectrumError, LabelError, MissingDataError, SpectoolError,
                             UnknownFormatError)

SEED = 1234
N_PIX = 3840  # log-lambda pixels of 1e-4 dex from 3800 A: 3800-9213 A (vacuum)
LOGLAM0 = 3.5798
SYNTHETIC = "synthetic bad-input corpus (spectool tests)"


# ----------------------------------------------------------------- base files
def _grid(n: int = N_PIX, loglam0: float = LOGLAM0) -> np.ndarray:
    return loglam0 + 1e-4 * np.arange(n)


def _flux(loglam: np.ndarray, seed: int = SEED) -> np.ndarray:
    """A smooth synthetic stellar-like continuum with a few absorption lines, plus noise."""
    w = 10 ** loglam
    rng = np.random.default_rng(seed)
    cont = 50 + 20 * np.exp(-((w - 5500) / 2500) ** 2)
    for line in (4862.7, 5176.7, 5895.9, 6564.6, 8544.4):
        cont *= 1 - 0.3 * np.exp(-0.5 * ((w - line) / 4) ** 2)
    return (cont + rng.normal(0, 1, w.size)).astype(np.float32)


def sdss_hdul(loglam: np.ndarray | None = None, flux: np.ndarray | None = None, ivar: np.ndarray | None = None,
              drop: tuple[str, ...] = (), dtypes: dict[str, str] | None = None, text: str | None = None):
    """An SDSS ``spec-lite``-like HDUList (COADD table + SPECOBJ row), synthetic.

    ``drop`` removes columns; ``dtypes`` overrides column formats (``"10A"`` stores the
    column as text: the numbers, or ``text`` when given).
    """
    from astropy.io import fits

    loglam = _grid() if loglam is None else loglam
    flux = _flux(loglam) if flux is None else flux
    ivar = np.ones_like(flux, dtype=np.float32) if ivar is None else ivar
    cols = {"flux": (flux, "E"), "loglam": (loglam, "E"), "ivar": (ivar, "E"),
            "and_mask": (np.zeros(loglam.size, np.int32), "J"), "or_mask": (np.zeros(loglam.size, np.int32), "J")}
    for k, fmt in (dtypes or {}).items():
        values = cols[k][0]
        if fmt.endswith("A"):  # a text column: the numbers as strings, or ``text`` in every row
            values = np.array([text if text is not None else f"{v:.3g}" for v in values])
        cols[k] = (values, fmt)
    coadd = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format=f, array=v) for k, (v, f) in cols.items() if k not in drop], name="COADD")
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "SDSS 2.5-M"
    primary.header["PLATEID"], primary.header["MJD"], primary.header["FIBERID"] = 9999, 55555, 1
    primary.header["COMMENT"] = SYNTHETIC
    specobj = fits.BinTableHDU.from_columns([
        fits.Column(name="PLATE", format="J", array=[9999]), fits.Column(name="MJD", format="J", array=[55555]),
        fits.Column(name="FIBERID", format="J", array=[1]), fits.Column(name="CLASS", format="6A", array=["STAR"]),
        fits.Column(name="Z", format="E", array=[0.0])], name="SPECOBJ")
    return fits.HDUList([primary, coadd, specobj])


def fits_bytes(hdul) -> bytes:
    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def sdss_bytes(**kw) -> bytes:
    return fits_bytes(sdss_hdul(**kw))


def lamost_bytes(n_rows: int = 1, drop: tuple[str, ...] = ()) -> bytes:
    """A LAMOST DR8+ layout file (one-row table of vector columns), synthetic."""
    from astropy.io import fits

    wave = 10 ** (3.5682 + 1e-4 * np.arange(3909))
    flux = _flux(np.log10(wave))
    arrays = {"FLUX": flux, "IVAR": np.ones_like(flux), "WAVELENGTH": wave.astype(np.float32),
              "ANDMASK": np.zeros_like(flux), "ORMASK": np.zeros_like(flux)}
    cols = [fits.Column(name=k, format=f"{v.size}E", array=np.tile(v, (n_rows, 1)))
            for k, v in arrays.items() if k not in drop]
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "LAMOST"
    primary.header["OBSID"] = 123456789
    primary.header["COMMENT"] = SYNTHETIC
    return fits_bytes(fits.HDUList([primary, fits.BinTableHDU.from_columns(cols, name="COADD")]))


def _patch_card(raw: bytes, key: str, value: str) -> bytes:
    """Replace the value of header card ``key`` (first occurrence) keeping the 80-byte card size."""
    i = raw.index(key.ljust(8).encode() + b"= ")
    card = (key.ljust(8) + "= " + value.rjust(20)).ljust(80).encode()
    return raw[:i] + card + raw[i + 80:]


# ----------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Case:
    """One bad input and the acceptable outcomes (see module docstring)."""

    name: str
    kind: str
    filename: str
    content: Callable[[], Any]
    errors: tuple[type[SpectoolError], ...] = ()
    reason: str = ""
    field: str | None = None
    stage: str = "read"
    repair: Callable[[Any], bool] | None = None
    repair_doc: str = ""

    def write(self, directory: Path) -> Path:
        path = directory / self.filename
        data = self.content()
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, str):
            path.write_text(data)
        elif isinstance(data, np.ndarray):
            np.save(path, data, allow_pickle=False)
        elif callable(data):
            data(path)
        return path


def _valid_sdss() -> bytes:
    return sdss_bytes()


def _nan_flux(frac_or_all: str) -> bytes:
    f = _flux(_grid())
    if frac_or_all == "all":
        f[:] = np.nan
    else:
        f[100:140] = np.nan
        f[2000] = np.inf
    return sdss_bytes(flux=f)


def _ivar(kind: str) -> bytes:
    iv = np.ones(N_PIX, np.float32)
    if kind == "zero":
        iv[:] = 0
    else:
        iv[500:600] = -1.0
    return sdss_bytes(ivar=iv)


def _nonmonotonic() -> bytes:
    g = _grid()
    g[1000:1010] = g[1000:1010][::-1]
    return sdss_bytes(loglam=g)


def _store_dir(kind: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.mkdir()
        if kind == "no_flux":
            (path / "info.json").write_text(json.dumps({"name": "bad", "synthetic": True}))
            np.save(path / "wavelength.npy", np.linspace(4000, 9000, 16))
        else:
            (path / "info.json").write_text("{not json")
    return build


def _wrong_layout() -> bytes:
    from astropy.io import fits

    hdu = fits.ImageHDU(np.zeros((4, 4), np.float32), name="COADD")
    primary = fits.PrimaryHDU()
    primary.header["COMMENT"] = SYNTHETIC
    return fits_bytes(fits.HDUList([primary, hdu]))


def _corrupt_gzip() -> bytes:
    gz = bytearray(gzip.compress(_valid_sdss()))
    gz[len(gz) // 2: len(gz) // 2 + 64] = b"\x00" * 64
    return bytes(gz[: int(len(gz) * 0.8)])


def _csv(text: str) -> str:
    return "# " + SYNTHETIC + "\n" + text


def _config(text: str) -> str:
    return "# " + SYNTHETIC + "\n" + text


_GOOD_CONFIG = "model:\n  name: mspcnet\ndata:\n  dataset: mspc/SC-S>5\n"

CASES: tuple[Case, ...] = (
    # --- files that cannot be decoded
    Case("empty_file", "spectrum", "empty.fits", lambda: b"", (CorruptFileError,), r"empty"),
    Case("truncated_fits", "spectrum", "truncated.fits", lambda: _valid_sdss()[: len(_valid_sdss()) * 3 // 5],
         (CorruptFileError,), r"truncat|damaged|decode"),
    Case("truncated_header", "spectrum", "truncated_header.fits", lambda: _valid_sdss()[:1000],
         (CorruptFileError,), r"truncat|damaged|header|FITS"),
    Case("corrupted_gzip", "spectrum", "corrupt.fits.gz", _corrupt_gzip, (CorruptFileError,), r"gzip|compress|CRC|truncat"),
    Case("not_fits_named_fits", "spectrum", "noise.fits",
         lambda: np.random.default_rng(SEED).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
         (CorruptFileError, UnknownFormatError), r"FITS|recognis"),
    Case("absurd_naxis2", "spectrum", "absurd_naxis.fits",
         lambda: _patch_card(_valid_sdss(), "NAXIS2", "999999999999"), (CorruptFileError,),
         r"truncat|damaged|size|bytes|decode"),
    # --- valid FITS, wrong content
    Case("wrong_hdu_layout", "spectrum", "image_layout.fits", _wrong_layout,
         (UnknownFormatError, MissingDataError), r"recognis|HDU|table|column"),
    Case("missing_flux_column", "spectrum", "no_flux.fits", lambda: sdss_bytes(drop=("flux",)),
         (UnknownFormatError, MissingDataError), r"flux|recognis|column"),
    Case("missing_ivar_column", "spectrum", "no_ivar.fits", lambda: sdss_bytes(drop=("ivar",)),
         repair=lambda spec: bool(np.all(spec.ivar == 1)),
         repair_doc="no ivar column: every pixel gets ivar = 1 (uniform weights)"),
    Case("wrong_dtype_flux_text", "spectrum", "text_flux.fits", lambda: sdss_bytes(dtypes={"flux": "10A"}, text="n/a"),
         (CorruptFileError, InvalidSpectrumError, UnknownFormatError), r"flux|numeric|dtype|decode|float"),
    Case("wrong_dtype_flux_numeric_text", "spectrum", "numeric_text_flux.fits",
         lambda: sdss_bytes(dtypes={"flux": "10A"}), (CorruptFileError, InvalidSpectrumError),
         r"flux|numeric|dtype|decode", repair=lambda spec: spec.flux.dtype == np.float32 and bool(np.isfinite(spec.flux).all()),
         repair_doc="a flux column stored as numeric text is cast to float32"),
    Case("lamost_missing_wavelength", "spectrum", "lamost_nowave.fits", lambda: lamost_bytes(drop=("WAVELENGTH",)),
         (UnknownFormatError, MissingDataError), r"WAVELENGTH|recognis|column"),
    Case("lamost_zero_rows", "spectrum", "lamost_norows.fits", lambda: lamost_bytes(n_rows=0),
         (MissingDataError, CorruptFileError), r"no rows|empty"),
    Case("npy_wrong_shape", "spectrum", "spec_3xL.npy", lambda: np.zeros((3, 7, 5), np.float32),
         (InvalidSpectrumError, MissingDataError, UnknownFormatError), r"shape|\(2, L\)|2-D|rows"),
    Case("text_garbage", "spectrum", "garbage.csv", lambda: _csv("wave,flux\nabc,def\nghi,jkl\n"),
         (CorruptFileError, UnknownFormatError, InvalidSpectrumError, MissingDataError), r"numer|column|recognis|parse"),
    # --- decodable, unusable values
    Case("nan_flux_some", "spectrum", "some_nan.fits", lambda: _nan_flux("some"), (InvalidSpectrumError,),
         r"NaN|inf", stage="preprocess",
         repair=lambda out: bool(np.all(np.isfinite(out.flux)) and out.mask.any()),
         repair_doc="NaN/inf pixels are flagged in mask, given ivar 0 and repaired by the bad-pixel policy"),
    Case("nan_flux_all", "spectrum", "all_nan.fits", lambda: _nan_flux("all"), (InvalidSpectrumError,),
         r"NaN|inf|bad|usable", stage="preprocess"),
    Case("zero_ivar", "spectrum", "zero_ivar.fits", lambda: _ivar("zero"), (InvalidSpectrumError,),
         r"ivar|bad|usable", stage="preprocess"),
    Case("negative_ivar", "spectrum", "negative_ivar.fits", lambda: _ivar("negative"), (InvalidSpectrumError,),
         r"negative", stage="preprocess",
         repair=lambda out: bool(np.all(out.ivar >= 0) and out.mask.any()),
         repair_doc="negative ivar pixels are treated as bad (ivar 0, flagged in mask)"),
    Case("nonmonotonic_wavelength", "spectrum", "nonmono.fits", _nonmonotonic, (InvalidSpectrumError,),
         r"increasing|monoton"),
    Case("coverage_too_short", "spectrum", "short.fits", lambda: sdss_bytes(loglam=_grid(n=1500, loglam0=3.66)),
         (CoverageError,), r"cover|range|4000|9000", stage="preprocess"),
    Case("absurd_wavelength", "spectrum", "absurd_wave.fits", lambda: sdss_bytes(loglam=_grid(loglam0=0.0)),
         (CoverageError,), r"cover|range|4000|9000", stage="preprocess"),
    Case("constant_flux", "spectrum", "constant.fits", lambda: sdss_bytes(flux=np.full(N_PIX, 7.0, np.float32)),
         (InvalidSpectrumError,), r"constant|std|zero|variance", stage="preprocess"),
    Case("absurd_flux", "spectrum", "huge_flux.fits",
         lambda: sdss_bytes(flux=np.where(np.arange(N_PIX) % 2, 3e38, -3e38).astype(np.float32)),
         (InvalidSpectrumError,), r"finite|overflow|inf|large|absurd", stage="preprocess",
         repair=lambda out: bool(np.all(np.isfinite(out.flux))),
         repair_doc="z-scoring is computed in float64 so huge-but-finite flux still gives finite input"),
    # --- SPFusion images
    Case("image_wrong_shape", "image", "img_64.npy", lambda: np.ones((3, 64, 64), np.float32),
         (InvalidImageError,), r"shape|128", field="image"),
    Case("image_channels_last", "image", "img_hwc.npy", lambda: np.ones((128, 128, 3), np.float32),
         (InvalidImageError,), r"shape|128|channel", field="image"),
    Case("image_wrong_dtype", "image", "img_text.npy", lambda: np.full((3, 128, 128), "x"),
         (InvalidImageError,), r"dtype|numeric|float|number", field="image"),
    Case("image_constant_band", "image", "img_const.npy",
         lambda: np.concatenate([np.ones((1, 128, 128)), np.random.default_rng(SEED).random((2, 128, 128))]).astype(np.float32),
         (InvalidImageError,), r"constant|min|max", field="band g",
         repair=lambda out: bool(np.all(np.isfinite(out.image))),
         repair_doc="a constant band (max == min) is mapped to zeros instead of the authors' NaN"),
    Case("image_nan", "image", "img_nan.npy",
         lambda: np.where(np.eye(128, dtype=bool)[None], np.nan, 1.0).repeat(3, 0).astype(np.float32),
         (InvalidImageError,), r"NaN|finite", field="image"),
    # --- label tables
    Case("labels_missing_column", "labels", "labels_nolabel.csv", lambda: _csv("obsid,SNR\n1,10\n2,12\n"),
         (LabelError,), r"label|column|missing"),
    Case("labels_unknown_class", "labels", "labels_unknown.csv",
         lambda: _csv("object_id,label\na,STAR\nb,GALAXY\nc,UNICORN\n"), (LabelError,), r"UNICORN|unknown"),
    Case("labels_missing_values", "labels", "labels_blank.csv", lambda: _csv("object_id,label\na,STAR\nb,\n"),
         (LabelError,), r"missing|empty|blank|NaN"),
    Case("labels_duplicate_ids", "labels", "labels_dup.csv",
         lambda: _csv("object_id,label\na,STAR\nb,QSO\na,GALAXY\n"), (LabelError,), r"duplicate"),
    # --- training configs
    Case("config_typo", "config", "typo.yaml", lambda: _config(_GOOD_CONFIG + "trainer:\n  max_epoch: 3\n"),
         (ConfigError,), r"max_epoch.*max_epochs|did you mean", field="trainer.max_epoch"),
    Case("config_wrong_type", "config", "wrong_type.yaml", lambda: _config(_GOOD_CONFIG + "optim:\n  lr: fast\n"),
         (ConfigError,), r"number|float", field="optim.lr"),
    Case("config_not_yaml", "config", "broken.yaml", lambda: _config("model: [unclosed\n"), (ConfigError,),
         r"YAML"),
    Case("config_python_tag", "config", "tag.yaml",
         lambda: _config("model: !!python/object/apply:os.system ['echo pwned']\n"), (ConfigError,), r"YAML|tag"),
    # --- stores
    Case("store_missing_array", "store", "store_noflux", lambda: _store_dir("no_flux"), (DatasetError,),
         r"flux|missing|incomplete"),
    Case("store_bad_info", "store", "store_badinfo", lambda: _store_dir("bad_info"), (DatasetError,),
         r"info|JSON|json"),
)


# ----------------------------------------------------------------- running
@dataclass
class Outcome:
    """What happened: ``status`` is typed / repair / raw / wrong-type / no-error / bad-message / skip."""

    case: Case
    status: str
    detail: str = ""
    error: BaseException | None = None


def _api(module: str, name: str) -> Callable | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _valid_spectrum():
    import spectool

    return spectool.Spectrum(10 ** _grid(), _flux(_grid()), meta={"object_id": "synthetic", "synthetic": True})


def operation(case: Case) -> tuple[Callable[[Path], Any] | None, str]:
    """The public call a case exercises, or (None, why) when that API does not exist yet."""
    if case.kind == "spectrum":
        read = _api("spectool.io", "read")
        if read is None:
            return None, "spectool.io.read"
        if case.stage == "read":
            return read, ""
        mspcnet = _api("spectool.preprocess", "mspcnet")
        if mspcnet is None:
            return None, "spectool.preprocess.mspcnet"
        return (lambda p: mspcnet(read(p))), ""
    if case.kind == "image":
        spfusion = _api("spectool.preprocess", "spfusion")
        if spfusion is None:
            return None, "spectool.preprocess.spfusion"
        return (lambda p: spfusion(_valid_spectrum(), image=np.load(p, allow_pickle=False))), ""
    if case.kind == "labels":
        read_labels = _api("spectool.ingest", "read_labels")
        if read_labels is None or "classes" not in inspect.signature(read_labels).parameters:
            return None, "spectool.ingest.read_labels(path, classes=...)"
        return (lambda p: read_labels(p, classes=("STAR", "GALAXY", "QSO"))), ""
    if case.kind == "config":
        load = _api("spectool.train.config", "load_config")
        return (load, "") if load is not None else (None, "spectool.train.config.load_config")
    if case.kind == "store":
        from spectool.store import SpectrumStore

        return (lambda p: SpectrumStore.open(p, verify=True)), ""
    raise ValueError(f"unknown case kind {case.kind!r}")


def run_case(case: Case, directory: Path) -> Outcome:
    """Write ``case`` into ``directory``, run its operation and classify the outcome."""
    op, missing = operation(case)
    if op is None:
        return Outcome(case, "skip", f"{missing} does not exist yet")
    path = case.write(directory)
    try:
        result = op(path)
    except SpectoolError as exc:
        if case.errors and not isinstance(exc, case.errors):
            return Outcome(case, "wrong-type", f"{type(exc).__name__}: {exc}", exc)
        if not case.errors:
            return Outcome(case, "wrong-type", f"expected a repair, got {type(exc).__name__}: {exc}", exc)
        msg = str(exc)
        names = case.field if case.field else path.name
        if names not in msg:
            return Outcome(case, "bad-message", f"message does not name {names!r}: {msg}", exc)
        if case.reason and not re.search(case.reason, msg, re.IGNORECASE):
            return Outcome(case, "bad-message", f"message does not match /{case.reason}/: {msg}", exc)
        return Outcome(case, "typed", f"{type(exc).__name__}: {msg}", exc)
    except Exception as exc:  # noqa: BLE001 - the point is to catch untyped errors
        return Outcome(case, "raw", f"{type(exc).__name__}: {exc}", exc)
    if case.repair is not None:
        try:
            ok = case.repair(result)
        except Exception as exc:  # noqa: BLE001
            return Outcome(case, "no-error", f"repair check failed to run ({exc!r})", exc)
        if ok:
            return Outcome(case, "repair", case.repair_doc)
        return Outcome(case, "no-error", f"returned a result that is not the documented repair: {case.repair_doc}")
    return Outcome(case, "no-error", f"no error raised (returned {type(result).__name__})")


__all__ = ["CASES", "Case", "Outcome", "lamost_bytes", "operation", "run_case", "sdss_bytes", "sdss_hdul"]
