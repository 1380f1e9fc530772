"""The computations behind the catalog: each step makes the :class:`~spectool.plots.Result`
that one or more plot functions draw.

Steps call the package only (datasets, preprocessing, :func:`spectool.train.cross_validate`,
:mod:`spectool.explain`). Training steps run the shipped experiments
(``spectool/configs/experiments/*_full.yaml``) in ``full`` mode; ``quick`` mode runs a
tiny version of the same grid: one dataset, fold 0, a subset of the runs, the matching
``*_quick`` configs (slim networks) and 1 epoch on a few dozen spectra, so that every
artefact exists within minutes on a CPU. Quick numbers only show the *shape* of a result.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ._common import Result, RunSet, Source

#: Experiment behind each training step: (full experiment, quick datasets, quick labels, quick epochs).
EXPERIMENTS: dict[str, tuple[str, list[str], list[str] | None, int]] = {
    "mspc_classes": ("mspc_table3_full", ["mspc/SC-S>5"], None, 1),
    "mspc_subclasses": ("mspc_table4_full", ["mspc/SS-S>5"], ["ConvNeXt", "MSPC-Net"], 1),
    "mspc_full_classification": ("mspc_table6_full", ["mspc/FC-S"], ["ConvNeXt", "MSPC-Net"], 1),
    "mspc_ablation": ("mspc_ablation_sdss_full", ["mspc/SC-S>5"],
                      ["identity 1/4 (n_div 4)", "identity 5/8 (n_div 8)", "kernels [3, 9, 27]", "channels 64",
                       "attention none"], 1),
    "mspc_large": ("mspc_table18_full", ["mspc/SC-S>5"], ["ConvNeXt (selected)", "ConvNeXt (large-parameter)"], 1),
    "spf_models": ("spfusion_table2_full", ["spfusion/redclump"], None, 1),
    "spf_ablation": ("spfusion_ablation_full", ["spfusion/redclump"],
                     ["no star operator", "star operator", "kernel 3", "ratio 2", "heads 2", "2 blocks"], 1),
    "sca_variants": ("scanet_table1_full", ["scanet/AFGK"], None, 1),
}
#: Spectra per split in quick mode, and extra slimming of the quick SCA-Net configs.
QUICK_CAPS = {"data.max_train": 32, "data.max_val": 8, "data.max_test": 32, "early_stopping.enabled": False,
              "trainer.progress_bar": False, "trainer.log_every_n_steps": 1}
QUICK_SCANET = {"blocks": [1, 1, 1, 1, 1]}
QUICK_NOTE = ("Quick mode: fold 0 only, slim networks, {epochs} epoch(s) on <= 32 training spectra; "
              "numbers show the shape of the result, not the paper's values.")


@dataclass
class Context:
    """Mode, data source and cache of one computation; memoises steps within a session."""

    mode: str = "quick"
    source: str = "mock"
    cache: Path = field(default_factory=lambda: Path("figures") / "cache")
    seed: int = 0
    progress: bool = True
    memo: dict[str, Result] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return str(self.source) == "mock"

    @property
    def src(self) -> Source:
        return Source(synthetic=self.synthetic, mode=self.mode, name="mock" if self.synthetic else str(self.source))

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    @property
    def key(self) -> str:
        """Cache sub-folder of this mode and source."""
        if self.synthetic:
            return f"{self.mode}-mock-seed{self.seed}"
        return f"{self.mode}-real-{re.sub(r'[^A-Za-z0-9]+', '_', str(Path(self.source).resolve())).strip('_')[-60:]}"

    def dataset(self, name: str):
        from .. import datasets

        return datasets.load(name, source=self.source, size=self.mode, seed=self.seed)

    def result(self, data: Any, note: str = "") -> Result:
        return Result(data, self.src, note)


STEPS: dict[str, Callable[[Context], Result]] = {}


def step(fn: Callable[[Context], Result]) -> Callable[[Context], Result]:
    STEPS[fn.__name__] = fn
    return fn


# -------------------------------------------------------------------- training runs
def _quick_experiment(name: str, datasets: list[str], labels: list[str] | None, epochs: int):
    """The shipped full experiment cut down to a quick grid (see the module docstring)."""
    from ..train import load_config, load_experiment

    exp = load_experiment(name)
    exp.name = name.replace("_full", "_figures_quick")
    exp.datasets = [d for d in datasets if d in exp.datasets] or list(datasets)
    exp.folds, exp.seeds = [0], exp.seeds[:1]
    runs = []
    for run in exp.runs:
        if labels is not None and run.label not in labels:
            continue
        if run.datasets and not set(run.datasets) & set(exp.datasets):
            continue
        run.datasets = [d for d in run.datasets if d in exp.datasets]
        run.config = run.config.replace("_full.yaml", "_quick.yaml")
        quick_cfg = load_config(Path(exp.source_file).parent / run.config)
        overrides = dict(quick_cfg.model.overrides)
        overrides.update(run.set.pop("model.overrides", {}) or {})
        model = run.set.get("model.name", quick_cfg.model.name)
        if model.startswith("scanet"):
            overrides.update(QUICK_SCANET)
        run.set["model.overrides"] = overrides
        runs.append(run)
    if not runs:
        raise ConfigError(f"quick grid of {name!r} selects no run (labels {labels})")
    exp.runs = runs
    exp.set = {**exp.set, **QUICK_CAPS, "trainer.max_epochs": epochs}
    return exp


def _as_dict(exp) -> dict:
    """An experiment as a plain mapping with absolute run-config paths (no source file needed)."""
    from ..train.config import resolve_path, to_dict

    raw = to_dict(exp)
    rel = Path(exp.source_file).parent if exp.source_file else None
    raw["runs"] = [{**to_dict(r), "config": str(resolve_path(r.config, rel))} for r in exp.runs]
    return raw


def run_experiment(ctx: Context, step_name: str) -> Result:
    """Run (or resume) the experiment of ``step_name`` and gather a :class:`RunSet`."""
    from ..train import FitResult, cross_validate, load_experiment

    full, datasets, labels, epochs = EXPERIMENTS[step_name]
    if ctx.quick:
        exp = _quick_experiment(full, datasets, labels, epochs)
        note = QUICK_NOTE.format(epochs=epochs)
    else:
        exp = load_experiment(full)
        note = ""
    if not ctx.synthetic:
        exp.set = {**exp.set, "data.source": str(ctx.source)}
    cv = cross_validate(_as_dict(exp), root=ctx.cache / ctx.key / "runs", progress=ctx.progress)
    res = cv.results
    runs = RunSet(res)
    for (dataset, label), rows in res.groupby(["dataset", "label"], sort=False):
        fit = FitResult.load(rows.iloc[0]["run_dir"])
        runs.predictions[(dataset, label)] = fit.predictions
        runs.histories[(dataset, label)] = fit.history
    for dataset in runs.datasets():
        runs.class_names[dataset] = list(ctx.dataset(dataset).class_names)
    return ctx.result(runs, note)


def _model_of(ctx: Context, step_name: str, label: str):
    """(model, dataset name, predictions) of run ``label`` in the training step."""
    from ..train import FitResult

    runs: RunSet = ctx_get(ctx, step_name).data
    res = runs.results
    rows = res[res["label"] == label]
    if rows.empty:
        rows = res.iloc[[-1]]
    fit = FitResult.load(rows.iloc[0]["run_dir"])
    return fit.load_model().eval(), rows.iloc[0]["dataset"], fit.predictions


#: Shipped pretrained checkpoints (trained longer on the quick mock SC-S>5 set) per model label.
PRETRAINED_SC = {"MSPC-Net": "mspcnet_sdss-mock-sc", "SSCNN": "sscnn-mock-sc", "RACNet": "racnet-mock-sc",
                 "ConvNeXt": "convnext1d-mock-sc"}


def _explained_model(ctx: Context, label: str):
    """(model, dataset, predictions, note) for the analysis figures of ``mspc_classes``:
    in quick mode on mock data the shipped pretrained checkpoint of ``label`` when present
    (same classes), else the model trained in the grid."""
    from .. import models

    model, dataset, pred = _model_of(ctx, "mspc_classes", label)
    name = PRETRAINED_SC.get(label)
    if ctx.synthetic and ctx.quick and name in models.list_pretrained():
        ckpt = models.load(name).eval()
        if list(getattr(ckpt, "output_names", [])) == list(model.output_names):
            return ckpt, dataset, pred, f"Model: pretrained checkpoint {name} (synthetic mock training)."
    return model, dataset, pred, "Model: trained in this run's grid."


def ctx_get(ctx: Context, name: str) -> Result:
    """Result of step ``name`` (memoised, cached on disk; see :func:`spectool.figures.compute_step`)."""
    from ..figures import compute_step

    return compute_step(name, ctx)


for _name in EXPERIMENTS:
    STEPS[_name] = (lambda n: (lambda ctx: run_experiment(ctx, n)))(_name)


# ------------------------------------------------------------------------- spectra
def _mock_star(survey: str, subclass: str, seed: int):
    """One raw synthetic star observed by the mock ``survey`` (vacuum Angstrom)."""
    from ..datasets.presets import SS_L, SS_S5
    from ..mock.generate import generate_stars
    from ..mock.stars import draw_subclass_labels
    from ..spectrum import Spectrum

    rng = np.random.default_rng([seed, 11])
    labels = draw_subclass_labels(np.array([subclass]), SS_S5 if survey == "sdss" else SS_L, rng, giant_fraction=0.0)
    obs, meta = generate_stars(labels, survey, np.array([30.0]), rng)
    row = meta.iloc[0]
    return Spectrum(obs.wave, obs.flux[0], obs.ivar[0], obs.mask[0],
                    {"survey": survey, "synthetic": True, "class": "STAR", "subclass": str(row["subclass"]),
                     "redshift": float(row["redshift"]), "object_id": f"mock-{survey}-{row['subclass']}",
                     "snr": 30.0, "title": f"synthetic mock {survey.upper()} star"})


def _real_raw(root: Path) -> dict[str, Any]:
    from ..io import read

    found: dict[str, Any] = {}
    for path in sorted(root.rglob("spec-*.fits*")):
        try:
            spec = read(path)
        except Exception:  # noqa: BLE001 - skip unreadable files, keep looking
            continue
        spec = spec[0] if isinstance(spec, list) else spec
        survey = str(spec.meta.get("survey", "")).lower()
        if survey in ("sdss", "lamost") and survey not in found and spec.meta.get("class", "STAR") == "STAR":
            found[survey] = spec
    return found


@step
def spectra(ctx: Context) -> Result:
    """Raw + preprocessed spectra: ``{"sdss"|"lamost": (Spectrum, mspcnet Preprocessed),
    "scanet": (LAMOST Spectrum, scanet Preprocessed)}``."""
    from .. import preprocess as P

    raw = {} if ctx.synthetic else _real_raw(Path(ctx.source))
    note = ""
    for survey in ("lamost", "sdss"):
        if survey not in raw:
            raw[survey] = _mock_star(survey, "G2", ctx.seed)
            if not ctx.synthetic:
                note = f"No raw {survey.upper()} star spectrum under the source; synthetic mock spectra shown."
    data = {s: (raw[s], P.mspcnet(raw[s])) for s in ("lamost", "sdss")}
    data["scanet"] = (raw["lamost"], P.scanet(raw["lamost"]))
    return ctx.result(data, note)


# ------------------------------------------------------------------------ datasets
@step
def datasets(ctx: Context) -> Result:
    """MSPC-Net Table 1 rows: the ten presets with paper counts and the counts held here."""
    from ..datasets import PRESETS
    from ..mock.build import plan_rows

    rows = []
    for name, p in PRESETS.items():
        if p.paper != "mspcnet":
            continue
        paper_n = p.n_total or p.per_class * len(p.class_names)
        if ctx.synthetic:
            here = len(plan_rows(p, ctx.mode, np.random.default_rng(0)))
        else:
            try:
                here = len(ctx.dataset(name))
            except Exception:  # noqa: BLE001 - a preset the user did not ingest
                here = 0
        short = name.split("/")[1]
        rows.append({"type": {"SC": "stellar classes", "SS": "stellar subclasses", "FC": "full classification"}[short[:2]],
                     "dataset": short, "categories": len(p.class_names), "paper count": paper_n,
                     "count here": here, "S/N cut": f"> {p.snr_min:g}" if p.snr_min else "none",
                     "source": p.survey.upper()})
    return ctx.result(pd.DataFrame(rows))


@step
def mspc_design(ctx: Context) -> Result:
    """Per stage output size, layers and parameters of the SDSS (24 classes) and LAMOST
    (37 classes) MSPC-Net models, from a forward pass of one zero spectrum."""
    import torch

    from .. import models

    rows = []
    for name, classes in (("mspcnet_sdss", 24), ("mspcnet_lamost", 37)):
        m = models.create(name, num_classes=classes).eval()
        cfg = m.config
        shapes: dict[str, tuple] = {}
        hooks = [mod.register_forward_hook(lambda _m, _a, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
                 for n, mod in (("embed", m.embed), *((f"stage{i + 1}", s) for i, s in enumerate(m.stages)))]
        with torch.inference_mode():
            m(torch.zeros(1, 1, m.input_length))
        for h in hooks:
            h.remove()
        ident = f"identity {cfg['embed_dim'] - len(cfg['kernel_sizes']) * (cfg['embed_dim'] // cfg['n_div'])}/{cfg['embed_dim']}"
        kern = "/".join(map(str, cfg["kernel_sizes"]))
        count = lambda mod: int(sum(p.numel() for p in mod.parameters()))  # noqa: E731
        rows.append({"model": name, "stage": "embedding", "output size": "x".join(map(str, shapes["embed"])),
                     "layers": "Conv1d k3 + BN", "params": count(m.embed)})
        for i, st in enumerate(m.stages):
            merge = "merge conv k3/2 + BN, " if i else ""
            rows.append({"model": name, "stage": f"stage {i + 1}", "output size": "x".join(map(str, shapes[f"stage{i + 1}"])),
                         "layers": f"{merge}{cfg['depths'][i]} x MSPC block (kernels {kern}, {ident}, ECA, MLP x{cfg['mlp_ratio']:g})",
                         "params": count(st)})
        head = count(m.head_conv) + count(m.fc)
        rows.append({"model": name, "stage": "head", "output size": f"{classes}",
                     "layers": f"GAP + 1x1 conv {cfg['head_dim']} + GELU + FC", "params": head})
        rows.append({"model": name, "stage": "total", "output size": "", "layers": f"{classes} classes",
                     "params": count(m)})
    return ctx.result(pd.DataFrame(rows), "Architecture only (no training): identical for mock and real data.")


# --------------------------------------------------------------- MSPC-Net analysis
@step
def mspc_embedding(ctx: Context) -> Result:
    """t-SNE tables of the test-set penultimate features, one per model of ``mspc_classes``."""
    from ..explain import embedding_table, extract_features

    base = ctx_get(ctx, "mspc_classes")
    runs: RunSet = base.data
    dataset = runs.datasets()[0]
    ds = ctx.dataset(dataset)
    out = {}
    notes = []
    for label in runs.labels(dataset):
        model, _, pred, note = _explained_model(ctx, label)
        feats = extract_features(model, ds, indices=pred["row"].to_numpy(), progress=False)
        out[label] = embedding_table(features=feats, method="tsne", seed=ctx.seed)
        notes.append(f"{label}: {note.split(': ', 1)[1]}")
    return ctx.result(out, "Models - " + " ".join(notes))


@step
def mspc_feature_maps(ctx: Context) -> Result:
    """Feature maps of the embedding conv (regular convolution) and the first MSPC module of
    the trained MSPC-Net, for one test spectrum."""
    from ..explain import feature_maps

    model, dataset, pred, note = _explained_model(ctx, "MSPC-Net")
    ds = ctx.dataset(dataset)
    row = int(pred["row"].iloc[0])
    mixer = "stages.0.blocks.0.mixer"
    maps = feature_maps(model, np.asarray(ds.flux[row])[None, None], ["embed", mixer], wavelength=ds.wavelength)
    c, g = model.config["embed_dim"], model.config["embed_dim"] // model.config["n_div"]
    groups = {f"k={k}": (i * g, (i + 1) * g) for i, k in enumerate(model.config["kernel_sizes"])}
    groups["identity"] = (len(model.config["kernel_sizes"]) * g, c)
    titles = {"embed": "regular convolution (embedding)", mixer: "MSPC module (first block)"}
    return ctx.result({"maps": maps, "groups": {mixer: groups}, "titles": titles},
                      f"Spectrum {pred['object_id'].iloc[0]} (true {pred['true_label'].iloc[0]}). {note}")


@step
def mspc_misclassified(ctx: Context) -> Result:
    """The first misclassified MSPC-Net test spectrum and the mean training spectra of its
    true, predicted and runner-up classes (class templates on the model-input grid)."""
    model, dataset, pred = _model_of(ctx, "mspc_classes", "MSPC-Net")
    ds = ctx.dataset(dataset)
    wrong = pred[pred["true_label"].astype(str) != pred["pred_label"].astype(str)]
    note = ""
    if wrong.empty:
        wrong = pred.sort_values("pred_prob").iloc[:1]
        note = "No misclassified test spectrum: the least confident prediction is shown."
    r = wrong.iloc[0]
    probs = {c[5:]: float(r[c]) for c in pred.columns if c.startswith("prob_")}
    ranked = [c for c, _ in sorted(probs.items(), key=lambda kv: -kv[1])]
    names = list(dict.fromkeys([str(r["true_label"]), str(r["pred_label"]), *ranked]))[:3]
    train = ds.indices("train", 0)
    labels = ds.meta["label"].astype(str).to_numpy()
    templates = {}
    for name in names:
        rows = train[labels[train] == name]
        if rows.size:
            templates[name] = np.asarray(ds.flux[np.sort(rows)]).mean(0)
    data = {"wavelength": ds.wavelength, "flux": np.asarray(ds.flux[int(r["row"])]), "true": str(r["true_label"]),
            "predicted": str(r["pred_label"]), "object_id": str(r["object_id"]), "templates": templates}
    return ctx.result(data, note or "Templates: mean normalised training spectrum of each class.")


@step
def mspc_crossmatch(ctx: Context) -> Result:
    """Cross-matched mock stars: each drawn star is observed SDSS-like and LAMOST-like; the
    SDSS-trained MSPC-Net classifies both spectra. ``prediction`` compares the SDSS-like
    prediction with the mock catalogue class, ``agreement`` the SDSS-like and LAMOST-like labels."""
    import torch

    from .. import preprocess as P
    from ..datasets.presets import SS_S5
    from ..mock.generate import generate_stars
    from ..mock.stars import draw_subclass_labels

    model, dataset, _, note = _explained_model(ctx, "MSPC-Net")
    n = 60 if ctx.quick else 600
    rng = np.random.default_rng([ctx.seed, 8])
    subs = rng.choice([c for c in SS_S5], n)
    labels = draw_subclass_labels(subs, SS_S5, rng)
    snr = np.exp(rng.normal(np.log(20.0), 0.6, n))
    pred = {}
    for survey in ("sdss", "lamost"):
        obs, _ = generate_stars(labels, survey, snr, np.random.default_rng([ctx.seed, 8, len(survey)]))
        batch = P.mspcnet_batch(obs.wave, obs.flux, obs.ivar, obs.mask)
        with torch.inference_mode():
            out = model(torch.as_tensor(np.asarray(batch.flux, np.float32))[:, None])
        pred[survey] = np.asarray(model.output_names)[out.argmax(1).numpy()]
    truth = labels["subclass"].str[0].to_numpy()
    df = pd.DataFrame({"prediction": np.where(pred["sdss"] == truth, "correct", "incorrect"),
                       "agreement": np.where(pred["sdss"] == pred["lamost"], "agree", "disagree")})
    counts = df.value_counts().rename("count").reset_index()
    return ctx.result(counts, f"{n} synthetic mock stars observed by both mock surveys; labels from the {dataset} "
                              f"MSPC-Net (mock stand-in for the paper's SDSS-LAMOST cross-match). {note}")


# --------------------------------------------------------------------- SPFusion
@step
def spf_splits(ctx: Context) -> Result:
    """Train / val / test counts per fold of the red-clump set."""
    ds = ctx.dataset("spfusion/redclump")
    rows = []
    for k in range(ds.n_folds):
        col = ds.meta[f"fold_{k}"].astype(str)
        rows.append({"fold": k + 1, **{s: int((col == s).sum()) for s in ("train", "val", "test")}, "total": len(ds)})
    return ctx.result(pd.DataFrame(rows))


def _spf_batch(ctx: Context, n: int):
    model, dataset, pred = _model_of(ctx, "spf_models", "SPFusion")
    ds = ctx.dataset(dataset)
    rows = np.sort(pred["row"].to_numpy()[:n])
    return model, ds, rows


@step
def spf_attention(ctx: Context) -> Result:
    """SE channel weights (batch x 96) of the trained SPFusion on one test batch."""
    from ..explain import SPFUSION_GROUPS, attention_weights

    model, ds, rows = _spf_batch(ctx, 32)
    rec = attention_weights(model, np.asarray(ds.flux[rows])[:, None], image=np.asarray(ds.images[rows]),
                            layers=["head.se"])
    return ctx.result({"weights": rec.weights["head.se"], "groups": SPFUSION_GROUPS, "model": "SPFusion trained here"})


@step
def spf_overlay(ctx: Context) -> Result:
    """Spectral-channel SE weights of the trained SPFusion mapped onto one test spectrum
    below 5500 A (:func:`spectool.explain.attention_overlay`)."""
    from ..explain import attention_overlay

    model, ds, rows = _spf_batch(ctx, 1)
    ov = attention_overlay(model, np.asarray(ds.flux[rows[:1]])[:, None], "head.se", wavelength=ds.wavelength,
                           channels="spectral", image=np.asarray(ds.images[rows[:1]]),
                           wavelength_range=(None, 5500.0))
    return ctx.result(ov)


# ---------------------------------------------------------------------- SCA-Net
@step
def sca_labels(ctx: Context) -> Result:
    """Training labels (Teff, log g, [Fe/H]) of the AFGK set."""
    ds = ctx.dataset("scanet/AFGK")
    return ctx.result(ds.meta.iloc[ds.indices("train", 0)][["teff", "logg", "feh"]].reset_index(drop=True))


@step
def sca_complexity(ctx: Context) -> Result:
    """Params and GMAC of every variant (full width, authors' Transformer style) with MBConv
    and standard-conv blocks, built on the meta device; CPU latency per spectrum (quick mode:
    M-M-T-T MBConv only)."""
    import time

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models.scanet import SCANet

    rows = []
    for layout in ("MMMM", "MMMT", "MMTT", "MTTT", "TTTT"):
        for block in ("mbconv", "standard"):
            if block == "standard" and layout == "TTTT":
                continue
            with torch.device("meta"):
                m = SCANet(layout, transformer_style="authors", block=block).eval()
                counter = FlopCounterMode(display=False)
                with counter, torch.no_grad():
                    m(torch.zeros(1, 1, 4096))
            latency = np.nan
            if not ctx.quick or (layout == "MMTT" and block == "mbconv"):
                real = SCANet(layout, transformer_style="authors", block=block).eval()
                x = torch.zeros(1, 1, 4096)
                with torch.inference_mode():
                    real(x)
                    times = []
                    for _ in range(3 if ctx.quick else 10):
                        t0 = time.perf_counter()
                        real(x)
                        times.append(time.perf_counter() - t0)
                latency = 1e3 * float(np.median(times))
                del real
            rows.append({"variant": "-".join(layout), "block": "MBConv" if block == "mbconv" else "standard conv",
                         "params (M)": round(sum(p.numel() for p in m.parameters()) / 1e6, 3),
                         "GMAC": round(counter.get_total_flops() / 2e9, 3), "CPU latency (ms)": round(latency, 1)})
    note = "Quick mode: latency measured for M-M-T-T (MBConv) only." if ctx.quick else ""
    return ctx.result(pd.DataFrame(rows), note)


@step
def sca_sliding(ctx: Context) -> Result:
    """Sliding-window importance (15 A window, 5 A step, continuum fill) of the trained
    M-M-T-T over test spectra (4 in quick mode, 200 in full)."""
    from ..explain import sliding_window_importance

    model, dataset, pred = _model_of(ctx, "sca_variants", "M-M-T-T")
    ds = ctx.dataset(dataset)
    rows = np.sort(pred["row"].to_numpy()[: 4 if ctx.quick else 200])
    sw = sliding_window_importance(model, np.asarray(ds.flux[rows])[:, None], wavelength=ds.wavelength, window=15.0,
                                   step=5.0, fill="continuum", progress=ctx.progress, seed=ctx.seed)
    return ctx.result(sw, f"Mean over {rows.size} test spectra.")
