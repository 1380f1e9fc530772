"""Readers behind spectool.read: real sample files (skipped without ../shared) and synthetic layouts."""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_factory as ff  # noqa: E402
from conftest import shared_path  # noqa: E402

import spectool  # noqa: E402
from spectool.errors import (CorruptFileError, InvalidSpectrumError, MissingDataError, UnknownFormatError,  # noqa: E402
                             UnsafeInputError)
from spectool.io import identify, list_formats, read, register_reader, registry, write_sdss_spec  # noqa: E402
from spectool.wavelength import air_to_vacuum  # noqa: E402

# ------------------------------------------------------------------ real files
REAL = {
    "sdss/spec-0324-51616-0159.fits": dict(survey="sdss", cls="STAR", sub="F9", z=3.546e-4, snr=4.226, npix=3844,
                                           ids=dict(plate=324, mjd=51616, fiber=159), band=("g", 3.73),
                                           object_id="spec-0324-51616-0159", ra=183.46772),
    # The DR18 file named after NGC 3073 is classified by the SDSS pipeline as STAR A0 (its redshift,
    # 0.00376 ~ 1130 km/s, is the galaxy's); the reader reports what the file says.
    "sdss/NGC3073_SDSS_DR18.fits": dict(survey="sdss", cls="STAR", sub="A0", z=3.7627e-3, snr=52.62, npix=3848,
                                        ids=dict(plate=945, mjd=52652, fiber=470), band=("r", 57.69),
                                        object_id="spec-0945-52652-0470", ra=150.21698),
    "lamost/spec-55859-F5902_sp01-001.fits.gz": dict(survey="lamost", cls="STAR", sub="G7", z=-1.387e-4, npix=3908,
                                                     ids=dict(obsid="101001", fiber=1), band=("g", 12.22),
                                                     object_id="spec-55859-F5902_sp01-001", ra=332.202274),
    "lamost/spec-55859-F5902_sp01-002.fits.gz": dict(survey="lamost", cls="STAR", sub="K7", z=1.1917e-4, npix=3908,
                                                     ids=dict(obsid="101002", fiber=2), band=("g", 3.84),
                                                     object_id="spec-55859-F5902_sp01-002", ra=332.471576),
    "lamost/spec-55859-F5902_sp01-005.fits.gz": dict(survey="lamost", cls="STAR", sub="G0", z=-2.5064e-4, npix=3908,
                                                     ids=dict(obsid="101005", fiber=5), band=("i", 23.27),
                                                     object_id="spec-55859-F5902_sp01-005", ra=332.535456),
    "lamost/spec-60591-LN042429N340750BM01_sp01-001.fits.gz": dict(
        survey="lamost", cls="STAR", sub="G5", z=4.19e-5, npix=3909, ids=dict(obsid="1247301001", fiber=1),
        band=("r", 194.94), object_id="spec-60591-LN042429N340750BM01_sp01-001", ra=66.43298),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file(name):
    path = shared_path("data", "real", *name.split("/"))
    want = REAL[name]
    spec = spectool.read(path)
    m = spec.meta
    assert isinstance(spec, spectool.Spectrum)
    assert (m["survey"], m["class"], m["subclass"], m["object_id"]) == (want["survey"], want["cls"], want["sub"],
                                                                        want["object_id"])
    assert m["redshift"] == pytest.approx(want["z"], rel=1e-3)
    assert m["ra"] == pytest.approx(want["ra"], abs=1e-5)
    for k, v in want["ids"].items():
        assert m[k] == v
    band, value = want["band"]
    assert m["snr_bands"][band] == pytest.approx(value, rel=1e-3)
    if "snr" in want:  # SDSS: SN_MEDIAN_ALL of the SPECOBJ row
        assert m["snr"] == pytest.approx(want["snr"], rel=1e-3)
    else:  # LAMOST: median per-pixel S/N computed from flux and ivar
        good = spec.ivar > 0
        assert m["snr"] == pytest.approx(np.median(spec.flux[good] * np.sqrt(spec.ivar[good])), rel=1e-6)
    assert m["source_path"] == str(path)
    assert len(spec) == want["npix"]
    # both surveys: exact 1e-4 dex grid, vacuum, 3522 pixels strictly inside 4000-9000 A
    loglam = np.log10(spec.wavelength)
    np.testing.assert_allclose(np.diff(loglam), 1e-4, atol=1e-9)
    np.testing.assert_allclose(loglam / 1e-4, np.round(loglam / 1e-4), atol=1e-6)
    inside = spec.wavelength[(spec.wavelength > 4000) & (spec.wavelength < 9000)]
    assert inside.size == 3522
    assert inside[0] == pytest.approx(4000.37, abs=0.01) and inside[-1] == pytest.approx(8999.12, abs=0.01)


def test_real_sdss_masks_and_ivar():
    spec = read(shared_path("data", "real", "sdss", "spec-0324-51616-0159.fits"))
    assert int(spec.mask.sum()) == 247 and int((spec.ivar == 0).sum()) == 0
    assert spec.meta["meta_hdu"] == "SPECOBJ" and spec.meta["format"] == "sdss-spec"
    assert float(np.mean(spec.flux)) == pytest.approx(16.66, abs=0.01)


def _real_fits(real_dir):
    """Every FITS spectrum under the real-data folder (READMEs and manifests are not spectra)."""
    return sorted(p for p in real_dir.rglob("*") if p.is_file() and ".fits" in p.name.lower())


def test_every_real_file_is_identified(real_dir):
    files = _real_fits(real_dir)
    assert len(files) >= 100  # the six originals and the 118 validation spectra
    for f in files:
        labels = identify(f)
        assert labels and labels[0] in ("sdss-spec", "lamost-lrs", "lamost-lrs-dr1"), (f, labels)


def test_every_real_file_reads_with_its_catalogue_labels(real_dir):
    """Each validation spectrum reads with the class/subclass its manifest lists, on a
    strictly increasing vacuum grid inside the survey's range (DR1 'Subcontinuum' files,
    SDSS files without EXTNAME and with upper-case columns included)."""
    import pandas as pd

    manifest = real_dir / "validation" / "manifest.csv"
    if not manifest.exists():
        pytest.skip(f"no {manifest}")
    table = pd.read_csv(manifest, keep_default_na=False)
    for row in table.itertuples():
        spec = read(real_dir / "validation" / "files" / row.file)
        assert (spec.meta["class"], spec.meta["subclass"] or "") == (row._3, row.subclass), row.file
        assert np.all(np.diff(spec.wavelength) > 0), row.file
        assert 3500 < spec.wavelength[0] < 4000 < spec.wavelength[-1] < 10500, row.file  # one QSO file is a 710-px cut-out
        assert float(spec.meta["redshift"]) == pytest.approx(float(row.z), rel=1e-4, abs=1e-7), row.file
        # the manifest's S/N: LAMOST's r-band SNRR (SN_R in DR1), SDSS's SN_MEDIAN_ALL
        snr = spec.meta["snr_bands"]["r"] if row.survey == "LAMOST" else spec.meta["snr"]
        assert snr == pytest.approx(float(row.snr), rel=1e-3), row.file


def _astropy_arrays(path):
    """(layout, wavelength, flux, ivar, and-mask) of a real survey file read with astropy alone,
    rows/columns found by their names (independent of spectool's readers)."""
    import re

    from astropy.io import fits

    with fits.open(path) as h:
        h0 = h[0].header
        if h0.get("NAXIS") == 2:  # LAMOST DR1-DR7 image, rows named by EXTEN0
            img = np.asarray(h[0].data, np.float64)
            names = [n.lower() for n in re.split(r"[,\s]+", h0["EXTEN0"]) if n]
            if "wavelength" in names:
                layout, wave = "lamost DR2-DR7 image", img[names.index("wavelength")]
            else:
                layout, wave = "lamost DR1 image", 10 ** (h0["COEFF0"] + h0["COEFF1"] * np.arange(img.shape[1]))
            return layout, wave, img[names.index("flux")], img[names.index("inverse")], img[names.index("andmask")]
        data = h[1].data
        cols = {c.lower(): c for c in data.columns.names}
        if "wavelength" in cols:  # LAMOST DR8+ table, one row of arrays
            r = data[0]
            return ("lamost DR8+ table", r[cols["wavelength"]], r[cols["flux"]], r[cols["ivar"]],
                    r[cols["andmask"]])
        named = "named HDUs" if h[1].header.get("EXTNAME") else "no EXTNAME"
        case = "upper-case columns" if "FLUX" in data.columns.names else "lower-case columns"
        return (f"sdss spec, {named}, {case}", 10 ** np.asarray(data[cols["loglam"]], np.float64),
                data[cols["flux"]], data[cols["ivar"]], data[cols["and_mask"]])


def test_every_real_file_has_astropys_arrays_in_vacuum(real_dir, capsys):
    """Flux, ivar, and-mask and vacuum wavelength of every real file equal what astropy reads
    from the row/column the file names (wavelength to 1e-6, the stored float32 values: spectool puts it on
    the exact 10**(COEFF0 + i COEFF1) grid); no file is in air, so none is shifted."""
    from collections import Counter

    from astropy.io import fits

    layouts: Counter[str] = Counter()
    for f in _real_fits(real_dir):
        spec = read(f)
        layout, wave, flux, ivar, andmask = _astropy_arrays(f)
        layouts[layout] += 1
        assert fits.getheader(f).get("VACUUM", True) is True, f
        np.testing.assert_allclose(spec.wavelength, wave, rtol=1e-6, err_msg=str(f))  # < 0.01 A
        np.testing.assert_array_equal(spec.flux, np.asarray(flux, np.float32), err_msg=str(f))
        np.testing.assert_array_equal(spec.ivar, np.asarray(ivar, np.float32), err_msg=str(f))
        np.testing.assert_array_equal(spec.mask, np.asarray(andmask) != 0, err_msg=str(f))
        assert spec.meta["class"] and spec.meta["redshift"] is not None and spec.meta["snr"] > 0, f
        assert set(spec.meta["snr_bands"]) == set("ugriz"), f
    with capsys.disabled():
        print(f"\nreal layouts read: {dict(layouts)}")
    assert layouts["lamost DR1 image"] and layouts["lamost DR2-DR7 image"] and layouts["lamost DR8+ table"]
    assert layouts["sdss spec, no EXTNAME, upper-case columns"] and layouts["sdss spec, named HDUs, lower-case columns"]


# ------------------------------------------------------------------ synthetic SDSS
@pytest.mark.parametrize("lite,table,gz", [(True, "SPECOBJ", False), (True, "SPALL", True), (False, "SPECOBJ", False)])
def test_sdss_spec_layouts(tmp_path, lite, table, gz):
    path, truth = ff.sdss_spec(tmp_path, 4, lite=lite, table=table, gz=gz, teff=7000.0, snr=12.0)
    spec = read(path)
    m = spec.meta
    assert m["meta_hdu"] == table
    assert m["format"] == ("sdss-spec-lite" if lite else "sdss-spec")
    assert (m["class"], m["subclass"]) == ("STAR", truth.meta["subclass"])
    assert m["redshift"] == pytest.approx(1e-4) and m["snr"] == pytest.approx(12.0)
    assert m["snr_bands"] == pytest.approx({b: 12.0 for b in "ugriz"})
    assert (m["plate"], m["mjd"], m["fiber"]) == (9999, 55555, truth.meta["fiber"])
    assert m["object_id"] == truth.meta["object_id"]
    np.testing.assert_allclose(spec.wavelength, truth.wavelength, rtol=1e-12)
    np.testing.assert_array_equal(spec.flux, truth.flux)
    np.testing.assert_array_equal(spec.mask, truth.mask)
    assert spec.ivar[spec.mask].max() == 0


def test_sdss_without_catalogue_row_falls_back_to_header(tmp_path):
    from astropy.io import fits

    path, truth = ff.sdss_spec(tmp_path, 1)
    with fits.open(path) as h:
        fits.HDUList([h[0].copy(), h[1].copy()]).writeto(tmp_path / "nometa.fits")
    spec = read(tmp_path / "nometa.fits")
    assert spec.meta["class"] is None and spec.meta["plate"] == 9999
    good = truth.ivar > 0
    assert spec.meta["snr"] == pytest.approx(np.median(truth.flux[good] * np.sqrt(truth.ivar[good])), rel=1e-5)


def test_spplate(tmp_path):
    path, truth = ff.spplate(tmp_path, nfiber=4)
    specs = read(path)
    assert isinstance(specs, list) and len(specs) == 4
    assert [s.meta["fiber"] for s in specs] == [1, 2, 3, 4]
    assert [s.meta["object_id"] for s in specs][1] == "spec-1234-54321-0002"
    assert specs[2].meta["ra"] == pytest.approx(12.0) and specs[0].meta["objtype"] == "SPECTROPHOTO_STD"
    for s, t in zip(specs, truth):
        np.testing.assert_array_equal(s.flux, t.flux)
        np.testing.assert_array_equal(s.mask, t.mask)
        np.testing.assert_allclose(s.wavelength, t.wavelength, rtol=1e-12)


def test_spplate_without_plugmap(tmp_path):
    path, _ = ff.spplate(tmp_path, nfiber=2, plugmap=False)
    specs = read(path)
    assert [s.meta["fiber"] for s in specs] == [1, 2] and specs[0].meta["ra"] is None


# ------------------------------------------------------------------ synthetic LAMOST
@pytest.mark.parametrize("layout,gz", [("dr8", True), ("dr1", False), ("dr1", True)])
def test_lamost_layouts(tmp_path, layout, gz):
    path, truth = ff.lamost_spec(tmp_path, 9, layout=layout, gz=gz, teff=4500.0)
    spec = read(path)
    m = spec.meta
    assert m["format"] == ("lamost-lrs-dr8" if layout == "dr8" else "lamost-lrs-dr1")
    assert (m["survey"], m["class"], m["subclass"], m["obsid"]) == ("lamost", "STAR", "K0", truth.meta["obsid"])
    assert m["redshift"] == pytest.approx(1e-4) and m["snr_bands"]["g"] == pytest.approx(30.0)
    # float32 wavelengths in the file are snapped back onto the exact 10**(COEFF0 + i COEFF1) grid
    np.testing.assert_allclose(spec.wavelength, 10 ** (3.5682 + 1e-4 * np.arange(3909)), rtol=1e-13)
    np.testing.assert_array_equal(spec.flux, truth.flux)
    np.testing.assert_array_equal(spec.mask, truth.mask)


GRID = 10 ** (3.5682 + 1e-4 * np.arange(3909))  # the LAMOST log-linear grid, vacuum Angstrom


def _check_lamost(spec, truth, fmt: str) -> None:
    """A synthetic LAMOST file read back: labels, per-band S/N, exact grid, arrays."""
    m = spec.meta
    assert m["format"] == fmt and (m["survey"], m["class"], m["subclass"]) == ("lamost", "STAR", "K0")
    assert m["redshift"] == pytest.approx(truth.meta["redshift"])
    assert m["snr_bands"] == pytest.approx(truth.meta["snr_bands"])
    np.testing.assert_allclose(spec.wavelength, GRID, rtol=1e-13)
    np.testing.assert_array_equal(spec.flux, truth.flux)
    np.testing.assert_array_equal(spec.ivar, truth.ivar)
    np.testing.assert_array_equal(spec.mask, truth.mask)
    assert truth.mask.any()  # the mask check means something


@pytest.mark.parametrize("wcs", ["coeff", "crval"])
def test_lamost_dr1_subcontinuum_rows_take_the_wavelength_from_the_header(tmp_path, wcs):
    """DR1: EXTEN0 = 'Flux Inverse Subcontinuum Andmask Ormask'; row 2 is flux / continuum
    (not a wavelength), the wavelength comes from COEFF0/COEFF1 (or CRVAL1/CD1_1,
    DC-FLAG = 1) and the per-band S/N from SN_U..SN_Z."""
    path, truth = ff.lamost_image(tmp_path, 9, wcs=wcs, teff=4500.0)
    _check_lamost(read(path), truth, "lamost-lrs-dr1")


@pytest.mark.parametrize("exten0,rows", [
    (ff.EXTEN0_DR2, ("flux", "inverse", "wavelength", "andmask", "ormask")),  # DR2-DR7 as written
    (None, ("flux", "inverse", "wavelength", "andmask", "ormask")),  # no EXTEN0: the DR2-DR7 order
    (None, ("flux", "inverse", "subcontinuum", "andmask", "ormask")),  # no EXTEN0, DR1 rows: WCS
    ("Flux;Inverse;Wavelength;Andmask;Ormask", ("flux", "inverse", "wavelength", "andmask", "ormask")),
    ("flux | ivar | wave | andmask | ormask", ("flux", "inverse", "wavelength", "andmask", "ormask")),
    ("Wavelength, Flux, Inverse Variance, Ormask, Andmask", ("wavelength", "flux", "inverse", "ormask", "andmask")),
    ("Flux Inverse Andmask", ("flux", "inverse", "andmask")),  # three rows, WCS wavelength
])
def test_lamost_image_rows_follow_their_descriptor(tmp_path, exten0, rows):
    path, truth = ff.lamost_image(tmp_path, 9, exten0=exten0, rows=rows, sn_prefix="SNR", teff=4500.0)
    _check_lamost(read(path), truth, "lamost-lrs-dr1")


def test_lamost_image_in_air_is_converted_to_vacuum(tmp_path):
    path, truth = ff.lamost_image(tmp_path, 9, air=True, teff=4500.0)
    spec = read(path)
    np.testing.assert_allclose(spec.wavelength, air_to_vacuum(GRID), rtol=1e-12)
    assert spec.wavelength[0] - GRID[0] == pytest.approx(1.05, abs=0.03)  # ~1.05 A at 3700 A


@pytest.mark.parametrize("exten0,rows,wcs,error,match", [
    ("Inverse Subcontinuum Andmask Ormask", ("inverse", "subcontinuum", "andmask", "ormask"), "coeff",
     MissingDataError, "lack flux"),
    (ff.EXTEN0_DR2, ("flux", "inverse", "subcontinuum", "andmask", "ormask"), "coeff",
     InvalidSpectrumError, "not an increasing wavelength"),  # the descriptor lies about row 2
    (ff.EXTEN0_DR1, ("flux", "inverse", "subcontinuum", "andmask", "ormask"), None,
     MissingDataError, "COEFF0"),  # no wavelength row and no WCS
])
def test_lamost_image_variants_fail_with_typed_errors(tmp_path, exten0, rows, wcs, error, match):
    path, _ = ff.lamost_image(tmp_path, 9, exten0=exten0, rows=rows, wcs=wcs)
    with pytest.raises(error, match=match) as info:
        read(path)
    assert path.name in str(info.value)


@pytest.mark.parametrize("columns,per_pixel,wcs", [
    (("flux", "ivar", "wavelength", "andmask", "ormask"), False, True),  # lower-case names
    (("FLUX", "IVAR", "WAVELENGTH", "ANDMASK"), True, True),  # one pixel per row
    (("FLUX", "IVAR", "ANDMASK", "ORMASK"), False, True),  # no WAVELENGTH: header COEFF0/COEFF1
    (("FLUX", "IVAR", "LOGLAM", "ANDMASK"), False, False),  # LOGLAM column
])
def test_lamost_table_variants(tmp_path, columns, per_pixel, wcs):
    path, truth = ff.lamost_table(tmp_path, 9, columns=columns, per_pixel=per_pixel, wcs=wcs, teff=4500.0)
    spec = read(path)
    _check_lamost(spec, truth[0], "lamost-lrs-dr8")
    assert spec.meta["data_release"] == "LAMOST DR10" and spec.meta["obsid"] == truth[0].meta["obsid"]


def test_lamost_table_with_several_rows_gives_one_spectrum_per_row(tmp_path):
    path, truth = ff.lamost_table(tmp_path, 9, nrows=3, teff=4500.0)
    specs = read(path)
    assert [s.meta["row"] for s in specs] == [0, 1, 2]
    for s, t in zip(specs, truth):
        np.testing.assert_array_equal(s.flux, t.flux)


def test_lamost_medium_resolution_arm_is_not_read_as_a_low_resolution_spectrum(tmp_path):
    path, _ = ff.lamost_table(tmp_path, 9, extname="COADD_B")
    with pytest.raises(UnknownFormatError, match="medium-resolution"):
        read(path)


def test_lamost_table_without_any_wavelength_is_typed(tmp_path):
    path, _ = ff.lamost_table(tmp_path, 9, columns=("FLUX", "IVAR"), wcs=False)
    with pytest.raises((MissingDataError, UnknownFormatError)) as info:
        read(path)
    assert path.name in str(info.value)


@pytest.mark.parametrize("table", ["SPALL", "SPECOBJ"])
def test_sdss_without_extname_and_upper_case_columns(tmp_path, table):
    """HDUs found by content (no EXTNAME), columns FLUX/LOGLAM/IVAR/AND_MASK and CLASS/Z in
    any case; HDU 2 named after the layout it matches (SPALL when it has FIBER_RA)."""
    path, truth = ff.sdss_unnamed(tmp_path, 4, table=table, teff=7000.0, snr=12.0)
    from astropy.io import fits

    with fits.open(path) as h:  # the fixture really lacks names and has upper-case columns
        assert all("EXTNAME" not in hdu.header for hdu in h) and "LOGLAM" in h[1].columns.names
    spec = read(path)
    m = spec.meta
    assert m["format"] == "sdss-spec-lite" and m["meta_hdu"] == table
    assert (m["class"], m["subclass"]) == ("STAR", truth.meta["subclass"])
    assert m["redshift"] == pytest.approx(1e-4) and m["snr"] == pytest.approx(12.0)
    assert (m["plate"], m["mjd"], m["fiber"]) == (9999, 55555, truth.meta["fiber"])
    np.testing.assert_allclose(spec.wavelength, truth.wavelength, rtol=1e-12)
    np.testing.assert_array_equal(spec.flux, truth.flux)
    np.testing.assert_array_equal(spec.mask, truth.mask)


# ------------------------------------------------------------------ generic formats
@pytest.mark.parametrize("unit", ["nm", "Angstrom", "um"])
def test_fits_table_units(tmp_path, unit):
    path, truth = ff.fits_table(tmp_path, unit=unit)
    spec = read(path)
    assert spec.meta["format"] == "fits-table" and spec.meta["class"] == "STAR"
    assert spec.meta["object_id"] == "synthetic-table"
    np.testing.assert_allclose(spec.wavelength, truth.wavelength, rtol=1e-9)
    good = truth.ivar > 0
    np.testing.assert_allclose(spec.ivar[good], truth.ivar[good], rtol=1e-5)
    assert np.all(spec.ivar[~good] == 0)


def test_fits_table_array_columns_in_air(tmp_path):
    path, truth = ff.fits_table(tmp_path, unit="Angstrom", air=True, rows_per_pixel=False)
    spec = read(path)
    np.testing.assert_allclose(spec.wavelength, truth.wavelength, atol=2e-3)  # air -> vacuum round trip
    np.testing.assert_array_equal(spec.ivar, truth.ivar)


def test_fits_image_air_to_vacuum(tmp_path):
    path, wave_air, flux = ff.fits_image(tmp_path, air=True)
    spec = read(path)
    assert spec.meta["format"] == "fits-image"
    np.testing.assert_allclose(spec.wavelength, air_to_vacuum(wave_air), rtol=1e-12)
    assert spec.wavelength[0] - wave_air[0] == pytest.approx(1.26, abs=0.01)  # ~1.26 A at 4500 A
    np.testing.assert_array_equal(spec.flux, flux)


def test_text_formats(tmp_path):
    files = ff.text_files(tmp_path)
    truth = files["spec"]
    for key in ("csv", "txt", "gz", "nm"):
        spec = read(files[key])
        assert spec.meta["format"] == "text", key
        np.testing.assert_allclose(spec.wavelength, truth.wavelength, rtol=1e-6 if key != "nm" else 1e-7)
        np.testing.assert_allclose(spec.flux, truth.flux, rtol=1e-5)
    np.testing.assert_allclose(read(files["csv"]).ivar, truth.ivar, rtol=1e-5)
    assert read(files["csv"]).meta["object_id"] == "spectrum"


def test_npy_and_hdf5(tmp_path):
    path, truth = ff.npy_file(tmp_path)
    spec = read(path)
    assert spec.meta["object_id"] == "123456" and len(spec) == 3522
    np.testing.assert_allclose(spec.wavelength, truth.wavelength)
    h5, specs = ff.hdf5_file(tmp_path)
    one = read(h5)
    assert one.meta["class"] == "STAR" and one.meta["redshift"] == pytest.approx(1e-4)
    np.testing.assert_array_equal(one.flux, specs[0].flux)
    h5n, specs = ff.hdf5_file(tmp_path / "..", n=3)
    many = read(h5n)
    assert [s.meta["object_id"] for s in many] == ["obj0", "obj1", "obj2"]
    np.testing.assert_array_equal(many[2].ivar, specs[2].ivar)


# ------------------------------------------------------------------ registry and errors
def test_registry_lists_and_forces_formats(tmp_path):
    formats = list_formats()
    assert {"sdss-spec", "sdss-spplate", "lamost-lrs", "lamost-lrs-dr1", "fits-table", "fits-image", "text", "npy",
            "hdf5"} <= set(formats)
    assert list(formats)[0] in ("sdss-spec", "lamost-lrs")  # highest priority first
    path, _ = ff.sdss_spec(tmp_path, 2)
    assert identify(path)[0] == "sdss-spec"
    with pytest.raises(UnknownFormatError, match="bogus"):
        read(path, format="bogus")


def test_register_custom_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_READERS", dict(registry._READERS))
    f = tmp_path / "custom.dat"
    f.write_bytes(b"MYFMT\n1 2 3\n")

    @register_reader("my-format", lambda probe: probe.head.startswith(b"MYFMT"), priority=500)
    def _read(probe):
        return spectool.Spectrum([4000.0, 5000.0, 6000.0], [1.0, 2.0, 3.0], meta={"source_path": str(probe.path)})

    assert identify(f)[0] == "my-format"
    assert read(f).flux.tolist() == [1.0, 2.0, 3.0]


def test_typed_errors_name_the_file(tmp_path):
    with pytest.raises(MissingDataError, match="not found"):
        read(tmp_path / "absent.fits")
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    with pytest.raises(CorruptFileError, match="empty.fits.*empty"):
        read(empty)
    path, _ = ff.sdss_spec(tmp_path, 3)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(CorruptFileError, match="cut.fits.*truncated"):
        read(cut)
    badgz = tmp_path / "bad.fits.gz"
    badgz.write_bytes(gzip.compress(path.read_bytes())[:5000])
    with pytest.raises(CorruptFileError, match="bad.fits.gz.*gzip"):
        read(badgz)
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeInputError, match="obj.npy"):
        read(pickled)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnknownFormatError, match="blob.bin"):
        read(binary)


