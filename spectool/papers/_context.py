"""What every paper step shares: the :class:`Context` (mode, data source, results cache),
the step registry, the training-experiment steps and the sanity gate.

Steps call the package only (datasets, preprocessing, :func:`spectool.train.cross_validate`,
:mod:`spectool.explain`, :mod:`spectool.models`). A step asks for another step's result
with ``ctx.get(name)``: memoised in the context, else read from the results cache
(:mod:`spectool.papers._cache`), else computed and cached.

Modes (see :data:`MODES`): ``smoke`` only checks the code path (one epoch on a few dozen
spectra, a few arms; the sanity gate then flags the models as not learned: used by CI);
``quick`` trains small models that learn within minutes on a
CPU (every dataset and arm of each table, fold 0, >= 5 epochs) and analyses the shipped
pretrained checkpoints on a larger mock test set; ``medium`` runs the papers' protocols at
reduced size (3 folds, capped spectra, 8-30 annealed epochs; 1.5-2 hours measured on 2 CPU cores);
``full`` runs the shipped ``*_full`` experiments (paper protocol, for GPUs).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError, SpectoolError
from ._common import Result, RunSet, Source, verdicts

MODES = ("smoke", "quick", "medium", "full")


class PapersError(SpectoolError):
    """Bad paper-figure request: unknown id, step or mode."""


@dataclass(frozen=True)
class Protocol:
    """How a training step runs in a reduced mode: the spectra caps, epochs, learning rate,
    folds and per-model slimming applied on top of the shipped ``*_full`` experiment."""

    folds: tuple[int, ...]
    epochs: int
    max_train: int
    max_val: int
    max_test: int
    lr: float | None
    seeds: int = 1
    slim: bool = True
    datasets: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    arms: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    """Per run label, model overrides that replace the run's own (CPU-sized versions of the
    paper's large-parameter arms)."""
    slim_lr: float | None = None
    """Learning rate of the models that have their own in :data:`SLIM_LR` (None: that one)."""
    scale: int = 1
    """Train on the quick mock at this many times its size (``build_preset(..., scale=...)``).
    The quick red-clump set holds 300 stars (210 in a training fold): too few for any of
    SPFusion Table 2's regressors to beat the best constant mass (measured: all four at the
    constant with 210 stars)."""
    run_epochs: tuple[tuple[str, int], ...] = ()
    """Per run label, epochs instead of ``epochs`` (said in the caption). On the 8 x red-clump
    mock, ConvNeXt-1D predicts the mean mass for ~18 epochs and then learns (measured: test
    mass MAE 0.204 Msun after 30 epochs, 90 s on one core; 0.42 after 8)."""
    run_lr: tuple[tuple[str, float], ...] = ()
    """Per run label, learning rate instead of ``lr`` (said in the caption). SSCNN on the
    8 x red-clump mock (He initialisation, 8 epochs, fold 1): mass MAE 0.188 Msun at 1e-3, 0.263
    at 2e-3 (age not learned), and at the constant after 16 epochs at 2e-3."""
    anneal: bool = True
    """Anneal the learning rate to zero over the reduced run's own epochs (cosine). The papers'
    schedules are laid out over 80-150 epochs (warm restarts every 20-40, or none); cut to
    5-16 epochs they hold the rate nearly flat, and the last epoch is evaluated at a rate
    tens of times the paper's. Measured in quick mode: SCA-Net Teff MAE 478 -> 202 K
    (M-M-T-T), MSPC-Net kernel arms [3, 3, 3] / [3, 9, 27] 21 / 20 % -> 36 / 43 % (7 classes)."""


#: Slim model overrides for reduced modes: CPU-sized widths that still learn the mock classes.
SLIM: dict[str, dict[str, Any]] = {
    "mspcnet_sdss": {"depths": [1, 1, 1, 1], "embed_dim": 32, "head_dim": 128, "drop_path_rate": 0.0},
    "mspcnet_lamost": {"depths": [1, 1, 1, 1], "embed_dim": 32, "head_dim": 128, "drop_path_rate": 0.0},
    "sscnn": {"channels": [16, 8], "fc_hidden": 128},
    "racnet": {"widths": [8, 8, 16, 16, 32, 32, 64, 64], "fc_hidden": 64},
    "convnext1d": {"dims": [32, 64, 32, 16], "depths": [1, 1, 1, 1]},
    "scanet": {"width": 0.125, "blocks": [1, 1, 1, 1, 1], "heads": 2, "dim_head": 16},
    "spfusion": {"drop_rate": 0.0, "spectral_dropout": 0.0, "image_widths": [8, 16, 16],
                 "spectral_dims": [32, 64, 32], "spectral_depths": [1, 1, 1]},
}

