"""ipywidgets controls of :class:`~spectool.widgets.SpectrumInspector`.

Each control calls one inspector action (``next``, ``set_filters``, ``set_options``,
``save_vi``); the inspector writes back the values that follow from the state
(position, redshift of a new object, saved VI) with :meth:`Controls.sync`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._deps import require
from .state import CORRECTNESS, VI_QUALITY, snr_bounds

if TYPE_CHECKING:
    from .inspector import SpectrumInspector


@dataclass
class Controls:
    """The widgets (attribute per control), their ``box`` layout and the ``vi_box`` form."""

    prev: Any
    next: Any
    index: Any
    position: Any
    classes: Any
    snr: Any
    correctness: Any
    smoothing: Any
    frame: Any
    redshift: Any
    redshift_text: Any
    line_sets: dict[str, Any]
    noise: Any
    mask: Any
    template: Any
    attribution: Any
    vi_label: Any
    vi_quality: Any
    vi_comment: Any
    vi_save: Any
    vi_status: Any
    box: Any
    vi_box: Any = None
    _syncing: bool = False

    def sync(self, insp: "SpectrumInspector") -> None:
        """Show the inspector's current position, redshift and saved VI without re-triggering actions."""
        self._syncing = True
        try:
            n = len(insp.nav)
            self.index.max = max(n, 1)
            self.index.value = insp.nav.position + 1 if n else 1
            self.position.value = f"of {n} selected" + (f" (row {insp.row}, {insp.object_id})" if n else "")
            z = insp.redshift
            self.redshift.min = min(self.redshift.min, z)
            self.redshift.max = max(self.redshift.max, z)
            self.redshift.value = z
            self.redshift_text.value = z
            # display options changed by methods (set_options, toggle_line_set) show in the controls
            o = insp.options
            self.smoothing.value = o.smoothing
            self.frame.value = o.frame
            for s, box in self.line_sets.items():
                box.value = s in o.line_sets
            self.noise.value, self.mask.value = o.show_noise, o.show_mask
            if o.template_rank is None or o.template_rank < insp.n_template_fits:
                self.template.value = o.template_rank
            if o.attribution is None or o.attribution in insp.data.overlays.names:
                self.attribution.value = o.attribution
            rec = insp.vi.get(insp.object_id) if (insp.vi is not None and n) else None
            if rec is not None:
                self.vi_label.value = rec.label if rec.label in self.vi_label.options else self.vi_label.options[0]
                self.vi_quality.value = rec.quality
                self.vi_comment.value = rec.comment
                self.vi_status.value = f"VI on file for {rec.object_id}"
            elif n:
                label = insp.source.table["label"].iat[insp.row]
                self.vi_label.value = label if label in self.vi_label.options else self.vi_label.options[0]
                self.vi_quality.value = None
                self.vi_comment.value = ""
                self.vi_status.value = ""
        finally:
            self._syncing = False


