"""spectool's FITS parser (``spectool.io._fitsfast`` behind :class:`spectool.io.Probe`) against astropy.

For every FITS file under ``../shared/data/real`` (skipped cleanly when absent) and
for synthetic files written here with astropy, every HDU must give what astropy
gives: the same header value for every keyword card (CONTINUE long strings,
booleans, ints, floats, complex, undefined values, HIERARCH keywords), the same
image data (BSCALE/BZERO/BLANK applied with astropy's dtypes) and the same values
in every table column (logical columns as bool, pseudo-unsigned integers, TDIM
shapes, TSCAL/TZERO through the astropy fallback).
"""
from __future__ import annotations

import gzip
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from conftest import SHARED

from spectool.io.registry import Probe

COMMENTARY = {"COMMENT", "HISTORY", ""}


def _astropy_value(header, key):
    """astropy's value of ``key`` (first occurrence), with Undefined as None; KeyError if unparsable."""
    try:
        value = header[key]
    except (fits.VerifyError, ValueError) as exc:  # astropy itself cannot parse this card
        raise KeyError(key) from exc
    return None if value is fits.card.UNDEFINED else value


def _same_value(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and np.isnan(a):
        return np.isnan(b)
    return a == b


def _same_array(mine: np.ndarray, ref, what: str) -> None:
    ref = np.asarray(ref)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != astropy {ref.shape}"
    if ref.dtype.kind == "U":  # astropy decodes character columns; spectool keeps the stored bytes
        mine = np.char.rstrip(np.char.decode(mine, "ascii"))
        ref = np.char.rstrip(ref)
        assert mine.tolist() == ref.tolist(), what
        return
    assert (mine.dtype.kind, mine.dtype.itemsize) == (ref.dtype.kind, ref.dtype.itemsize), \
        f"{what}: dtype {mine.dtype} != astropy {ref.dtype}"
    if ref.dtype.kind == "O":  # variable-length arrays
        assert all(np.array_equal(x, y) for x, y in zip(mine.ravel(), ref.ravel())), what
        return
    assert np.array_equal(mine, ref, equal_nan=ref.dtype.kind in "fc"), f"{what}: values differ"


def compare_with_astropy(path: Path) -> dict[str, int]:
    """Assert that :class:`Probe` gives astropy's header values and data for every HDU of ``path``.

    Returns counts: HDUs, keyword cards, long (CONTINUE) strings, table columns,
    images, tables read by the fast parser and by the astropy fallback.
    """
    stats = dict(hdus=0, cards=0, continued=0, columns=0, images=0, fast_tables=0, fallback_tables=0,
                 unparsable_cards=0)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    probe = Probe(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(io.BytesIO(raw))
            assert probe.n_hdus() == len(hdul), f"{path.name}: {probe.n_hdus()} HDUs, astropy {len(hdul)}"
            for i, hdu in enumerate(hdul):
                stats["hdus"] += 1
                mine = probe.header(i)
                ref = hdu.header
                keys = []
                for card in ref.cards:
                    if card.keyword in COMMENTARY or card.keyword in keys:
                        continue
                    keys.append(card.keyword)
                    try:
                        value = _astropy_value(ref, card.keyword)
                    except KeyError:
                        stats["unparsable_cards"] += 1
                        continue
                    stats["cards"] += 1
                    stats["continued"] += len(card.image) > 80
                    assert card.keyword in mine, f"{path.name} HDU {i}: {card.keyword} missing"
                    assert _same_value(mine[card.keyword], value), \
                        f"{path.name} HDU {i} {card.keyword}: {mine[card.keyword]!r} != astropy {value!r}"
                assert set(mine) <= set(keys), f"{path.name} HDU {i}: extra keys {set(mine) - set(keys)}"
                if isinstance(hdu, fits.BinTableHDU):
                    fast = probe.fits.table(i) is not None
                    stats["fast_tables" if fast else "fallback_tables"] += 1
                    table = probe.table(i)
                    data = hdu.data
                    names = [] if data is None else list(data.columns.names)
                    assert list(table.dtype.names or []) == names, f"{path.name} HDU {i}: columns"
                    for name in names:
                        stats["columns"] += 1
                        _same_array(table[name], data[name], f"{path.name} HDU {i} column {name}")
                elif hdu.header.get("NAXIS", 0) > 0 and not isinstance(hdu, fits.TableHDU):
                    stats["images"] += 1
                    _same_array(probe.image(i), hdu.data, f"{path.name} HDU {i} image")
            hdul.close()
    finally:
        probe.close()
    return stats


def _real_files() -> list[Path]:
    real = SHARED / "data" / "real"
    return sorted(p for p in real.rglob("*") if p.is_file() and ".fits" in p.name.lower()) if real.exists() else []


REAL_FILES = _real_files()


def _real_id(path: Path) -> str:
    return str(path.relative_to(SHARED / "data" / "real"))


@pytest.mark.parametrize("path", REAL_FILES or [None], ids=_real_id if REAL_FILES else None)
def test_every_real_file_parses_as_astropy_does(path):
    """Each real FITS file (one test per file, ~0.1-0.5 s each): same header values,
    images and table columns as astropy, every table read by the fast parser itself."""
    if path is None:
        pytest.skip(f"{SHARED / 'data' / 'real'} not available (../shared is absent)")
    stats = compare_with_astropy(path)
    assert stats["cards"] > 50 and stats["unparsable_cards"] == 0, stats
    assert stats["columns"] + stats["images"] > 0, stats
    assert stats["fallback_tables"] == 0, stats  # the survey layouts never need the astropy fallback


# ------------------------------------------------------------------ synthetic edge cases
LONG = ("a long provenance string that does not fit on one eighty-column card, "
        "so astropy writes it with CONTINUE cards; it's quoted ''twice'' here & ends.")


def _edge_file(tmp_path: Path, gz: bool = False) -> Path:
    """A synthetic FITS file with the cards, images and columns the fast parser must get right."""
    hdr = fits.Header()
    hdr["LONGSTR"] = LONG
    hdr["QUOTED"] = "O'Brien"
    hdr["EMPTY"] = ""
    hdr["BLANKS"] = "   "
    hdr["FLAG"] = True
    hdr["NOFLAG"] = False
    hdr["INT"] = -42
    hdr["BIGINT"] = 2**62
    hdr["FLT"] = 3.5682
    hdr["TINY"] = 1.5e-300
    hdr["CPLX"] = complex(1.5, -2.0)
    hdr["UNDEF"] = None
    hdr["DUP"] = 1
    hdr.append(("DUP", 2))  # astropy's header['DUP'] is the first occurrence
    hdr["HIERARCH ESO DET NAME"] = "ccd-1"
    hdr["COMMENT"] = "SYNTHETIC test file written by tests/test_fits_differential.py"
    rng = np.random.default_rng(0)
    stored = rng.integers(-1000, 1000, (3, 50)).astype(np.int16)
    stored[0, 0] = -1000  # the BLANK value: NaN after scaling
    prim = fits.PrimaryHDU(stored, header=hdr)  # BSCALE/BZERO/BLANK are added to the written bytes below
    unsigned = fits.ImageHDU(rng.integers(0, 65535, 40).astype(np.uint16), name="UINT16")
    floats = fits.ImageHDU(rng.normal(size=(2, 30)).astype(np.float32), name="FSCALED")
    floats.header["BSCALE"] = 2.0
    floats.header["BZERO"] = -1.0
    table = fits.BinTableHDU.from_columns([
        fits.Column("OK", "L", array=[True, False, True]),
        fits.Column("FLAGS", "3L", array=[[True, False, False], [False, False, True], [True, True, True]]),
        fits.Column("SPECOBJID", "K", bzero=2**63, array=np.array([2**63 + 5, 4115164797179547648, 1], np.uint64)),
        fits.Column("FIBER16", "I", bzero=2**15, array=np.array([0, 40000, 65535], np.uint16)),
        fits.Column("PROF", "6E", dim="(3, 2)", array=rng.normal(size=(3, 2, 3)).astype(np.float32)),
        fits.Column("CLASS", "6A", array=["STAR", "GALAXY", "QSO"]),
        fits.Column("Z", "D", array=[0.1, 2.5, -1e-4]),
        fits.Column("CPX", "C", array=[1 + 2j, 0j, -1j]),
    ], name="FASTTAB")
    table.header["LONGTAB"] = LONG
    fallback = fits.BinTableHDU.from_columns([
        fits.Column("SCALED", "E", bscale=0.5, bzero=10.0, array=np.array([10.0, 11.5, 20.0])),
        fits.Column("BITS", "8X", array=np.array([[1, 0, 1, 0, 0, 0, 0, 1]] * 3, bool)),
        fits.Column("VAR", "PE()", array=[np.array([1.0, 2.0], np.float32), np.array([3.0], np.float32),
                                          np.array([], np.float32)]),
    ], name="SLOWTAB")
    path = tmp_path / ("edge.fits.gz" if gz else "edge.fits")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.HDUList([prim, unsigned, floats, table, fallback]).writeto(buf)
    plain = tmp_path / "edge-plain.fits"
    plain.write_bytes(buf.getvalue())
    with fits.open(plain, mode="update", do_not_scale_image_data=True) as hdul:  # keep the stored int16 values
        hdul[0].header["BSCALE"] = 0.1
        hdul[0].header["BZERO"] = 5.0
        hdul[0].header["BLANK"] = -1000
    data = plain.read_bytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_synthetic_edge_cases_parse_as_astropy_does(tmp_path, gz):
    path = _edge_file(tmp_path, gz)
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    assert b"CONTINUE" in raw  # the file really uses the long-string convention
    stats = compare_with_astropy(path)
    assert stats["continued"] == 2 and stats["images"] == 3 and stats["fast_tables"] == 1 \
        and stats["fallback_tables"] == 1, stats
    probe = Probe(path)
    h0 = probe.header(0)
    # values stated independently of astropy, so that a shared mistake cannot pass
    assert h0["LONGSTR"] == LONG and h0["QUOTED"] == "O'Brien"
    assert h0["QUOTED"] == "O'Brien" and h0["EMPTY"] == "" and h0["BLANKS"] == ""
    assert h0["FLAG"] is True and h0["NOFLAG"] is False and h0["UNDEF"] is None
    assert h0["INT"] == -42 and h0["BIGINT"] == 2**62 and h0["CPLX"] == complex(1.5, -2.0)
    assert h0["DUP"] == 1 and h0["ESO DET NAME"] == "ccd-1" and "COMMENT" not in h0
    tab = probe.fits.table(3)  # the fast parser itself, no astropy
    assert tab["OK"].dtype == bool and tab["OK"].tolist() == [True, False, True]
    assert tab["FLAGS"].tolist() == [[True, False, False], [False, False, True], [True, True, True]]
    assert tab["SPECOBJID"].dtype == np.uint64
    assert tab["SPECOBJID"].tolist() == [2**63 + 5, 4115164797179547648, 1]
    assert tab["FIBER16"].tolist() == [0, 40000, 65535] and tab["PROF"].shape == (3, 2, 3)
    img = probe.image(0)
    assert img.dtype == np.float32 and np.isnan(img[0, 0])
    assert probe.image(1).dtype == np.uint16
    probe.close()


def test_fast_table_logical_columns_are_bool_not_bytes(tmp_path):
    """The reported bug: TFORM 'L' came back as 84 ('T') / 70 ('F')."""
    path = tmp_path / "logical.fits"
    fits.BinTableHDU.from_columns([fits.Column("GOOD", "L", array=[True, False])]).writeto(path)
    probe = Probe(path)
    col = probe.table(1)["GOOD"]
    assert col.dtype == bool and col.tolist() == [True, False]
    probe.close()


def test_random_long_strings_join_as_astropy_joins_them(tmp_path):
    """Seeded random long strings (quotes, ampersands, blanks at card boundaries) written with
    astropy's CONTINUE convention come back as astropy reads them, and (but for astropy's
    quote-slash quirk) as they were written."""
    rng = np.random.default_rng(14)
    alphabet = np.array(list("abcXYZ019 '&/=-_.,"))
    hdr = fits.Header()
    values = {}
    for k in range(40):
        n = int(rng.integers(60, 400))
        text = "".join(rng.choice(alphabet, n)).rstrip()  # FITS drops trailing blanks
        values[f"LS{k}"] = text
        hdr[f"LS{k}"] = text
    path = tmp_path / "long.fits"
    fits.PrimaryHDU(header=hdr).writeto(path)
    stats = compare_with_astropy(path)
    assert stats["continued"] >= 35, stats
    probe = Probe(path)
    mine = probe.header(0)
    probe.close()
    # astropy (and so spectool) reads an escaped quote followed by '/' as the end of the string
    # ('a''/b' -> "a'"); every other string comes back exactly as written
    plain = {k: v for k, v in values.items() if "'/" not in v}
    assert len(plain) >= 10 and {k: mine[k] for k in plain} == plain