#: Per-model learning rates of the reduced modes (they replace the protocol's). The full-size
#: SPFusion's spectral ConvNeXt has no layer scale: at >= 1e-3 its residual branches grow parts
#: that do not depend on the input, LayerNorm then removes the differences between stars, and
#: the model predicts one mass for every star; its dropout (0.2 spectral, 0.3 after the fusion)
#: on the only path into the head drowns what is left (16 x quick red-clump mock,
#: benchmarks/results/spfusion_recipe.json: only no dropout at 3e-4 learns). The slim SPFusion
#: of :data:`SLIM` (one ConvNeXt block per stage, narrow photometric stem) trains 3.4 x faster
#: per step and learns at 1e-3: Table 2's quick cell, 8 epochs on 1120 stars, mass MAE 0.192
#: Msun at 1e-3, 0.218 at 3e-4, 0.379 after 6 epochs at 1e-3 (best constant 0.40).
SLIM_LR: dict[str, float] = {"spfusion": 1e-3}

#: The large-parameter arms of MSPC-Net Table 18 at the slim scale (twice the slim widths),
#: so "large vs original" keeps its meaning at CPU size.
SLIM_LARGE = (("RACNet (large-parameter)", (("widths", [16, 16, 32, 32, 64, 64, 128, 128]), ("fc_hidden", 96))),
              ("ConvNeXt (large-parameter)", (("dims", [64, 128, 32, 16]), ("depths", [2, 3, 3, 2]))))
#: Slim MSPC-Net channel arms: the paper's channel counts divided by this (64/128/256 -> 16/32/64).
SLIM_CHANNEL_DIVISOR = 4

#: Reduced-mode budget of SPFusion Table 3's arms (star operator on / off): see ``spf_ablation``.
STAR_ARMS_EPOCHS = (("no star operator", 10), ("star operator", 10))
STAR_ARMS_LR = (("no star operator", 3e-4), ("star operator", 3e-4))

#: Training steps: the shipped full experiment and the quick / medium protocols.
EXPERIMENTS: dict[str, tuple[str, dict[str, Protocol]]] = {
    "mspc_classes": ("mspc_table3_full", {
        "quick": Protocol((0,), 6, 240, 60, 120, 3e-3),
        "medium": Protocol((0, 1, 2), 15, 1200, 200, 400, 1e-3)}),
    "mspc_subclasses": ("mspc_table4_full", {
        "quick": Protocol((0,), 5, 240, 60, 150, 3e-3),
        "medium": Protocol((0, 1, 2), 8, 2500, 300, 600, 1e-3)}),
    "mspc_full_classification": ("mspc_table6_full", {
        "quick": Protocol((0,), 5, 300, 60, 150, 3e-3),
        "medium": Protocol((0, 1, 2), 8, 3000, 300, 600, 1e-3)}),
    "mspc_ablation": ("mspc_ablation_sdss_full", {
        "quick": Protocol((0,), 5, 200, 60, 120, 3e-3, datasets=("mspc/SC-S>5",)),
        "medium": Protocol((0, 1, 2), 10, 1200, 200, 400, 1e-3, datasets=("mspc/SC-S>5",))}),
    # the same protocol as mspc_classes, so its original-size cells are copies of those runs
    "mspc_large": ("mspc_table18_full", {
        "quick": Protocol((0,), 6, 240, 60, 120, 3e-3, datasets=("mspc/SC-S>5",), arms=SLIM_LARGE),
        "medium": Protocol((0, 1, 2), 15, 1200, 200, 400, 1e-3, datasets=("mspc/SC-S>5",), arms=SLIM_LARGE)}),
    "spf_models": ("spfusion_table2_full", {
        # 1120 = the whole training split of a fold of the 8 x store (2400 stars: 1120 / 480 / 800).
        # SPFusion: 10 epochs at 5e-4 (fold 1 mass MAE 0.191 Msun; 8 epochs at 5e-4 0.205, at
        # 1e-3 0.226 with the channels-last photometric convolutions, 0.192 without: at 1e-3 it
        # sits at the mean for 3-4 epochs, so its result hangs on when it leaves it)
        "quick": Protocol((0,), 8, 1120, 60, 200, 2e-3, scale=8, slim_lr=5e-4,
                          run_epochs=(("ConvNeXt 1D", 30), ("SPFusion", 10)), run_lr=(("SSCNN", 1e-3),)),
        "medium": Protocol((0, 1, 2), 10, 1120, 300, 720, 1e-3, scale=8,
                           run_epochs=(("ConvNeXt 1D", 30),))}),
    "spf_ablation": ("spfusion_ablation_full", {
        # Quick: the 8 x mock of Table 2 for 4 epochs at 5e-4 (~48 s a cell on one core; 13
        # distinct cells, since 3 arms repeat the paper's model of Tables 4-7). At 1e-3 (SLIM_LR) the slim
        # SPFusion sits at the mean mass for ~4 epochs and learns as the rate anneals; at
        # 3e-4-5e-4 it leaves the mean in epoch 2 (fold 1, mass MAE, best constant 0.40 Msun:
        # 5e-4 x 4 epochs 0.215, x 3 0.235; 3e-4 x 3 0.246; 560 stars x 5 epochs 0.259;
        # 7e-4 x 3 epochs over all arms: 0.385 and heads 2 at the constant).
        # Table 3's two arms (star operator on / off) get 10 epochs at 3e-4 in quick mode: without
        # the star operator (plain sum) the slim SPFusion stays at the constant after 4 epochs at
        # 5e-4 and after 10 at 5e-4 (0.431 Msun), and learns after 10 at 3e-4 (0.207 Msun,
        # constant 0.40; fold 1, 2026-12-08). Both arms get that budget, so the table compares
        # like with like.
        # Medium: Table 2's protocol, so the default arm of Tables 4-7 is Table 2's SPFusion cell;
        # Table 3's two arms at 3e-4 as in quick mode (at 1e-3 the plain sum stayed at the
        # constant in all 3 folds; at 3e-4 it learns in all 3: 0.213-0.226 Msun, 2026-12-08).
        "quick": Protocol((0,), 4, 1120, 60, 200, 5e-4, scale=8, slim_lr=5e-4, run_epochs=STAR_ARMS_EPOCHS,
                          run_lr=STAR_ARMS_LR),
        "medium": Protocol((0, 1, 2), 10, 1120, 300, 720, 1e-3, scale=8, run_lr=STAR_ARMS_LR)}),
    "sca_variants": ("scanet_table1_full", {
        "quick": Protocol((0,), 16, 240, 40, 60, 2e-3),
        "medium": Protocol((0,), 20, 3000, 300, 1000, 1e-3, seeds=3)}),
}


