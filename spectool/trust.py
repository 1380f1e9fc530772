"""How far to trust a prediction: calibration, out-of-distribution score, uncertainty, flags.

Every shipped checkpoint is trained on the synthetic mock survey, so its raw outputs are
over-confident and say nothing about spectra unlike its training set. This module holds
the small statistics that :func:`spectool.predict` uses to say so, fitted on *mock*
validation data by ``scripts/calibrate_pretrained.py`` and stored as plain JSON lists
under the model card's ``"calibration"`` key:

``temperature``, ``top_label``
    Classifiers: temperature scaling (Guo et al. 2017), ``softmax(logits / T)`` with ``T``
    minimising the negative log-likelihood on mock validation spectra, followed by an
    isotonic map of the top-class probability to the observed accuracy on the same
    spectra (top-label calibration) where that helps: a single temperature leaves some
    models mis-calibrated (under-confident at 0.4, over-confident at 0.8), while on others
    the isotonic map only fits noise. ``method`` records the choice, made by
    :func:`fit_calibration` from the cross-validated ECE of each method on the
    calibration spectra (``cv_ece``). ``ece_before`` (raw softmax),
    ``ece_temperature`` (temperature only) and ``ece_after`` (the chosen method) are
    expected calibration errors (15 equal-width confidence bins) on mock test spectra.
``ood``
    Out-of-distribution score: the Mahalanobis distance (Lee et al. 2018) of the
    penultimate feature vector (``model.forward_features``) from the nearest training
    class mean under a shared covariance, computed in a ``k``-dimensional PCA projection
    of the features (``k <= 16``), plus the squared reconstruction residual outside that
    projection in units of its mean training value. ``threshold`` is the 95th percentile
    of the score on in-distribution mock validation spectra, so about 5 % of
    in-distribution spectra are flagged. (The energy score ``-T logsumexp(z / T)`` is
    computed by the calibration script for comparison; it exists for classifiers only.)
``snr_min``
    Spectra with a catalogue S/N below it are flagged ``low_snr`` (the preset's S/N cut,
    else the 1st percentile of the training S/N).
``label_range`` (regressors)
    ``{target: [min, max]}`` of the training labels in physical units (K, dex, Msun,
    Gyr); predictions outside are flagged ``outside_training_labels``, and those more than
    one range width beyond it (in the model's output space, e.g. log2 Teff) are reported as
    NaN: no estimate (:data:`spectool.inference.EXTRAPOLATION_WIDTHS`).
``ensemble`` (regressors)
    Uncertainty: a small ensemble of 8 linear heads fitted on bootstrap resamples of the
    training spectra's penultimate features (the trained network body is shared and
    frozen); the standard deviation of the members' predictions, in physical units,
    times ``scale[target]`` (fitted on mock validation spectra so that the median
    ``|error| / sigma`` is 0.674, as for a Gaussian) is ``<target>_err``. A last-layer
    ensemble rather than MC dropout because SCA-Net's only dropout has p = 0.
``weights_sha256``
    The weights file the statistics were fitted for; a card whose weights changed
    (retrained) is ignored with a warning until the script is rerun.

Flags (joined by ``;`` in the ``flag`` column, empty when nothing is wrong):
``ood`` (the Mahalanobis score is above its threshold, or, for a stars-only model, the
kind gate calls the spectrum a galaxy or a quasar: see below), ``low_snr``,
``low_confidence`` (calibrated classifiers: the calibrated probability of the predicted
*main* class, summed over its subclasses, is below ``min_confidence`` of
:func:`spectool.predict`, default :data:`MIN_CONFIDENCE` = 0.8; the calibration is fitted on
mock spectra, and on real spectra the mock-trained models are over-confident, so the
default asks for four chances in five rather than "more likely right than wrong"),
``outside_training_labels``, ``window_not_covered`` (the spectrum
does not cover the model's wavelength window), ``unreadable`` (file could not be read),
``failed`` (preprocessing or the model failed for another reason; see ``error``).

Kind gate
    A model trained on stars only (a classifier without GALAXY and QSO classes, or a
    stellar-parameter regressor) cannot say that its input is not a star, and the
    feature-space score misses part of the galaxies and quasars (on mock data a
    stars-only MSPC-Net flags 67 % of them). :func:`spectool.predict` therefore also runs
    the shipped full-classification checkpoint :data:`KIND_GATE` on the same spectra and
    reports its calibrated verdict in ``kind`` (``STAR``, ``GALAXY`` or ``QSO``) and
    ``kind_prob``; a spectrum it calls a galaxy or a quasar is flagged ``ood``. A card may
    name another gate (``"kind_gate"``) or none (``null``).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpectoolWarning

ECE_BINS = 15
OOD_COMPONENTS = 16
OOD_PERCENTILE = 95.0
ENSEMBLE_MEMBERS = 8
GAUSS_MAD = 0.6744897501960817  # median |N(0, 1)|
#: calibrated main-class probability below which a classification is flagged ``low_confidence``
#: (the model, calibrated on mock data, gives the other classes together at least 1 in 5)
MIN_CONFIDENCE = 0.8
#: the shipped full-classification checkpoint (stars, GALAXY, QSO) that tells a stars-only
#: model's inputs that are not stars (:func:`spectool.predict`'s ``kind_gate``)
KIND_GATE = "convnext1d-mock-fc"
NON_STELLAR = ("GALAXY", "QSO")
FLAG_OOD = "ood"
FLAG_LOW_CONFIDENCE = "low_confidence"
FLAG_LOW_SNR = "low_snr"
FLAG_LABELS = "outside_training_labels"
FLAG_WINDOW = "window_not_covered"
FLAG_UNREADABLE = "unreadable"
FLAG_FAILED = "failed"


# ------------------------------------------------------------------ calibration
def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64)."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, np.float64) / temperature
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(z)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 50.0)) -> float:
    """The temperature ``T`` minimising the negative log-likelihood of ``labels`` under
    ``softmax(logits / T)`` (bounded 1-D search over log T)."""
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels, np.int64)
    res = minimize_scalar(lambda lt: _nll(logits, labels, float(np.exp(lt))),
                          bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded",
                          options={"xatol": 1e-4})
    return float(np.exp(res.x))


def expected_calibration_error(prob: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS,
                               pred: np.ndarray | None = None) -> float:
    """ECE: sum over equal-width confidence bins of (bin fraction) x |accuracy - mean confidence|.

    The confidence of a row is the probability of its predicted class ``pred`` (default:
    the argmax of ``prob``).
    """
    prob = np.asarray(prob, np.float64)
    labels = np.asarray(labels)
    if len(prob) == 0:
        return float("nan")
    pred = prob.argmax(axis=1) if pred is None else np.asarray(pred)
    conf = prob[np.arange(len(prob)), pred]
    correct = (pred == labels).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        sel = bins == b
        total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def fit_top_label_map(prob: np.ndarray, labels: np.ndarray) -> dict[str, list[float]]:
    """Isotonic map from the top-class probability to the observed accuracy (top-label
    calibration, Gupta & Ramdas 2022), fitted after temperature scaling: it corrects what
    one temperature cannot (a model under-confident at 0.4 and over-confident at 0.8).
    Returns the map's knots ``{"x": [...], "y": [...]}`` (applied by linear interpolation)."""
    from sklearn.isotonic import IsotonicRegression

    prob = np.asarray(prob, np.float64)
    conf = prob.max(axis=1)
    correct = (prob.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(conf, correct)
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def fit_calibration(logits: np.ndarray, labels: np.ndarray, *, n_folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Temperature scaling, plus the top-label isotonic map only where it lowers the error.

    Both methods (``"temperature"`` and ``"temperature+top_label"``) are fitted on
    ``n_folds - 1`` folds of the calibration rows and scored by their expected calibration
    error on the fold left out; the one with the lower mean wins and is refitted on every
    row. Returns ``{"temperature", "method", "cv_ece", "cv_folds"}`` plus ``"top_label"``
    when the map was chosen (the card's ``calibration`` keys that
    :func:`calibrated_probabilities` reads).
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    fold = np.random.default_rng(seed).permutation(len(labels)) % n_folds
    errors: dict[str, list[float]] = {"temperature": [], "temperature+top_label": []}
    for k in range(n_folds):
        fit, held = fold != k, fold == k
        t = fit_temperature(logits[fit], labels[fit])
        tl = fit_top_label_map(softmax(logits[fit], t), labels[fit])
        pred = logits[held].argmax(axis=1)
        for method, cal in (("temperature", {"temperature": t}),
                            ("temperature+top_label", {"temperature": t, "top_label": tl})):
            errors[method].append(expected_calibration_error(calibrated_probabilities(logits[held], cal),
                                                             labels[held], pred=pred))
    cv = {m: float(np.mean(v)) for m, v in errors.items()}
    method = min(cv, key=cv.get)
    temperature = fit_temperature(logits, labels)
    out: dict[str, Any] = {"temperature": temperature, "method": method, "cv_ece": cv, "cv_folds": n_folds}
    if method == "temperature+top_label":
        out["top_label"] = fit_top_label_map(softmax(logits, temperature), labels)
    return out


def calibrated_probabilities(logits: np.ndarray, calibration: dict[str, Any] | None) -> np.ndarray:
    """Class probabilities from raw ``logits`` with the card's calibration.

    ``softmax(logits / temperature)``; then, with a ``top_label`` map, the predicted
    class's probability becomes the mapped value and the other classes share the rest in
    their temperature-scaled proportions. The predicted class is the argmax of the logits
    (rarely, another class's calibrated probability can exceed it).
    """
    cal = calibration or {}
    prob = softmax(logits, float(cal.get("temperature") or 1.0))
    tl = cal.get("top_label")
    if tl and len(prob):
        k = prob.argmax(axis=1)
        rows = np.arange(len(prob))
        conf = prob[rows, k]
        new = np.interp(conf, tl["x"], tl["y"])
        rest = np.where(conf < 1.0, (1.0 - new) / np.maximum(1.0 - conf, 1e-300), 0.0)
        prob = prob * rest[:, None]
        prob[rows, k] = new
        flat = conf >= 1.0  # nothing left to share: spread the remainder evenly
        if flat.any() and prob.shape[1] > 1:
            prob[flat] += ((1.0 - new[flat]) / (prob.shape[1] - 1))[:, None]
            prob[flat, k[flat]] = new[flat]
    return prob


def energy_score(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Energy ``-T logsumexp(logits / T)`` (Liu et al. 2020): higher means less like the training data."""
    z = np.asarray(logits, np.float64) / temperature
    m = z.max(axis=1, keepdims=True)
    return -temperature * (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


# ------------------------------------------------------------------ feature-space OOD
def fit_feature_density(features: np.ndarray, labels: np.ndarray | None = None,
                        components: int = OOD_COMPONENTS) -> dict[str, Any]:
    """Class means and a shared covariance of ``features`` (N, F) in a PCA projection.

    ``labels`` (N,) are class ids (classifiers) or None (one population, regressors).
    Returns JSON-ready statistics for :func:`feature_distance`.
    """
    x = np.asarray(features, np.float64)
    mean = x.mean(axis=0)
    xc = x - mean
    k = int(max(1, min(components, x.shape[0] - 1, x.shape[1])))
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:k]
    z = xc @ comps.T
    resid = np.maximum((xc ** 2).sum(axis=1) - (z ** 2).sum(axis=1), 0.0)
    lab = np.zeros(len(z), np.int64) if labels is None else np.asarray(labels, np.int64)
    classes = np.unique(lab)
    means = np.stack([z[lab == c].mean(axis=0) for c in classes])
    centred = z - means[np.searchsorted(classes, lab)]
    cov = centred.T @ centred / max(len(z) - len(classes), 1)
    cov += np.eye(k) * (1e-6 * np.trace(cov) / k + 1e-12)
    return {"method": "mahalanobis_pca", "components": k, "mean": mean.tolist(), "basis": comps.tolist(),
            "class_ids": classes.tolist(), "class_means": means.tolist(),
            "precision": np.linalg.inv(cov).tolist(), "residual_scale": float(max(resid.mean(), 1e-12))}


def feature_distance(stats: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """OOD score of each row of ``features``: the squared Mahalanobis distance to the nearest
    class mean in the PCA projection plus the squared residual outside it divided by its
    mean training value (both are ~k and ~1 for training spectra)."""
    x = np.asarray(features, np.float64) - np.asarray(stats["mean"])
    basis = np.asarray(stats["basis"])
    z = x @ basis.T
    resid = np.maximum((x ** 2).sum(axis=1) - (z ** 2).sum(axis=1), 0.0)
    prec = np.asarray(stats["precision"])
    d = z[:, None, :] - np.asarray(stats["class_means"])[None]
    maha = np.einsum("nck,kl,ncl->nc", d, prec, d).min(axis=1)
    return maha + resid / float(stats["residual_scale"])


def roc_auc(negative: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve for separating ``positive`` (higher scores) from ``negative``."""
    neg, pos = np.asarray(negative, np.float64), np.asarray(positive, np.float64)
    if not len(neg) or not len(pos):
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([neg, pos]))
    return float((ranks[len(neg):].sum() - len(pos) * (len(pos) + 1) / 2) / (len(neg) * len(pos)))


# ------------------------------------------------------------------ regression uncertainty
def fit_head_ensemble(features: np.ndarray, targets: np.ndarray, members: int = ENSEMBLE_MEMBERS,
                      seed: int = 0) -> dict[str, Any]:
    """``members`` ridge-regression heads (features -> raw model outputs) on bootstrap resamples.

    ``targets`` (N, T) are in the model's output space (e.g. log2 Teff). Returns
    ``{"weights": (members, F + 1, T) list}`` (last row of each is the intercept).
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(targets, np.float64)
    a = np.hstack([x, np.ones((len(x), 1))])
    rng = np.random.default_rng(seed)
    weights = []
    for _ in range(members):
        idx = rng.integers(0, len(a), len(a))
        ab = a[idx]
        gram = ab.T @ ab
        lam = 1e-3 * np.trace(gram) / gram.shape[0]
        weights.append(np.linalg.solve(gram + lam * np.eye(gram.shape[0]), ab.T @ y[idx]))
    return {"members": members, "seed": seed, "weights": np.stack(weights).tolist()}


def ensemble_outputs(ensemble: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """(members, N, T) raw outputs of the ensemble heads."""
    w = np.asarray(ensemble["weights"])
    a = np.hstack([np.asarray(features, np.float64), np.ones((len(features), 1))])
    return np.einsum("nf,mft->mnt", a, w)


# ------------------------------------------------------------------ flags
#: an MK-like stellar label: optional sd/d/g prefix, the class letter, then nothing, a
#: subclass number (with letters such as ``e``) and/or a luminosity class (``K5``, ``dM1``,
#: ``gK5``, ``G2 III``, ``A0Va``)
_MK = re.compile(r"^(?:sd|d|g)?([OBAFGKM])(?:[0-9.]+[a-z]*)?(?:\s*[IV]+[ab]?)?$")


def main_class(label: str) -> str:
    """The main class of a class label: an MK label such as ``"K5"``, ``"dK5"``, ``"gK5"`` or
    ``"G2 III"`` -> its class letter; any other label (``"GALAXY"``, ``"QSO"``, ``"STAR"``,
    ``"WD"``) is its own main class. The one definition used by predictions, trust flags and
    fine-tuning."""
    s = str(label).strip()
    m = _MK.match(s)
    return m.group(1) if m else s


def main_class_probability(prob: np.ndarray, names: list[str], pred: np.ndarray) -> np.ndarray:
    """For each row, the summed probability of every class sharing the main class of ``pred``."""
    mains = np.array([main_class(c) for c in names], dtype=object)
    same = mains[None, :] == mains[np.asarray(pred)][:, None]
    return (np.asarray(prob) * same).sum(axis=1)


def main_class_decision(prob: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The main-class prediction of each row of class probabilities ``prob`` (N, C) over
    ``names``: the main class whose subclasses together are most probable, and that summed
    probability. It is usually, not always, the main class of the most probable subclass
    (K0 0.30, G2 0.25, G5 0.25 is a G star at 0.50). The one rule used by
    :func:`spectool.predict` (``pred_main_class``), fine-tuning on main-class labels and the
    real-data figures of the model cards."""
    prob = np.asarray(prob, dtype=np.float64)
    mains = [main_class(c) for c in names]
    order = list(dict.fromkeys(mains))  # ties go to the main class listed first
    summed = np.stack([prob[:, [j for j, m in enumerate(mains) if m == c]].sum(axis=1) for c in order], axis=1) \
        if len(prob) else np.zeros((0, len(order)))
    best = summed.argmax(axis=1) if len(prob) else np.zeros(0, int)
    return np.array(order, dtype=object)[best], summed[np.arange(len(prob)), best]



def is_stars_only(model: Any) -> bool:
    """Whether ``model`` knows stars only: a classifier with neither a GALAXY nor a QSO
    class, or a regressor (every regressor in spectool predicts stellar parameters)."""
    card = getattr(model, "card", None) or {}
    if card.get("task", getattr(model, "task", "classification")) != "classification":
        return True
    names = set(card.get("output_names") or getattr(model, "output_names", None) or [])
    return bool(names) and not names & set(NON_STELLAR)


def kind_gate_name(model: Any) -> str | None:
    """The pretrained name of the kind gate a stars-only ``model`` gets by default: its card's
    ``"kind_gate"`` (``null`` for none), else :data:`KIND_GATE`; None for other models."""
    if not is_stars_only(model):
        return None
    card = getattr(model, "card", None) or {}
    name = card.get("kind_gate", KIND_GATE)
    return None if not name or name == card.get("pretrained_name") else str(name)


def kind_of(prob: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``STAR``/``GALAXY``/``QSO`` and its probability from a full classifier's class
    probabilities (every class other than GALAXY and QSO counts as a star)."""
    prob = np.asarray(prob, np.float64)
    cols = [[j for j, c in enumerate(names) if c == k] for k in NON_STELLAR]
    by_kind = np.stack([1.0 - sum(prob[:, c].sum(1) for c in cols)] + [prob[:, c].sum(1) for c in cols], axis=1)
    k = by_kind.argmax(1)
    return np.array(("STAR",) + NON_STELLAR, dtype=object)[k], by_kind[np.arange(len(k)), k]


def join_flags(*columns: np.ndarray | list[str]) -> list[str]:
    """Merge per-row flag lists: ``join_flags(["ood", ""], ["low_snr", ""]) == ["ood;low_snr", ""]``."""
    out = []
    for parts in zip(*columns):
        seen: list[str] = []
        for p in parts:
            for f in str(p).split(";"):
                if f and f not in seen:
                    seen.append(f)
        out.append(";".join(seen))
    return out


# ------------------------------------------------------------------ storage
def calibration_of(model: Any) -> dict[str, Any] | None:
    """The calibration statistics of ``model`` or None.

    Taken from ``model.card["calibration"]``; for a shipped checkpoint whose card (read
    from the weights file) has none, from the JSON card beside it. Statistics fitted for
    other weights (``weights_sha256`` differs) are ignored with a warning.
    """
    card = getattr(model, "card", None) or {}
    cal = card.get("calibration")
    if cal is None and card.get("pretrained_name"):
        from .models.pretrained import pretrained_calibration, pretrained_dir

        name = card["pretrained_name"]
        try:
            from .models.pretrained import pretrained_path

            path = pretrained_path(name)
        except Exception:  # not installed here: the card travelled with a copied model
            return pretrained_calibration(name)
        json_path = pretrained_dir() / f"{name}.json"
        key = (name, *(_stamp(p) for p in (path, json_path)))  # a rewritten card or weights file is read again
        if key not in _CALIBRATIONS:
            cal = pretrained_calibration(name)
            if cal is not None and cal.get("weights_sha256"):
                from ._atomic import sha256_file

                if sha256_file(path) != cal["weights_sha256"]:
                    cal = False
            _CALIBRATIONS[key] = cal
        cal = _CALIBRATIONS[key]
        if cal is False:
            warnings.warn(f"{name}: calibration was fitted for other weights; rerun "
                          "scripts/calibrate_pretrained.py (predictions are not calibrated)",
                          SpectoolWarning, stacklevel=3)
            return None
    return cal


#: calibration statistics of shipped checkpoints, by (name, weights file stamp, card stamp);
#: False where they were fitted for other weights
_CALIBRATIONS: dict[tuple, Any] = {}


def _stamp(path: Any) -> tuple[int, int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


_NUM_LIST = re.compile(r"\[\s*([-+0-9.eE]+(?:\s*,\s*[-+0-9.eE]+)*)\s*\]")


def dumps_card(card: dict[str, Any]) -> str:
    """The card as indented JSON with each list of numbers on one line (readable diffs)."""
    text = json.dumps(card, indent=2, sort_keys=True, allow_nan=False)
    return _NUM_LIST.sub(lambda m: "[" + ", ".join(s.strip() for s in m.group(1).split(",")) + "]", text)


def round_floats(value: Any, digits: int = 6) -> Any:
    """Round every float in a nested structure to ``digits`` significant digits (smaller cards)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v, digits) for v in value]
    return value


def write_calibration(json_path: str | Path, calibration: dict[str, Any]) -> None:
    """Set the ``"calibration"`` key of the JSON card at ``json_path`` (atomic).

    Every other key keeps the text :func:`spectool.models.save` writes (``json.dumps``,
    indent 2, sorted keys); inside the calibration, floats are rounded to 6 significant
    digits and number lists are written on one line.
    """
    from ._atomic import atomic_write_text

    path = Path(json_path)
    card = json.loads(path.read_text(encoding="utf-8"))
    card["calibration"] = "@CALIBRATION@"
    text = json.dumps(card, indent=2, sort_keys=True)
    cal = dumps_card(round_floats(calibration)).replace("\n", "\n  ")
    atomic_write_text(path, text.replace('"@CALIBRATION@"', cal) + "\n")
