"""Trust in predictions: calibration (ECE), out-of-distribution flag, regression uncertainty and range flag."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import spectool
from spectool import trust
from spectool.models.pretrained import pretrained_calibration, pretrained_dir

STARS_ONLY = "sscnn-mock-sc"
SCANET = "scanet_mmtt-mock-afgk"
FRESH_SEED = 4242  # a mock draw used by neither training nor scripts/calibrate_pretrained.py


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# ------------------------------------------------------------------ calibration maths
def test_ece_by_hand():
    prob = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins: 0.9 (2 rows, accuracy 0.5), 0.6 (1 row, accuracy 1), 0.7 (1 row, accuracy 1)
    expected = 0.5 * abs(0.5 - 0.9) + 0.25 * abs(1 - 0.6) + 0.25 * abs(1 - 0.7)
    assert trust.expected_calibration_error(prob, labels) == pytest.approx(expected)


def test_temperature_recovered_and_ece_reduced_on_known_miscalibration():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(6000, 5))
    true_t = 2.0  # labels are drawn from softmax(logits / 2): the raw softmax is over-confident
    p = np.exp(logits / true_t)
    p /= p.sum(1, keepdims=True)
    labels = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    t = trust.fit_temperature(logits[:3000], labels[:3000])
    assert t == pytest.approx(true_t, rel=0.1)
    before = trust.expected_calibration_error(trust.softmax(logits[3000:]), labels[3000:])
    after = trust.expected_calibration_error(trust.softmax(logits[3000:], t), labels[3000:])
    assert before > 0.1 and after < 0.03


def test_top_label_map_keeps_the_prediction_and_sums_to_one():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, size=(500, 4))
    labels = rng.integers(0, 4, 500)
    cal = {"temperature": 1.3, "top_label": trust.fit_top_label_map(trust.softmax(logits, 1.3), labels)}
    prob = trust.calibrated_probabilities(logits, cal)
    np.testing.assert_allclose(prob.sum(1), 1.0, atol=1e-12)
    k = logits.argmax(1)
    conf = trust.softmax(logits, 1.3)[np.arange(500), k]
    np.testing.assert_allclose(prob[np.arange(500), k], np.interp(conf, cal["top_label"]["x"], cal["top_label"]["y"]))
    # labels are random: the calibrated confidence falls to about the 25 % accuracy
    assert abs(prob[np.arange(500), k].mean() - np.mean(k == labels)) < 0.05


def test_main_class_of_subclasses():
    names = ["GALAXY", "QSO", "K0", "K5", "M1", "A0", "STAR"]
    assert [trust.main_class(c) for c in names] == ["GALAXY", "QSO", "K", "K", "M", "A", "STAR"]
    # prefixed and luminosity-class labels: one rule for predictions, flags and fine-tuning
    assert [trust.main_class(c) for c in ("dK5", "gK5", "sdM1", "G2 III", "A0Va", "WD", "CV", "Carbon")] == \
        ["K", "K", "M", "G", "A", "WD", "CV", "Carbon"]
    prob = np.array([[0.1, 0.0, 0.3, 0.25, 0.2, 0.15, 0.0]])
    assert trust.main_class_probability(prob, names, np.array([2]))[0] == pytest.approx(0.55)


def test_main_class_decision_sums_subclasses():
    names = ["K0", "G2", "G5", "QSO"]
    # the most probable subclass is K0, but the G subclasses together outweigh it
    prob = np.array([[0.30, 0.25, 0.25, 0.20], [0.6, 0.1, 0.1, 0.2], [0.1, 0.1, 0.1, 0.7]])
    label, p = trust.main_class_decision(prob, names)
    assert label.tolist() == ["G", "K", "QSO"]
    np.testing.assert_allclose(p, [0.50, 0.6, 0.7])
    assert trust.main_class_decision(np.zeros((0, 4)), names)[0].size == 0


def test_card_calibration_written_only_under_its_key(tmp_path):
    src = pretrained_dir() / f"{STARS_ONLY}.json"
    card = json.loads(src.read_text())
    path = tmp_path / "card.json"
    path.write_text(json.dumps({k: v for k, v in card.items() if k != "calibration"}, indent=2, sort_keys=True))
    cal = {"temperature": 1.23456789, "top_label": {"x": [0.1, 0.5], "y": [0.2, 0.4]}}
    trust.write_calibration(path, cal)
    first = path.read_text()
    trust.write_calibration(path, cal)
    assert path.read_text() == first  # idempotent
    back = json.loads(first)
    assert back["calibration"]["temperature"] == pytest.approx(1.23457)
    def rest(c):
        return {k: v for k, v in c.items() if k != "calibration"}

    assert rest(back) == rest(card)


# ------------------------------------------------------------------ shipped checkpoints on mock data
def _cal(name: str) -> dict:
    cal = pretrained_calibration(name)
    assert cal is not None, f"{name} has no calibration: run scripts/calibrate_pretrained.py {name}"
    return cal


def test_shipped_classifier_is_calibrated_on_fresh_mock_spectra():
    cal = _cal(STARS_ONLY)
    assert cal["fitted_on"]["source"] == "mock" and cal["ece_after"] <= 0.05
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick", seed=FRESH_SEED)
    df = spectool.predict(STARS_ONLY, ds, progress=False)
    raw = spectool.predict(STARS_ONLY, ds, indices=np.arange(40), progress=False, calibrated=False)
    assert (df["pred_index"].iloc[:40] == raw["pred_index"]).all()  # calibration never changes the predicted class
    assert df.attrs["calibrated"] and not raw.attrs["calibrated"]
    prob = df[[f"prob_{c}" for c in ds.class_names]].to_numpy()
    ece = trust.expected_calibration_error(prob, ds.labels, pred=df["pred_index"].to_numpy())
    # 280 spectra: the sampling noise of a 15-bin ECE alone is ~0.03-0.04
    assert ece < 0.08, ece
    low = np.array(["low_confidence" in f.split(";") for f in df["flag"]])
    assert (low == (df["pred_main_prob"] < trust.MIN_CONFIDENCE).to_numpy()).all()
    assert (df["pred_main_prob"] == df["pred_prob"]).all()  # main classes only: one class per main class
    correct = (df["pred_index"] == ds.labels).to_numpy()
    conf = df["pred_prob"].to_numpy()
    high = conf > np.median(conf)  # the more confident half is right more often
    assert correct[high].mean() > correct[~high].mean()
    if low.any():
        assert correct[~low].mean() > correct[low].mean()


def test_ood_flag_on_galaxies_and_qsos_through_a_stars_only_checkpoint():
    _cal(STARS_ONLY)
    fc = spectool.datasets.load("mspc/FC-S", size="quick", seed=FRESH_SEED)
    rows = np.flatnonzero(fc.meta["label"].isin(["GALAXY", "QSO"]).to_numpy())[:80]
    sc = spectool.datasets.load("mspc/SC-S>5", size="quick", seed=FRESH_SEED)
    unseen = spectool.predict(STARS_ONLY, fc, indices=rows, progress=False)
    stars = spectool.predict(STARS_ONLY, sc, indices=np.arange(80), progress=False)

    def is_ood(d):
        return np.array(["ood" in f.split(";") for f in d["flag"]])

    # with the kind gate (default): every galaxy and quasar is flagged, few stars are
    assert (unseen["kind"] != "STAR").mean() >= 0.95, unseen["kind"].value_counts()
    assert is_ood(unseen).mean() >= 0.95
    assert (stars["kind"] == "STAR").mean() >= 0.95 and is_ood(stars).mean() <= 0.15
    assert ((unseen["kind_prob"] > 0.5) & (unseen["kind_prob"] <= 1)).all()
    # the feature-space score alone (no gate) still separates them, less completely
    alone = spectool.predict(STARS_ONLY, fc, indices=rows, progress=False, kind_gate=None)
    assert alone["kind"].isna().all()
    assert is_ood(alone).mean() >= 0.5  # 73 % of 300 in the card
    assert np.median(unseen["ood_score"]) > np.percentile(stars["ood_score"], 90)
    assert (alone["ood_score"].to_numpy() == unseen["ood_score"].to_numpy()).all()
    # full classifiers need no gate: no kind columns
    assert "kind" not in spectool.predict("convnext1d-mock-fc", fc, indices=rows[:4], progress=False).columns


def test_kind_gate_on_raw_spectra_of_another_recipe():
    """SCA-Net preprocesses differently from the gate: the gate runs on the raw spectra."""
    fc = spectool.datasets.load("mspc/FC-S", size="quick", seed=FRESH_SEED)
    label = fc.meta["label"].to_numpy()
    gal = np.flatnonzero(label == "GALAXY")
    gal = gal[np.argsort(fc.meta["redshift"].to_numpy()[gal])][:6]  # low redshift: SCA-Net's rest-frame window is covered
    from fixtures_factory import star

    df = spectool.predict(SCANET, [fc.spectrum(int(i)) for i in gal] + [star(i) for i in range(6)], progress=False)
    ok = (df["error"] == "").to_numpy()
    galaxies, stars = df[ok & (np.arange(12) < 6)], df[ok & (np.arange(12) >= 6)]
    assert len(galaxies) >= 3 and len(stars) >= 3, df["error"]  # (some fail SCA-Net's preprocessing: error rows)
    assert (galaxies["kind"] != "STAR").all() and (stars["kind"] == "STAR").all()
    assert all("ood" in f.split(";") for f in galaxies["flag"])
    assert df.loc[~ok, "kind"].isna().all()
    # model-ready rows of SCA-Net's grid cannot go through the gate: no verdict, no gate flag
    rows = spectool.predict(SCANET, np.ones((2, 4096), np.float32), progress=False)
    assert rows["kind"].isna().all()


def test_min_confidence_sets_the_low_confidence_flag():
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick", seed=FRESH_SEED)
    a = spectool.predict(STARS_ONLY, ds, indices=np.arange(60), progress=False, min_confidence=0.99)
    b = spectool.predict(STARS_ONLY, ds, indices=np.arange(60), progress=False, min_confidence=0.0)
    low_a = np.array(["low_confidence" in f.split(";") for f in a["flag"]])
    assert (low_a == (a["pred_main_prob"] < 0.99).to_numpy()).all() and low_a.any()
    assert not any("low_confidence" in f.split(";") for f in b["flag"])


def test_scanet_uncertainty_and_out_of_range_flag():
    cal = _cal(SCANET)
    ds = spectool.datasets.load("scanet/AFGK", size="quick")
    train = ds.indices("train")
    # the stored ranges are the training labels' ranges
    for k, t in enumerate(ds.targets):
        assert cal["label_range"][t] == pytest.approx([ds.labels[train, k].min(), ds.labels[train, k].max()], rel=1e-5)
    fresh = spectool.datasets.load("scanet/AFGK", size="quick", seed=FRESH_SEED)
    df = spectool.predict(SCANET, fresh, indices=np.arange(80), progress=False)
    for t in ("teff", "logg", "feh"):
        assert np.isfinite(df[f"{t}_err"]).all() and (df[f"{t}_err"] > 0).all()
    z = np.abs(df["teff"] - fresh.meta["teff"].iloc[:80].to_numpy()) / df["teff_err"]
    assert 0.3 < np.median(z) < 1.5  # a Gaussian gives 0.67
    # inputs unlike any star (flux far above the continuum) are pushed outside the label range and flagged
    odd = np.vstack([np.asarray(fresh.flux[:4]) * 4.0, np.full((2, 4096), 3.0, np.float32)])
    weird = spectool.predict(SCANET, odd, progress=False)
    lo, hi = np.array([cal["label_range"][t] for t in ("teff", "logg", "feh")]).T

    def outside(d):  # NaN: further than EXTRAPOLATION_WIDTHS range widths beyond: no estimate
        v = d[["teff", "logg", "feh"]].to_numpy()
        return ((v < lo) | (v > hi) | np.isnan(v)).any(axis=1)

    out = outside(weird)
    flagged = np.array(["outside_training_labels" in f for f in weird["flag"]])
    assert out.any() and (flagged == out).all()
    in_df = np.array(["outside_training_labels" in f for f in df["flag"]])
    assert (in_df == outside(df)).all()
    assert df[["teff", "logg", "feh"]].notna().all().all()  # in-distribution: every value reported
    # what is reported stays within one range width of the training labels (log2 for Teff)
    v = weird[["teff", "logg", "feh"]].to_numpy()
    fwd = [np.log2, lambda a: a, lambda a: a]
    for k in range(3):
        a, b = fwd[k](lo[k]), fwd[k](hi[k])
        shown = v[:, k][np.isfinite(v[:, k])]
        assert ((fwd[k](shown) >= 2 * a - b - 1e-9) & (fwd[k](shown) <= 2 * b - a + 1e-9)).all(), k
        nan = np.isnan(v[:, k])
        assert weird[f"{('teff', 'logg', 'feh')[k]}_err"].to_numpy()[nan].size == nan.sum()
        assert np.isnan(weird[f"{('teff', 'logg', 'feh')[k]}_err"].to_numpy()[nan]).all()


def test_regression_outputs_far_beyond_the_training_labels_are_not_reported():
    """An output more than one training-range width beyond the range (in the model's output
    space) is no estimate: NaN; within the margin the value is kept (and flagged)."""
    from spectool.inference import EXTRAPOLATION_WIDTHS, _beyond_extrapolation

    assert EXTRAPOLATION_WIDTHS == 1.0
    lo, hi = 4000.0, 8000.0  # log2: 11.97 .. 12.97, one width = 1
    raw = np.log2([4000.0, 2100.0, 1900.0, 15000.0, 17000.0, 1e13]).tolist() + [np.inf, np.nan]
    assert _beyond_extrapolation(np.array(raw), lo, hi, "log2").tolist() == \
        [False, False, True, False, True, True, True, True]
    assert _beyond_extrapolation(np.array([0.5, -1.1, 4.1, 4.3]), 0.8, 2.5, "identity").tolist() == \
        [False, True, False, True]


def test_spfusion_gives_uncertainties():
    _cal("spfusion-mock-redclump")
    ds = spectool.datasets.load("spfusion/redclump", size="quick")
    df = spectool.predict("spfusion-mock-redclump", ds, indices=np.arange(16), progress=False)
    assert np.isfinite(df[["mass_err", "age_err"]].to_numpy()).all() and (df[["mass_err", "age_err"]] > 0).all().all()


def _draw_logits(n, rng, k=5, lie=False):
    """Logits and labels: drawn from softmax(z) (calibrated), or right half of the time
    whatever the confidence (a miscalibration no temperature can fix)."""
    z = rng.normal(0, 2.0, (n, k))
    top = z.argmax(1)
    if lie:
        return z, np.where(rng.random(n) < 0.5, top, (top + rng.integers(1, k, n)) % k)
    p = trust.softmax(z)
    return z, (rng.random(n)[:, None] > np.cumsum(p, 1)).sum(1)


@pytest.mark.parametrize("lie", [False, True])
def test_fit_calibration_chooses_a_method_that_calibrates_held_out_data(lie):
    rng = np.random.default_rng(3)
    z, y = _draw_logits(3000, rng, lie=lie)
    zt, yt = _draw_logits(3000, rng, lie=lie)
    cal = trust.fit_calibration(z, y, seed=0)
    assert set(cal["cv_ece"]) == {"temperature", "temperature+top_label"}
    assert cal["method"] == min(cal["cv_ece"], key=cal["cv_ece"].get)
    assert ("top_label" in cal) == (cal["method"] == "temperature+top_label")
    ece = trust.expected_calibration_error(trust.calibrated_probabilities(zt, cal), yt, pred=zt.argmax(1))
    assert ece <= 0.05
    if lie:  # one temperature cannot make every confidence 0.5: the isotonic map is needed
        assert cal["method"] == "temperature+top_label"
        temp_only = trust.calibrated_probabilities(zt, {"temperature": cal["temperature"]})
        assert trust.expected_calibration_error(temp_only, yt, pred=zt.argmax(1)) > 0.1
