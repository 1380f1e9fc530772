"""Every catalog id of the paper layer draws a non-empty artefact of the expected structure
from small, hand-built result objects (no training); the sanity gate withholds numbers of
models that did not learn; the runner writes files and an HTML gallery."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spectool import papers
from spectool.demo import synthetic_spectrum
from spectool.explain import SPFUSION_GROUPS, AttentionOverlay, Attribution, FeatureMap, SlidingWindowResult
from spectool.papers import CATALOG, Result, RunSet, Source, Table
from spectool.papers.mspc import mspc_tab3
from spectool.papers.scanet import sca_tab1, sca_tab3
from spectool.papers.spfusion import spf_tab2, spf_tab3

SRC = Source(synthetic=True, mode="quick")
CLASSES = ["A", "F", "G", "K", "M"]
RNG = np.random.default_rng(0)


def _classification_runs(labels=("SSCNN", "RACNet", "ConvNeXt", "MSPC-Net"), groups=None, datasets=("mspc/SC-S>5",)):
    rows, preds, hists = [], {}, {}
    n = 60
    for d in datasets:
        for k, label in enumerate(labels):
            for fold in (0, 1):
                rows.append({"dataset": d, "label": label, "group": (groups or {}).get(label, ""), "fold": fold,
                             "seed": 42, "params": 1000 * (k + 1), "accuracy": 0.5 + 0.1 * k + 0.01 * fold,
                             "macro_f1": 0.4 + 0.1 * k})
            true = RNG.integers(0, len(CLASSES), n)
            pred = np.where(RNG.random(n) < 0.7, true, RNG.integers(0, len(CLASSES), n))
            probs = RNG.dirichlet(np.ones(len(CLASSES)), n)
            preds[(d, label)] = pd.DataFrame({
                "object_id": [f"o{i}" for i in range(n)], "row": np.arange(n), "snr": RNG.uniform(5, 120, n),
                "true_label": np.array(CLASSES)[true], "pred_label": np.array(CLASSES)[pred],
                "pred_prob": probs.max(1), **{f"prob_{c}": probs[:, j] for j, c in enumerate(CLASSES)}})
            hists[(d, label)] = pd.DataFrame({"epoch": np.arange(12), "train_acc": np.linspace(0.2, 0.9, 12),
                                              "val_acc": np.linspace(0.2, 0.8, 12),
                                              "train_loss": np.linspace(2, 0.3, 12), "val_loss": np.linspace(2, 0.5, 12)})
    return RunSet(pd.DataFrame(rows), preds, hists, {d: CLASSES for d in datasets})


def _regression_runs(labels, targets, groups=None, n=50):
    rows, preds, hists = [], {}, {}
    d = "spfusion/redclump" if "mass" in targets else "scanet/AFGK"
    scale = {"mass": 0.3, "age": 3.0, "teff": 800.0, "logg": 1.0, "feh": 0.5}
    for k, label in enumerate(labels):
        for fold in (0, 1):
            rows.append({"dataset": d, "label": label, "group": (groups or {}).get(label, ""), "fold": fold, "seed": 42,
                         "params": 10_000 * (k + 1),
                         **{f"{m}_{t}": scale[t] * (0.1 + 0.01 * k) for t in targets for m in ("mae", "rmse")}})
        cols = {"object_id": [f"o{i}" for i in range(n)], "row": np.arange(n), "snr": RNG.uniform(5, 120, n)}
        for t in targets:
            true = RNG.normal(1.0, 0.2, n) * scale[t] * 5
            cols[f"true_{t}"], cols[t] = true, true + RNG.normal(0, scale[t] * 0.1, n)
        preds[(d, label)] = pd.DataFrame(cols)
        hists[(d, label)] = pd.DataFrame({"epoch": np.arange(25), "train_loss": np.linspace(1, 0.1, 25),
                                          "val_loss": np.linspace(1, 0.2, 25)})
    return RunSet(pd.DataFrame(rows), preds, hists)


@pytest.fixture(scope="module")
def inputs() -> dict[str, Result]:
    """One hand-built Result per step name."""
    from spectool import preprocess as P

    sdss = synthetic_spectrum(seed=1, survey="sdss")
    lamost = synthetic_spectrum(seed=2, survey="lamost")
    spectra = {"sdss": (sdss, P.mspcnet(sdss)), "lamost": (lamost, P.mspcnet(lamost)), "scanet": (lamost, P.scanet(lamost))}
    wave = np.linspace(4000, 9000, 300)
    maps = {"embed": FeatureMap("embed", RNG.normal(size=(16, 300)), wave),
            "mixer": FeatureMap("mixer", RNG.normal(size=(16, 300)), wave)}
    spf_groups = {"no star operator": "Table 3 star operator", "star operator": "Table 3 star operator",
                  "kernel 3": "Table 4 kernel size", "ratio 2": "Table 5 FFN ratio", "heads 2": "Table 6 heads",
                  "2 blocks": "Table 7 MetaFormer blocks"}
    mspc_groups = {"identity 5/8": "(a) identity ratio", "identity 1/4": "(a) identity ratio",
                   "kernels [3, 9, 27]": "(b) kernel sizes", "attention none": "(d) attention"}
    w = np.linspace(3700, 5500, 400)
    nw = 50
    centres = np.linspace(4010, 8080, nw)
    sw = SlidingWindowResult(importance=RNG.random((nw, 3)), signed=RNG.normal(size=(nw, 3)), wavelength=centres,
                             lo=centres - 7.5, hi=centres + 7.5, pixels=np.stack([np.arange(nw), np.arange(nw) + 15], 1),
                             output_names=["teff", "logg", "feh"], input_length=4096, fill="continuum", window=15.0,
                             step=5.0, n_samples=4, quantity="output")
    overlay = AttentionOverlay(wavelength=w, flux=np.sin(w / 50), weight=RNG.random(w.size), position_weight=RNG.random(20),
                               position_wavelength=np.linspace(3700, 5500, 20), threshold=0.5,
                               regions=[(4000.0, 4100.0)], lines=[], layer="head.se", field=None)
    attribution = Attribution(RNG.normal(size=(4, w.size)), w, "ig", "mass")
    r = lambda data: Result(data, SRC)  # noqa: E731
    return {
        "spectra": r(spectra),
        "datasets": r(pd.DataFrame({"type": ["stellar classes"] * 2, "dataset": ["SC-S>5", "SC-L>5"], "categories": [7, 6],
                                    "paper count": [14000, 12000], "count here": [280, 240]})),
        "mspc_design": r(pd.DataFrame({"model": ["mspcnet_sdss"] * 2, "stage": ["stage 1", "total"],
                                       "output size": ["128x3582", ""], "layers": ["x", "y"], "params": [1, 2]})),
        "mspc_classes": r(_classification_runs()),
        "mspc_eval": r(_classification_runs()),
        "mspc_subclasses": r(_classification_runs(("ConvNeXt", "MSPC-Net"))),
        "mspc_full_classification": r(_classification_runs(("ConvNeXt", "MSPC-Net"), datasets=("mspc/FC-S", "mspc/FC-L"))),
        "mspc_ablation": r(_classification_runs(tuple(mspc_groups), mspc_groups)),
        "mspc_large": r(_classification_runs(("ConvNeXt (selected)", "ConvNeXt (large-parameter)"))),
        "mspc_embedding": r({m: pd.DataFrame({"x": RNG.normal(size=40), "y": RNG.normal(size=40),
                                              "label": RNG.choice(CLASSES, 40)}) for m in ("SSCNN", "MSPC-Net")}),
        "mspc_feature_maps": r({"maps": maps, "groups": {"mixer": {"k=5": (0, 4), "identity": (4, 16)}},
                                "titles": {"embed": "regular", "mixer": "MSPC"}}),
        "mspc_crossmatch": r(pd.DataFrame({"prediction": ["correct", "correct", "incorrect", "incorrect"],
                                           "agreement": ["agree", "disagree", "agree", "disagree"],
                                           "count": [40, 3, 5, 12]})),
        "mspc_misclassified": r({"wavelength": wave, "flux": np.sin(wave / 100), "true": "G", "predicted": "K",
                                 "object_id": "o1", "templates": {"G": np.sin(wave / 100), "K": np.cos(wave / 100)}}),
        "spf_splits": r(pd.DataFrame({"fold": [1, 2, 3], "train": [140] * 3, "val": [60] * 3, "test": [100] * 3,
                                      "total": [300] * 3})),
        "spf_models": r(_regression_runs(["SSCNN", "RAC-Net", "ConvNeXt 1D", "SPFusion"], ["mass", "age"])),
        "spf_ablation": r(_regression_runs(list(spf_groups), ["mass", "age"], spf_groups)),
        # the S/N-binned figures draw bins with >= 20 spectra: evaluated on a larger set
        "spf_eval": r(_regression_runs(["SSCNN", "RAC-Net", "ConvNeXt 1D", "SPFusion"], ["mass", "age"], n=600)),
        "spf_star_eval": r(_regression_runs(list(spf_groups), ["mass", "age"], spf_groups, n=600)),
        "spf_attention": r({"weights": RNG.random((16, 96)), "groups": SPFUSION_GROUPS, "model": "test"}),
        "spf_overlay": r({"overlay": overlay, "attribution": attribution}),
        "sca_labels": r(pd.DataFrame({"teff": RNG.uniform(3800, 8400, 100), "logg": RNG.uniform(1, 4.8, 100),
                                      "feh": RNG.uniform(-2.4, 0.7, 100)})),
        "sca_variants": r(_regression_runs(["M-M-M-M", "M-M-M-T", "M-M-T-T", "M-T-T-T", "T-T-T-T"],
                                           ["teff", "logg", "feh"])),
        "sca_eval": r(_regression_runs(["M-M-T-T"], ["teff", "logg", "feh"])),
        "sca_complexity": r(pd.DataFrame({"variant": ["M-M-T-T"] * 2, "block": ["MBConv", "standard conv"],
                                          "params (M)": [67.3, 70.1], "GMAC": [4.5, 22.6], "CPU latency (ms)": [30.0, np.nan]})),
        "sca_sliding": r(sw),
    }


#: Figures: minimum number of panels with drawn data. Tables: (rows, a column that must be present).
FIGURE_PANELS = {"mspc-fig1": 4, "mspc-fig4": 2, "mspc-fig5": 2, "mspc-fig6": 4, "mspc-fig7": 2, "mspc-fig8": 1,
                 "mspc-fig9": 2, "spf-fig2": 2, "spf-fig3": 4, "spf-fig4": 4, "spf-fig5": 1, "spf-fig6": 1,
                 "spf-fig7": 1, "spf-fig8": 1, "spf-fig9": 1, "spf-fig10": 1, "sca-fig1": 3, "sca-fig2": 2,
                 "sca-fig3": 1, "sca-fig6": 2, "sca-fig7": 6, "sca-fig8": 3}
TABLE_SHAPE = {"mspc-tab1": (2, "paper count"), "mspc-tab2": (2, "params"), "mspc-tab3": (4, ("Accuracy (%)", "Avg")),
               "mspc-tab4": (2, ("F1-score (%)", "fold2")), "mspc-tab5": (5, ("MSPC-Net", "top-1 FN")),
               "mspc-tab6": (4, ("Accuracy (%)", "Std")), "mspc-tab7": (4, "Accuracy (%)"),
               "mspc-tab8-17": (4, "F1-score (%)"), "mspc-tab18": (2, "size"), "spf-tab1": (3, "test"),
               "spf-tab2": (16, "MAE mass (Msun)"), "spf-tab3": (2, "MAE age (Gyr)"), "spf-tab4": (1, "MAE mass (Msun)"),
               "spf-tab5": (1, "runs"), "spf-tab6": (1, "runs"), "spf-tab7": (1, "runs"), "sca-tab1": (5, "teff MAE"),
               "sca-tab2": (2, "GMAC"), "sca-tab3": (4, "MAE Teff [K]")}


def test_catalog_covers_figure_catalog_ids():
    assert set(FIGURE_PANELS) | set(TABLE_SHAPE) == set(CATALOG)
    assert not set(FIGURE_PANELS) & set(TABLE_SHAPE)
    for fid, entry in CATALOG.items():
        assert callable(entry.function) and entry.caption and entry.step
        assert entry.kind == ("table" if fid in TABLE_SHAPE else "figure")


@pytest.mark.parametrize("fid", list(FIGURE_PANELS))
def test_figure_structure(fid, inputs):
    import matplotlib.pyplot as plt

    entry = CATALOG[fid]
    fig = entry.function(inputs[entry.step])
    try:
        drawn = [ax for ax in fig.axes if ax.lines or ax.collections or ax.images or ax.patches]
        assert len(drawn) >= FIGURE_PANELS[fid], f"{fid}: {len(drawn)} panels with data"
        assert "synthetic mock" in fig._suptitle.get_text()
        assert any(ax.get_xlabel() for ax in drawn) and any(ax.get_ylabel() for ax in drawn)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("fid", list(TABLE_SHAPE))
def test_table_structure(fid, inputs):
    entry = CATALOG[fid]
    tab = entry.function(inputs[entry.step])
    assert isinstance(tab, Table)
    rows, column = TABLE_SHAPE[fid]
    assert len(tab.frame) == rows
    assert column in tab.frame.columns
    assert "synthetic mock" in tab.title
    md = tab.to_markdown()
    assert sum(line.startswith("|") for line in md.splitlines()) == rows + 2  # header, separator, rows
    assert len(tab.flat().columns) >= 2


def test_published_values_are_labelled(inputs):
    spf = spf_tab2(inputs["spf_models"]).frame
    assert (spf["values"] == "published values, not recomputed").sum() == 12
    assert spf["values"].str.startswith("spectool").sum() == 4
    sca = sca_tab3(inputs["sca_variants"]).frame
    assert sca.loc[sca["method"] == "GSN", "MAE Teff [K]"].item() == 80.0
    assert "measured here" in sca["values"].iloc[-1]


def test_real_source_label():
    src = Source(synthetic=False, mode="full", name="/data/lamost")
    assert src.label == "real data (/data/lamost), full mode"


def test_wrong_input_raises_typed_error(inputs):
    with pytest.raises(papers.PlotInputError, match="mspc-tab3"):
        mspc_tab3(inputs["datasets"])
    with pytest.raises(papers.PlotInputError, match="spf-tab3"):
        spf_tab3(Result(_regression_runs(["x"], ["mass", "age"]), SRC))


def _gated(runs: RunSet, bad_label: str) -> RunSet:
    """``runs`` with sanity-gate columns: every run learned except those of ``bad_label``."""
    res = runs.results.copy()
    res["learned"] = res["label"] != bad_label
    if "accuracy" in res.columns:
        res["baseline_accuracy"] = 0.2
    else:
        for c in [c for c in res.columns if c.startswith("mae_")]:
            res[f"baseline_{c}"] = 1.0
    return RunSet(res, runs.predictions, runs.histories, runs.class_names)


def test_sanity_gate_withholds_numbers_of_models_that_did_not_learn():
    tab = mspc_tab3(Result(_gated(_classification_runs(), "RACNet"), SRC))
    frame = tab.frame
    verdict = frame[("learned?", "")]
    bad = [i for i in frame.index if i[1] == "RACNet"][0]
    good = [i for i in frame.index if i[1] == "MSPC-Net"][0]
    assert verdict[bad].startswith("NO") and "majority class 20.0 %" in verdict[bad]
    assert verdict[good].startswith("yes")
    assert np.isnan(frame.loc[bad, ("Accuracy (%)", "Avg")]) and frame.loc[good, ("Accuracy (%)", "Avg")] > 50
    assert "SANITY GATE" in tab.caption and "RACNet" in tab.caption
    sca = sca_tab1(Result(_gated(_regression_runs(["M-M-T-T", "T-T-T-T"], ["teff", "logg", "feh"]), "T-T-T-T"), SRC))
    row = sca.frame.loc[("scanet/AFGK", "T-T-T-T")]
    assert row["learned?"].startswith("NO") and row["teff MAE"] == "-"
    assert sca.frame.loc[("scanet/AFGK", "M-M-T-T"), "teff MAE"] != "-"
    withheld = sca_tab3(Result(_gated(_regression_runs(["M-M-T-T"], ["teff", "logg", "feh"]), "M-M-T-T"), SRC))
    assert np.isnan(withheld.frame["MAE Teff [K]"].iloc[-1]) and "NOT LEARNED" in withheld.frame["values"].iloc[-1]
    group = "Table 3 star operator"
    spf = spf_tab3(Result(_gated(_regression_runs(["no star operator", "star operator"], ["mass", "age"],
                                                  {"no star operator": group, "star operator": group}),
                                 "no star operator"), SRC)).frame
    # a withheld arm keeps its group and label; only its numbers go
    assert list(spf.index) == [(group, "no star operator"), (group, "star operator")]
    assert spf.loc[(group, "no star operator"), "learned?"].startswith("NO")
    assert spf.loc[(group, "no star operator"), "MAE mass (Msun)"] == "-"
    assert spf.loc[(group, "star operator"), "MAE mass (Msun)"] != "-"


def test_sanity_gate_is_a_paired_test_on_each_runs_test_predictions(monkeypatch):
    """A run that beats the majority class by a margin its 20 test spectra give by chance is
    NOT learned; the same margin on 2000 spectra is; a regression is gated per target."""
    from types import SimpleNamespace

    from spectool.papers._context import sanity_gate
    from spectool.train import FitResult
    from spectool.train.metrics import GATE_Z

    true = np.array(["a"] * 10 + ["b"] * 10)
    lucky = np.array(["a"] * 10 + ["b"] * 2 + ["a"] * 8)  # 60 % against a 50 % majority class
    rng = np.random.default_rng(1)
    mass = rng.normal(1.2, 0.3, 300)
    tables = {"small": pd.DataFrame({"true_label": true, "pred_label": lucky}),
              "large": pd.DataFrame({"true_label": np.tile(true, 100), "pred_label": np.tile(lucky, 100)}),
              "reg": pd.DataFrame({"true_mass": mass, "mass": mass + rng.normal(0, 0.05, 300),
                                   "true_age": mass, "age": np.median(mass) + rng.normal(0, 0.3, 300)})}
    monkeypatch.setattr(FitResult, "load", staticmethod(lambda d: SimpleNamespace(predictions=tables[str(d)])))
    cls = sanity_gate(pd.DataFrame({"run_dir": ["small", "large"], "accuracy": [0.6, 0.6]}), ctx=None)
    assert list(cls["learned"]) == [False, True]
    assert list(cls["baseline_accuracy"]) == [0.5, 0.5]
    assert cls["gate_z"].iloc[0] < GATE_Z < cls["gate_z"].iloc[1]
    reg = sanity_gate(pd.DataFrame({"run_dir": ["reg"], "mae_mass": [0.04], "mae_age": [0.3]}), ctx=None)
    assert bool(reg["learned_mass"].iloc[0]) and not bool(reg["learned_age"].iloc[0])
    assert not reg["learned"].iloc[0] and reg["gate_z_mass"].iloc[0] > GATE_Z
    # the verdict texts carry the lowest z, so a reader sees how clear the margin is
    from spectool.papers._common import verdicts

    v = verdicts(cls.assign(dataset="d", label=["lucky", "large"]))
    z_small, z_large = cls["gate_z"]
    assert v[("d", "lucky")].startswith("NO") and f"lowest z {z_small:.1f}" in v[("d", "lucky")]
    assert v[("d", "large")].startswith("yes") and f"lowest z {z_large:.1f}" in v[("d", "large")]


def test_parameters_figure_names_the_models_it_does_not_draw():
    """spf-fig2: a spectool row the sanity gate withheld has no point, so its legend entry
    says it was not learned and not drawn, and the title names it."""
    runs = _gated(_regression_runs(["SSCNN", "RAC-Net", "SPFusion"], ["mass", "age"]), "RAC-Net")
    fig = CATALOG["spf-fig2"].function(Result(runs, SRC))
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "RAC-Net (spectool, mock; not learned, not drawn)" in legend
    assert "SSCNN (spectool, mock)" in legend and "SSCNN (paper)" in legend
    title = fig._suptitle.get_text()
    assert "SANITY GATE" in title and "RAC-Net" in title


def test_star_fusion_snr_figure_gates_only_the_arms_it_draws():
    """spf-fig7 draws the star on/off arms of the whole ablation run set: its gate names and
    the legend flags only those two, not the other 14 arms."""
    groups = {"no star operator": "Table 3 star operator", "star operator": "Table 3 star operator",
              "kernel 3": "Table 4 kernel size"}
    runs = _regression_runs(list(groups), ["mass", "age"], groups, n=600)
    res = runs.results.copy()
    res["learned"] = res["label"] == "star operator"
    for c in ("mae_mass", "mae_age"):
        res[f"baseline_{c}"] = 1.0
    fig = CATALOG["spf-fig7"].function(Result(RunSet(res, runs.predictions, runs.histories), SRC))
    title = fig._suptitle.get_text()
    assert "no star operator" in title and "kernel 3" not in title
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["no star operator (not learned)", "star operator"]


def test_sanity_gate_withholds_only_the_targets_a_regression_did_not_learn():
    runs = _gated(_regression_runs(["M-M-T-T"], ["teff", "logg", "feh"]), "M-M-T-T")
    res = runs.results
    res["learned_teff"], res["learned_logg"], res["learned_feh"] = True, True, False
    tab = sca_tab1(Result(runs, SRC)).frame
    row = tab.loc[("scanet/AFGK", "M-M-T-T")]
    assert row["learned?"].startswith("PARTLY") and "feh" in row["learned?"]
    assert row["feh MAE"] == "-" and row["feh RMSE"] == "-" and row["teff MAE"] != "-" and row["logg MAE"] != "-"
    t3 = sca_tab3(Result(runs, SRC)).frame.iloc[-1]
    assert np.isnan(t3["MAE [Fe/H] [dex]"]) and np.isfinite(t3["MAE Teff [K]"]) and "feh" in t3["values"]


def test_figures_say_when_a_model_did_not_learn():
    import matplotlib.pyplot as plt

    fig = CATALOG["mspc-fig6"].function(Result(_gated(_classification_runs(), "SSCNN"), SRC))
    try:
        assert "SANITY GATE" in fig._suptitle.get_text() and "SSCNN" in fig._suptitle.get_text()
    finally:
        plt.close(fig)


def test_colourbars_where_colour_carries_a_value(inputs):
    import matplotlib.pyplot as plt

    for fid in ("mspc-fig7", "spf-fig9", "sca-fig7"):
        fig = CATALOG[fid].function(inputs[CATALOG[fid].step])
        try:
            bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
            images = [ax for ax in fig.axes if ax.images or any(type(c).__name__ == "PolyCollection"
                                                                for c in ax.collections)]
            assert len(bars) >= 1 and len(bars) >= len([a for a in images if a.get_label() != "<colorbar>"]) - 3, fid
            assert all(b.get_ylabel() for b in bars), fid
        finally:
            plt.close(fig)


def test_runner_writes_files_and_gallery(tmp_path, inputs, monkeypatch):
    monkeypatch.setattr(papers.Context, "get", lambda self, name: inputs[name])
    made = papers.run(["mspc-tab3", "spf-fig9", "sca"], out=tmp_path, progress=False)
    assert [a.id for a in made][:2] == ["mspc-tab3", "spf-fig9"] and all(a.status == "ok" for a in made)
    assert {p.name for p in made[0].files} == {"mspc-tab3.csv", "mspc-tab3.md", "mspc-tab3.html"}
    assert (tmp_path / "spf-fig9.png").stat().st_size > 1000 and (tmp_path / "spf-fig9.pdf").is_file()
    page = (tmp_path / "index.html").read_text()
    assert all(f"id='{a.id}'" in page for a in made) and "synthetic mock" in page
    assert "<table" in page and "| --- |" not in page and "|---|" not in page  # tables as HTML, not Markdown
    assert pd.read_csv(tmp_path / "mspc-tab3.csv").shape[0] == 4
    papers.run(["mspc-tab1"], out=tmp_path, progress=False)  # a later partial run keeps the earlier artefacts
    page = (tmp_path / "index.html").read_text()
    assert "id='mspc-tab1'" in page and "id='mspc-tab3'" in page


def test_expand_ids_and_errors():
    from spectool import figures  # the old module name still works

    assert papers.expand_ids(["spf-tab3..7"]) == [f"spf-tab{k}" for k in range(3, 8)]
    assert papers.expand_ids(["sca"])[0] == "sca-fig1"
    with pytest.raises(papers.PapersError, match="unknown catalog id"):
        papers.expand_ids(["mspc-fig99"])
    with pytest.raises(figures.FiguresError, match="mode"):
        figures.context(mode="paper")
    assert papers.context(mode="medium").mode == "medium"


def test_identical_cells_are_shared_between_steps(tmp_path):
    """Quick mode trains the default arm of each ablation table once, and Table 18's
    original-size cells are the Table 3 runs (same config key, so copies, not retraining)."""
    from spectool import papers
    from spectool.train.config import load_config
    from spectool.train.cv import cell_key

    ctx = papers.context("quick", cache=tmp_path, progress=False)

    def key(step, label, dataset=None):
        cfg, run_dir = papers.training_cell(ctx, step, label, dataset)
        assert run_dir.is_relative_to(tmp_path / ctx.key / "runs")
        return cell_key(load_config(cfg))

    sc = "mspc/SC-S>5"
    assert key("mspc_large", "MSPC-Net", sc) == key("mspc_classes", "MSPC-Net", sc)
    assert key("mspc_large", "RACNet (origin)", sc) == key("mspc_classes", "RACNet", sc)
    assert key("mspc_large", "RACNet (large-parameter)", sc) != key("mspc_classes", "RACNet", sc)
    default = key("spf_ablation", "kernel 7")  # Table 3's arms train longer (both), so not the default cell
    assert [key("spf_ablation", a) == default for a in ("ratio 4", "heads 1", "1 block", "heads 2", "star operator")] \
        == [True, True, True, False, False]
    assert key("mspc_ablation", "channels 128") == key("mspc_ablation", "identity 5/8 (n_div 8)")
    assert key("mspc_ablation", "attention none") != key("mspc_ablation", "attention eca")
    with pytest.raises(papers.PapersError, match="no run"):
        papers.training_cell(ctx, "mspc_classes", "MSPC-Net", "mspc/SS-S>5")


def test_reduced_protocols_cover_every_dataset_and_arm():
    """Quick mode keeps every dataset of Tables 3, 4, 6 and every ablation arm; the steps
    behind a training-curve figure train >= 5 epochs (the others >= 4)."""
    from spectool.papers import CATALOG
    from spectool.papers._context import EXPERIMENTS, reduced_experiment
    from spectool.train import load_experiment
    from spectool.train.config import run_config, run_datasets

    curves = {e.step for e in CATALOG.values() if "vs epoch" in e.caption}
    assert curves == {"mspc_classes", "sca_variants"}
    for step_name, (full, protocols) in EXPERIMENTS.items():
        ref = load_experiment(full)
        for mode, proto in protocols.items():
            if mode == "smoke":
                continue
            exp = reduced_experiment(full, proto, mode)
            assert proto.epochs >= (5 if step_name in curves else 4), (step_name, mode)
            assert exp.set["trainer.max_epochs"] == proto.epochs
            assert {r.label for r in exp.runs} == {r.label for r in ref.runs}, (step_name, mode)
            if proto.datasets is None:
                assert exp.datasets == ref.datasets, (step_name, mode)
            if mode == "medium":
                assert len(exp.folds) * len(exp.seeds) >= 3, step_name
            # every run anneals its learning rate to zero over the reduced epochs, whatever
            # schedule its paper config lays out over 80-150 epochs
            for run in exp.runs:
                cfg = run_config(exp, run, run_datasets(exp, run)[0], exp.folds[0], exp.seeds[0])
                assert (cfg.scheduler.name, cfg.scheduler.eta_min) == ("cosine", 0.0), (step_name, mode, run.label)
    assert len(load_experiment("mspc_table3_full").datasets) == 4


def test_analysis_figures_do_not_use_a_regression_checkpoint_that_learned_nothing(monkeypatch):
    """A shipped regressor is evaluated on fresh mock spectra before an analysis figure uses it:
    one that predicts a constant is replaced by the run's model, and when that run did not
    learn either, the note says so."""
    from spectool import models
    from spectool.papers import _context as C

    n, rng = 200, np.random.default_rng(3)
    truth = rng.uniform(0.8, 2.5, n)
    answer = {"pred": truth + rng.normal(0, 0.05, n)}

    class Stub:
        card = {"task": "regression", "pretrained_name": "stub-regressor"}

        def eval(self):
            return self

    monkeypatch.setattr(C, "evaluation_sets", lambda ctx, ds: [(None, np.arange(n))])
    monkeypatch.setattr(C, "predictions_on", lambda model, ds, rows: pd.DataFrame(
        {"true_mass": truth, "mass": answer["pred"]}))
    monkeypatch.setattr(C, "_VERDICTS", {})
    ctx = C.Context(mode="quick")
    assert C.checkpoint_verdict(ctx, Stub(), "spfusion/redclump") == ""

    answer["pred"] = np.full(n, np.median(truth))  # a collapsed network: one value for every star
    monkeypatch.setattr(C, "_VERDICTS", {})
    verdict = C.checkpoint_verdict(ctx, Stub(), "spfusion/redclump")
    assert verdict.startswith("does not beat the best constant on 200") and "mass (MAE" in verdict

    runs = _gated(_regression_runs(["SPFusion"], ["mass", "age"]), "SPFusion")
    monkeypatch.setattr(models, "list_pretrained", lambda: ["stub-regressor"])
    monkeypatch.setattr(models, "load", lambda name: Stub())
    monkeypatch.setattr(C, "PRETRAINED", {("spfusion/redclump", "SPFusion"): "stub-regressor"})
    monkeypatch.setattr(C, "model_of", lambda ctx, step, label: ("run-model", "spfusion/redclump", None))
    ctx.memo["spf_models"] = Result(runs, SRC)
    model, note = C.analysis_model(ctx, "spfusion/redclump", "SPFusion", "spf_models")
    assert model == "run-model"
    assert "stub-regressor does not beat the best constant" in note
    assert "SANITY GATE: this model did not learn either" in note


def test_reduced_spfusion_runs_train_with_the_settings_that_learn(monkeypatch, tmp_path):
    """Reduced modes train the slim SPFusion without dropout at lr 1e-3 (quick: 5e-4; with the
    paper's dropout it predicts one mass for every mock star) and Table 2 on the red-clump mock at
    8 x its quick size (210 training stars are too few for any of the four regressors); the
    medium ablation runs Table 2's protocol, so its default arm is Table 2's SPFusion cell."""
    from spectool.mock import build
    from spectool.papers import _context as C
    from spectool.train.config import run_config, run_datasets

    for step_name in ("spf_models", "spf_ablation"):
        full, protocols = C.EXPERIMENTS[step_name]
        for mode in ("quick", "medium"):
            exp = C.reduced_experiment(full, protocols[mode], mode)
            for run in exp.runs:
                cfg = run_config(exp, run, run_datasets(exp, run)[0], exp.folds[0], exp.seeds[0])
                if cfg.model.name == "spfusion":
                    # the quick ablation arms train at the protocol's own, lower rate (4 epochs),
                    # Table 3's two arms at their own (10 epochs at 3e-4)
                    want = dict(protocols[mode].run_lr).get(run.label,
                                                            protocols[mode].slim_lr or C.SLIM_LR["spfusion"])
                    assert cfg.optim.lr == want, (step_name, mode, run.label)
                    assert cfg.model.overrides["drop_rate"] == cfg.model.overrides["spectral_dropout"] == 0.0
                    assert cfg.model.overrides["spectral_depths"] == [1, 1, 1], (step_name, mode, run.label)
                else:
                    want = dict(protocols[mode].run_lr).get(run.label, protocols[mode].lr)
                    assert cfg.optim.lr == want, (step_name, mode, run.label)
                if cfg.model.name == "sscnn":  # PyTorch's default init leaves it at the mean label
                    assert cfg.model.overrides["init"] == "kaiming", (step_name, mode)
            if step_name == "spf_ablation":  # Table 3 compares star operator on / off at one budget
                star = {}
                for run in exp.runs:
                    if run.label in ("star operator", "no star operator"):
                        cfg = run_config(exp, run, run_datasets(exp, run)[0], exp.folds[0], exp.seeds[0])
                        star[run.label] = (cfg.optim.lr, cfg.trainer.max_epochs)
                assert len(star) == 2 and len(set(star.values())) == 1, (mode, star)

    built = []

    def fake_build(p, **kw):
        built.append((p.name, kw))
        return type("Store", (), {"path": tmp_path / f"{p.slug}-quick-x{kw['scale']}-seed{kw['seed']}-v9"})

    monkeypatch.setattr(build, "build_preset", fake_build)
    ctx = C.Context(mode="quick", cache=tmp_path)
    exp, note = C.step_experiment(ctx, "spf_models")
    assert exp.set["data.store"] == str(tmp_path / "spfusion_redclump-quick-x8-seed0-v9")
    assert built == [("spfusion/redclump", {"size": "quick", "seed": 0, "scale": 8, "progress": True})]
    assert "8 x its quick size" in note and "learning rate 0.0005" in note
    assert "8 epochs (ConvNeXt 1D: 30, SPFusion: 10) at learning rate 0.002 (SSCNN: 0.001)" in note
    assert [r.set["optim.lr"] for r in exp.runs if r.label == "SSCNN"] == [1e-3]
    epochs = {r.label: r.set.get("trainer.max_epochs", exp.set["trainer.max_epochs"]) for r in exp.runs}
    assert epochs == {"SSCNN": 8, "RAC-Net": 8, "ConvNeXt 1D": 30, "SPFusion": 10}
    exp, _ = C.step_experiment(C.Context(mode="smoke", cache=tmp_path), "spf_models")
    assert "data.store" not in exp.set
    # quick ablation arms: Table 2's 8 x store and training-set size, 4 epochs at 5e-4; Table 3's
    # two arms 10 epochs at 3e-4 (the plain sum stays at the constant with less)
    exp, note = C.step_experiment(ctx, "spf_ablation")
    assert exp.set["data.store"] == str(tmp_path / "spfusion_redclump-quick-x8-seed0-v9")
    assert exp.set["data.max_train"] == 1120 and exp.set["trainer.max_epochs"] == 4
    table3 = {"star operator", "no star operator"}
    assert {r.set["optim.lr"] for r in exp.runs if r.label not in table3} == {5e-4}
    assert {(r.set["optim.lr"], r.set["trainer.max_epochs"]) for r in exp.runs if r.label in table3} == {(3e-4, 10)}
    assert "learning rate 0.0005" in note

    from spectool.train.cv import cell_key, grid

    medium = C.Context(mode="medium", cache=tmp_path)
    keys = {}
    for step_name in ("spf_models", "spf_ablation"):
        exp, _ = C.step_experiment(medium, step_name)
        keys[step_name] = {c.run.label: cell_key(c.config) for c in grid(exp, tmp_path / step_name) if c.fold == 0}
    assert exp.set["data.store"] == str(tmp_path / "spfusion_redclump-quick-x8-seed0-v9")
    # the paper's model in Tables 4-7 is Table 2's SPFusion cell, trained once; Table 3's arms
    # run at their own rate
    for label in ("kernel 7", "ratio 4", "heads 1", "1 block"):
        assert keys["spf_ablation"][label] == keys["spf_models"]["SPFusion"], label
    assert keys["spf_ablation"]["star operator"] != keys["spf_models"]["SPFusion"]
    assert keys["spf_ablation"]["no star operator"] != keys["spf_models"]["SPFusion"]
    with pytest.raises(C.PapersError, match="one dataset"):
        C.scaled_store(ctx, ["mspc/SC-S>5", "mspc/SS-S>5"], 2)


def test_spf_fig10_shades_nothing_when_the_weight_is_flat():
    """The paper shades weights above 0.5; a weight flat to 1e-3 (a model whose SE gate does
    not single out wavelengths) shades nothing and says so instead of shading noise."""
    from spectool.papers import spfusion

    w = np.linspace(3700.0, 5500.0, 400)
    attribution = Attribution(np.ones((2, w.size)), w, "ig", "mass")
    for weight, shaded in ((0.5 + 0.4 * np.sin(w / 100.0), True), (0.4995 + 0.0008 * (w > 5200), False)):
        ov = AttentionOverlay(wavelength=w, flux=np.ones_like(w), weight=weight, position_weight=weight[::20],
                              position_wavelength=w[::20], threshold=0.5, regions=[(5200.0, 5330.0)], lines=[],
                              layer="head.se", field=None)
        fig = spfusion.spf_fig10(Result({"overlay": ov, "attribution": attribution}, SRC))
        spans = [p for p in fig.axes[0].patches]
        assert bool(spans) == shaded
        assert ("nothing shaded" in fig._suptitle.get_text()) == (not shaded)


def test_spf_fig10_attribution_panel_shades_where_the_target_is_decided():
    """Panel (b) shades the fewest pixels holding half of the mean |attribution| below the
    overlay's upper wavelength, and the caption says how concentrated it is and how much
    of it falls in the paper's 4000-4500 A window: measured, not asserted."""
    from spectool.papers import spfusion

    w = np.linspace(3700.0, 9000.0, 1000)
    vals = np.full((3, w.size), 0.01)
    vals[:, (w > 4200) & (w < 4320)] = 1.0  # a CN/CH-like feature carries the attribution
    vals[:, w > 7000] = 5.0  # beyond the overlay's 5500 A: must not count
    attribution = Attribution(vals, w, "ig", "mass")
    regions, pix = attribution.top_regions(0.5, wavelength_range=(None, 5500.0))
    assert all(4190 <= lo and hi <= 4330 for lo, hi in regions) and 0 < pix < 0.05
    keep = w <= 5500
    ov = AttentionOverlay(wavelength=w[keep], flux=np.ones(keep.sum()), weight=np.full(keep.sum(), 0.5),
                          position_weight=np.full(10, 0.5), position_wavelength=np.linspace(3700, 5500, 10),
                          threshold=0.5, regions=[], lines=[], layer="head.se", field=None)
    fig = spfusion.spf_fig10(Result({"overlay": ov, "attribution": attribution}, SRC))
    assert len(fig.axes[1].patches) == len(regions) >= 1  # axes: (a), (b), then (a)'s twin
    assert fig.axes[1].get_ylabel() == "|attribution| [Msun per pixel]"
    text = " ".join(fig._suptitle.get_text().split())
    in_window = vals[0, keep & (w >= 4000) & (w <= 4500)].sum() / vals[0, keep].sum()
    assert f"lies in {pix:.0%} of the pixels" in text
    assert f"holds {in_window:.0%} of it" in text
    with pytest.raises(papers.PlotInputError, match="spf-fig10 needs"):
        spfusion.spf_fig10(Result(ov, SRC))


def test_spf_fig9_colour_scale_is_centred_on_the_neutral_weight_and_spans_the_data():
    """SE weights of 0.46-0.55 drawn on a fixed 0-1 scale all look like 0.5: the colour scale
    spans the data around 0.5 (at least +-0.05, so noise cannot look like structure), and the
    caption says whether any channel is high for every spectrum or the weights only vary
    from star to star."""
    import matplotlib.pyplot as plt

    from spectool.papers import spfusion

    rng = np.random.default_rng(0)
    groups = {"photometric": (0, 32), "fused": (32, 64), "spectral": (64, 96)}
    star_to_star = 0.5 + rng.normal(0, 0.012, (32, 96))
    pattern = 0.5 + np.where(np.arange(96) % 7 == 0, 0.08, -0.01) + rng.normal(0, 0.002, (32, 96))
    flat = 0.5 + rng.normal(0, 1e-4, (32, 96))
    for w, singled in ((star_to_star, False), (pattern, True), (flat, False)):
        fig = spfusion.spf_fig9(Result({"weights": w, "groups": groups, "model": "test"}, SRC))
        try:
            lo, hi = fig.axes[0].images[0].get_clim()
            assert lo == pytest.approx(1.0 - hi) and hi - 0.5 >= spfusion.SE_MIN_HALF_RANGE
            assert hi == pytest.approx(0.5 + max(np.abs(w - 0.5).max(), spfusion.SE_MIN_HALF_RANGE))
            assert ("no channel is consistently singled out" in fig._suptitle.get_text()) == (not singled)
        finally:
            plt.close(fig)
