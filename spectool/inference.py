"""Batch inference: ``spectool.predict(model, spectra)`` -> a pandas DataFrame.

Accepted inputs:

* a :class:`~spectool.datasets.SpectralDataset` (rows are already model-ready; images
  are taken from the store; ``indices`` selects rows);
* one :class:`~spectool.Spectrum` or a list of them (raw survey spectra: each is run
  through ``spectool.preprocess.<recipe>`` where the recipe is the model card's
  ``preprocess`` or else ``model.preprocess``);
* a NumPy array (N, L) or (L,) of model-ready flux (with ``images`` (N, 3, 128, 128) for
  models that need an image).

Raw spectra may also be given as file paths (read with :func:`spectool.read`).

The result has one row per input, in input order, and always the same columns:

* ``object_id``, ``source`` (file path or None), ``error`` (empty, or why this input has
  no prediction: unreadable file, window not covered, preprocessing failure; its
  predictions are then NaN), ``flag`` (why a prediction should not be trusted, ``;``
  separated, empty when fine: see :mod:`spectool.trust`), ``ood_score`` (feature-space
  Mahalanobis score; NaN without calibration statistics); for stars-only models also
  ``kind`` and ``kind_prob``, the kind gate's ``STAR``/``GALAXY``/``QSO`` verdict and its
  probability (see ``kind_gate`` of :func:`predict`);
* classifiers: ``pred_label`` (None on error rows), ``pred_index`` (-1 on error rows),
  ``pred_prob``, ``pred_main_class`` (the main class, ``K`` for ``K0``-``K7``, GALAXY and QSO
  as they are, whose subclasses together are most probable:
  :func:`spectool.trust.main_class_decision`; usually, not always, that of ``pred_label``) and
  ``pred_main_prob`` (that summed probability), and ``prob_<class>``
  for every class, calibrated when the model has calibration statistics
  (:func:`spectool.trust.calibrated_probabilities`);
* regressors: one column per target in physical units (e.g. ``teff`` in K from a model
  that predicts log Teff, ``mass`` in Msun, ``age`` in Gyr) and ``<target>_err``, its
  1-sigma uncertainty (NaN without calibration statistics);
* the catalogue labels read with the spectrum: ``cat_class``, ``cat_subclass``,
  ``cat_z`` (redshift) and ``cat_snr`` (median S/N per pixel).

``predict(...).attrs["calibrated"]`` says whether calibration statistics were applied to the
outputs (probabilities, uncertainties). A linear probe (``finetune(..., freeze_backbone=True)``)
inherits only its pretrained model's OOD statistics and S/N floor: its ``ood`` and ``low_snr``
flags are raised, its probabilities are raw and ``calibrated`` is False.
"""
from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import trust
from .errors import CoverageError, InvalidSpectrumError, ModelError, SpectoolError
from .spectrum import Spectrum

_INVERSE = {"identity": lambda v: v, "log10": lambda v: 10.0 ** v, "log2": lambda v: 2.0 ** v, "ln": np.exp}
_FORWARD = {"identity": lambda v: v, "log10": np.log10, "log2": np.log2, "ln": np.log}
#: A regression output further than this many widths of the training-label range beyond it
#: (in the model's output space, e.g. log2 Teff) is reported as NaN ("no estimate") and
#: flagged ``outside_training_labels``: a network extrapolating that far returns numbers
#: without meaning (measured on the real validation spectra: SCA-Net Teff of 1e10-1e13 K,
#: log g of 30-43 for galaxies and quasars). Within the margin the value is reported and flagged.
EXTRAPOLATION_WIDTHS = 1.0