#: ``smoke`` mode: the code path of every training step in seconds (CI), not a result.
SMOKE = Protocol((0,), 1, 24, 8, 16, 3e-3)
_SMOKE_ARMS = {"mspc_ablation": ("identity 5/8 (n_div 8)", "attention none"),
               "mspc_large": ("ConvNeXt (selected)", "ConvNeXt (large-parameter)"),
               "spf_ablation": ("no star operator", "star operator", "kernel 3", "ratio 2", "heads 2", "2 blocks"),
               "sca_variants": ("M-M-T-T", "T-T-T-T")}
for _step, (_full, _protocols) in EXPERIMENTS.items():
    _protocols["smoke"] = Protocol(SMOKE.folds, SMOKE.epochs, SMOKE.max_train, SMOKE.max_val, SMOKE.max_test,
                                   SMOKE.lr, datasets=_protocols["quick"].datasets, labels=_SMOKE_ARMS.get(_step),
                                   arms=_protocols["quick"].arms)


@dataclass
class Context:
    """Mode, data source and cache of one computation; memoises steps within a session."""

    mode: str = "quick"
    source: str = "mock"
    cache: Path = field(default_factory=lambda: Path("figures") / "cache")
    seed: int = 0
    progress: bool = True
    memo: dict[str, Result] = field(default_factory=dict)
    _deps: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _collecting: list[dict[str, str]] = field(default_factory=list, repr=False)
    _fingerprints: dict[str, str] = field(default_factory=dict, repr=False)
    timings: list[dict[str, Any]] = field(default_factory=list)
    """One record per step computed in this session (:func:`step_timing`): ``step``,
    ``wall_s``, ``cpu_s`` (this process + its finished worker processes), exclusive of the
    steps it asked for."""

    @property
    def synthetic(self) -> bool:
        return str(self.source) == "mock"

    @property
    def src(self) -> Source:
        return Source(synthetic=self.synthetic, mode=self.mode, name="mock" if self.synthetic else str(self.source))

    @property
    def quick(self) -> bool:
        """True in the CPU modes that shorten measurements (``smoke`` and ``quick``)."""
        return self.mode in ("smoke", "quick")

    @property
    def data_size(self) -> str:
        """Mock dataset size of this mode: ``quick`` and ``medium`` use the CPU-sized mock sets
        (hundreds to two thousand spectra each), ``full`` the paper-sized ones."""
        return "full" if self.mode == "full" else "quick"

    @property
    def key(self) -> str:
        """Cache sub-folder of this mode and source."""
        if self.synthetic:
            return f"{self.mode}-mock-seed{self.seed}"
        return f"{self.mode}-real-{re.sub(r'[^A-Za-z0-9]+', '_', str(Path(self.source).resolve())).strip('_')[-60:]}"

    def dataset(self, name: str):
        from .. import datasets

        return datasets.load(name, source=self.source, size=self.data_size, seed=self.seed)

    def result(self, data: Any, note: str = "") -> Result:
        return Result(data, self.src, note)

    def get(self, name: str) -> Result:
        """The result of step ``name``: memoised, else read from the cache when it is still
        current (:meth:`is_current`), else computed and cached with what it was computed
        from (its fingerprint and those of every step and checkpoint it used)."""
        from ._cache import load_result, save_result

        if name not in STEPS:
            raise PapersError(f"unknown step {name!r}; known: {', '.join(STEPS)}", name)
        if name not in self.memo:
            folder = self.cache / self.key / "results" / name
            result = load_result(folder) if self.is_current(name) else None
            if isinstance(result, Result):
                from ._cache import load_meta

                deps = dict((load_meta(folder) or {}).get("deps") or {})
            else:
                import torch

                torch.set_num_threads(min(2, torch.get_num_threads()))
                self._collecting.append({})
                try:
                    with step_timing(self, name):
                        result = STEPS[name](self)
                finally:
                    deps = self._collecting.pop()
                save_result(result, folder, meta={"fingerprint": self.fingerprint(f"step:{name}"), "deps": deps})
            self.memo[name] = result
            self._deps[name] = deps
        self.depends(f"step:{name}", self._deps.get(name))
        return self.memo[name]

    def depends(self, key: str, deps: dict[str, str] | None = None) -> None:
        """Record, in every step being computed, that it used ``key`` (``"step:<name>"`` or
        ``"pretrained:<name>"``) and whatever that used (``deps``)."""
        for frame in self._collecting:
            frame[key] = self.fingerprint(key)
            frame.update(deps or {})

    def fingerprint(self, key: str) -> str:
        """What ``key`` is now, as a short hash: for ``"step:<name>"`` the step, the mode, the
        mock generator version and, for a training step, every cell of its experiment
        (:func:`step_fingerprint`); for ``"pretrained:<name>"`` the checkpoint file's SHA-256.
        Memoised in the context."""
        if key not in self._fingerprints:
            kind, _, name = key.partition(":")
            if kind == "step":
                self._fingerprints[key] = step_fingerprint(self, name)
            elif kind == "pretrained":
                self._fingerprints[key] = checkpoint_fingerprint(name)
            else:
                raise PapersError(f"unknown dependency kind in {key!r}", key)
        return self._fingerprints[key]

    def is_current(self, name: str) -> bool:
        """True when step ``name``'s cached result was computed from what the step, and every
        step and checkpoint it used, are now. A result cached before an experiment file, a
        reduced-mode protocol, the mock generator or a shipped checkpoint changed is not
        current and is recomputed (its training runs are reused where their cells did not
        change: :func:`spectool.train.cross_validate`)."""
        from ._cache import load_meta

        meta = load_meta(self.cache / self.key / "results" / name)
        if not meta or meta.get("fingerprint") != self.fingerprint(f"step:{name}"):
            return False
        deps = meta.get("deps") or {}
        try:
            return all(self.fingerprint(k) == v for k, v in deps.items())
        except PapersError:
            return False