def test_nonmonotonic_wavelength_is_typed(tmp_path):
    w = np.linspace(4000, 9000, 500)
    w[100:110] = w[100:110][::-1]
    f = tmp_path / "nonmono.csv"
    f.write_text("wavelength,flux\n" + "\n".join(f"{a},{1.0}" for a in w))
    with pytest.raises(InvalidSpectrumError, match="nonmono.csv.*increasing"):
        read(f)


def test_writer_needs_log_grid(tmp_path):
    spec = spectool.Spectrum(np.linspace(4000, 9000, 100), np.ones(100), meta={"object_id": "lin"})
    with pytest.raises(InvalidSpectrumError, match="log-linear"):
        write_sdss_spec(spec, tmp_path / "x.fits")


@pytest.mark.parametrize("kind", ["table", "image"])
def test_truncated_generic_fits_is_a_typed_error(tmp_path, kind):
    """A generic FITS spectrum cut inside its data unit raises CorruptFileError naming the
    file (astropy alone raises a bare TypeError: 'buffer is too small')."""
    from astropy.io import fits

    from spectool.errors import CorruptFileError

    n = 4000
    wave = np.linspace(4000.0, 9000.0, n)
    if kind == "table":
        cols = [fits.Column("WAVELENGTH", "D", array=wave), fits.Column("FLUX", "E", array=np.ones(n))]
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)])
    else:
        hdr = fits.Header({"CRVAL1": 4000.0, "CDELT1": 1.25, "CRPIX1": 1.0})
        hdul = fits.HDUList([fits.PrimaryHDU(np.ones(n, np.float32), header=hdr)])
    full = tmp_path / "full.fits"
    hdul.writeto(full)
    assert read(full).flux.size == n  # the intact file reads
    cut = tmp_path / "cut.fits"
    raw = full.read_bytes()
    cut.write_bytes(raw[: len(raw) - 9000])
    with pytest.raises(CorruptFileError) as info:
        read(cut)
    assert "cut.fits" in str(info.value)


