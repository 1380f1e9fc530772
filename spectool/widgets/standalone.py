"""Self-contained HTML pages of the inspector (no Python kernel, no network).

All selected spectra are embedded in one ColumnDataSource (``all``, one row per
object); bokeh widgets drive a single JavaScript ``update`` that repeats what the
kernel-side inspector does in Python: filter, navigate, smooth (the same
ivar-weighted Gaussian as :func:`spectool.widgets.state.smooth`), switch frames,
move line markers with the redshift, pick the Nth template fit and the
attribution overlay. Visual-inspection records are kept in the browser's
localStorage (so reopening the page resumes) and downloaded as CSV.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._atomic import atomic_write_text
from ..lines import get_lines
from ._deps import require
from .data import InspectorData, make_sources, push
from .figures import build_figures
from .state import VI_QUALITY, DisplayOptions

UPDATE_JS = r"""
if (window.__spectoolBusy) { return; }
window.__spectoolBusy = true;
try {
  const A = all.data, N = A.object_id.length;
  // ---- selection (filters)
  const cls = ctl.cls.value, lo = ctl.snr.value[0], hi = ctl.snr.value[1];
  const snrOn = lo > ctl.snr.start || hi < ctl.snr.end;
  const misOnly = ctl.mis !== null && ctl.mis.active.includes(0);
  const sel = [];
  for (let i = 0; i < N; i++) {
    if (cls !== "all" && A.label[i] !== cls) { continue; }
    if (snrOn && !(A.snr[i] >= lo && A.snr[i] <= hi)) { continue; }
    if (misOnly && A.correct[i] !== 0) { continue; }
    sel.push(i);
  }
  let row = nav.data.row[0];
  if (cause === "resume") { row = nav.data.resume[0]; nav.data = {row: [-1], resume: nav.data.resume}; }
  if (sel.length === 0) {
    ctl.title.text = "<b>no spectrum passes the filters</b>";
    const empty = {};
    for (const k of Object.keys(spec.data)) { empty[k] = []; }
    spec.data = empty;
    return;
  }
  let cur = sel.indexOf(row);
  if (cur < 0) { cur = sel.findIndex(r => r >= row); if (cur < 0) { cur = sel.length - 1; } }
  let pos = cur;
  if (cause === "next") { pos = Math.min(cur + 1, sel.length - 1); }
  if (cause === "prev") { pos = Math.max(cur - 1, 0); }
  if (cause === "index") { pos = Math.min(Math.max(Math.round(ctl.index.value) - 1, 0), sel.length - 1); }
  const moved = sel[pos] !== nav.data.row[0] || cause === "resume";
  row = sel[pos];
  nav.data = {row: [row], resume: nav.data.resume};
  ctl.index.high = sel.length;
  ctl.index.value = pos + 1;
  // ---- redshift
  let z = ctl.z.value;
  if (moved) { z = A.z[row]; }
  if (cause === "ztext") {
    const t = parseFloat(ctl.ztext.value);
    if (isFinite(t) && t > -1) { z = t; }
  }
  if (z < ctl.z.start) { ctl.z.start = z; }
  if (z > ctl.z.end) { ctl.z.end = z; }
  ctl.z.value = z;
  ctl.ztext.value = z.toFixed(5);
  // ---- spectrum columns
  const wave = A.wave[row], raw = A.flux_raw[row], ivar = A.ivar[row], n = wave.length;
  const rest = ctl.frame.active === 1;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) { x[i] = rest ? wave[i] / (1 + z) : wave[i]; }
  const sigma = ctl.smooth.value;
  let flux = new Float64Array(n);
  if (sigma > 0) {
    const half = Math.max(1, Math.ceil(3 * sigma));
    const k = [];
    let ks = 0;
    for (let d = -half; d <= half; d++) { const v = Math.exp(-0.5 * (d / sigma) ** 2); k.push(v); ks += v; }
    for (let i = 0; i < n; i++) {
      let num = 0, den = 0;
      for (let d = -half; d <= half; d++) {
        const j = i + d;
        if (j < 0 || j >= n) { continue; }
        const w = (isFinite(raw[j]) && ivar[j] > 0) ? ivar[j] : 0;
        num += k[d + half] / ks * w * (w > 0 ? raw[j] : 0);
        den += k[d + half] / ks * w;
      }
      flux[i] = den > 0 ? num / den : NaN;
    }
  } else { flux = Float64Array.from(raw); }
  const showNoise = ctl.show.active.includes(0), showMask = ctl.show.active.includes(1);
  const noise = new Float64Array(n), attr = new Float64Array(n);
  for (let i = 0; i < n; i++) { noise[i] = (showNoise && ivar[i] > 0) ? 1 / Math.sqrt(ivar[i]) : NaN; }
  const rank = ctl.tmpl.options.indexOf(ctl.tmpl.value) - 1;
  let model = new Float64Array(n).fill(NaN);
  if (rank >= 0 && A["tmpl_" + rank] !== undefined && A["tmpl_" + rank][row].length === n) {
    model = Float64Array.from(A["tmpl_" + rank][row]);
  }
  if (ctl.attr.value !== "none") { attr.set(A["attr_" + ctl.attr.value][row]); }
  spec.data = {x: x, wave: Float64Array.from(wave), flux: flux, flux_raw: Float64Array.from(raw),
               ivar: Float64Array.from(ivar), noise: noise, attr: attr, model: model};
  // ---- masked-pixel runs (pixel edges in display units)
  const left = [], right = [];
  if (showMask && n > 1) {
    const edge = i => (i <= 0 ? 1.5 * x[0] - 0.5 * x[1] : (i >= n ? 1.5 * x[n - 1] - 0.5 * x[n - 2] : 0.5 * (x[i - 1] + x[i])));
    let start = -1;
    for (let i = 0; i <= n; i++) {
      const bad = i < n && !(ivar[i] > 0 && isFinite(raw[i]));
      if (bad && start < 0) { start = i; }
      if (!bad && start >= 0) { left.push(edge(start)); right.push(edge(i)); start = -1; }
    }
  }
  mask.data = {left: left, right: right};
  // ---- line markers
  const on = ctl.lines.active.map(k => ctl.lines.labels[k]);
  for (const s of Object.keys(linesrc)) {
    const L = linesrc[s].data, xs = [], rs = [], names = [];
    for (let k = 0; k < L.rest.length; k++) {
      const obs = L.rest[k] * (1 + z);
      if (obs < wave[0] || obs > wave[n - 1]) { continue; }
      xs.push(rest ? L.rest[k] : obs); rs.push(L.rest[k]); names.push(L.name[k]);
    }
    lines[s].data = {x: xs, rest: rs, name: names};
    for (const r of renderers[s]) { r.visible = on.includes(s); }
  }
  // ---- tables, model outputs, cutout, title
  // bokeh's DataTable redraws a same-length replacement only after a length change: empty it first
  meta.data = {key: [], value: []};
  meta.data = {key: A.meta_key[row], value: A.meta_val[row]};
  if (A.out_name !== undefined) {
    outputs.data = {name: [], value: [], catalogue: [], colour: []};
    outputs.data = {name: A.out_name[row], value: A.out_value[row], catalogue: A.out_cat[row], colour: A.out_colour[row]};
  }
  if (A.image !== undefined) {
    const img = A.image[row];
    image.data = {image: [img], dw: [img.shape ? img.shape[1] : A.image_w[row]], dh: [img.shape ? img.shape[0] : A.image_h[row]]};
  }
  ctl.xlabel.axis_label = "Wavelength (" + (rest ? "rest" : "observed") + " frame, vacuum) [Angstrom]";
  const vi = ctl.vi.data;
  const done = vi.object_id.length;
  ctl.title.text = A.title[row] + " &middot; (" + (pos + 1) + " of " + sel.length + " selected; VI " + done + " done)";
  // ---- visual inspection
  const oid = A.object_id[row];
  const at = vi.object_id.indexOf(oid);
  if (cause === "vi_save") {
    const rec = {object_id: oid, vi_label: ctl.vilabel.value, vi_quality: ctl.viq.active === null ? "" : qualities[ctl.viq.active],
                 vi_comment: ctl.vicomment.value, timestamp: new Date().toISOString()};
    const cols = {};
    for (const c of Object.keys(rec)) { cols[c] = Array.from(vi[c]); if (at >= 0) { cols[c][at] = rec[c]; } else { cols[c].push(rec[c]); } }
    ctl.vi.data = cols;
    try { window.localStorage.setItem(storekey, JSON.stringify(cols)); } catch (e) { }
    ctl.vistatus.text = "saved VI of " + oid + " (" + cols.object_id.length + " records)";
  } else if (moved) {
    ctl.vilabel.value = at >= 0 ? vi.vi_label[at] : (A.label[row] || ctl.vilabel.options[0]);
    ctl.viq.active = at >= 0 && vi.vi_quality[at] !== "" ? qualities.indexOf(Number(vi.vi_quality[at])) : null;
    ctl.vicomment.value = at >= 0 ? vi.vi_comment[at] : "";
    ctl.vistatus.text = at >= 0 ? "VI on file for " + oid : "";
  }
  if (cause === "vi_download") {
    const cols = ["object_id", "vi_label", "vi_quality", "vi_comment", "timestamp"];
    const q = v => '"' + String(v).replace(/"/g, '""') + '"';
    let csv = cols.join(",") + "\n";
    for (let i = 0; i < vi.object_id.length; i++) { csv += cols.map(c => q(vi[c][i])).join(",") + "\n"; }
    const blob = new Blob([csv], {type: "text/csv"});
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = storekey + "-vi.csv";
    document.body.appendChild(a); a.click(); a.remove();
  }
} finally {
  window.__spectoolBusy = false;
}
"""

#: On page load: restore VI records from localStorage and resume at the first object without one.
RESUME_JS = r"""
let cols = null;
try { cols = JSON.parse(window.localStorage.getItem(storekey) || "null"); } catch (e) { cols = null; }
if (cols && cols.object_id) {
  ctl.vi.data = cols;
  const A = all.data;
  let r = 0;
  while (r < A.object_id.length - 1 && cols.object_id.includes(A.object_id[r])) { r++; }
  nav.data = {row: nav.data.row, resume: [r]};
}
"""


def _ordinal(k: int) -> str:
    return {1: "best fit", 2: "2nd best fit", 3: "3rd best fit"}.get(k, f"{k}th best fit")


def embedded_columns(data: InspectorData, rows: Sequence[int], attributions: Sequence[str]) -> dict[str, list]:
    """One row per object: everything the page's JavaScript needs (float32 arrays keep pages small)."""
    table = data.source.table
    correct = data.correct
    cols: dict[str, list] = {k: [] for k in ("object_id", "label", "snr", "z", "correct", "title", "wave", "flux_raw",
                                             "ivar", "meta_key", "meta_val")}
    for k in range(data.n_fits if data.templates else 0):
        cols[f"tmpl_{k}"] = []
    for a in attributions:
        cols[f"attr_{a}"] = []
    if data.outputs is not None:
        cols.update(out_name=[], out_value=[], out_cat=[], out_colour=[])
    has_image = data.source.image(int(rows[0])) is not None
    if has_image:
        cols.update(image=[], image_w=[], image_h=[])
    for r in rows:
        r = int(r)
        spec = data.spectrum(r)
        bad = data.bad_pixels(spec)
        cols["object_id"].append(str(table["object_id"].iat[r]))
        cols["label"].append(table["label"].iat[r] or "")
        cols["snr"].append(float(table["snr"].iat[r]) if np.isfinite(table["snr"].iat[r]) else float("nan"))
        cols["z"].append(float(table["redshift"].iat[r]))
        cols["correct"].append(int(correct[r]))
        cols["title"].append(data.title(r))
        cols["wave"].append(spec.wavelength.astype(np.float32))
        cols["flux_raw"].append(np.where(np.isfinite(spec.flux), spec.flux, np.nan).astype(np.float32))
        cols["ivar"].append(np.where(bad, 0.0, spec.ivar).astype(np.float32))
        meta = data.meta_columns(r)
        cols["meta_key"].append(meta["key"])
        cols["meta_val"].append(meta["value"])
        if data.templates:
            fits = data.fits(r, float(table["redshift"].iat[r]))
            for k in range(data.n_fits):
                cols[f"tmpl_{k}"].append((fits[k].model if k < len(fits) else np.full(len(spec), np.nan)).astype(np.float32))
        for a in attributions:
            cols[f"attr_{a}"].append(data.attribution(a, r).astype(np.float32))
        if data.outputs is not None:
            out = data.output_columns(r)
            cols["out_name"].append(out["name"])
            cols["out_value"].append(out["value"])
            cols["out_cat"].append(out["catalogue"])
            cols["out_colour"].append(out["colour"])
        if has_image:
            img = data.image_columns(r)
            cols["image"].append(img["image"][0] if img["image"] else np.zeros((1, 1), np.uint32))
            cols["image_w"].append(img["dw"][0] if img["dw"] else 1)
            cols["image_h"].append(img["dh"][0] if img["dh"] else 1)
    return cols


