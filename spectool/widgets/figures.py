"""Bokeh figures of the inspector, drawn from the sources of :mod:`spectool.widgets.data`.

Every renderer a control changes carries a ``name`` (``flux``, ``noise``, ``model``,
``attr``, ``mask``, ``lines_<set>``, ``labels_<set>``, ``zoom_lines_<set>``), so the
kernel-side controls and the standalone page's JavaScript find them the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ._deps import require
from .data import LINE_COLOURS

#: Bokeh JavaScript of the hover zoom: centre the zoom window on the cursor, fit its y range.
HOVER_ZOOM_JS = """
const x = cb_obj.x;
if (x == null || !isFinite(x)) { return; }
const d = src.data, xs = d.x, fs = d.flux, ms = d.model;
const n = xs.length;
if (n < 2) { return; }
const half = frac * (xs[n - 1] - xs[0]);
const lo = x - half, hi = x + half;
zoom.x_range.setv({start: lo, end: hi});
box.setv({left: lo, right: hi});
let mn = Infinity, mx = -Infinity;
for (let i = 0; i < n; i++) {
  if (xs[i] < lo || xs[i] > hi) { continue; }
  for (const v of [fs[i], ms[i]]) {
    if (v != null && isFinite(v)) { mn = Math.min(mn, v); mx = Math.max(mx, v); }
  }
}
if (isFinite(mn)) {
  const pad = 0.08 * ((mx - mn) || Math.abs(mx) || 1);
  zoom.y_range.setv({start: mn - pad, end: mx + pad});
}
"""


@dataclass
class InspectorFigures:
    """The inspector's bokeh objects; ``layout`` is the whole display."""

    spectrum: Any
    zoom: Any
    title: Any
    meta: Any
    outputs: Any | None
    image: Any | None
    layout: Any
    line_renderers: dict[str, list[Any]] = field(default_factory=dict)

    def centre_zoom(self, x: Any, flux: Any, frac: float = 0.02) -> None:
        """Point the hover-zoom window at the deepest absorption or strongest peak (before any hover)."""
        x = np.asarray(x, np.float64)
        f = np.asarray(flux, np.float64)
        ok = np.isfinite(f)
        if ok.sum() < 3:
            return
        resid = np.abs(f - np.nanmedian(f[ok]))
        resid[~ok] = -1
        centre = x[int(np.argmax(resid))]
        half = frac * (x[-1] - x[0])
        near = ok & (np.abs(x - centre) <= half)
        lo, hi = float(f[near].min()), float(f[near].max())
        pad = 0.08 * ((hi - lo) or abs(hi) or 1.0)
        self.zoom.x_range.update(start=centre - half, end=centre + half)
        self.zoom.y_range.update(start=lo - pad, end=hi + pad)
        box = self.spectrum.select_one({"name": "zoom_box"})
        box.update(left=centre - half, right=centre + half)

    def renderer(self, name: str) -> Any:
        for r in self.spectrum.renderers:
            if r.name == name:
                return r
        raise KeyError(name)