STEPS: dict[str, Callable[[Context], Result]] = {}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its waited-for children (the
    spawned training workers count once their pool has shut down)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@contextmanager
def step_timing(ctx: Context, name: str):
    """Record the wall and CPU seconds of computing step ``name`` in ``ctx.timings`` and
    append them to ``<cache>/<key>/timings.jsonl``; time spent in nested steps is counted
    only in theirs."""
    t0, c0 = time.perf_counter(), _cpu_seconds()
    before = len(ctx.timings)
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        inner = ctx.timings[before:]  # every step computed inside this one, each with its own share
        wall -= sum(r["wall_s"] for r in inner)
        cpu -= sum(r["cpu_s"] for r in inner)
        rec = {"step": name, "mode": ctx.mode, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
               "load_avg": round(os.getloadavg()[0], 2), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        ctx.timings.append(rec)
        log = ctx.cache / ctx.key / "timings.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            fh.write(json.dumps(rec) + "\n")


def step(fn: Callable[[Context], Result]) -> Callable[[Context], Result]:
    """Register ``fn`` as the step named after it."""
    STEPS[fn.__name__] = fn
    return fn


# -------------------------------------------------------------------- training runs
def _slim(model: str) -> dict[str, Any]:
    for prefix, over in SLIM.items():
        if model.startswith(prefix):
            return dict(over)
    return {}


def reduced_experiment(name: str, protocol: Protocol, mode: str = "quick"):
    """The shipped full experiment ``name`` under a reduced ``protocol`` (every run and
    dataset unless the protocol names some; slim models; capped spectra)."""
    from ..train import load_config, load_experiment

    exp = load_experiment(name)
    exp.name = name.replace("_full", f"_papers_{mode}")
    if protocol.datasets:
        exp.datasets = [d for d in exp.datasets if d in protocol.datasets]
    if mode == "smoke":
        exp.datasets = exp.datasets[:1]
    exp.folds = list(protocol.folds)
    exp.seeds = [42 + k for k in range(protocol.seeds)]
    runs = []
    for run in exp.runs:
        if protocol.labels is not None and run.label not in protocol.labels:
            continue
        if run.datasets:
            run.datasets = [d for d in run.datasets if d in exp.datasets]
            if not run.datasets:
                continue
        cfg = load_config(Path(exp.source_file).parent / run.config)
        model = run.set.get("model.name", cfg.model.name)
        overrides = dict(cfg.model.overrides)
        if protocol.slim:
            overrides.update(_slim(model))
        own = dict(run.set.pop("model.overrides", {}) or {})
        arms = {label: dict(over) for label, over in protocol.arms}
        own.update(arms.get(run.label, {}))
        if protocol.slim and model.startswith("mspcnet") and "embed_dim" in own:
            own["embed_dim"] = max(8, int(own["embed_dim"]) // SLIM_CHANNEL_DIVISOR)
        overrides.update(own)
        run.set["model.overrides"] = overrides
        if protocol.slim and model in SLIM_LR:
            run.set["optim.lr"] = protocol.slim_lr or SLIM_LR[model]
        if run.label in dict(protocol.run_epochs):
            run.set["trainer.max_epochs"] = dict(protocol.run_epochs)[run.label]
        if run.label in dict(protocol.run_lr):
            run.set["optim.lr"] = dict(protocol.run_lr)[run.label]
        runs.append(run)
    if not runs:
        raise ConfigError(f"reduced grid of {name!r} selects no run (labels {protocol.labels})")
    exp.runs = runs
    caps = {"data.size": "quick",
            "data.max_train": protocol.max_train, "data.max_val": protocol.max_val,
            "data.max_test": protocol.max_test, "data.num_workers": 0, "trainer.max_epochs": protocol.epochs,
            "trainer.precision": "32-true", "trainer.progress_bar": False, "trainer.log_every_n_steps": 1,
            "trainer.num_sanity_val_steps": 0, "trainer.batch_size": 16, "early_stopping.enabled": False,
            "checkpoint.evaluate": "last", "loss.init_bias": True}
    if protocol.lr is not None:
        caps["optim.lr"] = protocol.lr
    if protocol.anneal:
        caps.update({"scheduler.name": "cosine", "scheduler.eta_min": 0.0})
    exp.set = {**exp.set, **caps}
    return exp


def reduced_jobs() -> int:
    """Cells trained in parallel in the reduced modes: one single-threaded cell per CPU core
    (at most 8; the slim networks use one core better than two), or 1 (in-process) inside
    IPython/Jupyter, where spawned workers would re-import a script-run ``__main__``."""
    import os
    import sys

    ipython = sys.modules.get("IPython")
    if ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None:
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0))))