def _beyond_extrapolation(raw: np.ndarray, lo: float, hi: float, transform: str) -> np.ndarray:
    """True where the model output ``raw`` (output space) lies more than
    :data:`EXTRAPOLATION_WIDTHS` training-range widths outside ``[lo, hi]`` (physical units),
    or is not finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = sorted(float(_FORWARD[transform](np.float64(v))) for v in (lo, hi))
    if not (np.isfinite(a) and np.isfinite(b)):
        return ~np.isfinite(raw)
    margin = EXTRAPOLATION_WIDTHS * (b - a)
    return ~np.isfinite(raw) | (raw < a - margin) | (raw > b + margin)


CATALOGUE = {"cat_class": "class", "cat_subclass": "subclass", "cat_z": "redshift", "cat_snr": "snr"}
PROGRESS_MIN = 256  # inputs from which predict shows a progress bar by default


def output_spec(model: torch.nn.Module) -> tuple[list[str], list[int], list[str]]:
    """(target names, model output column of each, transform of each) for a regression model.

    Read from ``model.card`` (``targets``, ``output_index``, ``target_transforms``) when
    present; otherwise every output named ``log_<t>`` is taken as a logarithm of ``t`` in
    base ``model.<t>_log_base`` (default 10) and other outputs as the target itself.
    """
    card = getattr(model, "card", None) or {}
    names = list(getattr(model, "output_names", []) or [])
    if card.get("targets") and card.get("output_index") is not None:
        targets = list(card["targets"])
        tr = card.get("target_transforms") or {}
        return targets, list(card["output_index"]), [tr.get(t, "identity") for t in targets]
    targets, transforms = [], []
    for n in names:
        if n.startswith("log_"):
            t = n[4:]
            base = float(getattr(model, f"{t}_log_base", 10.0))
            targets.append(t)
            transforms.append({10.0: "log10", 2.0: "log2"}.get(base, "ln" if np.isclose(base, np.e) else "log10"))
        else:
            targets.append(n)
            transforms.append("identity")
    return targets, list(range(len(names))), transforms


class _Inputs:
    """What ``predict`` runs: model-ready rows of the inputs that could be prepared, plus
    per-input ids, errors, error flags and catalogue values (all inputs, in order)."""

    def __init__(self, n: int) -> None:
        self.ids: list[str] = [str(i) for i in range(n)]
        self.source: list[str | None] = [None] * n
        self.error: list[str] = [""] * n
        self.flag: list[str] = [""] * n
        self.cat: dict[str, list[Any]] = {k: [None] * n for k in CATALOGUE}
        self.flux: Any = None  # rows of the good inputs only
        self.spectra: list[Spectrum | None] | None = None  # the raw spectra, when inputs were raw
        self.images: Any = None

    @property
    def ok(self) -> np.ndarray:
        return np.array([not e for e in self.error], dtype=bool)

    def fail(self, k: int, exc: BaseException, flag: str) -> None:
        self.error[k] = f"{type(exc).__name__}: {exc}"
        self.flag[k] = flag

    def set_meta(self, k: int, meta: dict[str, Any]) -> None:
        for col, key in CATALOGUE.items():
            v = meta.get(key)
            self.cat[col][k] = v.item() if hasattr(v, "item") else v


def _catalogue_number(values: list[Any]) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def _model_inputs(model: torch.nn.Module, spectra: Any, images: np.ndarray | None,
                  indices: np.ndarray | None, preprocess_options: dict[str, Any], progress: bool | None) -> _Inputs:
    """Turn the accepted inputs into an :class:`_Inputs` (bad members become error rows)."""
    from .datasets import SpectralDataset

    if isinstance(spectra, SpectralDataset):
        idx = np.arange(len(spectra)) if indices is None else np.asarray(indices, dtype=np.int64)
        inp = _Inputs(len(idx))
        meta = spectra.meta
        inp.ids = meta["object_id"].astype(str).to_numpy()[idx].tolist()
        for col, key in CATALOGUE.items():
            if key in meta.columns:
                inp.cat[col] = [v.item() if hasattr(v, "item") else v for v in meta[key].to_numpy()[idx]]
        imgs = spectra.images
        inp.flux, inp.images = _Rows(spectra.flux, idx), (None if imgs is None else _Rows(imgs, idx))
        return inp
    if isinstance(spectra, (Spectrum, str, Path)):
        spectra = [spectra]
    if isinstance(spectra, Sequence) and spectra and all(isinstance(s, (Spectrum, str, Path)) for s in spectra):
        return _prepare_spectra(model, list(spectra), images, preprocess_options, progress)
    arr = np.asarray(spectra, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0]
    length = getattr(model, "input_length", None)
    if arr.ndim != 2 or (length and arr.shape[1] != length):
        raise InvalidSpectrumError(f"expected model-ready flux of shape (N, {length or 'L'}) or ({length or 'L'},), "
                                   f"got {arr.shape}; pass Spectrum objects to have them preprocessed")
    inp = _Inputs(len(arr))
    inp.flux, inp.images = arr, None if images is None else np.asarray(images, dtype=np.float32)
    return inp


def _prepare_spectra(model: torch.nn.Module, spectra: list, images: np.ndarray | None,
                     preprocess_options: dict[str, Any], progress: bool | None) -> _Inputs:
    """Read (paths) and preprocess each raw spectrum; a failure becomes that input's error row.

    Inputs go in blocks of :data:`PREPARE_BLOCK`; within a block, the spectra that share one
    wavelength grid run through the recipe's batch form at once when it gives bit-for-bit
    the per-spectrum arrays (:data:`spectool.preprocess.batch.EXACT_BATCH`: MSPC-Net and
    SPFusion without images), the others (and every spectrum of a group whose batch raised,
    so that only the bad one gets an error) one by one.
    """
    from tqdm.auto import tqdm

    card = getattr(model, "card", None) or {}
    recipe = card.get("preprocess") or getattr(model, "preprocess", None)
    if not recipe:
        raise ModelError("model has no preprocess recipe (card 'preprocess' or model.preprocess)")
    if images is not None and len(images) != len(spectra):
        raise ModelError(f"{len(images)} images for {len(spectra)} spectra")
    options = {**(card.get("preprocess_options") or {}), **preprocess_options}
    inp = _Inputs(len(spectra))
    inp.spectra = [None] * len(spectra)
    flux: list[np.ndarray | None] = [None] * len(spectra)
    imgs: list[np.ndarray | None] = [None] * len(spectra)
    show = len(spectra) >= PROGRESS_MIN if progress is None else progress
    with tqdm(total=len(spectra), disable=not show, desc="preprocess", unit="spectrum") as bar:
        for start in range(0, len(spectra), PREPARE_BLOCK):
            block = []
            for k in range(start, min(start + PREPARE_BLOCK, len(spectra))):
                s = spectra[k]
                if not isinstance(s, Spectrum):
                    inp.source[k], inp.ids[k] = str(s), Path(s).name.split(".")[0]
                    try:
                        s = _read_one(s)
                    except Exception as exc:  # noqa: BLE001 - any failure of one file is reported on its row
                        inp.fail(k, exc, trust.FLAG_UNREADABLE)
                        continue
                inp.set_meta(k, s.meta)
                inp.spectra[k] = s
                inp.ids[k] = str(s.meta.get("object_id", inp.ids[k]))
                inp.source[k] = s.meta.get("source_path", inp.source[k])
                block.append((k, s))
            _preprocess_block(recipe, options, block, images, inp, flux, imgs)
            bar.update(min(PREPARE_BLOCK, len(spectra) - start))
    rows = [f for f in flux if f is not None]
    good = [i for f, i in zip(flux, imgs) if f is not None]
    length = getattr(model, "input_length", None) or (len(rows[0]) if rows else 0)
    inp.flux = np.stack(rows).astype(np.float32) if rows else np.zeros((0, length), np.float32)
    inp.images = None if not good or any(i is None for i in good) else np.stack(good)
    return inp


#: Spectra read and preprocessed together by :func:`predict` (bounds the memory of a batch recipe)
PREPARE_BLOCK = 256


def _preprocess_block(recipe: str, options: dict[str, Any], block: list[tuple[int, Spectrum]],
                      images: np.ndarray | None, inp: _Inputs, flux: list, imgs: list) -> None:
    """Preprocess ``block`` ((input index, spectrum) pairs) into ``flux[k]`` / ``imgs[k]``, or
    mark input ``k`` failed (window not covered: ``trust.FLAG_WINDOW``; else ``FLAG_FAILED``)."""
    from .preprocess import apply
    from .preprocess.batch import EXACT_BATCH

    one_by_one = block
    if recipe in EXACT_BATCH and images is None and len(block) > 1:
        groups: dict[bytes, list[tuple[int, Spectrum]]] = {}
        for k, s in block:
            groups.setdefault(np.ascontiguousarray(s.wavelength, np.float64).tobytes(), []).append((k, s))
        one_by_one = []
        for members in groups.values():
            if len(members) == 1:
                one_by_one += members
                continue
            try:
                b = EXACT_BATCH[recipe](members[0][1].wavelength, np.stack([s.flux for _, s in members]),
                                        np.stack([s.ivar for _, s in members]),
                                        np.stack([s.mask for _, s in members]), **options)
            except Exception:  # noqa: BLE001 - one bad spectrum: redo the group one by one to name it
                one_by_one += members
                continue
            for row, (k, _) in enumerate(members):
                flux[k] = b.flux[row]
    for k, s in one_by_one:
        try:
            image = None if images is None else images[k]
            p = apply(recipe, s, image=image, **options) if recipe == "spfusion" else apply(recipe, s, **options)
        except CoverageError as exc:
            inp.fail(k, exc, trust.FLAG_WINDOW)
            continue
        except Exception as exc:  # noqa: BLE001 - a spectrum that cannot be preprocessed is reported, not fatal
            inp.fail(k, exc, trust.FLAG_FAILED)
            continue
        flux[k], imgs[k] = p.flux, p.image


def _read_one(path: str | Path) -> Spectrum:
    from .io import read

    got = read(path)
    if isinstance(got, list):
        if len(got) != 1:
            raise SpectoolError(f"file holds {len(got)} spectra; read it with spectool.read and pass the list", path)
        got = got[0]
    return got


class _Rows:
    """Lazy row view ``array[indices]`` so memory-mapped stores are read batch by batch."""

    def __init__(self, array: np.ndarray, indices: np.ndarray) -> None:
        self.array, self.indices = array, indices

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, sl: slice) -> np.ndarray:
        return np.asarray(self.array[self.indices[sl]], dtype=np.float32)


def _has_features(model: torch.nn.Module) -> bool:
    """Whether ``model`` splits into ``forward_features`` + ``forward_head`` (a SpectralModel
    that defines both, or any module with both methods)."""
    from .models.base import SpectralModel

    if isinstance(model, SpectralModel):
        return (type(model).forward_features is not SpectralModel.forward_features
                and type(model).forward_head is not SpectralModel.forward_head)
    return callable(getattr(model, "forward_features", None)) and callable(getattr(model, "forward_head", None))


#: model -> (weights fingerprint, its fused inference copy): built once per set of weights
_FUSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _inference_module(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module that computes ``model``'s eval-mode outputs in :func:`model_outputs`.

    On the CPU, a model with a fused inference copy (MSPC-Net, ``model.fused()``; see
    :func:`spectool.models.for_inference`) runs through that copy: the same function to
    ~1e-6 relative in float32, about 2x faster than its plain ``forward``. The copy is kept
    while the weights are unchanged (same tensors, same in-place version counters) and
    rebuilt after training or ``load_state_dict``. Elsewhere the model itself runs.
    """
    if device.type != "cpu" or not callable(getattr(model, "fused", None)):
        return model
    key = tuple((t.data_ptr(), t._version, t.dtype) for t in itertools.chain(model.parameters(), model.buffers()))
    hit = _FUSED.get(model)
    if hit is None or hit[0] != key:
        from .models.fused import for_inference

        with torch.inference_mode(False):  # normal tensors: the copy's FFT cache tracks their versions
            hit = (key, for_inference(model))
        _FUSED[model] = hit
    return hit[1]