def build_figures(
    sources: dict[str, Any],
    line_sets: Sequence[str],
    visible_sets: Sequence[str],
    class_names: Sequence[str] | None,
    outputs_kind: str | None,
    has_image: bool,
    frame_label: str = "observed",
    width: int = 900,
) -> InspectorFigures:
    """Build the spectrum figure, the hover zoom window, the metadata table, the model-output
    panel (bars for probabilities, a table for estimates) and the cutout, laid out together."""
    plotting = require("bokeh.plotting")
    models = require("bokeh.models")
    layouts = require("bokeh.layouts")

    spec = sources["spec"]
    fig = plotting.figure(width=width, height=380, tools="xpan,xwheel_zoom,box_zoom,reset,save",
                          active_scroll="xwheel_zoom", x_axis_label=f"Wavelength ({frame_label} frame, vacuum) [Angstrom]",
                          y_axis_label="Flux", name="spectrum_figure", output_backend="canvas")
    fig.extra_y_ranges = {"attr": models.Range1d(0, 3)}
    fig.add_layout(models.LinearAxis(y_range_name="attr", axis_label="|attribution| (normalised)"), "right")
    mask = fig.vstrip(x0="left", x1="right", source=sources["mask"], fill_color="#d62728", fill_alpha=0.15,
                      line_alpha=0, name="mask", legend_label="masked")
    attr = fig.varea(x="x", y1=0, y2="attr", source=spec, y_range_name="attr", fill_color="#E69F00", fill_alpha=0.35,
                     name="attr", legend_label="attribution")
    noise = fig.line("x", "noise", source=spec, color="#7f7f7f", line_width=1, name="noise", legend_label="noise 1/sqrt(ivar)")
    flux = fig.line("x", "flux", source=spec, color="#1f1f1f", line_width=1.1, name="flux", legend_label="flux")
    model = fig.line("x", "model", source=spec, color="#d62728", line_width=1.3, name="model", legend_label="template fit")
    fig.x_range = models.DataRange1d(renderers=[flux], range_padding=0.01)
    fig.y_range = models.DataRange1d(renderers=[flux, noise, model])
    fig.add_tools(models.HoverTool(renderers=[flux], mode="vline", tooltips=[
        ("lambda", "@x{0.0} A"), ("observed", "@wave{0.0} A"), ("flux", "@flux{0.000}"), ("noise", "@noise{0.000}")]))
    legend = fig.legend[0]
    legend.orientation = "horizontal"
    legend.click_policy = "hide"
    legend.label_text_font_size = "8pt"
    legend.padding = legend.margin = 2
    fig.add_layout(legend, "above")

    zoom = plotting.figure(width=width // 3, height=380, tools="", toolbar_location=None, name="zoom_figure",
                           x_range=models.Range1d(0, 1), y_range=models.Range1d(0, 1), title="hover zoom")
    zoom.line("x", "flux", source=spec, color="#1f1f1f", line_width=1.3)
    zoom.line("x", "model", source=spec, color="#d62728", line_width=1.3)
    zoom.vstrip(x0="left", x1="right", source=sources["mask"], fill_color="#d62728", fill_alpha=0.15, line_alpha=0)
    box = models.BoxAnnotation(left=0, right=0, fill_color="#56B4E9", fill_alpha=0.15, name="zoom_box")
    fig.add_layout(box)
    fig.js_on_event("mousemove", models.CustomJS(args=dict(src=spec, zoom=zoom, box=box, frac=0.02), code=HOVER_ZOOM_JS))

    line_renderers: dict[str, list[Any]] = {}
    for s in line_sets:
        src = sources[f"lines_{s}"]
        colour = LINE_COLOURS.get(s, "#444444")
        show = s in visible_sets
        r_main = fig.vspan(x="x", source=src, line_color=colour, line_dash="dashed", line_alpha=0.8, name=f"lines_{s}")
        labels = models.LabelSet(x="x", y=4, y_units="screen", text="name", source=src, angle=90, angle_units="deg",
                                 text_font_size="8pt", text_color=colour, x_offset=-2, name=f"labels_{s}")
        fig.add_layout(labels)
        r_zoom = zoom.vspan(x="x", source=src, line_color=colour, line_dash="dashed", name=f"zoom_lines_{s}")
        zlab = models.LabelSet(x="x", y=4, y_units="screen", text="name", source=src, angle=90, angle_units="deg",
                               text_font_size="8pt", text_color=colour, x_offset=-2, name=f"zoom_labels_{s}")
        zoom.add_layout(zlab)
        line_renderers[s] = [r_main, labels, r_zoom, zlab]
        for r in line_renderers[s]:
            r.visible = show

    title = models.Div(text="", name="title", width=width)
    meta = models.DataTable(source=sources["meta"], name="meta_table", width=340, height=260, index_position=None,
                            columns=[models.TableColumn(field="key", title="key", width=110),
                                     models.TableColumn(field="value", title="value", width=230)])
    outputs = None
    if outputs_kind == "classification":
        outputs = plotting.figure(x_range=models.FactorRange(*class_names), y_range=models.Range1d(0, 1.05),
                                  width=max(260, 26 * len(class_names)), height=260, tools="", toolbar_location=None,
                                  title="class probabilities", name="outputs_figure")
        outputs.vbar(x="name", top="value", width=0.8, color="colour", source=sources["outputs"])
        outputs.xaxis.major_label_orientation = 0.9
    elif outputs_kind == "regression":
        outputs = models.DataTable(source=sources["outputs"], width=320, height=200, index_position=None,
                                   name="outputs_table", columns=[
                                       models.TableColumn(field="name", title="parameter"),
                                       models.TableColumn(field="value", title="model estimate",
                                                          formatter=models.NumberFormatter(format="0.000")),
                                       models.TableColumn(field="catalogue", title="catalogue",
                                                          formatter=models.NumberFormatter(format="0.000"))])
    image = None
    if has_image:
        image = plotting.figure(width=260, height=260, tools="", toolbar_location=None, title="g,r,i cutout",
                                match_aspect=True, name="image_figure")
        image.image_rgba(image="image", x=0, y=0, dw="dw", dh="dh", source=sources["image"])
        image.axis.visible = False
        image.grid.visible = False
    bottom = [c for c in (meta, outputs, image) if c is not None]
    layout = layouts.column(title, layouts.row(fig, zoom), layouts.row(*bottom))
    return InspectorFigures(fig, zoom, title, meta, outputs, image, layout, line_renderers)
