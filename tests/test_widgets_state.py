"""Widget logic without a browser: state, filters, navigation, overlays, templates, VI files,
and the kernel-side inspector/explorers driven through their Python actions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spectool import Spectrum
from spectool.lines import get_lines
from spectool.store import SpectrumStore
from spectool.widgets import state as st
from spectool.widgets.data import InspectorData, rgb_image
from spectool.widgets.templates import Template, class_templates, fit_templates, read_sdss_templates
from spectool.widgets.vi import VIFile, VIRecord

NPIX = 600


def make_spectra(n: int = 8, seed: int = 0) -> list[Spectrum]:
    """Synthetic A/K-like spectra (deep vs shallow Balmer lines) with a masked run each."""
    rng = np.random.default_rng(seed)
    w = np.geomspace(3800, 9200, NPIX)
    out = []
    for i in range(n):
        cls = "A" if i % 2 else "K"
        f = np.ones(NPIX) * (1.5 if cls == "A" else 1.0)
        for ln in get_lines("balmer"):
            f -= (0.5 if cls == "A" else 0.1) * np.exp(-0.5 * ((w - ln.vacuum) / 8) ** 2)
        f += rng.normal(0, 0.02, NPIX)
        mask = np.zeros(NPIX, bool)
        mask[100 + 5 * i: 110 + 5 * i] = True
        out.append(Spectrum(w, f, np.full(NPIX, 2500.0), mask, {
            "object_id": f"mock-{i:03d}", "label": cls, "snr": 5.0 + 3 * i, "redshift": 0.0, "synthetic": True}))
    return out


@pytest.fixture
def spectra() -> list[Spectrum]:
    return make_spectra()


@pytest.fixture
def probs() -> np.ndarray:
    # rows 0..7 (labels K, A, K, A, ...); rows 2 and 5 are misclassified
    p = np.array([[0.1, 0.9], [0.8, 0.2], [0.7, 0.3], [0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.1, 0.9], [0.6, 0.4]])
    return p  # columns A, K


# ---------------------------------------------------------------------- filters / navigation
def test_filters_and_correctness(spectra, probs):
    src = st.SpectraSource(spectra)
    out = st.ModelOutputs("classification", ["A", "K"], probs)
    correct = st.correctness(list(src.table["label"]), out.predicted)
    assert correct.tolist() == [1, 1, 0, 1, 1, 0, 1, 1]
    assert st.select_rows(src.table, st.Filters(), correct).tolist() == list(range(8))
    assert st.select_rows(src.table, st.Filters(classes=("A",)), correct).tolist() == [1, 3, 5, 7]
    assert st.select_rows(src.table, st.Filters(snr_range=(10, 20)), correct).tolist() == [2, 3, 4, 5]
    assert st.select_rows(src.table, st.Filters(correctness="misclassified"), correct).tolist() == [2, 5]
    assert st.select_rows(src.table, st.Filters(classes=("A",), correctness="correct"), correct).tolist() == [1, 3, 7]
    with pytest.raises(st.WidgetInputError, match="needs model predictions"):
        st.select_rows(src.table, st.Filters(correctness="correct"), None)
    with pytest.raises(st.WidgetInputError, match="empty"):
        st.Filters(snr_range=(5, 1))


def test_navigator_steps_clamps_and_reselects():
    nav = st.Navigator(np.array([1, 3, 5, 7]))
    assert nav.row == 1
    assert nav.previous() == 1  # no wrap at the start
    assert [nav.next() for _ in range(4)] == [3, 5, 7, 7]  # stops at the end
    nav.goto_row(3)
    assert nav.position == 1
    with pytest.raises(st.WidgetInputError, match="not in the current selection"):
        nav.goto_row(2)
    assert nav.reselect(np.array([0, 2, 4, 6])) == 4  # next row after 3
    assert nav.reselect(np.array([0, 4])) == 4  # current row kept
    assert nav.reselect(np.array([], dtype=int)) is None


# ---------------------------------------------------------------------------- display arrays
def test_smooth_is_ivar_weighted_and_skips_masked():
    flux = np.array([1.0, 1.0, 100.0, 1.0, 1.0, 1.0, 1.0])
    ivar = np.ones(7)
    mask = np.zeros(7, bool)
    mask[2] = True
    out = st.smooth(flux, ivar, 1.0, mask)
    np.testing.assert_allclose(out, 1.0)  # the masked spike carries no weight
    spiky = st.smooth(flux, ivar, 1.0)
    assert spiky[2] < 100 and spiky[1] > 1  # without the mask it spreads out
    np.testing.assert_array_equal(st.smooth(flux, ivar, 0.0), flux)
    gone = st.smooth(flux, np.zeros(7), 2.0)
    assert np.isnan(gone).all()
    # matches a direct evaluation of sum(K w f) / sum(K w) at an interior pixel
    rng = np.random.default_rng(0)
    f, iv = rng.normal(size=50), rng.uniform(0.5, 2, 50)
    k = st.gaussian_kernel(2.0)
    i, h = 25, (len(k) - 1) // 2
    expect = np.sum(k * iv[i - h:i + h + 1] * f[i - h:i + h + 1]) / np.sum(k * iv[i - h:i + h + 1])
    assert st.smooth(f, iv, 2.0)[i] == pytest.approx(expect)


def test_noise_mask_intervals_frames_and_lines():
    np.testing.assert_allclose(st.noise(np.array([4.0, 0.0, 1.0])), [0.5, np.nan, 1.0])
    w = np.arange(10, dtype=float) * 2 + 100
    bad = np.zeros(10, bool)
    bad[[2, 3, 7]] = True
    lo, hi = st.mask_intervals(w, bad)
    np.testing.assert_allclose(lo, [103, 113])
    np.testing.assert_allclose(hi, [107, 115])
    np.testing.assert_allclose(st.display_wavelength(np.array([6000.0]), "rest", 0.5), [4000.0])
    obs = st.line_markers(["balmer"], "observed", 0.1, (3800, 9200))["balmer"]
    rest = st.line_markers(["balmer"], "rest", 0.1, (3800, 9200))["balmer"]
    np.testing.assert_allclose(obs["x"], rest["x"] * 1.1)
    assert "H alpha" in list(obs["name"])
    # at z = 0.5, H alpha (6565 A) moves to 9847 A, outside the range
    assert "H alpha" not in list(st.line_markers(["balmer"], "observed", 0.5, (3800, 9200))["balmer"]["name"])


def test_display_options_validate():
    with pytest.raises(st.WidgetInputError, match="unknown line set"):
        st.DisplayOptions(line_sets=("nope",))
    with pytest.raises(st.WidgetInputError, match="frame"):
        st.DisplayOptions(frame="galactic")
    with pytest.raises(st.WidgetInputError, match="smoothing"):
        st.DisplayOptions(smoothing=-1)
    assert st.DisplayOptions().with_(smoothing=2).smoothing == 2


def test_attribution_overlays_normalise_and_cache():
    calls = []

    def lazy(row):
        calls.append(row)
        return np.arange(5.0) - 2

    ov = st.Overlays({"lazy": lazy, "arr": np.ones((3, 5))})
    assert ov.get("lazy", 1).tolist() == [-2, -1, 0, 1, 2]
    ov.get("lazy", 1)
    assert calls == [1]
    np.testing.assert_allclose(st.normalise_attribution(np.array([-2.0, 1.0, 0.0]), 3), [1.0, 0.5, 0.0])
    keep = np.array([True, True, False, True])
    np.testing.assert_allclose(st.normalise_attribution(np.array([1.0, 2.0, 9.0, 4.0]), 3, keep), [0.25, 0.5, 1.0])
    with pytest.raises(st.WidgetInputError, match="4 values for a 2-pixel"):
        st.normalise_attribution(np.ones(4), 2, keep)
    with pytest.raises(st.WidgetInputError, match="no attribution overlay"):
        ov.get("missing", 0)


def test_source_from_store_and_columns(tmp_path, spectra):
    w = spectra[0].wavelength
    flux = np.vstack([s.flux for s in spectra] + [np.zeros(NPIX)])
    wave = np.concatenate([w, [np.nan] * 0])
    meta = pd.DataFrame({"object_id": [f"o{i}" for i in range(9)], "label": ["A", "K"] * 4 + ["A"],
                         "snr": np.arange(9.0), "fold_0": ["train"] * 9})
    store = SpectrumStore.write(tmp_path / "s", flux=flux, wavelength=wave, meta=meta,
                                info={"name": "tiny", "synthetic": True, "class_names": ["A", "K"]},
                                images=np.random.default_rng(0).random((9, 3, 16, 16)))
    src = st.SpectraSource(store)
    assert len(src) == 9 and src.class_names == ["A", "K"] and src.synthetic
    assert "fold_0" not in src.metadata(0)
    data = InspectorData(src)
    cols = data.spectrum_columns(1, st.DisplayOptions(smoothing=0))
    np.testing.assert_allclose(cols["flux"], flux[1], rtol=1e-6)
    assert data.image_columns(2)["image"][0].shape == (16, 16)
    assert "synthetic mock" in data.title(0)
    with pytest.raises(st.WidgetInputError, match="SpectralDataset"):
        st.SpectraSource([1, 2])


def test_rgb_image_maps_bands_to_channels():
    img = np.zeros((3, 4, 4))
    img[2] = 5.0  # i band only -> red
    rgba = rgb_image(img).view(np.uint8).reshape(4, 4, 4)
    assert rgba[..., 0].max() > 200 and rgba[..., 2].max() == 0 and (rgba[..., 3] == 255).all()
    with pytest.raises(st.WidgetInputError, match="g,r,i"):
        rgb_image(np.zeros((4, 4)))


# -------------------------------------------------------------------------------- templates
def test_class_templates_rank_the_true_class_first(spectra):
    src = st.SpectraSource(spectra)
    temps = class_templates(src)
    assert [t.name for t in temps] == ["class A", "class K"]
    for s in spectra[:4]:
        fits = fit_templates(s, temps)
        assert fits[0].name == f"class {s.meta['label']}"
        assert fits[0].rchi2 < fits[1].rchi2
        assert np.isfinite(fits[0].model).all()


def test_sdss_star_templates_recover_the_generating_archetype(templates_dir):
    temps = read_sdss_templates(templates_dir / "spEigenStar-55734.fits")
    assert len(temps) > 50 and temps[0].basis.shape[0] == 1
    pick = temps[17]
    rng = np.random.default_rng(3)
    w = np.geomspace(3900, 8800, 1500)
    z = 0.0003
    model = np.interp(w / (1 + z), pick.wavelength, pick.basis[0])
    flux = 2.5 * model + 0.3 + rng.normal(0, 0.01 * np.abs(model).mean(), w.size)
    spec = Spectrum(w, flux, np.full(w.size, 1 / (0.01 * np.abs(model).mean()) ** 2), meta={"redshift": z})
    fits = fit_templates(spec, temps[:40])
    assert fits[0].name == pick.name
    assert fits[0].rchi2 == pytest.approx(1.0, abs=0.3)
    gal = read_sdss_templates(templates_dir / "spEigenGal-56436.fits")
    assert len(gal) == 1 and gal[0].basis.shape[0] == 4


def test_template_errors(tmp_path):
    with pytest.raises(st.WidgetInputError, match="does not match"):
        Template("t", np.arange(5.0), np.ones((1, 4)))
    from spectool.errors import MissingDataError

    with pytest.raises(MissingDataError):
        read_sdss_templates(tmp_path / "missing.fits")


# ------------------------------------------------------------------------------ VI records
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_vi_file_saves_atomically_and_resumes(tmp_path, suffix):
    path = tmp_path / f"vi{suffix}"
    vi = VIFile(path, reviewer="ana")
    vi.record(VIRecord("a", "A", 4, 'fine, "clean"'))
    vi.record(VIRecord("b", "K", None, ""))
    vi.record(VIRecord("a", "A", 3, "changed"))  # replaces the first record
    again = VIFile(path)
    assert len(again) == 2
    assert again.get("a") == VIRecord("a", "A", 3, "changed", "ana")
    assert again.get("b").quality is None
    assert again.resume_position(["a", "b", "c", "d"]) == 2
    assert again.resume_position(["a", "b"]) == 1
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind
    with pytest.raises(st.WidgetInputError, match="quality"):
        VIRecord("x", quality=7)
    with pytest.raises(st.WidgetInputError, match=".csv"):
        VIFile(tmp_path / "vi.txt")


def test_vi_file_rejects_foreign_tables(tmp_path):
    from spectool.errors import CorruptFileError

    bad = tmp_path / "vi.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CorruptFileError, match="lacks columns"):
        VIFile(bad)


# ------------------------------------------------------------------- kernel-side inspector
def test_inspector_controls_drive_the_state(spectra, probs, tmp_path):
    from spectool.widgets import SpectrumInspector

    attr = np.random.default_rng(0).random((8, NPIX))
    insp = SpectrumInspector(spectra, predictions=probs, output_names=["A", "K"], attributions={"random": attr},
                             vi_file=tmp_path / "vi.csv", options=st.DisplayOptions(line_sets=("balmer",)))
    c = insp.controls
    figs = insp.figures
    src = insp._sources
    assert insp.row == 0 and "mock-000" in figs.title.text
    c.next.click()
    assert insp.row == 1 and c.index.value == 2 and "mock-001" in figs.title.text
    assert src["meta"].data["value"][0] == "mock-001"
    c.index.value = 5
    assert insp.row == 4
    c.prev.click()
    assert insp.row == 3
    # filters: misclassified only, then class K
    c.correctness.value = "misclassified"
    assert insp.nav.selection.tolist() == [2, 5] and insp.row == 5
    c.correctness.value = "all"
    c.classes.value = ("K",)
    assert set(insp.nav.selection.tolist()) == {0, 2, 4, 6}
    c.classes.value = ()
    # smoothing changes the drawn flux exactly as state.smooth does
    raw = np.array(src["spec"].data["flux"])
    c.smoothing.value = 2.0
    spec = insp.spectrum
    np.testing.assert_allclose(src["spec"].data["flux"], st.smooth(spec.flux, spec.ivar, 2.0, ~spec.good))
    assert not np.allclose(raw, src["spec"].data["flux"], equal_nan=True)
    # rest frame + redshift move x and the line markers consistently
    c.redshift_text.value = 0.1
    assert c.redshift.value == pytest.approx(0.1)
    c.frame.value = "rest"
    np.testing.assert_allclose(src["spec"].data["x"], spec.wavelength / 1.1)
    ha = src["lines_balmer"].data["name"].index("H alpha")
    assert src["lines_balmer"].data["x"][ha] == pytest.approx(src["lines_balmer"].data["rest"][ha])
    c.frame.value = "observed"
    assert src["lines_balmer"].data["x"][ha] == pytest.approx(src["lines_balmer"].data["rest"][ha] * 1.1)
    # moving on resets the redshift to the catalogue value
    c.next.click()
    assert insp.redshift == 0.0 and c.redshift_text.value == 0.0
    # line-set toggles drive renderer visibility
    assert not figs.renderer("lines_stellar").visible
    c.line_sets["stellar"].value = True
    assert figs.renderer("lines_stellar").visible and "stellar" in insp.options.line_sets
    c.line_sets["balmer"].value = False
    assert not any(r.visible for r in figs.line_renderers["balmer"])
    # overlays: template rank and attribution
    c.template.value = 0
    assert np.isfinite(src["spec"].data["model"]).all()
    c.template.value = 1
    second = np.array(src["spec"].data["model"])
    assert np.isfinite(second).all()
    c.attribution.value = "random"
    np.testing.assert_allclose(src["spec"].data["attr"], attr[insp.row] / attr[insp.row].max())
    c.noise.value = False
    assert np.isnan(src["spec"].data["noise"]).all()
    c.mask.value = False
    assert len(src["mask"].data["left"]) == 0
    c.mask.value = True
    assert len(src["mask"].data["left"]) == 1
    # probabilities panel: label bar green, predicted bar orange when they differ
    assert src["outputs"].data["value"] == pytest.approx(list(probs[insp.row]))
    # VI: save, reload, resume at the first uninspected object
    c.vi_label.value, c.vi_quality.value, c.vi_comment.value = "A", 4, "nice"
    first = insp.object_id
    c.vi_save.click()
    assert "saved" in c.vi_status.value
    insp.goto(row=0)
    insp.save_vi("K", 3, "")
    again = SpectrumInspector(spectra, predictions=probs, output_names=["A", "K"], vi_file=tmp_path / "vi.csv")
    assert again.row == 1  # rows 0 and `first` done; row 1 is the first without a record
    assert again.vi.get(first).comment == "nice"
    assert again.controls.vi_comment.value == ""
    again.goto(object_id=first)
    assert again.controls.vi_comment.value == "nice" and again.controls.vi_quality.value == 4


def test_inspector_embeds_in_ipywidgets_and_rejects_bad_input(spectra):
    from jupyter_bokeh import BokehModel

    from spectool.widgets import SpectrumInspector

    insp = SpectrumInspector(spectra, templates=None)
    box = insp.widget
    assert any(isinstance(ch, BokehModel) for ch in box.children)
    assert insp.controls.template.options == (("none", None),)
    insp.set_filters(snr_range=(100, 200))
    assert insp.row is None and "no spectrum" in insp.figures.title.text
    with pytest.raises(st.WidgetInputError, match="nothing to export"):
        insp.to_html("x.html")
    with pytest.raises(st.WidgetInputError, match="rows for 8 spectra"):
        SpectrumInspector(spectra, predictions=np.ones((3, 2)) / 2, output_names=["A", "K"])
    with pytest.raises(st.WidgetInputError, match="VI file"):
        SpectrumInspector(spectra).save_vi("A")


def test_embedding_explorer_selection_links_inspector(spectra):
    from spectool.widgets import EmbeddingExplorer, SpectrumInspector
    from spectool.widgets.embedding import colour_groups, embed

    insp = SpectrumInspector(spectra, templates=None, filters=st.Filters(classes=("A",)))
    feats = np.random.default_rng(0).normal(size=(8, 6))
    feats[1::2] += 5  # the A spectra form their own cluster
    xy = embed(feats, "pca")
    assert xy.shape == (8, 2)
    assert abs(xy[1::2, 0].mean() - xy[::2, 0].mean()) > 3
    ex = EmbeddingExplorer(feats, None, spectra, method="pca", inspector=insp)
    _ = ex.layout
    ex.source.selected.indices = [2, 4]  # what a lasso does
    assert ex.selected == [2, 4] and len(ex.lines.data["xs"]) == 2
    assert insp.row == 2  # filters were cleared to reach a K spectrum
    groups, colours = colour_groups(ex.meta, "snr")
    assert groups[0] == "S/N 5-10" and groups[-1] == "S/N 20-40" and len(set(colours)) == 3
    ex.set_color_by("label")
    assert set(ex.source.data["group"]) == {"A", "K"}
    with pytest.raises(st.WidgetInputError, match="needs predictions"):
        ex.set_color_by("prediction")
    with pytest.raises(st.WidgetInputError, match="coords"):
        EmbeddingExplorer(None, None, spectra, coords=np.zeros((3, 2)))


def test_tsne_embedding_runs(spectra):
    from spectool.widgets.embedding import embed

    xy = embed(np.random.default_rng(1).normal(size=(30, 4)), "tsne", seed=0)
    assert xy.shape == (30, 2) and np.isfinite(xy).all()


def test_attention_explorer_click_through(spectra):
    from spectool.widgets import AttentionExplorer, SpectrumInspector

    insp = SpectrumInspector(spectra, templates=None)
    rng = np.random.default_rng(0)
    weights = {"eca1": rng.random((4, 6)), "eca2": rng.random((4, 3))}
    maps = {"eca1": rng.random((4, 6, 50))}
    ae = AttentionExplorer(weights, spectra, rows=[7, 5, 3, 1], feature_maps=maps, inspector=insp)
    _ = ae.layout
    assert len(ae.heat_source.data["w"]) == 24
    ae.heat_source.selected.indices = [1 * 6 + 4]  # spectrum b=1 (row 5), channel 4
    assert ae.cell == (1, 4) and insp.row == 5
    assert "channel 4" in ae.spec_figure.title.text and "synthetic mock" in ae.spec_figure.title.text
    assert max(ae.spec_source.data["attr"]) == pytest.approx(1.0) and len(ae.spec_source.data["attr"]) == NPIX
    ae.set_module("eca2")
    assert len(ae.heat_source.data["w"]) == 12
    assert ae.overlay(0, 0)[0] == "no overlay"
    with pytest.raises(st.WidgetInputError, match="outside"):
        ae.select_cell(9, 0)
    with pytest.raises(st.WidgetInputError, match="does not match"):
        AttentionExplorer(weights, spectra, feature_maps={"eca1": rng.random((4, 5, 10))})


def _tiny_model(length: int):
    import torch
    import torch.nn as nn

    from spectool.models.base import SpectralModel

    class Gate(nn.Module):
        def forward(self, x):
            return torch.sigmoid(x.mean(-1, keepdim=True))

    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = Gate()

        def forward(self, x):
            return x * self.gate(x)

    class Tiny(SpectralModel):
        input_length = length

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 5, padding=2)
            self.se = SE()
            self.head = nn.Linear(4, 2)
            self.output_names = ["A", "K"]

        def forward_features(self, x, image=None):
            return self.se(self.conv(x)).mean(-1)

        def forward_head(self, f):
            return self.head(f)

    torch.manual_seed(0)
    return Tiny()


def test_model_argument_computes_outputs_and_overlays(tmp_path, spectra):
    from spectool.widgets import AttentionExplorer, SpectrumInspector

    flux = np.vstack([s.flux for s in spectra]).astype(np.float32)
    meta = pd.DataFrame({"object_id": [s.meta["object_id"] for s in spectra], "label": [s.meta["label"] for s in spectra],
                         "snr": [s.meta["snr"] for s in spectra]})
    store = SpectrumStore.write(tmp_path / "s", flux=flux, wavelength=spectra[0].wavelength, meta=meta,
                                info={"name": "tiny", "synthetic": True, "class_names": ["A", "K"], "preprocess": "mspcnet"})
    model = _tiny_model(NPIX)
    insp = SpectrumInspector(store, model=model, templates=None)
    out = insp.data.outputs
    assert out.values.shape == (8, 2) and np.allclose(out.values.sum(1), 1)
    assert {"integrated gradients", "sliding-window importance"} <= set(insp.data.overlays.names)
    insp.set_options(attribution="integrated gradients")
    _ = insp.figures
    attr = insp._sources["spec"].data["attr"]
    assert len(attr) == NPIX and max(attr) == pytest.approx(1.0)
    ae = AttentionExplorer.from_model(model, store, [0, 3, 5])
    assert ae.weights["se"].shape == (3, 4) and ae.feature_maps["se"].shape == (3, 4, NPIX)
    ae.select_cell(2, 1)
    assert ae.overlay(2, 1)[0] == "se channel 1 activation"


def test_methods_show_in_the_controls(spectra, probs):
    """Options changed by methods (as notebook 07 does) show in the widget's controls, so a
    person clicking afterwards starts from what is drawn (a toggled line set stayed unticked)."""
    from spectool.widgets import SpectrumInspector

    insp = SpectrumInspector(spectra, predictions=probs, output_names=["A", "K"],
                             options=st.DisplayOptions(line_sets=("balmer",)))
    c = insp.controls
    insp.toggle_line_set("stellar", True)
    insp.toggle_line_set("balmer", False)
    assert c.line_sets["stellar"].value is True and c.line_sets["balmer"].value is False
    insp.set_options(smoothing=3.5, frame="rest", show_noise=True)
    assert (c.smoothing.value, c.frame.value, c.noise.value) == (3.5, "rest", True)
    c.line_sets["stellar"].value = False   # the control still drives the state (not swallowed by sync)
    assert "stellar" not in insp.options.line_sets
