"""``EmbeddingExplorer``: a 2-D map (t-SNE, UMAP or PCA) of model features, linked to spectra.

Coordinates come from :func:`spectool.explain.embed` (the one embedding helper).

Points are coloured by true label, prediction or S/N bin; tap, lasso or box
selection draws the selected spectra and moves a linked
:class:`~spectool.widgets.SpectrumInspector` to the first of them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..explain.features import embed  # noqa: F401  (the one embedding helper; re-exported here)
from ._deps import bokeh_widget_class, require
from .state import SpectraSource, WidgetInputError

if TYPE_CHECKING:
    from .inspector import SpectrumInspector

COLOUR_BY = ("label", "prediction", "snr")
_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
            "#999999", "#882255", "#44AA99", "#117733", "#332288", "#AA4499", "#DDCC77", "#88CCEE"]
_SNR_EDGES = (0, 5, 10, 20, 40, np.inf)


def colour_groups(meta: pd.DataFrame, by: str, predicted: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(group name, colour) per row for ``by`` = "label", "prediction" or "snr" (S/N bins)."""
    if by == "label":
        groups = [str(v) if v is not None else "unlabelled" for v in meta["label"]]
    elif by == "prediction":
        if predicted is None:
            raise WidgetInputError("colouring by prediction needs predictions", "color_by")
        groups = [str(p) for p in predicted]
    elif by == "snr":
        snr = pd.to_numeric(meta["snr"], errors="coerce").to_numpy(np.float64)
        groups = []
        for s in snr:
            if not np.isfinite(s):
                groups.append("S/N unknown")
                continue
            k = int(np.searchsorted(_SNR_EDGES, s, side="right")) - 1
            lo, hi = _SNR_EDGES[k], _SNR_EDGES[k + 1]
            groups.append(f"S/N {lo:g}-{hi:g}" if np.isfinite(hi) else f"S/N > {lo:g}")
    else:
        raise WidgetInputError(f"color_by must be one of {COLOUR_BY}, got {by!r}", "color_by")
    # S/N bins in increasing order ("S/N 0-5" < "S/N 5-10" ...), other groups alphabetically
    order = sorted(set(groups), key=lambda g: (_snr_rank(g), g) if by == "snr" else (0, g))
    lookup = {g: _PALETTE[k % len(_PALETTE)] for k, g in enumerate(order)}
    return groups, [lookup[g] for g in groups]


def _snr_rank(group: str) -> float:
    if group == "S/N unknown":
        return np.inf
    return float(group.split()[-1].split("-")[0])


