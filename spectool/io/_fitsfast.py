"""A minimal, fast FITS structure reader (headers, binary tables, images).

astropy's header objects parse every card through its configuration system,
which costs ~10 ms per SDSS file; survey ingest reads hundreds of thousands of
files, so the readers use this small parser for the common cases: it splits the
file into HDUs, parses header cards into plain dicts and maps table rows and
images straight onto numpy arrays. Anything unusual (variable-length, bit or
scaled table columns) is declined (``None``) and read with astropy by
:class:`~spectool.io.registry.Probe`.

What it returns is what astropy returns (``tests/test_fits_differential.py``
compares both on every real file and on synthetic edge cases):

* header values: ``int``, ``float``, ``complex``, ``bool``, ``str`` (trailing
  blanks removed, ``''`` unescaped, ``CONTINUE`` long strings joined; astropy's
  string grammar is followed exactly, including its reading of an escaped quote
  followed by ``/`` as the end of the string: ``'a''/b'`` is ``"a'"``), ``None``
  for an undefined value; the first occurrence of a repeated keyword wins;
  ``HIERARCH`` keywords are stored without the ``HIERARCH`` prefix; commentary
  cards (COMMENT, HISTORY, blank) are not stored;
* images: BSCALE/BZERO applied with astropy's dtypes (float32 for 8/16-bit,
  float64 for 32/64-bit integers, pseudo-unsigned integers as uint16/32/64,
  BLANK pixels as NaN);
* tables: logical ``L`` columns as ``bool`` (``'T'`` -> True), pseudo-unsigned
  integer columns (TZERO = 2**(bits-1)) as unsigned integers, ``TDIM`` shapes;
  character columns stay ``bytes`` (astropy decodes them to ``str``).
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK = 2880
CARD = 80
_BITPIX = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_TFORM = re.compile(r"^\s*(\d*)([LBIJKAEDCM])\s*$")
_CODES = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16"}
#: Pseudo-unsigned conventions (TFORM code or BITPIX -> TZERO/BZERO, unsigned dtype), as astropy applies them.
_UNSIGNED_COL = {"B": (-128, "i1"), "I": (1 << 15, "u2"), "J": (1 << 31, "u4"), "K": (1 << 63, "u8")}
_UNSIGNED_IMG = {8: (-128, "i1"), 16: (1 << 15, "u2"), 32: (1 << 31, "u4"), 64: (1 << 63, "u8")}
_COMMENTARY = {"COMMENT", "HISTORY", ""}
# astropy's grammar of a string value and optional comment (every string card, CONTINUE pieces included)
_STRG_COMMENT = re.compile(r"(\'(?P<strg>([ -~]+?|\'\'|) *?)\'(?=$|/| ))? *"
                           r"(?P<comm_field>(?P<sepr>/ *)(?P<comm>(.|\n)*))?$")
_NUMBER = re.compile(r"[+-]? *(\.\d+|\d+(\.\d*)?) *([deDE] *[+-]? *\d+)?$")
_COMPLEX = re.compile(r"\( *([^,()]+?) *, *([^,()]+?) *\)$")


class FitsFormatError(ValueError):
    """The bytes do not follow the FITS block structure (truncated or garbled)."""


def _number(s: str) -> int | float | None:
    """A FITS number (``1``, ``-2.5``, ``1.0D+05``, ``3 E 2``) as int or float; None if it is not one."""
    if not _NUMBER.match(s):
        return None
    s = s.replace(" ", "").replace("D", "E").replace("d", "e")
    try:
        return int(s)
    except ValueError:
        return float(s)


@functools.lru_cache(maxsize=8192)
def _value(text: str) -> Any:
    """Parse the value field of a card (the part after ``= ``, comment included).

    Unparsable text (astropy raises on it) is returned as the stripped text itself.
    Cached on the text: files of one survey repeat most of their cards (table layouts,
    pipeline versions), and the values are immutable (int, float, complex, bool, str, None).
    """
    s = text.strip()
    if s.startswith("'"):
        m = _STRG_COMMENT.match(s)
        if m is not None and m.group("strg") is not None:
            return m.group("strg").replace("''", "'").rstrip()
        return s[1:].rstrip()  # no closing quote: astropy refuses the card
    s = s.split("/", 1)[0].strip()
    if s == "T":
        return True
    if s == "F":
        return False
    if not s:
        return None  # astropy: Undefined
    num = _number(s)
    if num is not None:
        return num
    m = _COMPLEX.match(s)
    if m is not None:
        re_, im = _number(m.group(1)), _number(m.group(2))
        if re_ is not None and im is not None:
            return complex(re_, im)
    return s


def _long_string(pieces: list[str]) -> str | None:
    """The value of a card continued by CONTINUE cards, joined as astropy does (None if not all strings).

    Each piece loses trailing blanks and one trailing ``&``; the joined text is read
    with the grammar of a one-card string value (as astropy reads it back).
    """
    values = []
    for piece in pieces:
        m = _STRG_COMMENT.match(piece.strip())
        if m is None or m.group("strg") is None:
            return None
        v = m.group("strg").rstrip()
        values.append(v[:-1] if v.endswith("&") else v)
    return _value("'" + "".join(values) + "' /")


def parse_header(raw: bytes, start: int) -> tuple[dict[str, Any], int]:
    """Header cards from ``raw[start:]`` as a dict (first occurrence wins) and the data offset."""
    cards: dict[str, Any] = {}
    pos = start
    n = len(raw)
    chain_key: str | None = None  # keyword whose string value CONTINUE cards extend
    chain: list[str] = []
    previous_stored = False  # the card just before is the stored first occurrence of its keyword

    def close_chain() -> None:
        if chain_key is not None and len(chain) > 1:
            joined = _long_string(chain)
            if joined is not None:
                cards[chain_key] = joined

    while True:
        if pos + BLOCK > n:
            raise FitsFormatError(f"header at byte {start} is truncated")
        block = raw[pos:pos + BLOCK].decode("ascii", "replace")
        pos += BLOCK
        for k in range(0, BLOCK, CARD):
            card = block[k:k + CARD]
            key = card[:8].strip().upper()
            if key == "CONTINUE":
                if chain_key is not None:
                    chain.append(card[8:])
                continue
            if chain_key is not None:
                close_chain()
                chain_key, chain = None, []
            if key == "END":
                return cards, pos
            if key == "HIERARCH" and "=" in card:
                key, text = card[8:].split("=", 1)
                key = " ".join(key.split()).upper()
            elif key in _COMMENTARY or card[8:10] != "= ":
                continue
            else:
                text = card[10:]
            if key in cards:
                continue
            value = cards[key] = _value(text)
            if isinstance(value, str) and text.lstrip().startswith("'"):
                chain_key, chain = key, [text]


def _int(h: dict[str, Any], key: str, default: int = 0) -> int:
    """An integer header value; FitsFormatError when it is present but not an integer."""
    v = h.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
        raise FitsFormatError(f"{key} = {v!r} is not an integer")
    return int(v)


def data_size(h: dict[str, Any]) -> int:
    """Bytes of the data unit described by header ``h`` (without block padding)."""
    naxis = _int(h, "NAXIS")
    if not 0 <= naxis <= 999:  # the FITS standard's limit; a garbled value must not loop for ever
        raise FitsFormatError(f"NAXIS = {naxis} is outside 0..999")
    if naxis == 0:
        return 0
    size = 1
    for i in range(1, naxis + 1):
        n = _int(h, f"NAXIS{i}")
        if n < 0:
            raise FitsFormatError(f"NAXIS{i} = {n} is negative")
        size *= n
    bitpix, gcount, pcount = _int(h, "BITPIX", 8), _int(h, "GCOUNT", 1), _int(h, "PCOUNT")
    if bitpix not in _BITPIX or gcount < 0 or pcount < 0:  # a negative size would walk backwards for ever
        raise FitsFormatError(f"BITPIX = {bitpix}, GCOUNT = {gcount}, PCOUNT = {pcount}: not a valid data size")
    return abs(bitpix) // 8 * gcount * (size + pcount)


@dataclass
class HDUInfo:
    header: dict[str, Any]
    data_offset: int
    data_size: int

    @property
    def name(self) -> str:
        return str(self.header.get("EXTNAME", "PRIMARY" if "SIMPLE" in self.header else "")).strip().upper()


class FitsIndex:
    """Lazy list of the HDUs of a FITS byte string: headers parsed only up to the HDU asked for."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._hdus: list[HDUInfo] = []
        self._next = 0
        self._done = False

    def _advance(self) -> bool:
        if self._done or self._next + BLOCK > len(self.raw):
            if self._next == 0 and not self._done:  # not even one 2880-byte header block
                raise FitsFormatError(f"primary header is truncated ({len(self.raw)} of at least {BLOCK} bytes)")
            self._done = True
            return False
        h, data_start = parse_header(self.raw, self._next)
        size = data_size(h)
        self._hdus.append(HDUInfo(h, data_start, size))
        self._next = data_start + (size + BLOCK - 1) // BLOCK * BLOCK
        return True

    def get(self, index: int) -> HDUInfo | None:
        while len(self._hdus) <= index and self._advance():
            pass
        return self._hdus[index] if index < len(self._hdus) else None

    def all(self) -> list[HDUInfo]:
        while self._advance():
            pass
        return list(self._hdus)

    def check_data(self, info: HDUInfo, what: str) -> None:
        if info.data_offset + info.data_size > len(self.raw):
            have = max(0, len(self.raw) - info.data_offset)
            raise FitsFormatError(f"{what} data is truncated ({have} of {info.data_size} bytes)")

    def image(self, index: int) -> np.ndarray:
        """Image data of HDU ``index`` (C order: NAXISn ... NAXIS1), scaled as astropy scales it.

        BSCALE/BZERO: the pseudo-unsigned conventions give uint16/32/64 (int8 for
        BITPIX 8, BZERO -128); otherwise integers become float32 (BITPIX 8, 16) or
        float64 (32, 64) and BLANK pixels NaN; floats are scaled in their own dtype.
        """
        info = self.get(index)
        if info is None:
            raise FitsFormatError(f"there is no HDU {index}")
        h = info.header
        naxis = _int(h, "NAXIS")
        if naxis == 0:
            raise FitsFormatError(f"HDU {index} has no image data")
        bitpix = _int(h, "BITPIX")
        if bitpix not in _BITPIX:
            raise FitsFormatError(f"BITPIX = {bitpix} is not a FITS data type")
        self.check_data(info, f"image HDU {index}")
        shape = tuple(_int(h, f"NAXIS{i}") for i in range(naxis, 0, -1))
        arr = np.frombuffer(self.raw, dtype=_BITPIX[bitpix], count=int(np.prod(shape)),
                            offset=info.data_offset).reshape(shape)
        scale, zero = h.get("BSCALE", 1), h.get("BZERO", 0)
        if not isinstance(scale, (int, float)) or not isinstance(zero, (int, float)):
            raise FitsFormatError(f"BSCALE = {scale!r} / BZERO = {zero!r} are not numbers")
        blank = h.get("BLANK")
        blank = blank if bitpix > 0 and isinstance(blank, int) and not isinstance(blank, bool) else None
        if scale == 1 and zero == 0 and blank is None:
            return arr
        unsigned = _UNSIGNED_IMG.get(bitpix)
        if scale == 1 and unsigned is not None and zero == unsigned[0]:
            return _unsigned(arr, unsigned[1])
        blanks = arr == blank if blank is not None else None
        if bitpix > 0:
            data = arr.astype(np.float64 if bitpix > 16 else np.float32)
        else:
            data = arr.copy()
        if scale != 1:
            np.multiply(data, scale, data)
        if zero != 0:
            data += zero
        if blank:  # astropy's test: BLANK = 0 is not applied
            data[blanks] = np.nan
        return data

    def table_dtype(self, index: int) -> np.dtype | None:
        """numpy dtype of one row of binary table HDU ``index`` as stored; None if unsupported.

        Unsupported (left to astropy): variable-length (P/Q), bit (X) and substring
        (``rAw``) columns, TSCAL/TZERO other than the pseudo-unsigned convention,
        repeated or blank column names.
        """
        return self._table_layout(index)[0]

    def _table_layout(self, index: int) -> tuple[np.dtype | None, dict[str, str]]:
        """(stored row dtype or None, {column: 'bool' | unsigned dtype} of columns astropy converts).

        Computed once per distinct set of column cards (:func:`_layout`): a survey's files
        share their table layouts."""
        h = self.get(index).header
        nfields = _int(h, "TFIELDS")
        if not 0 <= nfields <= 999:  # the FITS limit; a garbled value must not loop for ever
            raise FitsFormatError(f"TFIELDS = {nfields} is outside 0..999")
        cards = tuple((k, type(v), v) for k, v in h.items() if k[:5] in _COLUMN_CARDS or k[:4] == "TDIM")
        return _layout(nfields, cards, _typed(h.get("NAXIS1", _ABSENT)))

    def table(self, index: int) -> np.ndarray | None:
        """Rows of binary table HDU ``index`` as a structured array, or None if unsupported.

        Columns astropy converts (logical, pseudo-unsigned) come back converted, in a
        copy; otherwise the array is a read-only view of the file bytes.
        """
        dtype, convert = self._table_layout(index)
        if dtype is None:
            return None
        info = self.get(index)
        self.check_data(info, f"table HDU {index}")
        rows = np.frombuffer(self.raw, dtype=dtype, count=_int(info.header, "NAXIS2"), offset=info.data_offset)
        if not convert:
            return rows
        out_dtype = np.dtype([(n, _converted(dtype.fields[n][0], convert.get(n))) for n in dtype.names])
        out = np.empty(rows.shape, out_dtype)
        for n in dtype.names:
            kind = convert.get(n)
            if kind == "bool":
                out[n] = rows[n] == ord("T")
            elif kind is not None:
                out[n] = _unsigned(rows[n], kind)
            else:
                out[n] = rows[n]
        return out