def build_page(data: InspectorData, rows: Sequence[int], opts: DisplayOptions, line_sets: Sequence[str],
               page_title: str, page_key: str, attributions: Sequence[str]) -> Any:
    """The standalone bokeh Document for ``rows`` (source rows, in display order).

    ``page_key`` names the page's localStorage entry of VI records (and the CSV download).
    """
    models = require("bokeh.models")
    layouts = require("bokeh.layouts")
    rows = [int(r) for r in rows]
    attributions = list(attributions)
    sources = make_sources(line_sets)
    first = opts.with_(redshift=None)
    push(sources, data, rows[0], first, line_sets)
    kind = None if data.outputs is None else data.outputs.kind
    has_image = data.source.image(rows[0]) is not None
    figs = build_figures(sources, line_sets, opts.line_sets, data.source.class_names, kind, has_image, opts.frame)
    figs.title.text = data.title(rows[0]) + f" &middot; (1 of {len(rows)} selected)"
    figs.centre_zoom(sources["spec"].data["x"], sources["spec"].data["flux"])
    allsrc = models.ColumnDataSource(embedded_columns(data, rows, attributions), name="all")
    nav = models.ColumnDataSource({"row": [0], "resume": [0]}, name="nav")
    linesrc = {}
    for s in line_sets:
        lines = get_lines(s)
        linesrc[s] = models.ColumnDataSource({"rest": [ln.vacuum for ln in lines], "name": [ln.name for ln in lines]},
                                             name=f"linelist_{s}")
    table = data.source.table.iloc[rows]
    snr = table["snr"].to_numpy(np.float64)
    snr_lo, snr_hi = (float(np.nanmin(snr)), float(np.nanmax(snr))) if np.isfinite(snr).any() else (0.0, 1.0)
    zs = table["redshift"].to_numpy(np.float64)
    qualities = sorted(VI_QUALITY, reverse=True)
    labels = list(data.source.class_names) + ["other"]
    ctl = dict(
        prev=models.Button(label="< Previous", name="prev", width=110),
        next=models.Button(label="Next >", name="next", button_type="primary", width=110),
        index=models.Spinner(title="position", low=1, high=len(rows), step=1, value=1, width=90, name="index"),
        cls=models.Select(title="class", options=["all"] + list(data.source.class_names), value="all", width=110, name="cls"),
        snr=models.RangeSlider(title="S/N", start=snr_lo, end=max(snr_hi, snr_lo + 1e-6), value=(snr_lo, max(snr_hi, snr_lo + 1e-6)),
                               step=0.1, width=200, name="snr"),
        mis=(models.CheckboxGroup(labels=["misclassified only"], active=[], name="mis")
             if kind == "classification" and (data.correct >= 0).any() else None),
        smooth=models.Slider(title="smoothing sigma [pixels]", start=0, end=10, step=0.5, value=opts.smoothing,
                             width=200, name="smooth"),
        frame=models.RadioButtonGroup(labels=["observed", "rest"], active=int(opts.frame == "rest"), name="frame"),
        z=models.Slider(title="redshift", start=min(-0.01, float(zs.min()) - 0.05), end=max(0.1, float(zs.max()) + 0.5),
                        step=1e-4, value=float(zs[0]), format="0.0000", width=220, name="z"),
        ztext=models.TextInput(title="z", value=f"{zs[0]:.5f}", width=90, name="ztext"),
        lines=models.CheckboxGroup(labels=list(line_sets), active=[k for k, s in enumerate(line_sets) if s in opts.line_sets],
                                   inline=True, name="lines"),
        tmpl=models.Select(title="template overlay",
                           options=["none"] + [_ordinal(k + 1) for k in range(data.n_fits if data.templates else 0)],
                           value="none" if opts.template_rank is None else _ordinal(opts.template_rank + 1), width=130,
                           name="tmpl"),
        attr=models.Select(title="attribution", options=["none"] + attributions,
                           value=opts.attribution if opts.attribution in attributions else "none", width=150,
                          name="attr"),
        show=models.CheckboxGroup(labels=["noise", "masked pixels"],
                                  active=[k for k, on in enumerate((opts.show_noise, opts.show_mask)) if on], name="show"),
        vilabel=models.Select(title="VI label", options=labels, value=table["label"].iat[0] or labels[0], width=100,
                              name="vilabel"),
        viq=models.RadioButtonGroup(labels=[VI_QUALITY[q] for q in qualities], active=None, name="viq"),
        vicomment=models.TextInput(title="comment", value="", width=220, name="vicomment"),
        visave=models.Button(label="Save VI", button_type="success", width=90, name="visave"),
        vidownload=models.Button(label="Download VI CSV", width=140, name="vidownload"),
        vistatus=models.Div(text="", name="vistatus"),
        vi=models.ColumnDataSource({c: [] for c in ("object_id", "vi_label", "vi_quality", "vi_comment", "timestamp")},
                                   name="vi"),
        title=figs.title,
        xlabel=figs.spectrum.xaxis[0],
    )
    args = dict(all=allsrc, nav=nav, spec=sources["spec"], mask=sources["mask"], meta=sources["meta"],
                outputs=sources["outputs"], image=sources["image"],
                lines={s: sources[f"lines_{s}"] for s in line_sets}, linesrc=linesrc,
                renderers=figs.line_renderers, ctl=ctl, qualities=qualities, storekey=page_key)

    def callback(cause: str):
        return models.CustomJS(args=args, code=f"const cause = {cause!r};\n{UPDATE_JS}")

    ctl["prev"].js_on_click(callback("prev"))
    ctl["next"].js_on_click(callback("next"))
    ctl["visave"].js_on_click(callback("vi_save"))
    ctl["vidownload"].js_on_click(callback("vi_download"))
    for name, attr_ in (("index", "value"), ("cls", "value"), ("snr", "value"), ("smooth", "value"), ("frame", "active"),
                        ("z", "value"), ("ztext", "value"), ("lines", "active"), ("tmpl", "value"), ("attr", "value"),
                        ("show", "active")):
        ctl[name].js_on_change(attr_, callback(name))
    if ctl["mis"] is not None:
        ctl["mis"].js_on_change("active", callback("filter"))
    restore = models.CustomJS(args=args, code=RESUME_JS + "const cause = 'resume';\n" + UPDATE_JS)

    heading = models.Div(text=f"<h3 style='margin:4px 0'>{html.escape(page_title)}</h3>", name="heading")
    nav_row = layouts.row(ctl["prev"], ctl["next"], ctl["index"], ctl["cls"], ctl["snr"],
                          *([ctl["mis"]] if ctl["mis"] is not None else []))
    display_row = layouts.row(ctl["smooth"], ctl["frame"], ctl["z"], ctl["ztext"], ctl["tmpl"], ctl["attr"], ctl["show"])
    lines_row = layouts.row(models.Div(text="<b>line sets</b>"), ctl["lines"])
    vi_row = layouts.row(ctl["vilabel"], ctl["viq"], ctl["vicomment"], ctl["visave"], ctl["vidownload"], ctl["vistatus"])
    page = layouts.column(heading, nav_row, display_row, lines_row, figs.layout, vi_row, name="inspector_page")
    doc = require("bokeh.document").Document()
    doc.add_root(page)
    doc.title = page_title
    doc.js_on_event("document_ready", restore)
    return doc


def write_page(doc: Any, path: str | Path, title: str) -> Path:
    """Write the Document ``doc`` with inline BokehJS (works offline) atomically to ``path``."""
    embed = require("bokeh.embed")
    resources = require("bokeh.resources")
    path = Path(path)
    atomic_write_text(path, embed.file_html(doc, resources.INLINE, title))
    return path