#: glibc ``mallopt`` parameters and the values :func:`keep_freed_memory` sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # the largest mmap threshold glibc accepts (its own dynamic maximum)
_TRIM_THRESHOLD = 256 << 20
_HEAP_KEPT: bool | None = None


def keep_freed_memory() -> bool:
    """Let this process keep the memory that a CPU forward pass frees, for the next batch
    (Linux with glibc only; once per process; returns whether the setting is in effect).

    Every batch allocates its activations afresh and frees them at the end (ConvNeXt-1D:
    tens of MB per 64 spectra). By default glibc hands blocks above its mmap threshold back
    to the kernel at once and trims the heap top above its trim threshold, so each batch
    faults the same memory in again: ~460 minor page faults per ConvNeXt-1D spectrum and
    ~1,400 per MSPC-Net spectrum, each one costly in a virtual machine (measured: 3.9 -> 2.0
    ms CPU per ConvNeXt-1D spectrum on one thread). Here blocks up to 32 MiB come from the
    heap and up to 256 MiB of free heap top stays mapped, so the next batch reuses those
    pages; results are unchanged. Dask's workers start with ``MALLOC_TRIM_THRESHOLD_=65536``
    (trim everything), which this overrides in a process that predicts. Set the environment
    variable ``SPECTOOL_KEEP_FREED_MEMORY=0`` to leave glibc's settings alone; nothing
    happens where glibc is not the C library.
    """
    global _HEAP_KEPT
    if _HEAP_KEPT is not None:
        return _HEAP_KEPT
    import ctypes
    import os
    import sys

    _HEAP_KEPT = False
    if not sys.platform.startswith("linux") or os.environ.get("SPECTOOL_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has no mallopt thresholds)
        _HEAP_KEPT = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                          and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    except (OSError, AttributeError):
        pass
    return _HEAP_KEPT


@torch.inference_mode()
def model_outputs(model: torch.nn.Module, flux: Any, images: Any = None, *, batch_size: int = 64,
                  device: str | torch.device | None = None, progress: bool = False
                  ) -> tuple[np.ndarray | None, np.ndarray]:
    """Penultimate features (N, F) (None for a model without ``forward_features``) and raw
    outputs (N, K) (logits, or regression outputs in the model's space) of model-ready rows.

    ``flux`` is (N, L) (any object with ``len`` and row slicing); ``images`` (N, 3, 128, 128)
    for image models; both are cast to the model's floating dtype. This is the one forward
    path of :func:`predict`, :func:`spectool.explain.extract_features` and
    ``scripts/calibrate_pretrained.py``. On the CPU, MSPC-Net runs through its fused
    inference copy (:func:`_inference_module`): forward hooks registered on the model's
    submodules do not fire here; call the model itself for hook-based analysis.
    """
    from tqdm.auto import tqdm

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    needs_image = bool(getattr(model, "needs_image", False))
    if needs_image and images is None:
        raise ModelError(f"{type(model).__name__} needs (N, 3, 128, 128) images: pass images= or a dataset with images")
    split = _has_features(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    if device.type == "cpu":
        keep_freed_memory()
    was_training = model.training
    model.eval().to(device)
    net = _inference_module(model, device)
    feats, outs = [], []
    n = len(flux)
    try:
        for start in tqdm(range(0, n, batch_size), disable=not progress, desc="predict", unit="batch"):
            rows = np.array(flux[start:start + batch_size], dtype=np_dtype)  # a copy: rows may be read-only
            x = torch.from_numpy(rows)[:, None].to(device)
            img = None
            if needs_image:
                img = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size], dtype=np_dtype))
                img = img.to(device)
            if split:
                f = net.forward_features(x, img)
                feats.append(f.float().cpu())
                outs.append(net.forward_head(f).float().cpu())
            else:
                outs.append((net(x, img) if needs_image else net(x)).float().cpu())
    finally:
        model.train(was_training)
    width = len(getattr(model, "output_names", []) or [])
    out = torch.cat(outs).numpy() if outs else np.zeros((0, width), np.float32)
    features = (torch.cat(feats).numpy() if feats else None) if split else None
    return features, out