def _as_dict(exp) -> dict:
    """An experiment as a plain mapping with absolute run-config paths (no source file needed)."""
    from ..train.config import resolve_path, to_dict

    raw = to_dict(exp)
    rel = Path(exp.source_file).parent if exp.source_file else None
    raw["runs"] = [{**to_dict(r), "config": str(resolve_path(r.config, rel))} for r in exp.runs]
    return raw


def protocol_note(mode: str, p: Protocol, step_name: str = "") -> str:
    """The caption line that says how a reduced-mode training step ran (``step_name``: the
    MSPC-Net steps also name the slimmed channel arms)."""
    folds = ", ".join(str(k + 1) for k in p.folds)
    seeds = f", {p.seeds} seeds" if p.seeds > 1 else ""
    arms = f" (MSPC-Net channel arms / {SLIM_CHANNEL_DIVISOR})" if step_name.startswith("mspc") else ""
    if step_name.startswith("spf"):
        arms = (f" (SPFusion with one ConvNeXt block per stage and a narrow photometric stem, without dropout, at "
                f"learning rate {p.slim_lr or SLIM_LR['spfusion']:g})")
    data = f", the mock at {p.scale} x its quick size" if p.scale > 1 else ""
    own = ", ".join(f"{label}: {n}" for label, n in p.run_epochs)
    epochs = f"{p.epochs} epochs" + (f" ({own})" if own else "")
    if p.lr is not None:
        lrs = ", ".join(f"{label}: {v:g}" for label, v in p.run_lr)
        epochs += f" at learning rate {p.lr:g}" + (f" ({lrs})" if lrs else "")
    return (f"{mode.capitalize()} mode: fold(s) {folds} of the paper's CV{seeds}{data}, slim CPU-sized networks{arms}, "
            f"{epochs} on <= {p.max_train} training spectra per "
            f"run{' (learning rate annealed to zero over them)' if p.anneal else ''}, evaluated on <= {p.max_test} "
            "test spectra; numbers show the shape of the result, not the "
            "paper's values.")


#: Training steps whose exported weights the analysis figures may load (:func:`model_of`):
#: every run, or only the named run labels.
KEEP_WEIGHTS: dict[str, set[str] | None] = {"mspc_classes": None, "spf_models": None, "sca_variants": None,
                                            "spf_ablation": {"no star operator", "star operator"}}


def step_experiment(ctx: Context, step_name: str, every_arm: bool = False, build: bool = True):
    """(experiment, caption note) that training step ``step_name`` runs in ``ctx``'s mode:
    the reduced protocol in ``smoke``/``quick``/``medium``, the shipped experiment in
    ``full``; ``every_arm`` keeps the arms that smoke mode leaves out. ``build=False`` names
    an enlarged mock store instead of building it (for :func:`step_fingerprint`)."""
    from dataclasses import replace

    from ..train import load_experiment

    if step_name not in EXPERIMENTS:
        raise PapersError(f"{step_name!r} is not a training step; known: {', '.join(EXPERIMENTS)}", step_name)
    full, protocols = EXPERIMENTS[step_name]
    if ctx.mode in protocols:
        protocol = replace(protocols[ctx.mode], labels=None) if every_arm else protocols[ctx.mode]
        exp = reduced_experiment(full, protocol, ctx.mode)
        note = protocol_note(ctx.mode, protocols[ctx.mode], step_name)
    else:
        exp = load_experiment(full)
        note = ""
    if not ctx.synthetic:
        exp.set = {**exp.set, "data.source": str(ctx.source)}
    elif ctx.mode in protocols and protocols[ctx.mode].scale > 1:
        scale = protocols[ctx.mode].scale
        store = (scaled_store(ctx, exp.datasets, scale) if build
                 else f"<mock {','.join(exp.datasets)} x{scale} seed {ctx.seed}>")
        exp.set = {**exp.set, "data.store": str(store)}
    return exp, note


