"""Evaluation metrics for classification and regression, overall and per S/N bin.

Classification (MSPC-Net protocol): micro accuracy, macro precision/recall/F1, the
confusion matrix, per-class true positives with the top-1 false-negative source and
top-1 false-positive target (MSPC-Net Table 5), and accuracy per S/N bin (Fig. 5).

Regression (SPFusion / SCA-Net protocol): per parameter MAE, RMSE, bias (mean of
prediction - truth) and sigma (standard deviation of the residuals), overall and in
S/N bins of width 10 with S/N >= 100 pooled into one bin. Values are in the physical
units of the targets (Msun, Gyr, K, dex).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import SpectoolError


def _check_pair(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise SpectoolError(f"{what}: {a.shape[0]} true values for {b.shape[0]} predictions")
    if a.shape[0] == 0:
        raise SpectoolError(f"{what}: no samples to evaluate")


# --------------------------------------------------------------------- S/N bins
def snr_bin_labels(snr: np.ndarray, width: float = 10.0, top: float = 100.0) -> np.ndarray:
    """Bin label per sample: ``"0-10"``, ``"10-20"``, ..., ``">=100"`` (NaN S/N -> ``"unknown"``)."""
    snr = np.asarray(snr, dtype=float)
    out = np.empty(snr.shape, dtype=object)
    lo = np.floor(np.clip(snr, 0, None) / width) * width
    for i, (s, b) in enumerate(zip(snr, lo)):
        if not np.isfinite(s):
            out[i] = "unknown"
        elif s >= top:
            out[i] = f">={top:g}"
        else:
            out[i] = f"{b:g}-{b + width:g}"
    return out


def _bin_order(labels: pd.Series) -> list[str]:
    def key(s: str) -> tuple[int, float]:
        if s == "unknown":
            return (2, 0.0)
        return (1, 0.0) if s.startswith(">=") else (0, float(s.split("-")[0]))
    return sorted(pd.unique(labels), key=key)


# --------------------------------------------------------------- classification
def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """Counts with rows = true class, columns = predicted class."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    _check_pair(y_true, y_pred, "confusion_matrix")
    k = len(class_names)
    cm = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    idx = pd.Index(class_names, name="true")
    return pd.DataFrame(cm, index=idx, columns=pd.Index(class_names, name="predicted"))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict[str, float]:
    """Micro accuracy and macro precision / recall / F1 (classes absent from both truth and
    prediction are left out of the macro average, as scikit-learn's ``labels=present``)."""
    cm = confusion_matrix(y_true, y_pred, class_names).to_numpy().astype(float)
    tp = np.diag(cm)
    support, predicted = cm.sum(1), cm.sum(0)
    present = (support + predicted) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {
        "accuracy": float(tp.sum() / cm.sum()),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "n": int(cm.sum()),
    }


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """MSPC-Net Table 5: per class the support, TP, the top-1 false negative and the top-1
    false positive.

    ``fn_top1`` is the class that true members of this class were most often predicted as;
    ``fp_top1`` the true class most often predicted as this class. The ``*_text`` columns
    use the paper's notation, where ``X→Y (n)`` reads "predicted X, true Y, n times":
    the FN of A0 is written ``F5→A0 (22)`` and its FP ``A0→F5 (22)``.
    """
    cm = confusion_matrix(y_true, y_pred, class_names).to_numpy()
    off = cm.copy()
    np.fill_diagonal(off, -1)
    rows = []
    for i, c in enumerate(class_names):
        j_fn = int(np.argmax(off[i]))  # row i: true c, predicted j
        j_fp = int(np.argmax(off[:, i]))  # column i: predicted c, true j
        n_fn, n_fp = max(int(off[i, j_fn]), 0), max(int(off[j_fp, i]), 0)
        rows.append({
            "class": c, "support": int(cm[i].sum()), "tp": int(cm[i, i]),
            "fn_top1": class_names[j_fn] if n_fn else "", "fn_top1_count": n_fn,
            "fp_top1": class_names[j_fp] if n_fp else "", "fp_top1_count": n_fp,
            "tp_text": f"{c} ({int(cm[i, i])})",
            "fn_text": f"{class_names[j_fn]}→{c} ({n_fn})" if n_fn else "",
            "fp_text": f"{c}→{class_names[j_fp]} ({n_fp})" if n_fp else "",
        })
    return pd.DataFrame(rows)