def predict(model: torch.nn.Module | str, spectra: Any, *, images: np.ndarray | None = None,
            indices: np.ndarray | None = None, batch_size: int = 64, device: str | torch.device | None = None,
            progress: bool | None = None, calibrated: bool = True, min_confidence: float | None = None,
            kind_gate: Any = "auto", **preprocess_options: Any) -> pd.DataFrame:
    """Run ``model`` on ``spectra`` and return one row per input, in input order.

    Nothing aborts on a bad member: an unreadable file, a spectrum that does not cover the
    model's wavelength window or fails preprocessing becomes a row with ``error`` set and
    NaN predictions. Columns are listed in the module docstring.

    Parameters
    ----------
    model
        A :class:`~spectool.models.SpectralModel` or a model/pretrained name for
        :func:`spectool.models.load` (e.g. ``"mspcnet_sdss-mock-sc"``).
    spectra
        A SpectralDataset, Spectrum(s), spectrum file path(s) or model-ready flux array
        (see module docstring).
    images
        (N, 3, 128, 128) cutouts for image models when ``spectra`` is not a dataset.
    indices
        Rows of a SpectralDataset to predict (default: all).
    batch_size, device
        Batching and device (default: CUDA if available, else CPU).
    progress
        Show tqdm progress bars; default: only for 256 inputs or more.
    calibrated
        Apply the model's calibration statistics (temperature, OOD score and threshold,
        uncertainty, label range; :mod:`spectool.trust`) when it has them. ``False``
        gives the raw softmax and no ``ood`` / ``outside_training_labels`` flags. A
        calibrated regressor reports NaN (and the flag) for an output more than
        :data:`EXTRAPOLATION_WIDTHS` training-range widths beyond its training labels.
    min_confidence
        Classifiers: flag ``low_confidence`` where the calibrated probability of the
        predicted main class is below this (default :data:`spectool.trust.MIN_CONFIDENCE`,
        0.8).
    kind_gate
        Stars-only models (see :func:`spectool.trust.is_stars_only`): the full classifier
        that says whether each input is a star (``kind``, ``kind_prob`` columns; a galaxy
        or quasar is flagged ``ood``). ``"auto"``: the card's ``kind_gate`` or
        :data:`spectool.trust.KIND_GATE`; a model or pretrained name; ``None`` for none. It
        runs on the same model-ready rows when it shares the model's preprocessing
        recipe, else on the raw spectra (model-ready arrays of another recipe get no
        verdict: ``kind`` is None).
    preprocess_options
        Extra keyword options for the preprocessing recipe (raw spectra only).
    """
    if isinstance(model, str):
        from .models import load

        model = load(model)
    inp = _model_inputs(model, spectra, images, indices, preprocess_options, progress)
    n_ok = len(inp.flux)
    show = (len(inp.ids) >= PROGRESS_MIN) if progress is None else progress
    features, out = model_outputs(model, inp.flux, inp.images, batch_size=batch_size, device=device,
                                  progress=show and n_ok > batch_size)
    cal = trust.calibration_of(model) if calibrated else None
    kinds = None
    if trust.is_stars_only(model):
        gate = _resolve_gate(model, kind_gate) if calibrated else None
        kinds = _kinds(model, gate, inp, batch_size=batch_size, device=device, same_rows=not preprocess_options)
    return _to_frame(model, inp, features, out, cal, kinds,
                     trust.MIN_CONFIDENCE if min_confidence is None else float(min_confidence))