def test_fits_with_a_damaged_simple_card_is_not_parsed_as_text(tmp_path):
    """A bit flip in 'SIMPLE' used to send a 3 MB header-and-binary file to the text reader
    (seconds of pandas parsing, then an odd error); it is a CorruptFileError at once."""
    path, _ = ff.sdss_spec(tmp_path, 2)
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0x02  # 'S' -> 'Q'
    bad = tmp_path / "flipped.fits"
    bad.write_bytes(bytes(raw))
    assert not registry.Probe(bad).is_text
    with pytest.raises(CorruptFileError, match="flipped.fits.*no SIMPLE card"):
        read(bad)


@pytest.mark.parametrize("card,value", [(b"GCOUNT  =", b"-2147483649"), (b"PCOUNT  =", b"-5"), (b"BITPIX  =", b"12")])
def test_garbled_size_cards_are_typed_not_a_hang(tmp_path, card, value):
    """A negative GCOUNT once made the HDU walk go backwards for ever (found by fuzzing)."""
    import time

    path, _ = ff.sdss_spec(tmp_path, 2)
    raw = bytearray(path.read_bytes())
    at = raw.find(card, 2880) + 10  # in HDU 1's header
    raw[at:at + 20] = value.rjust(20)
    bad = tmp_path / "garbled.fits"
    bad.write_bytes(bytes(raw))
    t = time.monotonic()
    with pytest.raises(CorruptFileError, match="garbled.fits"):
        read(bad)
    assert time.monotonic() - t < 5
