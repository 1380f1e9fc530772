import numpy as np
import pytest

import spectool
from spectool.errors import DatasetError, InvalidSpectrumError
from spectool.lines import get_lines, nearest_line
from spectool.store import SpectrumStore
from spectool.wavelength import air_to_vacuum, loglam_grid, vacuum_to_air


def test_spectrum_validates_shapes_and_order():
    with pytest.raises(InvalidSpectrumError, match="strictly increasing"):
        spectool.Spectrum([3.0, 2.0, 1.0], [1, 2, 3])
    with pytest.raises(InvalidSpectrumError, match="equal length"):
        spectool.Spectrum([1.0, 2.0], [1, 2, 3])
    s = spectool.Spectrum([1.0, 2.0, 3.0], [1, np.nan, 3])
    with pytest.raises(InvalidSpectrumError, match="NaN"):
        s.validate()


def test_crop_is_strict_by_default():
    s = spectool.Spectrum(np.arange(10.0), np.arange(10.0))
    assert s.crop(2, 5).wavelength.tolist() == [3.0, 4.0]
    assert s.crop(2, 5, inclusive=True).wavelength.tolist() == [2.0, 3.0, 4.0, 5.0]


def test_air_vacuum_roundtrip_and_known_value():
    # H alpha: 6562.79 A in air is 6564.61 A in vacuum
    assert air_to_vacuum(6562.79) == pytest.approx(6564.61, abs=0.02)
    w = np.linspace(3500, 10000, 50)
    assert np.allclose(vacuum_to_air(air_to_vacuum(w)), w, atol=1e-4)


def test_loglam_grid_sdss_crop_has_3522_pixels():
    g = loglam_grid(4000, 9000)
    assert g.size == 3522
    assert g[0] == pytest.approx(4000.37, abs=0.01) and g[-1] == pytest.approx(8999.12, abs=0.01)


def test_specutils_roundtrip():
    s = spectool.Spectrum(np.linspace(4000, 5000, 20), np.arange(20.0), ivar=np.full(20, 4.0),
                          mask=np.arange(20) % 5 == 0, meta={"redshift": 0.1, "object_id": "x"})
    su = s.to_specutils()
    back = spectool.Spectrum.from_specutils(su)
    assert np.allclose(back.wavelength, s.wavelength)
    assert np.allclose(back.flux, s.flux) and np.allclose(back.ivar, s.ivar)
    assert (back.mask == s.mask).all()


def test_lines_sets_and_lookup():
    balmer = get_lines("balmer")
    assert [ln.name for ln in balmer][-1] == "H alpha"
    assert nearest_line(6564.6, "balmer").name == "H alpha"
    assert nearest_line(6000.0, "balmer") is None
    with pytest.raises(KeyError):
        get_lines("nope")


def test_store_roundtrip_and_checks(tmp_path):
    import pandas as pd

    flux = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    meta = pd.DataFrame({"object_id": list("abcd"), "label": ["A", "B", "A", "B"],
                         "fold_0": ["train", "train", "val", "test"]})
    st = SpectrumStore.write(tmp_path / "s", flux=flux, wavelength=np.arange(8.0), meta=meta,
                             info={"name": "t", "synthetic": True})
    again = SpectrumStore.open(tmp_path / "s", verify=True)
    assert np.array_equal(np.asarray(again.flux), flux) and again.synthetic
    assert again.split_indices("train").tolist() == [0, 1]
    with pytest.raises(DatasetError, match="duplicate object_id"):
        SpectrumStore.write(tmp_path / "d", flux=flux, wavelength=np.arange(8.0),
                            meta=meta.assign(object_id=list("aacd")), info={})
    (tmp_path / "s" / "flux.npy").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="checksum"):
        SpectrumStore.open(tmp_path / "s", verify=True)


def test_speed_of_light_comes_from_astropy():
    import re
    from pathlib import Path

    import astropy.constants as const
    import astropy.units as u

    from spectool.mock.survey import C_KMS
    from spectool.wavelength import c_kms, doppler_shift

    assert c_kms() == const.c.to(u.km / u.s).value == C_KMS
    beta = 300.0 / const.c.to(u.km / u.s).value
    np.testing.assert_allclose(doppler_shift(np.array([5000.0]), 300.0), 5000.0 * np.sqrt((1 + beta) / (1 - beta)),
                               rtol=1e-15)
    root = Path(__file__).resolve().parents[1] / "spectool"
    literal = re.compile(r"299[_,]?792[.,]?458|2\.99792458")
    hits = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if literal.search(line)]
    assert hits == [], f"use spectool.wavelength.c_kms() (astropy.constants.c), not a literal: {hits}"