def step_fingerprint(ctx: Context, step_name: str) -> str:
    """A short hash of what step ``step_name`` computes in ``ctx``'s mode and source: its
    name, the mode, the mock generator version (synthetic data) and, for a training step, the
    :func:`~spectool.train.cv.cell_key` of every cell its experiment trains and the caption
    note of its protocol. Code changes are not seen here; those bump
    :data:`~spectool.papers._cache.CACHE_VERSION`."""
    import hashlib

    from ..mock.build import MOCK_VERSION

    parts: list[Any] = [step_name, ctx.mode, ctx.src.name, MOCK_VERSION if ctx.synthetic else None]
    if step_name in EXPERIMENTS:
        from ..train import load_experiment
        from ..train.cv import cell_key, grid

        exp, note = step_experiment(ctx, step_name, build=False)
        exp = load_experiment(_as_dict(exp))
        parts += [note, [(c.run.label, c.dataset, c.fold, c.seed, cell_key(c.config))
                         for c in grid(exp, Path("."))]]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def checkpoint_fingerprint(name: str) -> str:
    """SHA-256 (first 16 hex digits) of the shipped pretrained checkpoint ``name``'s weights
    and JSON card (its calibration lives there), or ``"absent"``."""
    import hashlib

    from ..models.pretrained import pretrained_dir

    h = hashlib.sha256()
    found = False
    for suffix in (".safetensors", ".json"):
        path = pretrained_dir() / f"{name}{suffix}"
        if path.is_file():
            found = True
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16] if found else "absent"


def scaled_store(ctx: Context, datasets: list[str], scale: int) -> Path:
    """The quick mock of the single dataset in ``datasets`` at ``scale`` x its size (built
    once in the mock cache, from ``ctx``'s mock seed)."""
    from ..datasets.presets import preset
    from ..mock.build import build_preset

    if len(datasets) != 1:
        raise PapersError(f"a scaled mock needs one dataset, got {datasets}", ",".join(datasets))
    return build_preset(preset(datasets[0]), size="quick", seed=ctx.seed, scale=scale, progress=ctx.progress).path


def training_cell(ctx: Context, step_name: str, label: str, dataset: str | None = None) -> tuple[dict, Path]:
    """(config mapping, run directory) of one cell (first fold and seed) of training step
    ``step_name`` in ``ctx``'s mode: run ``label`` on ``dataset`` (default: the step's
    first dataset). ``spectool.train.fit(config, run_dir=run_dir)`` trains exactly that
    cell, or reads it back when the step (``papers.draw`` of one of its ids) already ran
    it; the step in turn reuses a cell trained this way. Reduced modes keep no checkpoints
    and, outside :data:`KEEP_WEIGHTS`, no exported weights once the whole step has run.

    >>> cfg, run_dir = training_cell(ctx, "mspc_classes", "MSPC-Net", "mspc/SC-S>5")
    >>> fit = spectool.train.fit(cfg, run_dir=run_dir)
    """
    from ..train import load_experiment
    from ..train.config import to_dict
    from ..train.cv import grid, slug

    exp, _ = step_experiment(ctx, step_name, every_arm=True)
    exp = load_experiment(_as_dict(exp))
    cells = [c for c in grid(exp, ctx.cache / ctx.key / "runs" / slug(exp.name))
             if c.run.label == label and (dataset is None or c.dataset == dataset)]
    if not cells:
        raise PapersError(f"step {step_name!r} has no run {label!r}" + (f" on {dataset!r}" if dataset else "")
                          + f" in {ctx.mode} mode", step_name)
    return to_dict(cells[0].config), cells[0].run_dir


def run_experiment(ctx: Context, step_name: str) -> Result:
    """Run (or resume) the experiment of ``step_name`` and gather a :class:`RunSet` whose
    results carry the sanity gate (:func:`sanity_gate`)."""
    from ..train import FitResult, cross_validate

    exp, note = step_experiment(ctx, step_name)
    runs_root = ctx.cache / ctx.key / "runs"
    cv = cross_validate(_as_dict(exp), root=runs_root, progress=ctx.progress,
                        jobs=reduced_jobs() if ctx.mode != "full" else 1, share=runs_root / "_cells")
    res = cv.results
    runs = RunSet(res.copy())
    for (dataset, label), rows in res.groupby(["dataset", "label"], sort=False):
        fit = FitResult.load(rows.iloc[0]["run_dir"])
        runs.predictions[(dataset, label)] = fit.predictions
        runs.histories[(dataset, label)] = fit.history
    for dataset in runs.datasets():
        ds = ctx.dataset(dataset)
        if ds.task == "classification":
            runs.class_names[dataset] = list(ds.class_names)
    runs.results = sanity_gate(res, ctx)
    if ctx.mode != "full":
        # reduced runs keep predictions, histories and metrics; no Lightning checkpoints, and
        # exported weights only where an analysis figure may load them (model_of)
        for d, label in zip(res["run_dir"], res["label"]):
            shutil.rmtree(Path(d) / "checkpoints", ignore_errors=True)
            if step_name not in KEEP_WEIGHTS or label not in (KEEP_WEIGHTS[step_name] or {label}):
                (Path(d) / "model.safetensors").unlink(missing_ok=True)
    return ctx.result(runs, note)


