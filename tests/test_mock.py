"""Tests of the synthetic mock survey (spectool.mock): determinism, store format, splits, labels, S/N."""
from __future__ import annotations

import importlib
from contextlib import contextmanager

import numpy as np
import pytest

from spectool.datasets import load, preset
from spectool.mock import build_preset, generate_galaxies, generate_qsos, generate_stars, subclass_from_teff
from spectool.mock.images import synthetic_colours
from spectool.mock.stars import draw_redclump, draw_subclass_labels
from spectool.mock.survey import survey


def test_quick_mspc_store_format_and_splits():
    ds = load("mspc/SC-S>5", source="mock", size="quick")
    assert ds.synthetic and ds.info["synthetic"] is True and "MILES" in ds.info["provenance"]
    assert ds.flux.shape == (7 * 40, 3584)
    w = ds.wavelength
    assert np.isnan(w[:31]).all() and np.isnan(w[-31:]).all() and np.isfinite(w[31:-31]).all()
    assert 4000 < w[31] < 4001 and 8998 < w[-32] < 9000
    assert np.all(ds.flux[:, :31] == 0)
    core = np.asarray(ds.flux[:, 31:-31])
    assert abs(core.mean()) < 0.05 and abs(core.std() - 1) < 0.05  # spectool.preprocess.mspcnet: crop, then z-score
    assert set(ds.meta["label"]) == set(preset("mspc/SC-S>5").class_names)
    assert (ds.meta["snr"] > 4.0).all()
    tests = [set(ds.indices("test", k)) for k in range(5)]
    assert sum(len(t) for t in tests) == len(ds) and len(set().union(*tests)) == len(ds)
    for k in range(5):
        n_tr, n_va, n_te = (len(ds.indices(s, k)) for s in ("train", "val", "test"))
        assert abs(n_tr / len(ds) - 0.6) < 0.03 and abs(n_te / len(ds) - 0.2) < 0.03
    item = ds.torch("train")[0]
    assert item["x"].shape == (1, 3584)


def test_deterministic_and_seeded(tmp_path):
    p = preset("mspc/SS-S>10")
    a = build_preset(p, seed=3, out=tmp_path / "a", progress=False)
    b = build_preset(p, seed=3, out=tmp_path / "b", progress=False)
    c = build_preset(p, seed=4, out=tmp_path / "c", progress=False)
    np.testing.assert_array_equal(np.asarray(a.flux), np.asarray(b.flux))
    assert not np.array_equal(np.asarray(a.flux), np.asarray(c.flux))
    assert len(a) == 24 * 40


def test_subclass_labels_follow_teff_calibration():
    rng = np.random.default_rng(0)
    vocab = preset("mspc/SS-L>5").class_names
    subs = np.repeat(np.array(vocab), 5)
    lab = draw_subclass_labels(subs, vocab, rng)
    assert (lab["subclass"].to_numpy() == subs).mean() > 0.98
    assert subclass_from_teff([5770.0], [4.44], vocab)[0] == "G2"
    assert subclass_from_teff([9700.0], [4.2], vocab)[0] == "A0"


def test_fc_and_redclump_and_scanet_presets():
    fc = load("mspc/FC-S", size="quick")
    counts = fc.meta["label"].value_counts()
    assert fc.num_classes if hasattr(fc, "num_classes") else True
    assert set(counts.index) == set(preset("mspc/FC-S").class_names) and len(counts) == 54
    assert counts.max() / counts.min() > 20  # imbalanced
    assert np.median(fc.meta["snr"]) < 15  # low S/N
    assert {"GALAXY", "QSO"} <= set(fc.meta["class"])
    rc = load("spfusion/redclump", size="quick")
    assert rc.images.shape == (300, 3, 128, 128) and rc.n_folds == 3
    img = np.asarray(rc.images[:5])
    assert img.min() >= 0 and img.max() <= 1
    assert np.all(img[:, :, 60:68, 60:68].mean((2, 3)) > img.mean((2, 3)))  # target centred
    m = rc.meta
    assert m["mass"].between(0.8, 2.5).all() and np.corrcoef(np.log(m["mass"]), np.log(m["age"]))[0, 1] < -0.8
    assert np.corrcoef(m["mass"], m["cn"])[0, 1] < -0.5
    sca = load("scanet/AFGK", size="quick")
    assert sca.flux.shape[1] == 4096 and np.allclose(np.diff(sca.wavelength), 1.0)
    assert (sca.meta["snr"] > 25).mean() > 0.97
    assert abs(len(sca.indices("test")) / len(sca) - 20000 / 28913) < 0.01


