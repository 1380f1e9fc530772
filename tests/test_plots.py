"""Leaf drawing functions of spectool.plots: each draws on the given Axes (or a new one),
returns it, labels its axes with units, and never overlaps line labels."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from spectool import plots  # noqa: E402
from spectool.demo import synthetic_spectrum  # noqa: E402

RNG = np.random.default_rng(1)


def _calls():
    hist = pd.DataFrame({"epoch": np.arange(1, 7), "train_acc": np.linspace(0.2, 0.8, 6), "val_acc": np.linspace(0.2, 0.7, 6)})
    emb = pd.DataFrame({"x": RNG.normal(size=30), "y": RNG.normal(size=30), "label": RNG.choice(["G", "K"], 30)})
    t = RNG.normal(5000, 500, 80)
    return {
        "spectrum": lambda ax: plots.spectrum(synthetic_spectrum(seed=0), ax=ax, lines="stellar"),
        "curves": lambda ax: plots.curves(hist, ["train_acc", "val_acc"], ax=ax, scale=100, ylabel="accuracy [%]"),
        "pred_vs_true": lambda ax: plots.pred_vs_true(t, t + RNG.normal(0, 50, 80), ax=ax, name="Teff", unit="K"),
        "density": lambda ax: plots.pred_vs_true(t, t + 1, ax=ax, name="Teff", unit="K", density=True),
        "residual": lambda ax: plots.residual_density(t, t + RNG.normal(0, 50, 80), ax=ax, name="Teff", unit="K"),
        "binned": lambda ax: plots.binned(["0-10", "10-20"], [0.5, 0.7], ax=ax, ylabel="accuracy", xlabel="S/N"),
        "bars": lambda ax: plots.bars_by_bin(["0-10", "10-20"], [3, 4], ax=ax, xlabel="S/N"),
        "embedding": lambda ax: plots.embedding(emb, ax=ax),
        "histogram": lambda ax: plots.histogram(t, ax=ax, xlabel="Teff [K]"),
        "heatmap": lambda ax: plots.heatmap(RNG.random((8, 20)), ax=ax, label="weight", x=np.linspace(4000, 5000, 20),
                                            xlabel="Wavelength [Angstrom]", ylabel="channel"),
    }


@pytest.mark.parametrize("name", list(_calls()))
def test_leaf_returns_the_given_axes_with_labelled_axes(name):
    fig, ax = plt.subplots()
    try:
        out = _calls()[name](ax)
        assert out is ax
        assert ax.lines or ax.collections or ax.images or ax.patches
        assert ax.get_xlabel() and ax.get_ylabel()
    finally:
        plt.close(fig)


def test_leaf_makes_its_own_axes_and_values_get_a_colourbar():
    ax = plots.heatmap(np.eye(4), label="activation [arbitrary units]")
    try:
        bars = [a for a in ax.figure.axes if a.get_label() == "<colorbar>"]
        assert len(bars) == 1 and bars[0].get_ylabel() == "activation [arbitrary units]"
    finally:
        plt.close(ax.figure)


def test_line_labels_never_overlap():
    fig, ax = plt.subplots(figsize=(6, 3))
    try:
        ax.set_xlim(4000, 7000)
        xs = [4861.0, 4863.0, 4870.0, 5170.0, 5175.0, 5890.0, 5896.0, 6563.0]
        plots.line_labels(ax, xs, [f"line{i}" for i in range(len(xs))])
        fig.canvas.draw()
        boxes = [t.get_window_extent() for t in ax.texts]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not boxes[i].overlaps(boxes[j]), (ax.texts[i].get_text(), ax.texts[j].get_text())
    finally:
        plt.close(fig)


def test_line_labels_sit_above_the_data():
    """Labels hang from the top of the Axes; the y axis is raised so the spectrum drawn before
    them stays below every label (spf-fig10's labels ran through the spectrum)."""
    fig, ax = plt.subplots(figsize=(10, 3.5))
    try:
        w = np.linspace(4000.0, 5500.0, 1500)
        f = 0.2 + 0.6 * (w - 4000.0) / 1500.0 + 0.05 * np.sin(w / 7.0)
        (line,) = ax.plot(w, f)
        plots.line_labels(ax, [4046.0, 4102.0, 4300.0, 4308.0, 4340.0, 5167.0, 5173.0, 5184.0, 5270.0],
                          ["Fe I 4046", "H delta", "G band", "Fe I 4308", "H gamma", "Mg b4", "Mg b2", "Mg b1",
                           "Fe I 5270"])
        fig.canvas.draw()
        points = ax.transData.transform(np.column_stack([w, f]))
        lowest = min(t.get_window_extent().y0 for t in ax.texts)
        assert points[:, 1].max() < lowest
        assert ax.get_ylim()[1] > f.max() * 1.1
    finally:
        plt.close(fig)


def test_heatmap_group_names_clear_the_tick_labels():
    """Row-group names (mspc-fig7's kernel groups of 16 channels in 128) sit inside the image:
    outside its left edge they covered the y tick labels ("k=405" hid "40")."""
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    try:
        groups = {"k=5": (0, 16), "k=45": (16, 32), "k=405": (32, 48), "identity": (48, 128)}
        plots.heatmap(RNG.normal(size=(128, 300)), ax=ax, label="activation [arbitrary units]",
                      x=np.linspace(4000, 9000, 300), ylabel="channel", groups=groups)
        fig.canvas.draw()
        names = [t.get_window_extent() for t in ax.texts]
        ticks = [t.get_window_extent() for t in ax.get_yticklabels() if t.get_text()]
        assert len(names) == 4 and ticks
        for i, box in enumerate(names):
            assert not any(box.overlaps(t) for t in ticks), ax.texts[i].get_text()
            assert not any(box.overlaps(other) for other in names[i + 1:]), ax.texts[i].get_text()
    finally:
        plt.close(fig)


def test_plots_imports_nothing_that_trains():
    import subprocess
    import sys

    code = ("import sys, spectool.plots; bad = [m for m in sys.modules if m.startswith(('spectool.train', "
            "'spectool.papers', 'spectool.mock', 'lightning'))]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_curves_plot_the_epochs_the_history_stores():
    """Histories count epochs from 1 (``fit``, ``finetune``); the curve starts there, not at 2."""
    hist = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0]})
    ax = plots.curves(hist, ["train_loss"])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    plt.close(ax.figure)


def test_residual_density_title_gives_mu_and_sigma_to_sigma_precision():
    """sca-fig7 printed 'mu = 0.009521, sigma = 0.1584 dex': both now carry sigma's three
    significant digits."""
    from spectool import plots

    rng = np.random.default_rng(0)
    truth = rng.normal(5500.0, 800.0, 4000)
    for shift, scale, unit, want in ((-20.0, 92.0, "K", r"mu = -?\d+\.\d, sigma = \d\d\.\d K"),
                                     (0.01, 0.158, "dex", r"mu = -?\d\.\d{3}, sigma = 0\.1\d\d dex")):
        pred = truth + shift + rng.normal(0.0, scale, truth.size)
        ax = plots.residual_density(truth, pred, name="x", unit=unit)
        title = ax.get_title()
        assert re.fullmatch(want, title), title
        r = pred - truth
        mu = float(title.split(",")[0].split("=")[1])
        assert abs(mu - r.mean()) <= 0.5 * 10 ** -len(title.split(",")[0].split(".")[1])