def sanity_gate(results: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Add the trivial baseline of every run and whether the model beat it by more than
    the noise of its test split.

    Classification: ``baseline_accuracy`` = the share of the most frequent class in the
    evaluated spectra (what always answering that class scores). Regression:
    ``baseline_mae_<t>`` = the MAE of the best constant (the median of the evaluated
    truth), a stricter bar than the training mean, and ``learned_<t>`` per target.
    ``gate_z`` / ``gate_z_<t>``: the paired one-sided z of the model's per-spectrum gain over
    that baseline (:func:`spectool.train.metrics.paired_gain`); a model has learned a target
    when z >= :data:`~spectool.train.metrics.GATE_Z` (p < 0.05), so a margin that a small
    test split gives by chance does not count. ``learned`` is True when the model learned
    every target; tables and figures say so plainly when it did not (and withhold only the
    failed targets of a regression).
    """
    from ..train import FitResult
    from ..train.metrics import GATE_Z, accuracy_gate, mae_gates

    out = results.copy()
    learned = []
    for i, row in out.iterrows():
        pred = FitResult.load(row["run_dir"]).predictions
        ok = True
        if "true_label" in pred.columns:
            _, base, z = accuracy_gate(pred["true_label"], pred["pred_label"])
            out.loc[i, "baseline_accuracy"] = base
            out.loc[i, "gate_z"] = z
            ok = bool(z >= GATE_Z)
        else:
            for t, (_, base, z) in mae_gates(pred).items():
                if f"mae_{t}" in out.columns:
                    out.loc[i, f"baseline_mae_{t}"] = base
                    out.loc[i, f"gate_z_{t}"] = z
                    beat = bool(z >= GATE_Z)
                    out.loc[i, f"learned_{t}"] = beat
                    ok = ok and beat
        learned.append(ok)
    out["learned"] = learned
    for c in out.columns:  # booleans with missing values, not objects (the cache keeps the dtype)
        if c.startswith("learned_"):
            out[c] = out[c].astype("boolean")
    return out


for _name in EXPERIMENTS:
    STEPS[_name] = (lambda n: (lambda ctx: run_experiment(ctx, n)))(_name)


# ------------------------------------------------------------- trained models
def model_of(ctx: Context, step_name: str, label: str):
    """(model, dataset name, predictions) of run ``label`` (first fold) in a training step."""
    from ..train import FitResult

    runs: RunSet = ctx.get(step_name).data
    res = runs.results
    rows = res[res["label"] == label]
    if rows.empty:
        rows = res.iloc[[-1]]
    fit = FitResult.load(rows.iloc[0]["run_dir"])
    return fit.load_model().eval(), rows.iloc[0]["dataset"], fit.predictions


#: Shipped pretrained checkpoints that the analysis figures evaluate (quick and medium mode).
PRETRAINED = {("mspc/SC-S>5", "MSPC-Net"): "mspcnet_sdss-mock-sc", ("mspc/SC-S>5", "SSCNN"): "sscnn-mock-sc",
              ("mspc/SC-S>5", "RACNet"): "racnet-mock-sc", ("mspc/SC-S>5", "ConvNeXt"): "convnext1d-mock-sc",
              ("spfusion/redclump", "SPFusion"): "spfusion-mock-redclump",
              ("scanet/AFGK", "M-M-T-T"): "scanet_mmtt-mock-afgk"}


def analysis_model(ctx: Context, dataset: str, label: str, step_name: str):
    """(model, note) for the figures that analyse a trained model: the shipped pretrained
    checkpoint of ``label`` on ``dataset`` for synthetic data in reduced modes when it learned
    (:func:`checkpoint_verdict`), else the model trained by ``step_name``. The note names the
    model and says plainly when neither learned, so what the figure shows is not a result."""
    from .. import models

    name = PRETRAINED.get((dataset, label))
    why = ""
    if ctx.synthetic and ctx.mode != "full" and name in models.list_pretrained():
        ctx.depends(f"pretrained:{name}")
        ckpt = models.load(name).eval()
        failed = checkpoint_verdict(ctx, ckpt, dataset)
        if not failed:
            return ckpt, f"Model: shipped pretrained checkpoint {name} (synthetic mock training)."
        why = f" (the shipped checkpoint {name} {failed}, so it is not used)"
    model, _, _ = model_of(ctx, step_name, label)
    note = f"Model: {label} trained by this run ({step_name}){why}."
    verdict = verdicts(ctx.get(step_name).data.results).get((dataset, label), "")
    if verdict.startswith(("NO", "PARTLY")):
        note += (f" SANITY GATE: this model did not learn either ({verdict.split(';')[0]}), so the weights and "
                 "maps drawn here are not a learned result.")
    return model, note


def card_learned(model) -> bool:
    """False when a classifier's model card reports a test accuracy no better than 1.5 x chance
    (a checkpoint that never learned); True otherwise (regression cards carry no baseline:
    :func:`checkpoint_verdict` measures regressors)."""
    card = getattr(model, "card", None) or {}
    acc = (card.get("metrics") or {}).get("accuracy")
    classes = len(getattr(model, "output_names", []) or [])
    if acc is None or card.get("task") != "classification" or classes < 2:
        return True
    return float(acc) > 1.5 / classes


_VERDICTS: dict[tuple[str, str, str], str] = {}


def checkpoint_verdict(ctx: Context, model, dataset: str) -> str:
    """``""`` when a shipped checkpoint learned, else why not, in words.

    Classifiers: the card's mock test accuracy against 1.5 x chance (:func:`card_learned`).
    Regressors: the checkpoint is evaluated on the analysed mock set
    (:func:`evaluation_sets`, spectra it was never trained on) and must beat the best
    constant (the median of the truth) on every target at p < 0.05, the bar of
    :func:`sanity_gate`.
    Memoised per mode and checkpoint."""
    from ..train.metrics import GATE_Z, mae_gates

    card = getattr(model, "card", None) or {}
    if card.get("task") != "regression":
        return "" if card_learned(model) else "is at chance on its own mock test split"
    key = (ctx.key, str(card.get("pretrained_name") or card.get("name")), dataset)
    if key not in _VERDICTS:
        pred = pd.concat([predictions_on(model, ds, rows) for ds, rows in evaluation_sets(ctx, dataset)],
                         ignore_index=True)
        failed = [f"{t} (MAE {mae:.3g} against the best constant's {base:.3g}, z = {z:.1f})"
                  for t, (mae, base, z) in mae_gates(pred).items() if not z >= GATE_Z]
        _VERDICTS[key] = (f"does not beat the best constant on {len(pred)} fresh mock spectra for "
                          + ", ".join(failed)) if failed else ""
    return _VERDICTS[key]


#: Spectra in the mock evaluation set of the analysis figures (quick / medium mode).
EVAL_SIZE = {"smoke": 40, "quick": 600, "medium": 2000}


def evaluation_sets(ctx: Context, dataset: str) -> list[tuple[Any, np.ndarray]]:
    """``[(SpectralDataset, rows), ...]`` on which the analysis figures evaluate a model.

    In reduced modes on mock data: freshly generated quick mock sets of ``dataset`` with
    generator seeds ``1000 + seed``, ``1001 + seed``, ... (no shipped checkpoint was trained
    on them) until :data:`EVAL_SIZE` spectra are reached; otherwise the test split of fold 0.
    """
    from .. import datasets

    if not (ctx.synthetic and ctx.mode in EVAL_SIZE):
        ds = ctx.dataset(dataset)
        return [(ds, ds.indices("test", 0))]
    out, n, k = [], 0, 0
    while n < EVAL_SIZE[ctx.mode]:
        ds = datasets.load(dataset, source="mock", size="quick", seed=1000 + ctx.seed + k)
        rows = np.arange(min(len(ds), EVAL_SIZE[ctx.mode] - n))
        out.append((ds, rows))
        n += rows.size
        k += 1
    return out


def evaluated_runs(ctx: Context, step_name: str, labels: list[str] | None = None) -> Result:
    """The run set of training step ``step_name`` with the test predictions of ``labels``
    (default: every run of its first dataset) replaced by predictions on the analysed mock
    set (:func:`evaluation_sets`, :data:`EVAL_SIZE` spectra) in reduced modes on mock data,
    so that per-S/N-bin figures have enough spectra in each bin. The sanity-gate columns
    stay those of the training runs' own test split. Other modes: the step's result."""
    base = ctx.get(step_name)
    runs: RunSet = base.data
    if not (ctx.synthetic and ctx.mode in EVAL_SIZE):
        return base
    dataset = runs.datasets()[0]
    sets = evaluation_sets(ctx, dataset)
    out = RunSet(runs.results.copy(), dict(runs.predictions), dict(runs.histories), dict(runs.class_names))
    for label in labels or runs.labels(dataset):
        model, _, _ = model_of(ctx, step_name, label)
        out.predictions[(dataset, label)] = pd.concat([predictions_on(model, ds, rows) for ds, rows in sets],
                                                      ignore_index=True)
    n = sum(rows.size for _, rows in sets)
    return ctx.result(out, f"Models trained by this run ({step_name}), evaluated on {n} freshly generated mock "
                           f"spectra (learned? verdicts from their own test split). {base.note}".strip())


def predictions_on(model, ds, rows: np.ndarray) -> pd.DataFrame:
    """Evaluate ``model`` on rows of a dataset: the prediction table of
    :func:`spectool.train.evaluate` (``row``, ``object_id``, truth, prediction, S/N)."""
    from ..train.data import Splits
    from ..train.fit import evaluate

    empty = np.array([], dtype=np.int64)
    splits = Splits(train=empty, val=empty, test=np.sort(np.asarray(rows, np.int64)))
    pred, _, _ = evaluate(model, ds, splits, batch_size=64)
    return pred
