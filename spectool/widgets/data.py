"""What the inspector draws, as column dictionaries, and the bokeh ColumnDataSources that hold them.

:class:`InspectorData` turns (source row, :class:`~spectool.widgets.state.DisplayOptions`)
into plain column dicts (numpy arrays and lists), so the numbers are testable
without bokeh; :func:`make_sources` / :func:`push` move them into bokeh.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from ..spectrum import Spectrum
from ._deps import require
from .state import (
    DisplayOptions,
    ModelOutputs,
    Overlays,
    SpectraSource,
    correctness,
    display_wavelength,
    line_markers,
    mask_intervals,
    noise,
    normalise_attribution,
    smooth,
)
from .templates import Template, TemplateFit, fit_templates

#: Colours of the line sets (colour-blind safe Okabe-Ito palette).
LINE_COLOURS = {"balmer": "#D55E00", "stellar": "#0072B2", "molecular": "#CC79A7", "galaxy": "#009E73",
                "qso": "#E69F00", "sky": "#999999", "absorption": "#0072B2", "emission": "#009E73",
                "scanet": "#D55E00", "spfusion": "#56B4E9"}


def rgb_image(img: np.ndarray, stretch: float = 0.5, q: float = 8.0) -> np.ndarray:
    """(3, H, W) g, r, i cutout -> (H, W) uint32 RGBA (asinh stretch, i=red, r=green, g=blue).

    The image is flipped vertically so row 0 is drawn at the bottom (bokeh convention).
    """
    img = np.nan_to_num(np.asarray(img, np.float64))
    if img.ndim != 3 or img.shape[0] != 3:
        from .state import WidgetInputError

        raise WidgetInputError(f"cutout must be (3, H, W) g,r,i, got {img.shape}", "image")
    img = img - np.percentile(img, 1)
    total = img.mean(axis=0)
    scale = np.where(total > 0, np.arcsinh(q * total / stretch) / (q * np.where(total > 0, total, 1.0)), 0.0)
    rgb = np.clip(img[::-1] * scale, 0, None)  # (i, r, g) -> (R, G, B)
    top = np.percentile(rgb, 99.5)
    rgb = np.clip(rgb / (top if top > 0 else 1.0), 0, 1)
    rgba = np.empty(img.shape[1:] + (4,), np.uint8)
    rgba[..., :3] = (rgb.transpose(1, 2, 0) * 255).astype(np.uint8)
    rgba[..., 3] = 255
    return rgba[::-1].copy().view(np.uint32)[..., 0]


@dataclass
class InspectorData:
    """Per-object display arrays for a :class:`SpectraSource`.

    Parameters
    ----------
    source
        The spectra.
    outputs
        Precomputed model outputs aligned with the source rows, or None.
    overlays
        Attribution overlays (name -> (N, L) array or row -> array function).
    templates
        Templates fitted for the overlay; ``n_fits`` best fits are kept per object.
    """

    source: SpectraSource
    outputs: ModelOutputs | None = None
    overlays: Overlays | None = None
    templates: Sequence[Template] = ()
    n_fits: int = 3

    def __post_init__(self) -> None:
        self.overlays = self.overlays or Overlays()
        if self.outputs is not None and len(self.outputs.values) != len(self.source):
            from .state import WidgetInputError

            raise WidgetInputError(f"has {len(self.outputs.values)} rows for {len(self.source)} spectra", "model outputs")
        self.spectrum = lru_cache(maxsize=64)(self.source.spectrum)
        self._fits: dict[tuple[int, float], list[TemplateFit]] = {}
        self._keep = self._padding_mask()

    def _padding_mask(self) -> np.ndarray | None:
        ds = self.source._dataset
        return None if ds is None else np.isfinite(ds.wavelength)

    @property
    def correct(self) -> np.ndarray:
        pred = None if self.outputs is None else self.outputs.predicted
        return correctness(list(self.source.table["label"]), pred)

    # ----------------------------------------------------------------- pieces
    def redshift(self, row: int, opts: DisplayOptions) -> float:
        return float(self.source.table["redshift"].iat[row]) if opts.redshift is None else float(opts.redshift)

    def fits(self, row: int, redshift: float) -> list[TemplateFit]:
        """The ``n_fits`` best template fits of ``row`` at ``redshift`` (cached)."""
        if not self.templates:
            return []
        key = (row, round(float(redshift), 6))
        if key not in self._fits:
            self._fits[key] = fit_templates(self.spectrum(row), self.templates, redshift)[: self.n_fits]
        return self._fits[key]

    def attribution(self, name: str, row: int) -> np.ndarray:
        """Overlay ``name`` of ``row`` scaled to [0, 1] on the spectrum's pixels."""
        spec = self.spectrum(row)
        return normalise_attribution(self.overlays.get(name, row), len(spec), self._keep)

    @staticmethod
    def bad_pixels(spec: Spectrum) -> np.ndarray:
        return ~spec.good

    # ------------------------------------------------------------- columns
    def spectrum_columns(self, row: int, opts: DisplayOptions) -> dict[str, np.ndarray]:
        """Columns of the ``spec`` source: x (display Angstrom), wave (observed), flux (smoothed),
        flux_raw, noise (1/sqrt(ivar)), attr ([0, 1] or 0), model (template fit or NaN)."""
        spec = self.spectrum(row)
        z = self.redshift(row, opts)
        bad = self.bad_pixels(spec)
        n = len(spec)
        model = np.full(n, np.nan)
        if opts.template_rank is not None:
            fits = self.fits(row, z)
            if opts.template_rank < len(fits):
                model = fits[opts.template_rank].model
        attr = self.attribution(opts.attribution, row) if opts.attribution else np.zeros(n)
        raw = np.where(np.isfinite(spec.flux), spec.flux, np.nan).astype(np.float64)
        return {
            "x": display_wavelength(spec.wavelength, opts.frame, z),
            "wave": spec.wavelength.astype(np.float64),
            "flux": smooth(raw, spec.ivar, opts.smoothing, bad),
            "flux_raw": raw,
            "ivar": np.where(bad, 0.0, spec.ivar).astype(np.float64),
            "noise": noise(np.where(bad, 0.0, spec.ivar)) if opts.show_noise else np.full(n, np.nan),
            "attr": attr,
            "model": np.asarray(model, np.float64),
        }

    def mask_columns(self, row: int, opts: DisplayOptions) -> dict[str, np.ndarray]:
        """Columns of the ``mask`` source: left/right display-Angstrom edges of bad-pixel runs."""
        spec = self.spectrum(row)
        if not opts.show_mask:
            return {"left": np.zeros(0), "right": np.zeros(0)}
        z = self.redshift(row, opts)
        lo, hi = mask_intervals(display_wavelength(spec.wavelength, opts.frame, z), self.bad_pixels(spec))
        return {"left": lo, "right": hi}

    def line_columns(self, row: int, opts: DisplayOptions, sets: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per line set: x (display Angstrom), rest (rest vacuum Angstrom), name."""
        spec = self.spectrum(row)
        z = self.redshift(row, opts)
        rng = (float(spec.wavelength[0]), float(spec.wavelength[-1]))
        return {s: {"x": t["x"].to_numpy(), "rest": t["rest"].to_numpy(), "name": list(t["name"])}
                for s, t in line_markers(sets, opts.frame, z, rng).items()}

    def meta_columns(self, row: int) -> dict[str, list[str]]:
        """Columns of the metadata table (key, value as text)."""
        meta = self.source.metadata(row)
        if self.outputs is not None and self.outputs.kind == "classification":
            meta["predicted"] = self.outputs.predicted[row]
            meta["p(predicted)"] = float(self.outputs.values[row].max())
        return {"key": [str(k) for k in meta], "value": [_fmt(v) for v in meta.values()]}

    def output_columns(self, row: int) -> dict[str, list]:
        """Class probabilities (bars) or estimates beside catalogue values (table)."""
        if self.outputs is None:
            return {"name": [], "value": [], "catalogue": [], "colour": []}
        out = self.outputs
        vals = out.values[row]
        if out.kind == "classification":
            label = self.source.table["label"].iat[row]
            best = out.names[int(vals.argmax())]
            colour = ["#009E73" if n == label else "#D55E00" if n == best else "#9a9a9a" for n in out.names]
            cat = [float(n == label) for n in out.names]
        else:
            table = self.source.table
            cat = [float(table[n].iat[row]) if n in table.columns else float("nan") for n in out.names]
            colour = ["#0072B2"] * len(out.names)
        return {"name": list(out.names), "value": [float(v) for v in vals], "catalogue": cat, "colour": colour}

    def image_columns(self, row: int) -> dict[str, list]:
        img = self.source.image(row)
        if img is None:
            return {"image": [], "dw": [], "dh": []}
        rgba = rgb_image(img)
        return {"image": [rgba], "dw": [rgba.shape[1]], "dh": [rgba.shape[0]]}

    def title(self, row: int, position: int | None = None, n_selected: int | None = None) -> str:
        t = self.source.table
        parts = [f"<b>{t['object_id'].iat[row]}</b>"]
        if t["label"].iat[row] is not None:
            parts.append(f"label {t['label'].iat[row]}")
        if self.outputs is not None and self.outputs.kind == "classification":
            parts.append(f"predicted {self.outputs.predicted[row]}")
        if np.isfinite(t["snr"].iat[row]):
            parts.append(f"S/N {t['snr'].iat[row]:.1f}")
        if position is not None:
            parts.append(f"({position + 1} of {n_selected} selected; row {row})")
        if self.source.synthetic:
            parts.append("<i>synthetic mock</i>")
        return " &middot; ".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.5g}"
    return str(v)


# --------------------------------------------------------------------- bokeh side
def make_sources(line_sets: Sequence[str]) -> dict[str, Any]:
    """Empty ColumnDataSources keyed ``spec``, ``mask``, ``meta``, ``outputs``, ``image`` and ``lines_<set>``
    (bokeh model names add ``_source``, so they never clash with renderer names)."""
    ColumnDataSource = require("bokeh.models").ColumnDataSource
    empty = {
        "spec": {k: [] for k in ("x", "wave", "flux", "flux_raw", "ivar", "noise", "attr", "model")},
        "mask": {"left": [], "right": []},
        "meta": {"key": [], "value": []},
        "outputs": {"name": [], "value": [], "catalogue": [], "colour": []},
        "image": {"image": [], "dw": [], "dh": []},
    }
    out = {k: ColumnDataSource(v, name=f"{k}_source") for k, v in empty.items()}
    for s in line_sets:
        out[f"lines_{s}"] = ColumnDataSource({"x": [], "rest": [], "name": []}, name=f"lines_{s}_source")
    return out


def push(sources: dict[str, Any], data: InspectorData, row: int, opts: DisplayOptions, line_sets: Sequence[str]) -> None:
    """Write everything the figures show for ``row`` into ``sources``."""
    sources["spec"].data = data.spectrum_columns(row, opts)
    sources["mask"].data = data.mask_columns(row, opts)
    # bokeh's DataTable redraws a same-length replacement only after a length change: empty first
    for key, cols in (("meta", data.meta_columns(row)), ("outputs", data.output_columns(row))):
        sources[key].data = {k: [] for k in cols}
        sources[key].data = cols
    sources["image"].data = data.image_columns(row)
    for s, cols in data.line_columns(row, opts, line_sets).items():
        sources[f"lines_{s}"].data = cols