def accuracy_by_snr(y_true: np.ndarray, y_pred: np.ndarray, snr: np.ndarray,
                    width: float = 10.0, top: float = 100.0) -> pd.DataFrame:
    """Accuracy per S/N bin (MSPC-Net Fig. 5): columns ``snr_bin``, ``n``, ``accuracy``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    _check_pair(y_true, y_pred, "accuracy_by_snr")
    df = pd.DataFrame({"snr_bin": snr_bin_labels(snr, width, top), "ok": y_true == y_pred})
    out = df.groupby("snr_bin", sort=False)["ok"].agg(n="size", accuracy="mean").reset_index()
    return out.set_index("snr_bin").loc[_bin_order(out["snr_bin"])].reset_index()


# ------------------------------------------------------------------- regression
def _regression_row(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    r = p - t
    return {"n": int(r.size), "mae": float(np.mean(np.abs(r))), "rmse": float(np.sqrt(np.mean(r ** 2))),
            "bias": float(np.mean(r)), "sigma": float(np.std(r))}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: list[str],
                       snr: np.ndarray | None = None, width: float = 10.0, top: float = 100.0) -> pd.DataFrame:
    """Tidy table: one row per (parameter, S/N bin) with ``n, mae, rmse, bias, sigma``.

    The overall rows have ``snr_bin == "all"``; with ``snr`` given, rows per bin of width
    ``width`` follow (``>=top`` pooled). Residuals are prediction - truth.
    """
    y_true = np.asarray(y_true, float).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, float).reshape(len(y_pred), -1)
    _check_pair(y_true, y_pred, "regression_metrics")
    if y_true.shape[1] != len(names) or y_pred.shape[1] != len(names):
        raise SpectoolError(f"regression_metrics: {len(names)} names for arrays of shape {y_true.shape}/{y_pred.shape}")
    rows = []
    bins = None if snr is None else snr_bin_labels(snr, width, top)
    for k, name in enumerate(names):
        rows.append({"parameter": name, "snr_bin": "all", **_regression_row(y_true[:, k], y_pred[:, k])})
        if bins is not None:
            for b in _bin_order(pd.Series(bins)):
                sel = bins == b
                rows.append({"parameter": name, "snr_bin": b, **_regression_row(y_true[sel, k], y_pred[sel, k])})
    return pd.DataFrame(rows)


def regression_summary(table: pd.DataFrame) -> dict[str, float]:
    """Flatten the overall rows of :func:`regression_metrics` to ``{"mae_mass": ..., ...}``."""
    out: dict[str, float] = {}
    for _, row in table[table["snr_bin"] == "all"].iterrows():
        for m in ("mae", "rmse", "bias", "sigma"):
            out[f"{m}_{row['parameter']}"] = float(row[m])
        out["n"] = int(row["n"])
    return out


def constant_mae(truth: np.ndarray) -> float:
    """MAE of the best constant prediction, the median of ``truth`` (NaNs ignored): the
    trivial baseline a regressor must beat to have learned anything."""
    t = np.asarray(truth, float)
    return float(np.nanmean(np.abs(t - np.nanmedian(t))))


#: One-sided z a model's per-spectrum gain over its trivial baseline must reach for the
#: sanity gate to call it learned: p < 0.05 in a paired test (:func:`paired_gain`). On the
#: 48-150 test spectra of a quick-mode run this is a margin of about 10-15 points over the
#: majority class; beating it by one or two lucky answers does not count.
GATE_Z = 1.645


def paired_gain(model_loss: np.ndarray, baseline_loss: np.ndarray) -> tuple[float, float]:
    """``(mean gain, z)`` of a model over a baseline evaluated on the same spectra.

    ``gain_i = baseline_loss_i - model_loss_i`` (NaNs dropped) and
    ``z = mean(gain) / (std(gain) / sqrt(n))``, the one-sided paired z statistic; z is
    ``+-inf`` when every gain is the same non-zero number and 0 when there is none. For a
    classifier the losses are 0/1 errors (a McNemar-type test), for a regressor absolute
    errors. Beating the baseline by a margin inside the noise of a small test split is not
    learning: :data:`GATE_Z` is the bar."""
    d = np.asarray(baseline_loss, float) - np.asarray(model_loss, float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan"), float("nan")
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    if sd == 0.0:
        return mean, (0.0 if mean == 0 else float(np.sign(mean)) * float("inf"))
    return mean, mean / (sd / np.sqrt(d.size))


def accuracy_gate(true: Sequence, pred: Sequence) -> tuple[float, float, float]:
    """``(accuracy, majority-class share, z)`` of predicted against true class labels: the
    model against always answering the most frequent true class (:func:`paired_gain`)."""
    t = np.asarray(true).astype(str)
    p = np.asarray(pred).astype(str)
    if t.size == 0:
        return float("nan"), float("nan"), float("nan")
    values, counts = np.unique(t, return_counts=True)
    majority = values[np.argmax(counts)]
    _, z = paired_gain((p != t).astype(float), (t != majority).astype(float))
    return float((p == t).mean()), float(counts.max() / t.size), z


def mae_gate(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """``(MAE, best constant's MAE, z)`` of a regressor against the median of ``truth``
    (:func:`constant_mae`, :func:`paired_gain`); NaNs ignored."""
    t = np.asarray(truth, float)
    p = np.asarray(pred, float)
    _, z = paired_gain(np.abs(p - t), np.abs(t - np.nanmedian(t)))
    return float(np.nanmean(np.abs(p - t))), constant_mae(t), z


def mae_gates(pred: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """``{target: (mae, constant_mae, z)}`` (:func:`mae_gate`) for every regression target of a
    prediction table (``true_<t>`` and ``<t>`` columns, as :func:`spectool.train.evaluate`
    writes them); empty for a classifier's table."""
    return {col[5:]: mae_gate(pred[col].to_numpy(float), pred[col[5:]].to_numpy(float))
            for col in pred.columns if col.startswith("true_") and col != "true_label" and col[5:] in pred.columns}


def mae_vs_constant(pred: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """``{target: (mae, constant_mae)}`` for every regression target of a prediction table
    (:func:`mae_gates` without the z)."""
    return {t: (mae, base) for t, (mae, base, _) in mae_gates(pred).items()}
