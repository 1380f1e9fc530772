"""Reader registry in the specutils style.

A reader is a function ``probe -> Spectrum | list[Spectrum]`` registered with
:func:`register_reader` under a label, together with an *identifier*
``probe -> bool`` that says whether a file is in that format (it looks at FITS
HDU names and header keys, never at the file name alone). :func:`read` tries
the identifiers in order of decreasing priority and calls the first reader
that accepts the file.
"""
from __future__ import annotations

import gzip
import io
import os
import warnings
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Union

import numpy as np

from ..errors import CorruptFileError, MissingDataError, UnknownFormatError
from ..spectrum import Spectrum
from ._fitsfast import FitsFormatError, FitsIndex

ReadResult = Union[Spectrum, list[Spectrum]]

GZIP_MAGIC = b"\x1f\x8b"
FITS_MAGIC = b"SIMPLE  ="
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"


class Probe:
    """What the identifiers may look at: the path, the first bytes, the FITS structure.

    The file is read and its FITS headers parsed at most once (lazily, only as far
    as asked), shared by every identifier and the chosen reader; :meth:`close`
    releases the astropy fallback if one was opened.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingDataError("file not found", self.path)
        with open(self.path, "rb") as fh:
            raw = fh.read(2880)
        self.gzipped = raw[:2] == GZIP_MAGIC
        if self.gzipped:
            try:
                with gzip.open(self.path, "rb") as fh:
                    raw = fh.read(2880)
            except (OSError, EOFError, zlib.error) as exc:
                raise CorruptFileError(f"bad gzip stream: {exc}", self.path) from exc
        self.head: bytes = raw
        self._hdul = None

    # ------------------------------------------------------------ file kinds
    @property
    def name(self) -> str:
        """File name without a trailing ``.gz``."""
        n = self.path.name
        return n[:-3] if n.lower().endswith(".gz") else n

    @property
    def is_fits(self) -> bool:
        return self.head.startswith(FITS_MAGIC)

    @property
    def is_hdf5(self) -> bool:
        return self.head.startswith(HDF5_MAGIC)

    @property
    def is_npy(self) -> bool:
        return self.head.startswith(NPY_MAGIC)

    @cached_property
    def is_text(self) -> bool:
        if not self.head or self.is_fits or self.is_hdf5 or self.is_npy:
            return False
        if len(self.head) >= 2880 and b"\n" not in self.head and b"\r" not in self.head:
            return False  # no line break in 2880 bytes: not a table (e.g. a FITS file whose SIMPLE card is damaged)
        try:
            self.head.decode("utf-8")
        except UnicodeDecodeError:
            # the 2880-byte window may cut a multi-byte character; judge the rest
            return b"\x00" not in self.head
        return True

    # ------------------------------------------------------------------ FITS
    @cached_property
    def raw(self) -> bytes:
        """The whole file content (decompressed when gzipped)."""
        try:
            if self.gzipped:
                with gzip.open(self.path, "rb") as fh:
                    return fh.read()
            return self.path.read_bytes()
        except (OSError, EOFError, zlib.error) as exc:
            what = "bad gzip stream" if self.gzipped else "cannot read file"
            raise CorruptFileError(f"{what}: {exc}", self.path) from exc

    @cached_property
    def fits(self) -> FitsIndex:
        """Fast structural view of the FITS file (headers as dicts, tables/images as numpy)."""
        if not self.is_fits:
            raise CorruptFileError("not a FITS file", self.path)
        return FitsIndex(self.raw)

    @property
    def hdul(self):
        """The file opened with astropy (``HDUList``, lazily loaded) for layouts the fast parser skips."""
        if not self.is_fits:
            raise CorruptFileError("not a FITS file", self.path)
        if self._hdul is None:
            from astropy.io import fits

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._hdul = fits.open(io.BytesIO(self.raw), lazy_load_hdus=True)
            except (OSError, ValueError, EOFError) as exc:
                raise CorruptFileError(f"cannot open FITS file: {exc}", self.path) from exc
        return self._hdul

    def _hdu(self, index: int):
        try:
            return self.fits.get(index)
        except FitsFormatError as exc:
            raise CorruptFileError(f"truncated or damaged FITS file: {exc}", self.path) from exc

    def header(self, index: int) -> dict | None:
        """Header of HDU ``index`` as a plain dict (None when the file has fewer HDUs)."""
        info = self._hdu(index)
        return None if info is None else info.header

    def n_hdus(self) -> int:
        try:
            return len(self.fits.all())
        except FitsFormatError as exc:
            raise CorruptFileError(f"truncated or damaged FITS file: {exc}", self.path) from exc

    def hdu_name(self, index: int) -> str | None:
        """Upper-case EXTNAME of HDU ``index`` ('PRIMARY' for HDU 0, None when absent)."""
        info = self._hdu(index)
        return None if info is None else info.name

    @property
    def hdu_names(self) -> list[str]:
        """Upper-case EXTNAMEs of every HDU (parses every header; prefer :meth:`hdu_name`)."""
        return [self.hdu_name(i) for i in range(self.n_hdus())]

    def column_names(self, index: int) -> list[str] | None:
        """Column names (TTYPEn) of binary-table HDU ``index``, None if it is absent or not a table."""
        h = self.header(index)
        if h is None or str(h.get("XTENSION", "")).strip() != "BINTABLE":
            return None
        try:
            nfields = int(h.get("TFIELDS", 0))
        except (TypeError, ValueError):
            nfields = -1
        if not 0 <= nfields <= 999:  # the FITS limit; a garbled value must not loop for ever
            raise CorruptFileError(f"HDU {index}: TFIELDS = {h.get('TFIELDS')!r} is not in 0..999", self.path)
        return [str(h.get(f"TTYPE{k}", f"col{k}")).strip() for k in range(1, nfields + 1)]

    def table(self, index: int) -> np.ndarray:
        """Binary table HDU ``index`` as a numpy structured array (one record per row).

        Read straight from the bytes by :class:`~spectool.io._fitsfast.FitsIndex`
        (10x faster than astropy for wide catalogue rows, astropy's values: logical columns
        as bool, pseudo-unsigned integers, TDIM shapes); variable-length, bit, substring or
        TSCAL/TZERO-scaled columns fall back to astropy, converted the same way.
        """
        if self.column_names(index) is None:
            raise MissingDataError(f"HDU {index} is not a binary table", self.path)
        try:
            data = self.fits.table(index)
        except FitsFormatError as exc:
            raise CorruptFileError(str(exc), self.path) from exc
        except (KeyError, TypeError, ValueError) as exc:  # a required card missing or garbled
            raise CorruptFileError(f"table HDU {index} header is damaged ({type(exc).__name__}: {exc})",
                                   self.path) from exc
        if data is not None:
            return data
        try:  # astropy fallback: garbled headers surface as KeyError/IndexError/TypeError deep inside it
            return _converted_table(self.hdul[index].data)
        except Exception as exc:  # noqa: BLE001 - only astropy runs here; any failure means undecodable bytes
            raise CorruptFileError(f"cannot decode table HDU {index}: {type(exc).__name__}: {exc}", self.path) from exc

    def image(self, index: int) -> np.ndarray:
        """Image data of HDU ``index`` (rows = NAXIS2), BSCALE/BZERO applied."""
        try:
            return self.fits.image(index)
        except (FitsFormatError, KeyError) as exc:
            raise CorruptFileError(f"image HDU {index}: {exc}", self.path) from exc

    @property
    def primary_header(self) -> dict:
        return self.header(0)

    def close(self) -> None:
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None


def _converted_table(data) -> np.ndarray:
    """An astropy ``FITS_rec`` as a plain structured array of the values astropy gives.

    ``np.asarray(FITS_rec)`` would return the stored bytes (logical columns as 84/70,
    unsigned 64-bit ids as negative numbers, TSCAL/TZERO not applied); this takes
    every column through astropy's conversion instead, keeping character columns as
    stored ``bytes`` like the fast parser does.
    """
    if data is None:
        return np.zeros(0, dtype=[])
    raw = np.asarray(data)
    fields = []
    for name in raw.dtype.names:
        col = data[name]
        fields.append(raw[name] if raw.dtype[name].kind == "S" else np.asarray(col))
    dtype = np.dtype([(n, (c.dtype, c.shape[1:])) for n, c in zip(raw.dtype.names, fields)])
    out = np.empty(len(raw), dtype)
    for n, c in zip(raw.dtype.names, fields):
        out[n] = c
    return out


@dataclass(order=True)
class Reader:
    """One registered format."""

    sort_key: int = field(init=False, repr=False)
    label: str = field(compare=False)
    identifier: Callable[[Probe], bool] = field(compare=False, repr=False)
    function: Callable[[Probe], ReadResult] = field(compare=False, repr=False)
    priority: int = field(compare=False, default=0)
    description: str = field(compare=False, default="")

    def __post_init__(self) -> None:
        self.sort_key = -self.priority


_READERS: dict[str, Reader] = {}


def register_reader(label: str, identifier: Callable[[Probe], bool], priority: int = 0):
    """Decorator registering ``function(probe) -> Spectrum | list[Spectrum]`` as format ``label``.

    Identifiers with higher ``priority`` are tried first (specific survey layouts
    beat the generic FITS readers). The function's docstring first line becomes the
    format description shown by :func:`list_formats`.
    """

    def deco(function: Callable[[Probe], ReadResult]) -> Callable[[Probe], ReadResult]:
        doc = (function.__doc__ or "").strip().splitlines()
        _READERS[label] = Reader(label, identifier, function, priority, doc[0] if doc else "")
        return function

    return deco


def list_formats() -> dict[str, str]:
    """Registered format labels (highest priority first) and their descriptions."""
    return {r.label: r.description for r in sorted(_READERS.values())}


def _safe_identify(reader: Reader, probe: Probe) -> bool:
    try:
        return bool(reader.identifier(probe))
    except CorruptFileError:
        raise
    except Exception:  # an identifier that trips over a foreign layout simply says "no"
        return False


def identify(path: str | os.PathLike) -> list[str]:
    """Labels of every format whose identifier accepts ``path`` (best first)."""
    probe = Probe(path)
    try:
        return [r.label for r in sorted(_READERS.values()) if _safe_identify(r, probe)]
    finally:
        probe.close()


def read(path: str | os.PathLike, format: str | None = None) -> ReadResult:
    """Read a spectrum file into a :class:`~spectool.Spectrum` (a list for multi-spectrum files).

    Parameters
    ----------
    path
        SDSS ``spec-*.fits`` (full or lite) or ``spPlate``, LAMOST low-resolution
        (DR1-DR7 image or DR8+ table layout), a generic FITS table/image, a two-column
        text/CSV file, an SPFusion ``(2, L)`` ``.npy`` array or HDF5 file. Gzip
        compression is detected from the magic bytes.
    format
        Force a format label from :func:`list_formats` instead of identifying it.

    Returns
    -------
    Spectrum or list of Spectrum
        Wavelengths in vacuum Angstrom; ``meta`` holds survey, object_id, class,
        subclass, redshift, snr, snr_bands, ra, dec, source_path and survey ids.

    Raises
    ------
    MissingDataError
        The file does not exist or lacks a required HDU/column.
    CorruptFileError
        The file cannot be decoded (truncated FITS, bad gzip, empty file).
    UnknownFormatError
        No reader recognises the file (or ``format`` is not registered).
    """
    probe = Probe(path)
    try:
        if format is not None:
            if format not in _READERS:
                raise UnknownFormatError(f"unknown format {format!r}; choose from {', '.join(list_formats())}", path)
            reader = _READERS[format]
        else:
            reader = next((r for r in sorted(_READERS.values()) if _safe_identify(r, probe)), None)
            if reader is None:
                if not probe.head:
                    raise CorruptFileError("file is empty", path)
                if probe.name.lower().endswith((".fits", ".fit", ".fts")) and not probe.is_fits:
                    raise CorruptFileError("not a valid FITS file (no SIMPLE card)", path)
                if probe.is_fits:
                    probe.n_hdus()  # a truncated or damaged FITS structure: CorruptFileError, not "unknown format"
                known = ", ".join(list_formats())
                raise UnknownFormatError(f"no reader recognises this file; known formats: {known}", path)
        try:
            return reader.function(probe)
        except (OSError, EOFError, ValueError) as exc:
            # astropy raises these for truncated or garbled data sections
            raise CorruptFileError(f"cannot decode {reader.label} data: {exc}", path) from exc
    finally:
        probe.close()