_ABSENT = object()  # a card missing from the header (a present card may hold None: an undefined value)


def _typed(value: Any) -> tuple[type, Any]:
    """A header value with its type, as part of a cache key."""
    return type(value), value


_COLUMN_CARDS = {"TFORM", "TTYPE", "TSCAL", "TZERO"}  # and TDIM: the cards that describe a table's columns


@functools.lru_cache(maxsize=256)
def _layout(nfields: int, cards: tuple, naxis1: tuple) -> tuple[np.dtype | None, dict[str, str]]:
    """:meth:`FitsIndex._table_layout` of a table whose column cards (TFORMn, TTYPEn, TSCALn,
    TZEROn, TDIMn) are ``cards`` (``(keyword, type, value)`` in header order; the type is part
    of the key because 1, 1.0 and True compare equal) and whose NAXIS1 card (the row length
    in bytes) is ``naxis1`` (``(type, value)``, value ``_ABSENT`` when missing). Callers must
    not modify the returned dict."""
    h = {key: value for key, _, value in cards}
    names, formats, convert = [], [], {}
    for k in range(1, nfields + 1):
        m = _TFORM.match(str(h.get(f"TFORM{k}", "")))
        if m is None:
            return None, {}
        repeat = int(m.group(1) or 1)
        code = m.group(2)
        name = str(h.get(f"TTYPE{k}", f"col{k}")).strip()
        if not name or repeat == 0:
            return None, {}
        scale, zero = h.get(f"TSCAL{k}", 1), h.get(f"TZERO{k}", 0)
        if scale != 1 or zero != 0:
            unsigned = _UNSIGNED_COL.get(code)
            if scale != 1 or unsigned is None or zero != unsigned[0]:
                return None, {}
            convert[name] = unsigned[1]
        if code == "L":
            convert[name] = "bool"
        shape: tuple[int, ...] = () if repeat == 1 else (repeat,)
        tdim = h.get(f"TDIM{k}")
        if tdim is not None and code != "A":
            dims = re.fullmatch(r"\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)\s*", str(tdim))
            if dims is None:
                return None, {}
            shape = tuple(int(d) for d in reversed(dims.group(1).split(",")))
            if int(np.prod(shape)) != repeat:
                return None, {}
        elif tdim is not None:
            return None, {}
        fmt = f"S{repeat}" if code == "A" else _CODES[code]
        names.append(name)
        formats.append(fmt if code == "A" or not shape else (fmt, shape))
    if len({n.upper() for n in names}) != len(names):
        return None, {}
    try:
        dtype = np.dtype({"names": names, "formats": formats})
    except (ValueError, TypeError, OverflowError):  # absurd repeat counts: leave the table to astropy
        return None, {}
    row_bytes = _int({} if naxis1[1] is _ABSENT else {"NAXIS1": naxis1[1]}, "NAXIS1", -1)
    return (dtype if dtype.itemsize == row_bytes else None), convert


def _converted(stored: np.dtype, kind: str | None) -> np.dtype:
    """Field dtype after astropy's conversion (``kind``: 'bool', an unsigned code, or None)."""
    if kind is None:
        return stored
    base = np.dtype(bool) if kind == "bool" else np.dtype(kind)
    return np.dtype((base, stored.shape)) if stored.shape else base


def _unsigned(arr: np.ndarray, kind: str) -> np.ndarray:
    """Stored signed integers under the pseudo-unsigned convention (or uint8 - 128) as astropy gives them."""
    if kind == "i1":  # BITPIX 8 / TFORM B with zero -128: signed bytes
        return (arr.astype(np.int16) - 128).astype(np.int8)
    bits = np.dtype(kind).itemsize * 8
    return arr.astype(f">i{bits // 8}").view(f">u{bits // 8}").astype(kind) ^ np.array(1 << (bits - 1), kind)
