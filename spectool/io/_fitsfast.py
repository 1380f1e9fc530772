"""A minimal, fast FITS structure reader (headers, binary tables, images).

astropy's header objects parse every card through its configuration system,
which costs ~10 ms per SDSS file; survey ingest reads hundreds of thousands of
files, so the readers use this small parser for the common cases: it splits the
file into HDUs, parses header cards into plain dicts and maps table rows and
images straight onto numpy arrays. Anything unusual (variable-length or scaled
table columns) falls back to astropy via :class:`~spectool.io.registry.Probe`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK = 2880
CARD = 80
_BITPIX = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_TFORM = re.compile(r"^\s*(\d*)([LBIJKAEDCM])\s*$")
_CODES = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16"}
_SKIP = {"COMMENT", "HISTORY", "", "CONTINUE"}


class FitsFormatError(ValueError):
    """The bytes do not follow the FITS block structure (truncated or garbled)."""


def _value(text: str) -> Any:
    """Parse the value field of a card (the part after ``= ``, comment included)."""
    s = text.strip()
    if s.startswith("'"):
        out, i = [], 1
        while i < len(s):
            if s[i] == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(s[i])
            i += 1
        return "".join(out).rstrip()
    s = s.split("/", 1)[0].strip()
    if s == "T":
        return True
    if s == "F":
        return False
    if not s:
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s.replace("D", "E"))
    except ValueError:
        return s


def parse_header(raw: bytes, start: int) -> tuple[dict[str, Any], int]:
    """Header cards from ``raw[start:]`` as a dict (first occurrence wins) and the data offset."""
    cards: dict[str, Any] = {}
    pos = start
    n = len(raw)
    while True:
        if pos + BLOCK > n:
            raise FitsFormatError(f"header at byte {start} is truncated")
        block = raw[pos:pos + BLOCK].decode("ascii", "replace")
        pos += BLOCK
        for k in range(0, BLOCK, CARD):
            card = block[k:k + CARD]
            key = card[:8].strip()
            if key == "END":
                return cards, pos
            if key in _SKIP or card[8:10] != "= " or key in cards:
                continue
            cards[key] = _value(card[10:])


def data_size(h: dict[str, Any]) -> int:
    """Bytes of the data unit described by header ``h`` (without block padding)."""
    naxis = int(h.get("NAXIS", 0))
    if not 0 <= naxis <= 999:  # the FITS standard's limit; a garbled value must not loop for ever
        raise FitsFormatError(f"NAXIS = {naxis} is outside 0..999")
    if naxis == 0:
        return 0
    size = 1
    for i in range(1, naxis + 1):
        n = int(h.get(f"NAXIS{i}", 0))
        if n < 0:
            raise FitsFormatError(f"NAXIS{i} = {n} is negative")
        size *= n
    return abs(int(h.get("BITPIX", 8))) // 8 * int(h.get("GCOUNT", 1)) * (size + int(h.get("PCOUNT", 0)))


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
        """Image data of HDU ``index`` (C order: NAXISn ... NAXIS1), BSCALE/BZERO applied."""
        info = self.get(index)
        h = info.header
        naxis = int(h.get("NAXIS", 0))
        if naxis == 0:
            raise FitsFormatError(f"HDU {index} has no image data")
        self.check_data(info, f"image HDU {index}")
        shape = tuple(int(h[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
        arr = np.frombuffer(self.raw, dtype=_BITPIX[int(h["BITPIX"])], count=int(np.prod(shape)),
                            offset=info.data_offset).reshape(shape)
        scale, zero = h.get("BSCALE", 1), h.get("BZERO", 0)
        if scale != 1 or zero != 0:
            arr = arr * scale + zero
        return arr

    def table_dtype(self, index: int) -> np.dtype | None:
        """numpy dtype of one row of binary table HDU ``index``; None if unsupported."""
        h = self.get(index).header
        names, formats = [], []
        for k in range(1, int(h.get("TFIELDS", 0)) + 1):
            m = _TFORM.match(str(h.get(f"TFORM{k}", "")))
            if m is None or any(f"{key}{k}" in h for key in ("TDIM", "TSCAL", "TZERO")):
                return None
            repeat = int(m.group(1) or 1)
            code = m.group(2)
            fmt = f"S{repeat}" if code == "A" else _CODES[code]
            names.append(str(h.get(f"TTYPE{k}", f"col{k}")).strip())
            formats.append(fmt if code == "A" or repeat == 1 else (fmt, (repeat,)))
        if len({n.upper() for n in names}) != len(names):
            return None
        dtype = np.dtype({"names": names, "formats": formats})
        return dtype if dtype.itemsize == int(h.get("NAXIS1", -1)) else None

    def table(self, index: int) -> np.ndarray | None:
        """Rows of binary table HDU ``index`` as a structured array, or None if unsupported."""
        dtype = self.table_dtype(index)
        if dtype is None:
            return None
        info = self.get(index)
        self.check_data(info, f"table HDU {index}")
        return np.frombuffer(self.raw, dtype=dtype, count=int(info.header["NAXIS2"]), offset=info.data_offset)