def test_delivered_snr_matches_request():
    rng = np.random.default_rng(1)
    lab = draw_subclass_labels(np.array(["G2", "K5", "A0", "M2"] * 25), ["A0", "G2", "K5", "M2"], rng)
    req = rng.uniform(5, 80, len(lab))
    obs, meta = generate_stars(lab, "sdss", req, rng)
    assert np.all(np.abs(obs.snr / req - 1) < 0.10)
    measured = np.nanmedian(np.where(obs.mask, np.nan, obs.flux * np.sqrt(obs.ivar)), axis=1)
    assert np.all(np.abs(measured / req - 1) < 0.10)
    assert np.all(obs.ivar[obs.mask] == 0) and obs.mask.any()
    assert obs.wave[0] >= 3800 and obs.wave[-1] <= 9200


def test_galaxies_and_qsos_have_lines_at_their_redshift():
    rng = np.random.default_rng(2)
    z = np.full(20, 0.1)
    obs, _ = generate_galaxies(np.array(["STARBURST"] * 20), z, "sdss", np.full(20, 200.0), rng)
    ha = 6564.61 * 1.1
    med = np.median(obs.model, 0)
    j = np.argmin(np.abs(obs.wave - ha))
    assert med[j] > 1.5 * np.median(med[j + 40:j + 80])
    obs, _ = generate_qsos(np.full(20, 2.5), "lamost", np.full(20, 200.0), rng)
    med = np.median(obs.model, 0)
    civ = np.argmin(np.abs(obs.wave - 1549.06 * 3.5))
    assert med[civ] > 1.2 * med[civ + 150]
    from scipy.ndimage import median_filter

    one = obs.model[0] / median_filter(obs.model[0], 61)
    forest, red = obs.wave < 1180 * 3.5, (obs.wave > 1290 * 3.5) & (obs.wave < 1380 * 3.5)
    assert one[forest].std() > 3 * one[red].std()  # Lyman-alpha forest absorption


def test_synthetic_colours_match_speclite():
    import astropy.units as u
    import speclite.filters

    rng = np.random.default_rng(3)
    lab = draw_redclump(3, rng)
    obs, _ = generate_stars(lab[["teff", "logg", "feh", "cn"]], "lamost", np.full(3, 100.0), rng)
    mine = synthetic_colours(obs.wave, obs.model)
    filt = speclite.filters.load_filters("sdss2010-g", "sdss2010-r", "sdss2010-i")
    unit = u.erg / u.s / u.cm**2 / u.AA
    spec, wave = filt.pad_spectrum(obs.model[0] * 1e-16 * unit, obs.wave * u.AA, method="edge")
    ref = filt.get_ab_magnitudes(spec, wave)
    ref = np.array([ref[c][0] for c in ref.colnames])
    np.testing.assert_allclose(np.diff(mine[0]), np.diff(ref), atol=0.02)


