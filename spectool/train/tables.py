"""Paper-shaped tables from the tidy results of :func:`spectool.train.cross_validate`.

The tidy frame has one row per run: ``dataset``, ``label`` (model label), ``group``,
``fold``, ``seed``, ``params`` and metric columns (``accuracy``, ``macro_f1``,
``mae_<target>``, ``rmse_<target>``, ...). From it:

* :func:`fold_table`: MSPC-Net Tables 3, 4, 6 (per-fold accuracy and F1 in percent,
  then Avg and Std, rows = dataset x model with the model size);
* :func:`per_class_comparison`: MSPC-Net Table 5 (TP, top-1 FN, top-1 FP per class,
  models side by side) from the runs' ``per_class.csv``;
* :func:`mean_std_table`: SCA-Net Table 1 ("mean ± std" over repeated runs), the
  ablation tables (MSPC-Net Table 7-18, SPFusion Tables 3-7) and SPFusion Table 2.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import SpectoolError

CLASSIFICATION_METRICS = {"accuracy": "Accuracy (%)", "macro_f1": "F1-score (%)"}


def format_size(params: float) -> str:
    """Parameter count the way the papers print it: ``7.5 M``, ``759.2 K``."""
    if params >= 1e6:
        return f"{params / 1e6:.1f} M"
    if params >= 1e3:
        return f"{params / 1e3:.1f} K"
    return str(int(params))


def _check(results: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in results.columns]
    if missing:
        raise SpectoolError(f"results table lacks columns {missing} (has {list(results.columns)})")
    if results.empty:
        raise SpectoolError("results table is empty: no finished runs")


def fold_table(results: pd.DataFrame, metrics: dict[str, str] | None = None, scale: float = 100.0,
               decimals: int = 2) -> pd.DataFrame:
    """Per-fold values plus ``Avg`` and ``Std`` (MSPC-Net Tables 3, 4 and 6).

    Rows are (dataset, model, size) in the order the runs appear; columns are
    (metric label, ``fold1`` ... ``foldK``, ``Avg``, ``Std``). Values are multiplied by
    ``scale`` (100: percent). With several seeds per fold the seeds are averaged first.
    ``Std`` (population std over folds) is NaN for a row with a single fold.
    """
    metrics = metrics or CLASSIFICATION_METRICS
    _check(results, ["dataset", "label", "fold", "params", *metrics])
    df = results.groupby(["dataset", "label", "fold"], sort=False).agg(
        {**{m: "mean" for m in metrics}, "params": "first"}).reset_index()
    order = list(dict.fromkeys(zip(results["dataset"], results["label"])))
    blocks = []
    for m, title in metrics.items():
        wide = df.pivot_table(index=["dataset", "label"], columns="fold", values=m, sort=False) * scale
        wide.columns = [f"fold{int(f) + 1}" for f in wide.columns]
        wide["Avg"] = wide.mean(axis=1)
        folds = wide.iloc[:, :-1]
        # a spread over one fold is undefined, not 0: NaN (printed blank)
        wide["Std"] = folds.std(axis=1, ddof=0).where(folds.notna().sum(axis=1) > 1)
        wide.columns = pd.MultiIndex.from_product([[title], wide.columns])
        blocks.append(wide)
    table = pd.concat(blocks, axis=1).loc[order].round(decimals)
    sizes = df.groupby(["dataset", "label"], sort=False)["params"].first().loc[order].map(format_size)
    table.index = pd.MultiIndex.from_tuples([(d, m, sizes[(d, m)]) for d, m in order],
                                            names=["dataset", "model", "size"])
    return table


def mean_std_table(results: pd.DataFrame, metrics: dict[str, str], index: Sequence[str] = ("dataset", "label"),
                   scale: dict[str, float] | None = None, decimals: dict[str, int] | int = 3,
                   size: bool = True) -> pd.DataFrame:
    """``"mean ± std"`` strings per metric over all runs (folds, seeds) of each row; a row
    with a single run shows its value alone (no spread).

    Parameters
    ----------
    metrics
        Metric column -> printed title (e.g. ``{"mae_teff": "Teff MAE (K)"}``).
    index
        Columns that identify a row (default dataset and model label).
    scale, decimals
        Per-metric multiplier and number of decimals (an int applies to all).
    size
        Add a ``size`` column with the model's parameter count.
    """
    _check(results, [*index, *metrics])
    scale = scale or {}
    order = list(dict.fromkeys(map(tuple, results[list(index)].to_numpy())))
    grouped = results.groupby(list(index), sort=False)
    out = pd.DataFrame(index=pd.MultiIndex.from_tuples(order, names=list(index)))
    if size and "params" in results.columns:
        out["size"] = grouped["params"].first().loc[order].map(format_size)
    out["runs"] = grouped.size().loc[order]
    for m, title in metrics.items():
        d = decimals if isinstance(decimals, int) else decimals.get(m, 3)
        s = scale.get(m, 1.0)
        mean, std = grouped[m].mean().loc[order] * s, grouped[m].std(ddof=0).loc[order] * s
        count = grouped[m].count().loc[order]
        # one run has no spread: print the value alone rather than "± 0"
        out[title] = [f"{a:.{d}f} ± {b:.{d}f}" if k > 1 else f"{a:.{d}f}" for a, b, k in zip(mean, std, count)]
    return out


def regression_metric_titles(results: pd.DataFrame, stats: Sequence[str] = ("mae", "rmse")) -> dict[str, str]:
    """``{"mae_teff": "teff MAE", "rmse_teff": "teff RMSE", ...}`` for the metric columns present."""
    targets = list(dict.fromkeys(c.split("_", 1)[1] for c in results.columns
                                 if c.startswith("mae_")))
    return {f"{s}_{t}": f"{t} {s.upper()}" for t in targets for s in stats if f"{s}_{t}" in results.columns}


def experiment_table(results: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The default table of an experiment: :func:`fold_table` for classification, a
    ``mean ± std`` table of MAE and RMSE per target for regression."""
    if kind == "classification":
        if results["seed"].nunique() > 1 and results["fold"].nunique() == 1:
            return mean_std_table(results, CLASSIFICATION_METRICS, scale={m: 100.0 for m in CLASSIFICATION_METRICS},
                                  decimals=2)
        return fold_table(results)
    return mean_std_table(results, regression_metric_titles(results), decimals=4)


def per_class_comparison(runs: Mapping[str, str | Path]) -> pd.DataFrame:
    """MSPC-Net Table 5: per class ``TP``, ``FN (top-1)`` and ``FP (top-1)`` in the paper's
    notation (``X→Y (n)`` = predicted X, true Y), one column block per labelled run directory."""
    blocks = []
    for label, run_dir in runs.items():
        f = Path(run_dir) / "per_class.csv"
        if not f.is_file():
            raise SpectoolError("no per_class.csv (not a finished classification run)", f)
        t = pd.read_csv(f, keep_default_na=False).set_index("class")
        block = t[["tp_text", "fn_text", "fp_text"]].set_axis(["TP", "FN (top-1)", "FP (top-1)"], axis=1)
        block.columns = pd.MultiIndex.from_product([[label], block.columns])
        blocks.append(block)
    return pd.concat(blocks, axis=1)