def build_controls(insp: "SpectrumInspector") -> Controls:
    """Create the ipywidgets and connect them to ``insp``."""
    w = require("ipywidgets")
    table = insp.source.table
    lo, hi = snr_bounds(table)
    zmax = float(np.nanmax(table["redshift"].to_numpy(np.float64))) if len(table) else 0.0
    has_pred = insp.data.outputs is not None and insp.data.outputs.kind == "classification"
    opts = insp.options
    c = Controls(
        prev=w.Button(description="< Previous", layout=w.Layout(width="110px")),
        next=w.Button(description="Next >", button_style="primary", layout=w.Layout(width="110px")),
        index=w.BoundedIntText(value=1, min=1, max=max(len(insp.nav), 1), description="position",
                               layout=w.Layout(width="170px")),
        position=w.Label(),
        classes=w.SelectMultiple(options=list(insp.source.class_names), value=(), description="classes", rows=4,
                                 layout=w.Layout(width="220px")),
        snr=w.FloatRangeSlider(value=(lo, hi), min=lo, max=max(hi, lo + 1e-6), step=0.1, description="S/N",
                               continuous_update=False),
        correctness=w.Dropdown(options=list(CORRECTNESS), value="all", description="prediction",
                               disabled=not has_pred, layout=w.Layout(width="220px")),
        smoothing=w.FloatSlider(value=opts.smoothing, min=0, max=10, step=0.5, description="smooth [px]",
                                continuous_update=False),
        frame=w.ToggleButtons(options=["observed", "rest"], value=opts.frame, description="frame"),
        redshift=w.FloatSlider(value=0.0, min=min(-0.01, insp.redshift - 0.05), max=max(0.1, zmax + 0.5), step=1e-4,
                               readout_format=".4f", description="redshift", continuous_update=False),
        redshift_text=w.FloatText(value=0.0, description="z", layout=w.Layout(width="170px")),
        line_sets={s: w.Checkbox(value=s in opts.line_sets, description=s, indent=False, layout=w.Layout(width="100px"))
                   for s in insp.line_sets},
        noise=w.Checkbox(value=opts.show_noise, description="noise", indent=False, layout=w.Layout(width="80px")),
        mask=w.Checkbox(value=opts.show_mask, description="masked pixels", indent=False, layout=w.Layout(width="120px")),
        template=w.Dropdown(options=[("none", None)] + [(f"fit #{k + 1}", k) for k in range(insp.n_template_fits)],
                            value=opts.template_rank, description="template"),
        attribution=w.Dropdown(options=[("none", None)] + [(n, n) for n in insp.data.overlays.names],
                               value=opts.attribution, description="attribution"),
        vi_label=w.Dropdown(options=list(insp.source.class_names) + ["other"], description="VI label",
                            layout=w.Layout(width="200px")),
        vi_quality=w.ToggleButtons(options=[(VI_QUALITY[q], q) for q in sorted(VI_QUALITY, reverse=True)], value=None,
                                   description="quality"),
        vi_comment=w.Text(description="comment", placeholder="free text"),
        vi_save=w.Button(description="Save VI", button_style="success", disabled=insp.vi is None,
                         tooltip="needs vi_file=" if insp.vi is None else "save to the VI file"),
        vi_status=w.Label(),
        box=None,
    )

    def guarded(fn):
        def handler(change):
            if not c._syncing:
                fn(change)
        return handler

    c.prev.on_click(lambda _: insp.previous())
    c.next.on_click(lambda _: insp.next())
    c.index.observe(guarded(lambda ch: insp.goto_position(ch["new"] - 1)), "value")
    c.classes.observe(guarded(lambda ch: insp.set_filters(classes=tuple(ch["new"]) or None)), "value")
    c.snr.observe(guarded(lambda ch: insp.set_filters(
        snr_range=(-np.inf, np.inf) if tuple(ch["new"]) == (c.snr.min, c.snr.max) else tuple(ch["new"]))), "value")
    c.correctness.observe(guarded(lambda ch: insp.set_filters(correctness=ch["new"])), "value")
    c.smoothing.observe(guarded(lambda ch: insp.set_options(smoothing=float(ch["new"]))), "value")
    c.frame.observe(guarded(lambda ch: insp.set_options(frame=ch["new"])), "value")
    c.redshift.observe(guarded(lambda ch: insp.set_options(redshift=float(ch["new"]))), "value")
    c.redshift_text.observe(guarded(lambda ch: insp.set_options(redshift=float(ch["new"]))), "value")
    for s, box in c.line_sets.items():
        box.observe(guarded(lambda ch, s=s: insp.toggle_line_set(s, ch["new"])), "value")
    c.noise.observe(guarded(lambda ch: insp.set_options(show_noise=bool(ch["new"]))), "value")
    c.mask.observe(guarded(lambda ch: insp.set_options(show_mask=bool(ch["new"]))), "value")
    c.template.observe(guarded(lambda ch: insp.set_options(template_rank=ch["new"])), "value")
    c.attribution.observe(guarded(lambda ch: insp.set_options(attribution=ch["new"])), "value")
    c.vi_save.on_click(lambda _: insp.save_vi(c.vi_label.value, c.vi_quality.value, c.vi_comment.value))

    c.box = w.VBox([
        w.HBox([c.prev, c.next, c.index, c.position]),
        w.HBox([c.classes, w.VBox([c.snr, c.correctness])]),
        w.HBox([c.smoothing, c.frame]),
        w.HBox([c.redshift, c.redshift_text, c.template, c.attribution]),
        w.HBox([w.Label("lines:"), *c.line_sets.values(), c.noise, c.mask]),
    ])
    c.vi_box = w.VBox([w.HBox([c.vi_label, c.vi_comment, c.vi_save, c.vi_status]), c.vi_quality])
    return c
