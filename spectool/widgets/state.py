"""Pure state of the inspectors: data access, selection, navigation, display arrays.

Nothing here imports bokeh or ipywidgets, so every rule the widgets follow
(which object comes next, what a filter keeps, how smoothing weights pixels,
where a line marker goes in the rest frame) is unit-testable without a browser.

Wavelengths are vacuum Angstrom throughout; the *display* wavelength is the
observed-frame value, or ``lambda_obs / (1 + z)`` in the rest frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import SpectoolError
from ..lines import get_lines, line_sets
from ..spectrum import Spectrum

#: Visual-inspection quality scale (DESI prospect convention): 4 = confident ... 0 = bad data.
VI_QUALITY: dict[int, str] = {4: "4 confident", 3: "3 probable", 2: "2 possible", 1: "1 unlikely", 0: "0 bad data"}
#: The correctness filter's choices.
CORRECTNESS = ("all", "correct", "misclassified")
#: Line sets offered as toggles, in display order.
DEFAULT_LINE_SETS = ("balmer", "stellar", "molecular", "galaxy", "qso", "sky")


class WidgetInputError(SpectoolError):
    """Bad input to an inspector (wrong array shape, unknown class or line set, ...)."""


# --------------------------------------------------------------------------- data
class SpectraSource:
    """Uniform read access to a dataset, a store or a list of :class:`~spectool.Spectrum`.

    Attributes
    ----------
    table
        One row per spectrum: ``object_id`` (str), ``label`` (str or None), ``snr``
        (float, NaN if unknown), ``redshift`` (float) plus every other metadata column.
    class_names
        Class order (from the dataset, else the sorted labels present).
    synthetic
        True when the data is a synthetic mock (titles then say so).
    """

    def __init__(self, data: Any) -> None:
        from ..datasets.base import SpectralDataset
        from ..store import SpectrumStore

        if isinstance(data, SpectrumStore):
            data = SpectralDataset(data)
        self._dataset: SpectralDataset | None = data if isinstance(data, SpectralDataset) else None
        self._spectra: list[Spectrum] | None = None
        if self._dataset is not None:
            table = self._dataset.meta.reset_index(drop=True).copy()
            self.class_names = list(self._dataset.class_names)
            self.synthetic = bool(self._dataset.synthetic)
            self.name = self._dataset.name
        else:
            spectra = list(data) if isinstance(data, Sequence) else None
            if not spectra or not all(isinstance(s, Spectrum) for s in spectra):
                raise WidgetInputError(
                    f"expected a SpectralDataset, SpectrumStore or non-empty list of Spectrum, got {type(data).__name__}",
                    "data",
                )
            self._spectra = spectra
            rows = []
            for i, s in enumerate(spectra):
                row = {k: v for k, v in s.meta.items() if np.isscalar(v) or v is None}
                row["object_id"] = str(s.meta.get("object_id", f"spectrum-{i}"))
                row["label"] = s.meta.get("label", s.meta.get("class"))
                rows.append(row)
            table = pd.DataFrame(rows)
            self.synthetic = any(bool(s.meta.get("synthetic")) for s in spectra)
            self.name = "spectra"
            self.class_names = []
        if "object_id" not in table.columns:
            table["object_id"] = [f"spectrum-{i}" for i in range(len(table))]
        table["object_id"] = table["object_id"].astype(str)
        if "label" not in table.columns:
            table["label"] = None
        table["label"] = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in table["label"]]
        table["snr"] = pd.to_numeric(table["snr"], errors="coerce") if "snr" in table.columns else np.nan
        table["redshift"] = (
            pd.to_numeric(table["redshift"], errors="coerce").fillna(0.0) if "redshift" in table.columns else 0.0
        )
        self.table: pd.DataFrame = table
        if not self.class_names:
            self.class_names = sorted({v for v in table["label"] if v is not None})

    def __len__(self) -> int:
        return len(self.table)

    def spectrum(self, row: int) -> Spectrum:
        """Spectrum of ``row`` (padding pixels dropped)."""
        if not 0 <= row < len(self):
            raise WidgetInputError(f"row {row} is outside 0..{len(self) - 1}", "index")
        if self._dataset is not None:
            return self._dataset.spectrum(int(row))
        return self._spectra[row]

    def image(self, row: int) -> np.ndarray | None:
        """The (3, H, W) g,r,i cutout of ``row``, or None."""
        if self._dataset is not None:
            imgs = self._dataset.images
            return None if imgs is None else np.asarray(imgs[row], dtype=np.float32)
        img = self._spectra[row].meta.get("image")
        return None if img is None else np.asarray(img, dtype=np.float32)

    def object_id(self, row: int) -> str:
        return str(self.table["object_id"].iat[row])

    def row_of(self, object_id: str) -> int:
        hits = np.flatnonzero(self.table["object_id"].to_numpy() == str(object_id))
        if hits.size == 0:
            raise WidgetInputError(f"no object with id {object_id!r}", "object_id")
        return int(hits[0])

    def metadata(self, row: int, skip: Sequence[str] = ()) -> dict[str, Any]:
        """Scalar metadata of ``row`` for the metadata table (fold columns left out)."""
        rec = self.table.iloc[row].to_dict()
        return {k: v for k, v in rec.items() if not str(k).startswith("fold_") and k not in skip}


# ----------------------------------------------------------------- model outputs
@dataclass
class ModelOutputs:
    """Precomputed model outputs aligned with a :class:`SpectraSource`'s rows.

    ``values`` is (N, K): class probabilities (``kind="classification"``, rows sum to 1)
    or parameter estimates (``kind="regression"``) named by ``names``.
    """

    kind: str
    names: list[str]
    values: np.ndarray

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.kind not in ("classification", "regression"):
            raise WidgetInputError(f"kind must be classification or regression, got {self.kind!r}", "model outputs")
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise WidgetInputError(
                f"values {self.values.shape} do not match {len(self.names)} output names", "model outputs"
            )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, names: Sequence[str], kind: str = "classification") -> "ModelOutputs":
        """Take columns ``prob_<name>`` (or ``<name>``) from a prediction table."""
        cols = []
        for n in names:
            for c in (f"prob_{n}", f"p_{n}", str(n), f"pred_{n}"):
                if c in frame.columns:
                    cols.append(c)
                    break
            else:
                raise WidgetInputError(f"prediction table has no column for {n!r}", "predictions")
        return cls(kind, [str(n) for n in names], frame[cols].to_numpy(np.float64))

    @property
    def predicted(self) -> list[str] | None:
        """Predicted class name per row (classification only)."""
        if self.kind != "classification":
            return None
        return [self.names[k] for k in self.values.argmax(axis=1)]


def correctness(labels: Sequence[str | None], predicted: Sequence[str] | None) -> np.ndarray:
    """Per row: 1 correct, 0 misclassified, -1 unknown (no label or no prediction)."""
    out = np.full(len(labels), -1, dtype=np.int8)
    if predicted is None:
        return out
    for i, (t, p) in enumerate(zip(labels, predicted)):
        if t is not None:
            out[i] = int(t == p)
    return out


# ----------------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filters:
    """Which rows the inspector steps through.

    ``classes``: keep these true labels (None = all); ``snr_range``: inclusive S/N
    bounds (rows with unknown S/N are kept only when the range is unbounded);
    ``correctness``: "all", "correct" or "misclassified" (needs model outputs).
    """

    classes: tuple[str, ...] | None = None
    snr_range: tuple[float, float] = (-np.inf, np.inf)
    correctness: str = "all"

    def __post_init__(self) -> None:
        if self.correctness not in CORRECTNESS:
            raise WidgetInputError(f"correctness must be one of {CORRECTNESS}, got {self.correctness!r}", "filters")
        lo, hi = self.snr_range
        if lo > hi:
            raise WidgetInputError(f"S/N range {self.snr_range} is empty (min > max)", "filters")


def select_rows(table: pd.DataFrame, filters: Filters, correct: np.ndarray | None = None) -> np.ndarray:
    """Row indices (in table order) that pass ``filters``.

    ``correct`` is the output of :func:`correctness`; a correctness filter other than
    "all" without it raises :class:`WidgetInputError`.
    """
    keep = np.ones(len(table), dtype=bool)
    if filters.classes is not None:
        keep &= table["label"].isin(list(filters.classes)).to_numpy()
    lo, hi = filters.snr_range
    if np.isfinite(lo) or np.isfinite(hi):
        snr = table["snr"].to_numpy(np.float64)
        keep &= np.isfinite(snr) & (snr >= lo) & (snr <= hi)
    if filters.correctness != "all":
        if correct is None or not np.any(correct >= 0):
            raise WidgetInputError("the correctness filter needs model predictions and true labels", "filters")
        keep &= correct == (1 if filters.correctness == "correct" else 0)
    return np.flatnonzero(keep)


# -------------------------------------------------------------------- navigation
@dataclass
class Navigator:
    """Position within the selected rows. Stepping stops at both ends (no wrap-around)."""

    selection: np.ndarray
    position: int = 0

    def __post_init__(self) -> None:
        self.selection = np.asarray(self.selection, dtype=np.int64)
        self.position = 0 if self.selection.size == 0 else int(np.clip(self.position, 0, self.selection.size - 1))

    def __len__(self) -> int:
        return int(self.selection.size)

    @property
    def row(self) -> int | None:
        """The current row of the source, or None if nothing is selected."""
        return None if self.selection.size == 0 else int(self.selection[self.position])

    def next(self) -> int | None:
        if self.selection.size:
            self.position = min(self.position + 1, self.selection.size - 1)
        return self.row

    def previous(self) -> int | None:
        if self.selection.size:
            self.position = max(self.position - 1, 0)
        return self.row

    def goto_row(self, row: int) -> int | None:
        """Jump to source row ``row``; it must be in the selection."""
        hits = np.flatnonzero(self.selection == row)
        if hits.size == 0:
            raise WidgetInputError(f"row {row} is not in the current selection (clear the filters)", "index")
        self.position = int(hits[0])
        return self.row

    def reselect(self, selection: np.ndarray) -> int | None:
        """Replace the selection, staying on the current row or the next one after it."""
        current = self.row
        self.selection = np.asarray(selection, dtype=np.int64)
        if self.selection.size == 0:
            self.position = 0
        elif current is None:
            self.position = 0
        else:
            self.position = int(min(np.searchsorted(self.selection, current), self.selection.size - 1))
        return self.row


# ----------------------------------------------------------------- display state
@dataclass(frozen=True)
class DisplayOptions:
    """How the current spectrum is drawn.

    ``smoothing``: Gaussian sigma in pixels (0 = raw); ``frame``: "observed" or "rest";
    ``redshift``: None = catalogue value; ``template_rank``: None or 0-based rank of the
    template fit to overlay (0 = best); ``attribution``: None or an overlay name.
    """

    smoothing: float = 0.0
    frame: str = "observed"
    redshift: float | None = None
    line_sets: tuple[str, ...] = ("balmer",)
    show_noise: bool = True
    show_mask: bool = True
    template_rank: int | None = None
    attribution: str | None = None

    def __post_init__(self) -> None:
        if self.frame not in ("observed", "rest"):
            raise WidgetInputError(f"frame must be 'observed' or 'rest', got {self.frame!r}", "frame")
        if self.smoothing < 0:
            raise WidgetInputError(f"smoothing sigma must be >= 0 pixels, got {self.smoothing}", "smoothing")
        unknown = [s for s in self.line_sets if s not in line_sets()]
        if unknown:
            raise WidgetInputError(f"unknown line set(s) {unknown}; choose from {line_sets()}", "line_sets")
        if self.redshift is not None and self.redshift <= -1:
            raise WidgetInputError(f"redshift must be > -1, got {self.redshift}", "redshift")

    def with_(self, **changes: Any) -> "DisplayOptions":
        return replace(self, **changes)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised Gaussian kernel of width ``sigma`` pixels, truncated at 3 sigma."""
    half = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth(flux: np.ndarray, ivar: np.ndarray, sigma: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Inverse-variance weighted Gaussian smoothing (sigma in pixels).

    Each output pixel is ``sum(K * ivar * flux) / sum(K * ivar)`` over the kernel
    ``K``; pixels with ivar <= 0, non-finite flux or ``mask`` carry no weight, and an
    output pixel with no weighted neighbour is NaN. ``sigma == 0`` returns a copy.
    The standalone page's JavaScript implements the same formula.
    """
    flux = np.asarray(flux, dtype=np.float64)
    if sigma <= 0:
        return flux.copy()
    w = np.where(np.isfinite(flux) & (np.asarray(ivar) > 0), np.asarray(ivar, np.float64), 0.0)
    if mask is not None:
        w = np.where(np.asarray(mask, bool), 0.0, w)
    k = gaussian_kernel(sigma)
    num = np.convolve(np.where(w > 0, flux, 0.0) * w, k, mode="same")
    den = np.convolve(w, k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def noise(ivar: np.ndarray) -> np.ndarray:
    """1-sigma noise 1/sqrt(ivar) (NaN where ivar <= 0, so plots leave a gap)."""
    ivar = np.asarray(ivar, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), np.nan)


def mask_intervals(wavelength: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) Angstrom edges of each run of bad pixels, extended to pixel edges."""
    wavelength = np.asarray(wavelength, np.float64)
    bad = np.asarray(bad, bool)
    if wavelength.size < 2 or not bad.any():
        return np.zeros(0), np.zeros(0)
    edges = np.concatenate([[1.5 * wavelength[0] - 0.5 * wavelength[1]], 0.5 * (wavelength[1:] + wavelength[:-1]),
                            [1.5 * wavelength[-1] - 0.5 * wavelength[-2]]])
    d = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return edges[starts], edges[stops]


def display_wavelength(wavelength: np.ndarray, frame: str, redshift: float) -> np.ndarray:
    """Observed-frame vacuum Angstrom, or divided by (1 + z) in the rest frame."""
    w = np.asarray(wavelength, np.float64)
    return w / (1.0 + redshift) if frame == "rest" else w


def line_markers(sets: Sequence[str], frame: str, redshift: float, wavelength_range: tuple[float, float]) -> dict[str, pd.DataFrame]:
    """Per line set: a table ``x`` (display Angstrom), ``rest`` (rest vacuum), ``name``, ``kind``.

    ``wavelength_range`` is the observed-frame range of the spectrum; only lines that
    fall inside it at ``redshift`` are returned.
    """
    out = {}
    for s in sets:
        lines = get_lines(s, wavelength_range, redshift=redshift)
        rest = np.array([ln.vacuum for ln in lines], np.float64)
        x = rest if frame == "rest" else rest * (1 + redshift)
        out[s] = pd.DataFrame({"x": x, "rest": rest, "name": [ln.name for ln in lines],
                               "kind": [ln.kind for ln in lines]})
    return out


def normalise_attribution(values: np.ndarray, n_pixels: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Map a per-pixel attribution to [0, 1] by its absolute value (max = 1).

    ``values`` may be on the spectrum's pixels (``n_pixels``) or on the padded model
    input; ``keep`` (bool, model-input length) then selects the spectrum's pixels.
    """
    a = np.abs(np.asarray(values, dtype=np.float64).ravel())
    if a.size != n_pixels:
        if keep is None or a.size != keep.size or int(keep.sum()) != n_pixels:
            raise WidgetInputError(f"attribution has {a.size} values for a {n_pixels}-pixel spectrum", "attribution")
        a = a[keep]
    a = np.where(np.isfinite(a), a, 0.0)
    top = a.max() if a.size else 0.0
    return a / top if top > 0 else a


@dataclass
class Overlays:
    """Per-pixel attribution overlays: name -> (N, L) array or a function row -> (L,) array.

    Functions (e.g. a model explanation computed on demand) are called once per row
    and cached.
    """

    sources: dict[str, np.ndarray | Callable[[int], np.ndarray]] = field(default_factory=dict)
    _cache: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    @property
    def precomputed(self) -> list[str]:
        """Names whose values are arrays (no model call needed to export them)."""
        return [n for n, src in self.sources.items() if not callable(src)]

    def add(self, name: str, values: np.ndarray | Callable[[int], np.ndarray]) -> None:
        self.sources[name] = values
        self._cache = {k: v for k, v in self._cache.items() if k[0] != name}

    def get(self, name: str, row: int) -> np.ndarray:
        if name not in self.sources:
            raise WidgetInputError(f"no attribution overlay {name!r}; have {self.names}", "attribution")
        key = (name, row)
        if key not in self._cache:
            src = self.sources[name]
            self._cache[key] = np.asarray(src(row) if callable(src) else src[row], dtype=np.float64)
        return self._cache[key]


def as_overlays(overlays: Mapping[str, Any] | Overlays | None) -> Overlays:
    if isinstance(overlays, Overlays):
        return overlays
    return Overlays(dict(overlays or {}))


def snr_bounds(table: pd.DataFrame) -> tuple[float, float]:
    """Finite (min, max) S/N of the table, (0, 1) if none is known."""
    snr = table["snr"].to_numpy(np.float64)
    snr = snr[np.isfinite(snr)]
    return (float(snr.min()), float(snr.max())) if snr.size else (0.0, 1.0)

