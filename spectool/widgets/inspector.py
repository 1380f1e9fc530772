"""``SpectrumInspector``: browse spectra in JupyterLab, compare with models and templates, record VI.

The inspector keeps its state in :mod:`spectool.widgets.state` objects, draws with
bokeh (embedded in ipywidgets through ``jupyter_bokeh.BokehModel``) and exports a
self-contained HTML page (:meth:`SpectrumInspector.to_html`) that works without a
kernel.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..spectrum import Spectrum
from .adapters import as_outputs, model_overlays, outputs_from_model
from .data import InspectorData, make_sources, push
from .state import (
    DEFAULT_LINE_SETS,
    DisplayOptions,
    Filters,
    Navigator,
    SpectraSource,
    WidgetInputError,
    as_overlays,
    select_rows,
)
from .templates import Template, class_templates, read_sdss_templates
from .vi import VIFile, VIRecord


class SpectrumInspector:
    """Interactive spectrum browser (prospect-like) for a dataset or a list of spectra.

    Parameters
    ----------
    data
        A :class:`~spectool.datasets.SpectralDataset`, :class:`~spectool.store.SpectrumStore`
        or list of :class:`~spectool.Spectrum`.
    model
        Optional spectool model: class probabilities / estimates are computed for all rows
        at start-up with :func:`spectool.predict`; integrated gradients, sliding-window
        importance and ECA/SE attention overlays (:mod:`spectool.explain`) per object when
        selected. Attributions need model-ready data (a preprocessed dataset).
    predictions
        Precomputed outputs instead of ``model``: a :func:`spectool.predict` table, an (N, K)
        array (with ``output_names``) or :class:`~spectool.widgets.state.ModelOutputs`.
    attributions
        Precomputed overlays: name -> (N, L) array (L = spectrum or model-input pixels) or
        function row -> array.
    templates
        "auto" (median spectrum per labelled class), None, a ``spEigen*.fits`` path, a list of
        :class:`~spectool.widgets.templates.Template` or of :class:`~spectool.Spectrum`.
    vi_file
        CSV/Parquet file for visual-inspection records; the inspector starts at the first
        object without a record.
    """

    def __init__(
        self,
        data: Any,
        model: Any = None,
        *,
        predictions: Any = None,
        output_names: Sequence[str] | None = None,
        attributions: dict[str, Any] | None = None,
        templates: Any = "auto",
        n_template_fits: int = 3,
        line_sets: Sequence[str] = DEFAULT_LINE_SETS,
        options: DisplayOptions | None = None,
        filters: Filters | None = None,
        vi_file: str | Path | None = None,
        reviewer: str = "",
    ) -> None:
        self.source = SpectraSource(data)
        self.model = model
        self.line_sets = list(line_sets)
        self.options = options or DisplayOptions()
        missing = [s for s in self.options.line_sets if s not in self.line_sets]
        if missing:
            raise WidgetInputError(f"visible line sets {missing} are not among line_sets {self.line_sets}", "line_sets")
        outputs = None
        if predictions is not None:
            outputs = as_outputs(predictions, output_names, None, len(self.source))
        overlays = as_overlays(attributions)
        template_list = self._templates(templates)
        self.n_template_fits = n_template_fits if template_list else 0
        self.data = InspectorData(self.source, outputs, overlays, template_list, n_template_fits)
        if model is not None:
            self._attach_model(model)
        self.filters = filters or Filters()
        self.nav = Navigator(select_rows(self.source.table, self.filters, self.data.correct))
        self.vi = None if vi_file is None else VIFile(vi_file, reviewer)
        if self.vi is not None and len(self.nav):
            ids = [self.source.object_id(int(r)) for r in self.nav.selection]
            self.nav.position = self.vi.resume_position(ids)
        self._redshift_override: float | None = self.options.redshift
        self._sources: dict[str, Any] | None = None
        self._figures = None
        self._controls = None
        self._widget = None

    # --------------------------------------------------------------- set-up
    def _templates(self, templates: Any) -> list[Template]:
        if templates is None:
            return []
        if isinstance(templates, str) and templates == "auto":
            return class_templates(self.source) if self.source.table["label"].notna().any() else []
        if isinstance(templates, (str, Path)):
            return read_sdss_templates(templates)
        out = []
        for t in templates:
            out.append(Template.from_spectrum(t) if isinstance(t, Spectrum) else t)
        if not all(isinstance(t, Template) for t in out):
            raise WidgetInputError("templates must be Template or Spectrum objects", "templates")
        return out

    def _attach_model(self, model: Any) -> None:
        if self.data.outputs is None:
            self.data.outputs = outputs_from_model(model, self.source)
        if self.source._dataset is not None:
            for name, fn in model_overlays(model, self.source, self.data.outputs).items():
                self.data.overlays.add(name, fn)

    # ---------------------------------------------------------------- state
    @property
    def row(self) -> int | None:
        """Current source row (None when no spectrum passes the filters)."""
        return self.nav.row

    @property
    def object_id(self) -> str | None:
        return None if self.row is None else self.source.object_id(self.row)

    @property
    def spectrum(self) -> Spectrum | None:
        return None if self.row is None else self.data.spectrum(self.row)

    @property
    def redshift(self) -> float:
        """Redshift in use: the user's value, else the current object's catalogue value."""
        if self._redshift_override is not None:
            return float(self._redshift_override)
        return 0.0 if self.row is None else float(self.source.table["redshift"].iat[self.row])

    @property
    def view_options(self) -> DisplayOptions:
        """The display options with the redshift in use filled in."""
        return self.options.with_(redshift=self.redshift)

    # -------------------------------------------------------------- actions
    def next(self) -> int | None:
        """Step to the next selected spectrum (stays on the last one)."""
        return self._moved(self.nav.next())

    def previous(self) -> int | None:
        return self._moved(self.nav.previous())

    def goto_position(self, position: int) -> int | None:
        """Jump to position ``position`` (0-based) among the selected spectra."""
        if not 0 <= position < max(len(self.nav), 1):
            raise WidgetInputError(f"position {position} is outside 0..{len(self.nav) - 1}", "index")
        self.nav.position = int(position)
        return self._moved(self.nav.row)

    def goto(self, row: int | None = None, object_id: str | None = None) -> int | None:
        """Jump to a source row or an object id (it must pass the filters)."""
        if (row is None) == (object_id is None):
            raise WidgetInputError("give exactly one of row= or object_id=", "goto")
        return self._moved(self.nav.goto_row(self.source.row_of(object_id) if object_id is not None else int(row)))

    def set_filters(self, **changes: Any) -> int | None:
        """Change filters (``classes``, ``snr_range``, ``correctness``); keeps the current object if it passes."""
        current = {"classes": self.filters.classes, "snr_range": self.filters.snr_range,
                   "correctness": self.filters.correctness}
        current.update(changes)
        filters = Filters(**current)
        selection = select_rows(self.source.table, filters, self.data.correct)
        self.filters = filters
        before = self.nav.row
        self.nav.reselect(selection)
        if self.nav.row != before:
            return self._moved(self.nav.row)
        self._refresh()
        return self.nav.row

    def set_options(self, **changes: Any) -> None:
        """Change display options (smoothing, frame, redshift, line_sets, show_noise, show_mask,
        template_rank, attribution)."""
        if "redshift" in changes:
            self._redshift_override = None if changes["redshift"] is None else float(changes["redshift"])
        if changes.get("attribution") is not None and changes["attribution"] not in self.data.overlays.names:
            raise WidgetInputError(f"no attribution {changes['attribution']!r}; have {self.data.overlays.names}",
                                   "attribution")
        self.options = self.options.with_(**changes)
        self._refresh()

    def toggle_line_set(self, name: str, visible: bool) -> None:
        """Show or hide one line set."""
        if name not in self.line_sets:
            raise WidgetInputError(f"unknown line set {name!r}; have {self.line_sets}", "line_sets")
        sets = [s for s in self.line_sets if (s in self.options.line_sets and s != name) or (s == name and visible)]
        self.options = self.options.with_(line_sets=tuple(sets))
        if self._figures is not None:
            for r in self._figures.line_renderers[name]:
                r.visible = bool(visible)
        if self._controls is not None:
            self._controls.sync(self)

    def save_vi(self, label: str = "", quality: int | None = None, comment: str = "") -> VIRecord:
        """Record a visual inspection of the current object in the VI file (replacing an earlier one)."""
        if self.vi is None:
            raise WidgetInputError("no VI file: create the inspector with vi_file='vi.csv'", "vi_file")
        if self.row is None:
            raise WidgetInputError("no current object (no spectrum passes the filters)", "vi")
        rec = VIRecord(self.object_id, label or "", quality, comment or "")
        self.vi.record(rec)
        if self._controls is not None:
            self._controls.vi_status.value = f"saved {rec.object_id} ({len(self.vi)} records)"
        return rec

    def _moved(self, row: int | None) -> int | None:
        self._redshift_override = None
        self._refresh()
        return row

    def _refresh(self) -> None:
        if self._sources is not None:
            self._draw()
        if self._controls is not None:
            self._controls.sync(self)

    def _draw(self) -> None:
        figs = self._figures
        if self.row is None:
            figs.title.text = "<b>no spectrum passes the filters</b>"
            self._sources["spec"].data = {k: [] for k in self._sources["spec"].data}
        else:
            push(self._sources, self.data, self.row, self.view_options, self.line_sets)
            figs.title.text = self.data.title(self.row, self.nav.position, len(self.nav))
            figs.spectrum.xaxis[0].axis_label = f"Wavelength ({self.options.frame} frame, vacuum) [Angstrom]"
            figs.centre_zoom(self._sources["spec"].data["x"], self._sources["spec"].data["flux"])
        for s, rs in figs.line_renderers.items():
            for r in rs:
                r.visible = s in self.options.line_sets

    # -------------------------------------------------------------- display
    @property
    def figures(self):
        """The bokeh figures (built on first use)."""
        if self._figures is None:
            from .figures import build_figures

            self._sources = make_sources(self.line_sets)
            kind = None if self.data.outputs is None else self.data.outputs.kind
            has_image = len(self.source) > 0 and self.source.image(self.row or 0) is not None
            self._figures = build_figures(self._sources, self.line_sets, self.options.line_sets,
                                          self.source.class_names, kind, has_image, self.options.frame)
            self._refresh()
        return self._figures

    @property
    def controls(self):
        """The ipywidgets controls (built on first use)."""
        if self._controls is None:
            from .controls import build_controls

            self._controls = build_controls(self)
            self._controls.sync(self)
        return self._controls

    @property
    def widget(self):
        """The whole inspector as one ipywidgets box (controls + bokeh figures + VI form)."""
        if self._widget is None:
            from ._deps import bokeh_widget_class, require

            w = require("ipywidgets")
            bokeh_model = bokeh_widget_class()
            figs = self.figures
            self._widget = w.VBox([self.controls.box, bokeh_model(figs.layout), self.controls.vi_box])
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def to_html(self, path: str | Path, max_objects: int = 50, title: str | None = None,
                attributions: Sequence[str] | None = None) -> Path:
        """Write a self-contained HTML page (inline BokehJS, no kernel, no network) of up to
        ``max_objects`` selected spectra, starting at the current one.

        ``attributions`` names the overlays to embed. By default only precomputed ones
        (arrays) are embedded: overlays computed by a model on demand (integrated gradients,
        sliding-window importance) cost seconds to minutes per spectrum on a CPU, so list
        them explicitly to compute them for every exported spectrum.

        The page keeps next/previous, position box, class/S/N/misclassified filters, smoothing,
        frame and redshift, line-set toggles, template and attribution overlays, hover zoom and a
        VI form (records kept in the browser and downloaded as CSV).
        """
        from .standalone import build_page, write_page

        if not len(self.nav):
            raise WidgetInputError("no spectrum passes the filters; nothing to export", path)
        if max_objects < 1:
            raise WidgetInputError(f"max_objects must be >= 1, got {max_objects}", "max_objects")
        rows = self.nav.selection[self.nav.position: self.nav.position + max_objects]
        kind = "synthetic mock spectra" if self.source.synthetic else "spectra"
        title = title or f"spectool inspector: {self.source.name} ({len(rows)} {kind})"
        names = self.data.overlays.precomputed if attributions is None else list(attributions)
        unknown = sorted(set(names) - set(self.data.overlays.names))
        if unknown:
            raise WidgetInputError(f"no attribution overlay {unknown}; have {self.data.overlays.names}", "attributions")
        doc = build_page(self.data, rows, self.options, self.line_sets, title, f"spectool-{Path(path).stem}", names)
        return write_page(doc, path, title)

    def __repr__(self) -> str:
        return (f"SpectrumInspector({len(self.source)} spectra, {len(self.nav)} selected, "
                f"current={self.object_id!r})")