class EmbeddingExplorer:
    """Scatter of a 2-D embedding of ``features``, linked to the spectra.

    Parameters
    ----------
    features
        (N, F) feature vectors (e.g. ``model.forward_features`` outputs), one per spectrum.
    meta
        N-row table with ``label``/``snr``/``object_id`` (default: the spectra's metadata).
    spectra
        The N spectra (dataset, store or list of Spectrum) shown on selection.
    coords
        Precomputed (N, 2) coordinates; otherwise ``method`` computes them.
    predicted
        Predicted class name per row (enables colouring by prediction).
    inspector
        A :class:`SpectrumInspector` over the same rows; selections move it.
    """

    def __init__(self, features: np.ndarray | None, meta: pd.DataFrame | None, spectra: Any, *,
                 coords: np.ndarray | None = None, method: str = "tsne", predicted: Sequence[str] | None = None,
                 color_by: str = "label", inspector: "SpectrumInspector | None" = None, seed: int = 0,
                 max_shown: int = 8) -> None:
        self.spectra = spectra if isinstance(spectra, SpectraSource) else SpectraSource(spectra)
        n = len(self.spectra)
        self.meta = (self.spectra.table if meta is None else meta).reset_index(drop=True).copy()
        for col, default in (("label", None), ("snr", np.nan)):
            if col not in self.meta.columns:
                self.meta[col] = default
        if "object_id" not in self.meta.columns:
            self.meta["object_id"] = list(self.spectra.table["object_id"])
        if len(self.meta) != n:
            raise WidgetInputError(f"has {len(self.meta)} rows for {n} spectra", "meta")
        if coords is None:
            if features is None or len(features) != n:
                raise WidgetInputError(f"features must have one row per spectrum ({n})", "features")
            coords = embed(features, method, seed)
        self.coords = np.asarray(coords, np.float64)
        if self.coords.shape != (n, 2):
            raise WidgetInputError(f"coords must be ({n}, 2), got {self.coords.shape}", "coords")
        if predicted is None and inspector is not None and inspector.data.outputs is not None:
            predicted = inspector.data.outputs.predicted
        self.predicted = None if predicted is None else [str(p) for p in predicted]
        self.inspector = inspector
        self.max_shown = max_shown
        self.color_by = color_by
        self.selected: list[int] = []
        self._built = False
        colour_groups(self.meta, color_by, self.predicted)  # validate early

    # --------------------------------------------------------------- logic
    def points(self) -> dict[str, list]:
        """Columns of the scatter source."""
        groups, colours = colour_groups(self.meta, self.color_by, self.predicted)
        snr = pd.to_numeric(self.meta["snr"], errors="coerce").to_numpy(np.float64)
        return {"x": self.coords[:, 0], "y": self.coords[:, 1], "row": np.arange(len(self.meta)),
                "object_id": [str(v) for v in self.meta["object_id"]],
                "label": [str(v) for v in self.meta["label"]],
                "prediction": self.predicted or [""] * len(self.meta),
                "snr": snr, "group": groups, "colour": colours}

    def selected_spectra(self) -> dict[str, list]:
        """Multi-line columns of up to ``max_shown`` selected spectra, each divided by its median
        and offset by 1 (vacuum Angstrom on x)."""
        xs, ys, names, colours = [], [], [], []
        for k, row in enumerate(self.selected[: self.max_shown]):
            s = self.spectra.spectrum(row)
            good = s.good
            scale = np.nanmedian(np.abs(s.flux[good])) if good.any() else 1.0
            xs.append(s.wavelength)
            ys.append(np.where(good, s.flux / (scale or 1.0), np.nan) + k)
            names.append(self.spectra.object_id(row))
            colours.append(_PALETTE[k % len(_PALETTE)])
        return {"xs": xs, "ys": ys, "name": names, "colour": colours}

    def select(self, rows: Sequence[int]) -> None:
        """Select rows (as a tap or lasso does): draw them and move the linked inspector to the first."""
        rows = [int(r) for r in rows]
        bad = [r for r in rows if not 0 <= r < len(self.meta)]
        if bad:
            raise WidgetInputError(f"rows {bad} are outside 0..{len(self.meta) - 1}", "selection")
        self.selected = rows
        if self._built:
            self.lines.data = self.selected_spectra()
            self.info.text = f"{len(rows)} selected" + (f"; showing {min(len(rows), self.max_shown)}" if rows else "")
        if self.inspector is not None and rows:
            if rows[0] not in set(self.inspector.nav.selection.tolist()):
                self.inspector.set_filters(classes=None, snr_range=(-np.inf, np.inf), correctness="all")
            self.inspector.goto(row=rows[0])

    def set_color_by(self, by: str) -> None:
        colour_groups(self.meta, by, self.predicted)
        self.color_by = by
        if self._built:
            self.source.data = self.points()

    # ------------------------------------------------------------- display
    def _build(self) -> None:
        plotting = require("bokeh.plotting")
        models = require("bokeh.models")
        self.source = models.ColumnDataSource(self.points(), name="embedding_points")
        self.figure = plotting.figure(width=520, height=480, tools="tap,lasso_select,box_select,wheel_zoom,pan,reset",
                                      title="feature embedding (select points to show spectra)", name="embedding")
        self.figure.scatter("x", "y", source=self.source, color="colour", legend_field="group", size=7, alpha=0.8,
                            nonselection_alpha=0.2)
        self.figure.add_tools(models.HoverTool(tooltips=[("id", "@object_id"), ("label", "@label"),
                                                         ("predicted", "@prediction"), ("S/N", "@snr{0.0}")]))
        self.figure.legend.label_text_font_size = "8pt"
        self.lines = models.ColumnDataSource({"xs": [], "ys": [], "name": [], "colour": []}, name="embedding_spectra")
        self.spectra_figure = plotting.figure(width=560, height=480, title="selected spectra (median-normalised, offset)",
                                              x_axis_label="Wavelength (observed, vacuum) [Angstrom]",
                                              tools="xpan,xwheel_zoom,reset", name="embedding_spectra_figure")
        self.spectra_figure.multi_line("xs", "ys", source=self.lines, color="colour", line_width=1)
        self.info = models.Div(text="nothing selected", name="embedding_info")
        self.source.selected.on_change("indices", lambda attr, old, new: self.select(new))
        self._built = True

    @property
    def layout(self):
        """The bokeh layout (scatter beside the selected spectra)."""
        if not self._built:
            self._build()
        layouts = require("bokeh.layouts")
        return layouts.column(self.info, layouts.row(self.figure, self.spectra_figure))

    @property
    def widget(self):
        """ipywidgets box: colour selector + embedded bokeh layout."""
        w = require("ipywidgets")
        bokeh_model = bokeh_widget_class()
        options = [b for b in COLOUR_BY if b != "prediction" or self.predicted is not None]
        by = w.Dropdown(options=options, value=self.color_by, description="colour by")
        by.observe(lambda ch: self.set_color_by(ch["new"]), "value")
        return w.VBox([by, bokeh_model(self.layout)])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
