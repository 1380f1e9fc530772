"""Metrics: classification (accuracy, macro F1, Table 5 per-class), S/N bins, regression."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from spectool.errors import SpectoolError
from spectool.train.metrics import (accuracy_by_snr, classification_metrics, confusion_matrix, per_class_table,
                                    regression_metrics, regression_summary, snr_bin_labels)


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 400)
    yp = np.where(rng.random(400) < 0.6, y, rng.integers(0, 5, 400))
    m = classification_metrics(y, yp, list("abcde"))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, yp))
    assert m["macro_f1"] == pytest.approx(f1_score(y, yp, average="macro"))
    assert m["macro_precision"] == pytest.approx(precision_score(y, yp, average="macro"))
    assert m["macro_recall"] == pytest.approx(recall_score(y, yp, average="macro"))
    assert m["n"] == 400


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), ["x", "y", "z"])
    assert cm.loc["x", "y"] == 1 and cm.loc["z", "y"] == 1 and cm.loc["y", "y"] == 1
    assert cm.to_numpy().sum() == 4


def test_per_class_table_uses_paper_notation():
    names = ["A0", "F5", "G0"]
    # true A0: 5 right, 3 predicted F5; true F5: 2 predicted A0, 6 right; true G0: 4 right, 1 -> F5
    y = np.array([0] * 8 + [1] * 8 + [2] * 5)
    yp = np.array([0] * 5 + [1] * 3 + [0] * 2 + [1] * 6 + [2] * 4 + [1])
    t = per_class_table(y, yp, names).set_index("class")
    assert t.loc["A0", "tp"] == 5 and t.loc["A0", "support"] == 8
    assert t.loc["A0", "fn_top1"] == "F5" and t.loc["A0", "fn_top1_count"] == 3
    assert t.loc["A0", "fn_text"] == "F5→A0 (3)"  # predicted F5, truly A0
    assert t.loc["A0", "fp_top1"] == "F5" and t.loc["A0", "fp_text"] == "A0→F5 (2)"  # predicted A0, truly F5
    assert t.loc["F5", "fp_top1"] == "A0" and t.loc["F5", "fp_top1_count"] == 3
    assert t.loc["G0", "fp_text"] == ""  # nothing was wrongly predicted as G0


def test_snr_bins_width_10_and_pooled_top():
    labels = snr_bin_labels(np.array([0.5, 9.99, 10.0, 57.0, 99.9, 100.0, 999.0, np.nan]))
    assert labels.tolist() == ["0-10", "0-10", "10-20", "50-60", "90-100", ">=100", ">=100", "unknown"]


def test_accuracy_by_snr_orders_bins():
    snr = np.array([105.0, 5.0, 15.0, 15.0, 3.0])
    t = accuracy_by_snr(np.array([1, 1, 1, 1, 0]), np.array([1, 0, 1, 0, 0]), snr)
    assert t["snr_bin"].tolist() == ["0-10", "10-20", ">=100"]
    assert t["n"].tolist() == [2, 2, 1]
    assert t["accuracy"].tolist() == [0.5, 0.5, 1.0]


def test_regression_metrics_values_and_bins():
    truth = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    pred = truth + np.array([[0.1, -1.0], [0.3, 1.0], [-0.1, 3.0], [0.1, 1.0]])
    t = regression_metrics(truth, pred, ["mass", "age"], snr=np.array([5.0, 8.0, 150.0, 120.0]))
    mass = t[(t.parameter == "mass") & (t.snr_bin == "all")].iloc[0]
    r = np.array([0.1, 0.3, -0.1, 0.1])
    assert mass["mae"] == pytest.approx(np.abs(r).mean())
    assert mass["rmse"] == pytest.approx(np.sqrt((r ** 2).mean()))
    assert mass["bias"] == pytest.approx(r.mean())
    assert mass["sigma"] == pytest.approx(r.std())
    top = t[(t.parameter == "age") & (t.snr_bin == ">=100")].iloc[0]
    assert top["n"] == 2 and top["mae"] == pytest.approx(2.0) and top["bias"] == pytest.approx(2.0)
    assert set(t[t.parameter == "age"].snr_bin) == {"all", "0-10", ">=100"}
    s = regression_summary(t)
    assert s["mae_age"] == pytest.approx(1.5) and s["n"] == 4


def test_metrics_reject_mismatched_inputs():
    with pytest.raises(SpectoolError, match="3 true values for 2 predictions"):
        classification_metrics(np.array([0, 1, 1]), np.array([0, 1]), ["a", "b"])
    with pytest.raises(SpectoolError, match="2 names"):
        regression_metrics(np.zeros((3, 3)), np.zeros((3, 3)), ["a", "b"])


def test_mae_vs_constant_uses_the_median_and_skips_class_labels():
    from spectool.train.metrics import constant_mae, mae_vs_constant

    assert constant_mae(np.array([1.0, 2.0, 10.0, np.nan])) == pytest.approx((1 + 0 + 8) / 3)
    pred = pd.DataFrame({"true_mass": [1.0, 2.0, 3.0], "mass": [1.0, 2.0, 4.0], "true_label": ["a", "b", "c"],
                         "pred_label": ["a", "b", "b"], "true_age": [5.0, 6.0, 7.0]})
    assert mae_vs_constant(pred) == {"mass": (pytest.approx(1 / 3), pytest.approx(2 / 3))}


def test_gate_needs_a_gain_beyond_the_noise_of_the_test_split():
    from spectool.train.metrics import GATE_Z, accuracy_gate, paired_gain

    # 20 spectra, half of class "a": the model is right on the 10 "a" and on 2 of the 10 "b".
    true = np.array(["a"] * 10 + ["b"] * 10)
    pred = np.array(["a"] * 10 + ["b"] * 2 + ["a"] * 8)
    acc, majority, z = accuracy_gate(true, pred)
    assert (acc, majority) == (pytest.approx(0.6), pytest.approx(0.5))
    gains = np.r_[np.zeros(10), np.ones(2), np.zeros(8)]
    assert z == pytest.approx(0.1 / (gains.std(ddof=1) / np.sqrt(20)))  # 1.45: a lucky margin
    assert z < GATE_Z
    # the same 10-point margin on 100 x more spectra is learning
    _, _, z_big = accuracy_gate(np.tile(true, 100), np.tile(pred, 100))
    assert z_big > 10 * GATE_Z / 2
    # a model worse than the majority class has a negative z; identical errors give z = 0
    assert accuracy_gate(true, np.array(["c"] * 20))[2] < 0
    assert paired_gain(np.ones(5), np.ones(5)) == (0.0, 0.0)
    assert paired_gain(np.zeros(3), np.ones(3)) == (1.0, np.inf)
    assert np.isnan(paired_gain(np.array([np.nan]), np.array([1.0]))[1])


def test_mae_gate_compares_with_the_median_star_by_star():
    from spectool.train.metrics import GATE_Z, constant_mae, mae_gate

    rng = np.random.default_rng(0)
    truth = rng.normal(1.2, 0.3, 400)
    good = truth + rng.normal(0, 0.05, 400)
    mae, base, z = mae_gate(truth, good)
    assert base == pytest.approx(constant_mae(truth)) and mae < base and z > GATE_Z
    # beating the constant's MAE on 10 stars by winning on some and losing on others is not
    # learning: gains 0.5, -0.4, 0.5, -0.5, 0.3, -0.4, 0.5, -0.5, 0.3, -0.1 (mean 0.02)
    few = np.arange(10.0)
    errors = np.array([4.0, 3.9, 2.0, 2.0, 0.2, 0.9, 1.0, 3.0, 3.2, 4.6])
    mae, base, z = mae_gate(few, few + errors)
    assert (mae, base) == (pytest.approx(2.48), pytest.approx(2.5)) and 0 < z < 1
