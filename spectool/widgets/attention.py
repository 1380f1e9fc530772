"""``AttentionExplorer``: batch x channel heatmap of ECA/SE channel weights with click-through.

Each cell is the weight the attention gate gave channel ``c`` of spectrum ``b``.
Clicking a cell draws spectrum ``b`` with an overlay: that channel's feature map
(the gate's input, stretched over the spectrum's pixels) when
feature maps are given, else a per-pixel attribution of the spectrum.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ._deps import bokeh_widget_class, require
from .state import SpectraSource, WidgetInputError, normalise_attribution

if TYPE_CHECKING:
    from .inspector import SpectrumInspector


def stretch(values: np.ndarray, n_pixels: int) -> np.ndarray:
    """Resample a length-L' feature-map row onto ``n_pixels`` (linear in pixel index)."""
    v = np.asarray(values, np.float64).ravel()
    if v.size == n_pixels:
        return v
    return np.interp(np.linspace(0, v.size - 1, n_pixels), np.arange(v.size), v)


class AttentionExplorer:
    """Heatmap of channel-attention weights, rows = spectra, columns = channels.

    Parameters
    ----------
    weights
        (B, C) array or dict module name -> (B, C) array (e.g. ``spectool.explain.attention_weights``).
    spectra
        Dataset, store or list of Spectrum holding the B spectra.
    rows
        Source row of each batch entry (default ``0..B-1``).
    feature_maps
        Optional dict module name -> (B, C, L') feature maps for the per-channel overlay.
    overlays
        Optional per-pixel attributions name -> (B, L) shown when no feature map is given.
    inspector
        A linked :class:`SpectrumInspector`: clicking a cell moves it to that spectrum.
    """

    def __init__(self, weights: np.ndarray | Mapping[str, np.ndarray], spectra: Any, *, rows: Sequence[int] | None = None,
                 feature_maps: Mapping[str, np.ndarray] | None = None, overlays: Mapping[str, np.ndarray] | None = None,
                 inspector: "SpectrumInspector | None" = None) -> None:
        self.spectra = spectra if isinstance(spectra, SpectraSource) else SpectraSource(spectra)
        self.weights = {"attention": np.asarray(weights)} if not isinstance(weights, Mapping) else {
            k: np.asarray(v) for k, v in weights.items()}
        if not self.weights:
            raise WidgetInputError("no attention weights given", "weights")
        shapes = {k: v.shape for k, v in self.weights.items()}
        batch = {s[0] for s in shapes.values()}
        if any(len(s) != 2 for s in shapes.values()) or len(batch) != 1:
            raise WidgetInputError(f"weights must be (B, C) with one B for all modules, got {shapes}", "weights")
        b = batch.pop()
        self.rows = np.arange(b) if rows is None else np.asarray(rows, dtype=np.int64)
        if self.rows.shape != (b,) or (self.rows < 0).any() or (self.rows >= len(self.spectra)).any():
            raise WidgetInputError(f"rows must be {b} source rows in 0..{len(self.spectra) - 1}", "rows")
        self.feature_maps = {k: np.asarray(v) for k, v in (feature_maps or {}).items()}
        for k, v in self.feature_maps.items():
            if k not in self.weights or v.shape[:2] != self.weights[k].shape:
                raise WidgetInputError(f"feature map {k!r} {v.shape} does not match its weights", "feature_maps")
        self.overlays = {k: np.asarray(v) for k, v in (overlays or {}).items()}
        self.module = next(iter(self.weights))
        self.inspector = inspector
        self.cell: tuple[int, int] | None = None
        self._built = False

    @classmethod
    def from_model(cls, model: Any, dataset: Any, rows: Sequence[int], **kwargs: Any) -> "AttentionExplorer":
        """Capture weights (and the gates' input feature maps) of ``model`` on ``rows`` of a
        preprocessed dataset with :func:`spectool.explain.attention_weights`."""
        from ..explain import attention_weights
        from .adapters import model_input

        source = SpectraSource(dataset)
        x, img = model_input(model, source, rows)
        rec = attention_weights(model, x, image=img, keep_inputs=True)
        maps = {k: v.reshape(v.shape[0], v.shape[1], -1) for k, v in rec.inputs.items()}
        return cls(rec.weights, source, rows=rows, feature_maps=maps, **kwargs)

    # --------------------------------------------------------------- logic
    def heatmap(self) -> dict[str, np.ndarray]:
        """Rect columns of the current module: batch index ``b``, channel ``c``, weight ``w``."""
        w = self.weights[self.module]
        b, c = np.meshgrid(np.arange(w.shape[0]), np.arange(w.shape[1]), indexing="ij")
        return {"b": b.ravel(), "c": c.ravel(), "w": w.ravel().astype(np.float64),
                "object_id": [self.spectra.object_id(int(self.rows[k])) for k in b.ravel()]}

    def overlay(self, b: int, c: int) -> tuple[str, np.ndarray]:
        """(description, per-pixel [0, 1] values) drawn over spectrum ``b`` for channel ``c``."""
        n = len(self.spectra.spectrum(int(self.rows[b])))
        if self.module in self.feature_maps:
            fm = self.feature_maps[self.module][b, c]
            return f"{self.module} channel {c} activation", normalise_attribution(stretch(fm, n), n)
        if self.overlays:
            name, values = next(iter(self.overlays.items()))
            keep = None
            ds = self.spectra._dataset
            if ds is not None:
                keep = np.isfinite(ds.wavelength)
            return name, normalise_attribution(values[b], n, keep)
        return "no overlay", np.zeros(n)

    def select_cell(self, b: int, c: int) -> None:
        """Show spectrum ``b`` with channel ``c``'s overlay (what clicking a cell does)."""
        w = self.weights[self.module]
        if not (0 <= b < w.shape[0] and 0 <= c < w.shape[1]):
            raise WidgetInputError(f"cell ({b}, {c}) is outside the {w.shape} heatmap", "cell")
        self.cell = (int(b), int(c))
        row = int(self.rows[b])
        if self._built:
            spec = self.spectra.spectrum(row)
            name, values = self.overlay(b, c)
            self.spec_source.data = {"x": spec.wavelength, "flux": np.where(spec.good, spec.flux, np.nan), "attr": values}
            self.spec_figure.title.text = (f"{self.spectra.object_id(row)}: {name} (weight {w[b, c]:.3f})"
                                           + (" - synthetic mock" if self.spectra.synthetic else ""))
        if self.inspector is not None:
            if row not in set(self.inspector.nav.selection.tolist()):
                self.inspector.set_filters(classes=None, snr_range=(-np.inf, np.inf), correctness="all")
            self.inspector.goto(row=row)

    def set_module(self, name: str) -> None:
        if name not in self.weights:
            raise WidgetInputError(f"no module {name!r}; have {list(self.weights)}", "module")
        self.module = name
        if self._built:
            w = self.weights[name]
            self.heat_source.data = self.heatmap()
            self.mapper.update(low=float(w.min()), high=float(w.max()))
            self.heat_figure.x_range.update(start=-0.5, end=w.shape[1] - 0.5)

    # ------------------------------------------------------------- display
    def _build(self) -> None:
        plotting = require("bokeh.plotting")
        models = require("bokeh.models")
        w = self.weights[self.module]
        self.heat_source = models.ColumnDataSource(self.heatmap(), name="attention_cells")
        self.mapper = models.LinearColorMapper(palette="Viridis256", low=float(w.min()), high=float(w.max()))
        self.heat_figure = plotting.figure(width=900, height=max(200, 12 * w.shape[0] + 60), tools="tap,xwheel_zoom,xpan,reset",
                                           x_range=(-0.5, w.shape[1] - 0.5), y_range=(w.shape[0] - 0.5, -0.5),
                                           x_axis_label="channel", y_axis_label="spectrum in batch",
                                           title="channel-attention weights (click a cell)", name="attention_heatmap")
        self.heat_figure.rect("c", "b", 1, 1, source=self.heat_source, line_color=None,
                              fill_color={"field": "w", "transform": self.mapper})
        self.heat_figure.add_layout(models.ColorBar(color_mapper=self.mapper, title="weight"), "right")
        self.heat_figure.add_tools(models.HoverTool(tooltips=[("spectrum", "@object_id"), ("channel", "@c"),
                                                              ("weight", "@w{0.000}")]))
        self.spec_source = models.ColumnDataSource({"x": [], "flux": [], "attr": []}, name="attention_spectrum")
        self.spec_figure = plotting.figure(width=900, height=300, title="click a cell", tools="xpan,xwheel_zoom,reset",
                                           x_axis_label="Wavelength (observed, vacuum) [Angstrom]",
                                           name="attention_spectrum_figure")
        self.spec_figure.extra_y_ranges = {"attr": models.Range1d(0, 3)}
        self.spec_figure.varea("x", y1=0, y2="attr", source=self.spec_source, y_range_name="attr",
                               fill_color="#E69F00", fill_alpha=0.4)
        self.spec_figure.line("x", "flux", source=self.spec_source, color="#1f1f1f", line_width=1)

        def on_tap(attr: str, old: list[int], new: list[int]) -> None:
            if new:
                d = self.heat_source.data
                self.select_cell(int(d["b"][new[0]]), int(d["c"][new[0]]))

        self.heat_source.selected.on_change("indices", on_tap)
        self._built = True

    @property
    def layout(self):
        if not self._built:
            self._build()
        return require("bokeh.layouts").column(self.heat_figure, self.spec_figure)

    @property
    def widget(self):
        """ipywidgets box: module selector + heatmap + spectrum overlay."""
        w = require("ipywidgets")
        bokeh_model = bokeh_widget_class()
        pick = w.Dropdown(options=list(self.weights), value=self.module, description="module")
        pick.observe(lambda ch: self.set_module(ch["new"]), "value")
        return w.VBox([pick, bokeh_model(self.layout)])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