def test_cli_writes_dataset(tmp_path):
    from typer.testing import CliRunner

    from spectool.cli import app

    res = CliRunner().invoke(app, ["mock", "--preset", "mspc/SC-S>5", "--size", "quick", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "info.json").is_file()
    bad = CliRunner().invoke(app, ["mock", "--preset", "mspc/nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2


def test_bad_size_is_a_dataset_error():
    from spectool.errors import DatasetError

    with pytest.raises(DatasetError, match="size"):
        build_preset(preset("mspc/SC-S>5"), size="huge")


def test_survey_grids():
    assert survey("sdss").wave.size > 3500 and survey("lamost").wave[0] < 3710
    keep = (survey("sdss").wave > 4000) & (survey("sdss").wave < 9000)
    assert keep.sum() == 3522


def test_row_median_and_bad_pixel_runs():
    from spectool.mock.survey import _bad_pixels, _row_median

    rng = np.random.default_rng(4)
    for length in (3522, 3521):
        a = rng.standard_normal((7, length)).astype(np.float32)
        np.testing.assert_array_equal(_row_median(a), np.median(a, axis=1))
    mask = _bad_pixels(300, 50, np.random.default_rng(5))
    ref = np.zeros((300, 50), bool)  # the definition: runs of 1-11 pixels from uniform starts, clipped at the edge
    r2 = np.random.default_rng(5)
    counts = r2.poisson(1.0, 300)
    rows = np.repeat(np.arange(300), counts)
    for r, s, n in zip(rows, r2.integers(0, 50, rows.size), r2.integers(1, 12, rows.size)):
        ref[r, s:s + n] = True
    np.testing.assert_array_equal(mask, ref)
    assert mask[:, -1].any()  # runs reaching the red edge are clipped, not wrapped


@contextmanager
def _swapped(module: str, name: str, value):
    """Set the module-level switch ``module.name`` (e.g. ``RANDOMISATION``) for the block."""
    mod = importlib.import_module(module)  # the module, not the function of the same name in spectool.mock
    saved = getattr(mod, name)
    setattr(mod, name, value)
    try:
        yield
    finally:
        setattr(mod, name, saved)


def _colours(switches, n=60, seed=3):
    """Continuum colour -2.5 log F(4400-4800)/F(7000-7400) of noise-free mock G dwarfs (LAMOST) under ``switches``."""
    import pandas as pd

    with _swapped("spectool.mock.survey", "RANDOMISATION", switches):
        rng = np.random.default_rng(seed)
        labels = pd.DataFrame({"teff": np.full(n, 5700.0), "logg": np.full(n, 4.4), "feh": np.zeros(n)})
        obs, _ = generate_stars(labels, "lamost", np.full(n, 50.0), rng)
    w = obs.wave
    b, r = (w > 4400) & (w < 4800), (w > 7000) & (w < 7400)
    a_band = (w > 7600) & (w < 7640)
    side = (w > 7520) & (w < 7580)
    depth = obs.model[:, a_band].min(1) / np.median(obs.model[:, side], 1)
    return -2.5 * np.log10(np.median(obs.model[:, b], 1) / np.median(obs.model[:, r], 1)), depth


def test_domain_randomisation_widens_continua_and_limits_telluric_residuals():
    from spectool.mock.survey import Randomisation

    c1, d1 = _colours(Randomisation(False, False, False, False, False, False))
    c2, d2 = _colours(Randomisation())
    # one stellar type: v2's flux calibration, dichroic step and extinction spread the continuum colour
    assert np.std(c2) > 2.0 * np.std(c1) and np.std(c2) > 0.2
    # v1 left >= 30% of the O2 A band optical depth (1.6) in every LAMOST spectrum; v2 leaves 0-50%
    assert np.max(d1) < np.exp(-0.3 * 1.6 * 0.9) and np.min(d2) > np.exp(-0.5 * 1.6) - 0.05
    assert np.median(d2) > np.median(d1) + 0.15


def test_build_preset_scale(tmp_path):
    p = preset("mspc/SC-S>5")
    one = build_preset(p, out=tmp_path / "x1", progress=False)
    two = build_preset(p, out=tmp_path / "x2", scale=2, progress=False)
    assert len(two.meta) == 2 * len(one.meta) and two.info["mock"]["scale"] == 2
    c1, c2 = one.meta["label"].value_counts().sort_index(), two.meta["label"].value_counts().sort_index()
    assert c2.to_dict() == (2 * c1).to_dict()
    from spectool.errors import DatasetError

    with pytest.raises(DatasetError, match="scale"):
        build_preset(p, size="full", scale=2)
    # a scaled store has its own cache directory beside the quick one
    from spectool.mock.build import store_path

    assert store_path(p, "quick", 0, 2).name == store_path(p, "quick", 0).name.replace("-quick-", "-quick-x2-")


def _build_in_child(out: str, queue) -> None:
    try:
        store = build_preset(preset("mspc/SC-S>5"), size="quick", seed=3, out=out, progress=False)
        import os

        queue.put(("ok", list(store.meta["object_id"][:3]), os.stat(out).st_ino))  # which build is on disk
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        queue.put(("error", repr(exc)))


def test_concurrent_builds_of_one_store_wait_for_each_other(tmp_path):
    """Two processes needing the same mock store at once (the parallel training cells of a
    fresh cache): one builds, the other waits and opens it; neither fails."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    out = str(tmp_path / "store")
    procs = [ctx.Process(target=_build_in_child, args=(out, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
    assert [g[0] for g in got] == ["ok", "ok"], got
    assert got[0][1] == got[1][1]
    assert got[0][2] == got[1][2]  # built once: the second process opened the first one's store
    assert not list(tmp_path.glob(".store.*.tmp"))  # no temporary left behind


def test_interstellar_nad_follows_poznanski_relation_and_is_off_in_v2():
    from spectool.mock.survey import Randomisation, interstellar_nad

    srv = survey("lamost")
    wave = srv.wave
    ebv = np.full(4000, 0.1)
    sl, trans = interstellar_nad(wave, ebv, srv.resolution, np.random.default_rng(0))
    dlam = np.gradient(wave)[sl]
    ew = ((1.0 - trans) * dlam).sum(1)  # Angstrom
    # Poznanski et al. (2012): log10 E(B-V) = 1.17 EW(D1+D2) - 1.85 -> EW = 0.726 A at E(B-V) = 0.1
    assert abs(np.median(ew) - (np.log10(0.1) + 1.85) / 1.17) < 0.05
    assert np.all(trans > 0) and np.all(trans <= 1)
    # mock version 2 has no interstellar Na D: with the switch off, ism=True changes nothing
    assert Randomisation().interstellar is False
    a, b = (_stars_with(Randomisation(), ism) for ism in (False, True))
    np.testing.assert_array_equal(a.flux, b.flux)
    c = _stars_with(Randomisation(interstellar=True), True)
    nad = np.abs(c.wave - 5894.6) < 4
    side = (np.abs(c.wave - 5894.6) > 25) & (np.abs(c.wave - 5894.6) < 40)
    depth = lambda o: 1 - np.median(o.model[:, nad], 1) / np.median(o.model[:, side], 1)  # noqa: E731
    assert np.median(depth(c)) > np.median(depth(a)) + 0.02


def test_lsf_switch_varies_the_resolution_per_star_and_is_off_in_v2():
    from spectool.mock.survey import Randomisation

    assert Randomisation().lsf is False
    # the same star behind each row, and no continuum distortion (a dichroic step could sit on Na D)
    off, on = (_stars_with(Randomisation(flux_calibration=False, dichroic=False, lsf=flag), True)
               for flag in (False, True))
    core = np.abs(off.wave - 5891.6) < 1.0  # Na D2 core, vacuum
    side = (np.abs(off.wave - 5894.6) > 25) & (np.abs(off.wave - 5894.6) < 40)
    depth = lambda o: 1 - np.median(o.model[:, core], 1) / np.median(o.model[:, side], 1)  # noqa: E731
    # one resolution gives one core depth, a drawn one many (broader = shallower core)
    assert np.std(depth(on)) > 5 * np.std(depth(off)) and np.ptp(depth(on)) > 0.02


def _stars_with(switches, ism, n=40, seed=5):
    """Noise-free mock LAMOST G dwarfs observed under ``switches`` with ``observe(..., ism=ism)``."""
    from spectool.mock.generate import stellar_emulator
    from spectool.mock.survey import observe

    with _swapped("spectool.mock.survey", "RANDOMISATION", switches):
        rng = np.random.default_rng(seed)
        emu = stellar_emulator(5600.0, 6200.0)
        rest = emu.spectrum(np.full(n, 5700.0), np.full(n, 4.4), np.zeros(n))
        return observe(rest, emu.k0, np.zeros(n), survey("lamost"), np.full(n, 50.0), rng,
                       ebv=np.full(n, 0.3), wave_range=(5650.0, 6150.0), ism=ism)


def test_population_switches_default_to_mock_v2():
    from dataclasses import replace

    from spectool.mock import stars

    pop = stars.Population()
    assert stars.POPULATION == pop and pop.subtype_weights(["M0", "M1", "M2"]) is None
    w = replace(pop, m_subtype_scale=2.0).subtype_weights([f"M{k}" for k in range(9)])
    assert np.isclose(w.sum(), 1) and np.all(np.diff(w) < 0) and w[0] / w[8] > 50
    assert replace(pop, m_subtype_scale=2.0).subtype_weights(["K0", "K1"]) is None
    assert (pop.giant_fraction("lamost"), pop.giant_fraction("sdss")) == (0.3, 0.15)
    # the defaults are the explicit v2 prior
    vocab = preset("mspc/SS-L>5").class_names
    subs = np.repeat(np.array(vocab), 3)
    a = draw_subclass_labels(subs, vocab, np.random.default_rng(1))
    b = draw_subclass_labels(subs, vocab, np.random.default_rng(1), feh_mean=-0.3, feh_sd=0.35)
    assert a.equals(b)
    with _swapped("spectool.mock.stars", "POPULATION", replace(pop, teff_scale=0.98)):
        c = draw_subclass_labels(subs, vocab, np.random.default_rng(1))
    np.testing.assert_allclose(c["teff"], 0.98 * a["teff"])
    assert (c["subclass"] == a["subclass"]).all()  # the label is kept, the spectrum is cooler
    with _swapped("spectool.mock.stars", "POPULATION", replace(pop, teff_scale=0.95, teff_scale_classes="AFG")):
        d = draw_subclass_labels(subs, vocab, np.random.default_rng(1))
    hot = a["subclass"].str[0].isin(list("AFG")).to_numpy()
    assert hot.any() and (~hot).any()
    np.testing.assert_allclose(d["teff"][hot], 0.95 * a["teff"][hot])
    np.testing.assert_allclose(d["teff"][~hot], a["teff"][~hot])