_GATES: dict[str, torch.nn.Module] = {}


def _resolve_gate(model: torch.nn.Module, kind_gate: Any) -> torch.nn.Module | None:
    """The kind-gate model for ``model`` (see :func:`predict`), or None."""
    import warnings

    from .errors import SpectoolWarning

    if kind_gate is None or kind_gate is False:
        return None
    if isinstance(kind_gate, torch.nn.Module):
        return kind_gate
    name = trust.kind_gate_name(model) if kind_gate == "auto" else str(kind_gate)
    if name is None:
        return None
    if name not in _GATES:
        from .models import load

        try:
            _GATES[name] = load(name)
        except Exception as exc:  # noqa: BLE001 - no gate is a missing column, not a failed batch
            warnings.warn(f"kind gate {name!r} could not be loaded ({exc}); 'kind' stays empty",
                          SpectoolWarning, stacklevel=3)
            return None
    return _GATES[name]


def _recipe_of(model: torch.nn.Module) -> tuple[Any, str, Any]:
    card = getattr(model, "card", None) or {}
    return (card.get("preprocess") or getattr(model, "preprocess", None),
            repr(sorted((card.get("preprocess_options") or {}).items())), getattr(model, "input_length", None))


def _kinds(model: torch.nn.Module, gate: torch.nn.Module | None, inp: _Inputs, *, batch_size: int,
           device: Any, same_rows: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per input: the gate's ``STAR``/``GALAXY``/``QSO`` verdict and its calibrated
    probability (None / NaN where there is no verdict)."""
    ok = inp.ok
    kind, kind_prob = np.full(len(ok), None, dtype=object), np.full(len(ok), np.nan)
    if gate is None or not ok.any():
        return kind, kind_prob
    names = list(getattr(gate, "output_names", []))
    if same_rows and _recipe_of(gate) == _recipe_of(model) and not getattr(gate, "needs_image", False):
        _, logits = model_outputs(gate, inp.flux, batch_size=batch_size, device=device)
        prob = trust.calibrated_probabilities(logits, trust.calibration_of(gate))
        kind[ok], kind_prob[ok] = trust.kind_of(prob, names)
    elif inp.spectra is not None:
        idx = np.flatnonzero(ok)
        df = predict(gate, [inp.spectra[i] for i in idx], batch_size=batch_size, device=device, progress=False,
                     kind_gate=None)
        good = (df["error"] == "").to_numpy()
        if good.any():
            k, p = trust.kind_of(df[[f"prob_{c}" for c in names]].to_numpy()[good], names)
            kind[idx[good]], kind_prob[idx[good]] = k, p
    return kind, kind_prob


def _spread(ok: np.ndarray, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Values of the good rows placed into an all-rows array (``fill`` elsewhere)."""
    full = np.full((len(ok),) + values.shape[1:], fill, dtype=np.float64)
    full[ok] = values
    return full


def _to_frame(model: torch.nn.Module, inp: _Inputs, features: np.ndarray | None, out: np.ndarray,
              cal: dict[str, Any] | None, kinds: tuple[np.ndarray, np.ndarray] | None = None,
              min_confidence: float = trust.MIN_CONFIDENCE) -> pd.DataFrame:
    ok = inp.ok
    n = len(ok)
    df = pd.DataFrame({"object_id": inp.ids, "source": inp.source, "error": inp.error})
    flags: list[list[str] | np.ndarray] = [inp.flag]
    ood = np.full(n, np.nan)
    if cal and cal.get("ood") and features is not None and len(features):
        ood[ok] = trust.feature_distance(cal["ood"], features)
        flags.append(np.where(ood > float(cal["ood"]["threshold"]), trust.FLAG_OOD, ""))
    if kinds is not None:
        flags.append(np.where(np.isin(kinds[0], trust.NON_STELLAR), trust.FLAG_OOD, ""))
    snr = _catalogue_number(inp.cat["cat_snr"])
    if cal and cal.get("snr_min") is not None:
        flags.append(np.where(snr < float(cal["snr_min"]), trust.FLAG_LOW_SNR, ""))
    card = getattr(model, "card", None) or {}
    if card.get("task", getattr(model, "task", "classification")) == "classification":
        names = list(getattr(model, "output_names", []) or [f"class_{i}" for i in range(out.shape[1])])
        prob = _spread(ok, trust.calibrated_probabilities(out, cal) if len(out) else np.zeros((0, len(names))))
        k = np.full(n, -1)
        k[ok] = out.argmax(1)
        df["pred_index"] = k
        df["pred_label"] = [names[i] if i >= 0 else None for i in k]
        df["pred_prob"] = np.where(ok, prob[np.arange(n), np.maximum(k, 0)], np.nan)
        main_label, main_prob = np.full(n, None, dtype=object), np.full(n, np.nan)
        main_label[ok], main_prob[ok] = trust.main_class_decision(prob[ok], names)
        df["pred_main_class"] = main_label
        df["pred_main_prob"] = main_prob
        if cal and cal.get("temperature"):
            flags.append(np.where(main_prob < min_confidence, trust.FLAG_LOW_CONFIDENCE, ""))
        for j, c in enumerate(names):
            df[f"prob_{c}"] = prob[:, j]
    else:
        targets, index, transforms = output_spec(model)
        members = None
        if cal and cal.get("ensemble") and features is not None and len(features):
            members = trust.ensemble_outputs(cal["ensemble"], features)
        ranges = (cal or {}).get("label_range") or {}
        outside = np.zeros(n, bool)
        for t, i, tr in zip(targets, index, transforms):
            raw = _spread(ok, out[:, i].astype(np.float64))  # output space (e.g. log2 Teff), all rows
            with np.errstate(over="ignore", invalid="ignore"):  # 2**(absurd log Teff) overflows to inf
                value = _INVERSE[tr](raw)
            err = np.full(n, np.nan)
            if members is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    spread = np.std(_INVERSE[tr](members[:, :, i]), axis=0)
                err[ok] = spread * float(cal["ensemble"]["scale"][t])
            if t in ranges:
                lo, hi = ranges[t]
                beyond = ok & _beyond_extrapolation(raw, lo, hi, tr)
                outside |= beyond | (ok & ((value < lo) | (value > hi)))
                value[beyond], err[beyond] = np.nan, np.nan
            df[t] = value
            df[f"{t}_err"] = err
        flags.append(np.where(outside, trust.FLAG_LABELS, ""))
    df.insert(3, "flag", trust.join_flags(*flags))
    df.insert(4, "ood_score", ood)
    if kinds is not None:
        df.insert(5, "kind", kinds[0])
        df.insert(6, "kind_prob", kinds[1])
    for col in CATALOGUE:
        df[col] = _catalogue_number(inp.cat[col]) if col in ("cat_z", "cat_snr") else inp.cat[col]
    df.attrs["calibrated"] = cal is not None and cal.get("method") != "inherited"
    return df
