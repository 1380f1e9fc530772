"""Cross-validation runner and paper-shaped tables."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from spectool.cli import app
from spectool.errors import ConfigError
from spectool.train import cross_validate, fold_table, load_experiment, mean_std_table, per_class_comparison
from spectool.train.config import list_configs
from spectool.train.cv import grid, slug
from spectool.train.tables import format_size

from _train_toys import register_tiny, toy_store


@pytest.fixture
def tiny_models():
    remove = register_tiny()
    yield
    remove()


def _experiment(tmp_path, store, task="classification", **extra):
    base = tmp_path / "base.yaml"
    model = "tiny_cls" if task == "classification" else "tiny_reg"
    loss = "cross_entropy" if task == "classification" else "l1"
    base.write_text(
        f"name: toy\nseed: 1\ndata: {{store: {store}}}\nmodel: {{name: {model}}}\nloss: {{name: {loss}}}\n"
        "optim: {lr: 0.01}\ntrainer: {max_epochs: 2, batch_size: 16, progress_bar: false, num_sanity_val_steps: 0,"
        " log_every_n_steps: 1, num_threads: 1}\n")
    exp = {"name": "toy grid", "output_root": str(tmp_path / "runs"), "table": task,
           "folds": [0, 1], "seeds": [3],
           "runs": [{"label": "Tiny-8", "config": str(base)},
                    {"label": "Tiny-4", "config": str(base), "set": {"model.overrides": {"width": 4}}}]}
    exp.update(extra)
    return exp


def test_cv_runner_tiny_grid_table_and_skip(tmp_path, tiny_models):
    store = toy_store(tmp_path / "store", n_folds=2).path
    res = cross_validate(_experiment(tmp_path, store), progress=False)
    r = res.results
    assert len(r) == 4 and set(r["label"]) == {"Tiny-8", "Tiny-4"} and sorted(set(r["fold"])) == [0, 1]
    assert r["accuracy"].between(0, 1).all() and (r["params"] > 0).all()
    table = res.table()
    acc = table["Accuracy (%)"]
    assert list(acc.columns) == ["fold1", "fold2", "Avg", "Std"]
    assert list(table.columns.get_level_values(0).unique()) == ["Accuracy (%)", "F1-score (%)"]
    row = r[r.label == "Tiny-8"].sort_values("fold")
    got = acc.xs("Tiny-8", level="model").iloc[0]
    assert got["fold1"] == pytest.approx(100 * row["accuracy"].iloc[0], abs=0.01)
    assert got["Avg"] == pytest.approx(100 * row["accuracy"].mean(), abs=0.01)
    h = res.histories
    assert len(h) == 4 * 2 and {"label", "fold", "epoch", "train_loss", "val_acc"} <= set(h.columns)
    for f in ("results.csv", "histories.csv", "table.csv", "table.txt"):
        assert (res.root / f).is_file()
    t5 = per_class_comparison({lab: r[(r.label == lab) & (r.fold == 0)]["run_dir"].iloc[0] for lab in ("Tiny-8", "Tiny-4")})
    assert t5.index.tolist() == ["A", "F", "K"] and t5[("Tiny-8", "TP")].iloc[0].startswith("A (")
    run_dir = tmp_path / "runs" / "toy_grid" / "toy_cls" / "Tiny-4" / "fold1"
    assert (run_dir / "done.json").is_file() and (run_dir / "history.csv").is_file()
    # a second call reuses finished runs
    t0 = time.time()
    again = cross_validate(_experiment(tmp_path, store), progress=False)
    assert again.results["skipped_done"].all() and time.time() - t0 < 20
    pd.testing.assert_series_equal(again.results["accuracy"], r["accuracy"])
    # the command line prints the same table
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text(yaml.safe_dump(_experiment(tmp_path, store)))
    out = CliRunner().invoke(app, ["cv", str(exp_file), "-q"])
    assert out.exit_code == 0, out.output
    assert "fold2" in out.output and "Avg" in out.output and "Tiny-4" in out.output and "4 runs" in out.output


def test_identical_cells_train_once_and_are_shared_between_experiments(tmp_path, tiny_models):
    store = toy_store(tmp_path / "store", n_folds=2).path
    # "Tiny-8 (explicit)" names the model's default width: the same network as "Tiny-8"
    exp = _experiment(tmp_path, store, folds=[0])
    exp["runs"].append({"label": "Tiny-8 (explicit)", "config": exp["runs"][0]["config"],
                        "set": {"model.overrides": {"width": 8}}})
    share = tmp_path / "cells"
    res = cross_validate(exp, progress=False, share=share).results.set_index("label")
    copy = json.loads((Path(res.loc["Tiny-8 (explicit)", "run_dir"]) / "done.json").read_text())
    assert copy["copied_from"] == res.loc["Tiny-8", "run_dir"]
    assert "copied_from" not in json.loads((Path(res.loc["Tiny-4", "run_dir"]) / "done.json").read_text())
    assert res.loc["Tiny-8 (explicit)", "accuracy"] == res.loc["Tiny-8", "accuracy"]
    assert copy["config"]["model"]["overrides"] == {"width": 8}  # the copy records its own config
    assert len(list(share.glob("*.json"))) == 2  # Tiny-8 and Tiny-4 trained, indexed once each
    # a resumed experiment copies from its own finished cells too (no index needed)
    import shutil
    shutil.rmtree(res.loc["Tiny-8 (explicit)", "run_dir"])
    again = cross_validate(exp, progress=False).results.set_index("label")
    assert again["skipped_done"].all()
    assert json.loads((Path(again.loc["Tiny-8 (explicit)", "run_dir"]) / "done.json").read_text())["copied_from"] \
        == res.loc["Tiny-8", "run_dir"]
    # another experiment with an identical cell takes a copy instead of training
    other = _experiment(tmp_path, store, folds=[0], name="other grid")
    other["runs"] = other["runs"][1:]
    got = cross_validate(other, progress=False, share=share).results
    done = json.loads((Path(got["run_dir"].iloc[0]) / "done.json").read_text())
    assert done["copied_from"] == res.loc["Tiny-4", "run_dir"] and got["skipped_done"].all()
    assert got["accuracy"].iloc[0] == res.loc["Tiny-4", "accuracy"]
    # a different seed is a different cell: trained, not copied
    third = _experiment(tmp_path, store, folds=[0], seeds=[4], name="third")
    third["runs"] = third["runs"][1:]
    assert not cross_validate(third, progress=False, share=share).results["skipped_done"].any()


def test_a_finished_run_of_a_changed_config_is_moved_aside_and_trained_again(tmp_path, tiny_models):
    """Resuming after the experiment changed (here Tiny-4's width) must not report the old
    run as the new config's result, nor let the shared index hand the retrained folder out
    as the old config."""
    store = toy_store(tmp_path / "store", n_folds=2).path
    share = tmp_path / "cells"
    exp = _experiment(tmp_path, store, folds=[0])
    first = cross_validate(exp, progress=False, share=share).results.set_index("label")
    changed = copy.deepcopy(exp)
    changed["runs"][1]["set"] = {"model.overrides": {"width": 2}}
    with pytest.warns(RuntimeWarning, match="trained with another config"):
        res = cross_validate(changed, progress=False, share=share).results.set_index("label")
    assert res.loc["Tiny-8", "skipped_done"] and not res.loc["Tiny-4", "skipped_done"]
    run_dir = Path(res.loc["Tiny-4", "run_dir"])
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"]["overrides"] == {"width": 2}
    assert res.loc["Tiny-4", "params"] < first.loc["Tiny-4", "params"]
    stale = list(run_dir.parent.glob("fold0.stale-*"))
    assert len(stale) == 1 and (stale[0] / "done.json").is_file()  # nothing lost
    # the old config in another experiment trains again: its indexed folder now holds width 2
    other = _experiment(tmp_path, store, folds=[0], name="other grid")
    other["runs"] = other["runs"][1:]
    got = cross_validate(other, progress=False, share=share).results
    assert not got["skipped_done"].any() and got["params"].iloc[0] == first.loc["Tiny-4", "params"]


def test_cv_runner_repeated_seeds_regression(tmp_path, tiny_models):
    store = toy_store(tmp_path / "store", task="regression", n_folds=1).path
    res = cross_validate(_experiment(tmp_path, store, task="regression", folds=[0], seeds=[1, 2]), progress=False)
    assert len(res.results) == 4 and sorted(set(res.results["seed"])) == [1, 2]
    table = res.table()
    assert list(table.columns) == ["size", "runs", "teff MAE", "teff RMSE", "logg MAE", "logg RMSE"]
    cell = table.loc[("toy/reg", "Tiny-8"), "teff MAE"]
    vals = res.results[res.results.label == "Tiny-8"]["mae_teff"]
    assert cell == f"{vals.mean():.4f} ± {vals.std(ddof=0):.4f}"


def test_cell_cost_orders_cells_by_model_size_epochs_and_spectra(tmp_path, tiny_models):
    # cross_validate(jobs > 1) submits the most expensive cells first by this estimate
    from spectool.train.cv import cell_cost
    from spectool.train.data import open_dataset

    store = toy_store(tmp_path / "store", n_folds=2).path
    cells = grid(load_experiment(_experiment(tmp_path, store, folds=[0])), tmp_path / "g")
    wide, narrow = (c.config for c in cells)  # Tiny-8, Tiny-4: same data and epochs
    assert cell_cost(wide) > cell_cost(narrow) > 0
    longer = copy.deepcopy(wide)
    longer.trainer.max_epochs = 3 * wide.trainer.max_epochs
    assert cell_cost(longer) == pytest.approx(3 * cell_cost(wide))
    n_train = len(open_dataset(wide.data).indices("train", 0))
    capped = copy.deepcopy(wide)
    capped.data.max_train = 10
    assert n_train > 10
    assert cell_cost(capped) == pytest.approx(cell_cost(wide) * 10 / n_train)


def test_experiment_validation(tmp_path):
    with pytest.raises(ConfigError, match="at least one run"):
        load_experiment({"name": "x", "runs": []})
    base = {"name": "x", "datasets": ["mspc/SC-S>5"],
            "runs": [{"label": "a", "config": "mspcnet_quick"}, {"label": "a", "config": "baselines_quick"}]}
    with pytest.raises(ConfigError, match="label 'a' appears twice"):
        load_experiment(base)
    with pytest.raises(ConfigError, match=r"runs\[0\] \(a, mspc/SC-S>5\): unknown key 'trainer\.max_epoch'"):
        load_experiment({"name": "x", "datasets": ["mspc/SC-S>5"],
                         "runs": [{"label": "a", "config": "mspcnet_quick", "set": {"trainer.max_epoch": 2}}]})


def test_shipped_experiments_expand_to_the_paper_grids(tmp_path):
    assert {"mspc_table4_quick", "mspc_table4_full", "mspc_table3_full", "mspc_table6_full",
            "mspc_ablation_sdss_full", "mspc_ablation_lamost_full", "mspc_table18_full", "spfusion_table2_full",
            "spfusion_ablation_full", "scanet_table1_full", "scanet_standard_full"} <= set(list_configs("experiment"))
    cells = grid(load_experiment("mspc_table4_full"), tmp_path)
    assert len(cells) == 4 * 4 * 5
    mspc = {c.dataset: c.config.model.name for c in cells if c.run.label == "MSPC-Net"}
    assert mspc == {"mspc/SS-S>5": "mspcnet_sdss", "mspc/SS-S>10": "mspcnet_sdss",
                    "mspc/SS-L>5": "mspcnet_lamost", "mspc/SS-L>10": "mspcnet_lamost"}
    quick = grid(load_experiment(load_experiment("mspc_table4_quick")), tmp_path)  # config objects round-trip
    assert len(quick) == 20 and {c.config.data.size for c in quick} == {"quick"}
    sca = grid(load_experiment("scanet_table1_full"), tmp_path)
    assert len(sca) == 25 and {c.seed for c in sca} == {42, 43, 44, 45, 46}
    assert len({c.run_dir for c in sca}) == 25
    abl = load_experiment("mspc_ablation_sdss_full")
    assert {r.group for r in abl.runs} == {"(a) identity ratio", "(b) kernel sizes", "(c) channels", "(d) attention"}


def test_fold_table_shape_and_mean_std_strings():
    rows = []
    for label, params, base in [("SSCNN", 7_481_560, 0.79), ("MSPC-Net", 2_098_644, 0.82)]:
        for fold in range(5):
            rows.append({"dataset": "mspc/SS-S>5", "label": label, "fold": fold, "seed": 42, "params": params,
                         "accuracy": base + 0.001 * fold, "macro_f1": base - 0.001 * fold})
    df = pd.DataFrame(rows)
    t = fold_table(df)
    assert t.index.tolist() == [("mspc/SS-S>5", "SSCNN", "7.5 M"), ("mspc/SS-S>5", "MSPC-Net", "2.1 M")]
    assert list(t["Accuracy (%)"].columns) == ["fold1", "fold2", "fold3", "fold4", "fold5", "Avg", "Std"]
    assert t.loc[("mspc/SS-S>5", "MSPC-Net", "2.1 M"), ("Accuracy (%)", "Avg")] == pytest.approx(82.2)
    assert t.loc[("mspc/SS-S>5", "SSCNN", "7.5 M"), ("F1-score (%)", "fold5")] == pytest.approx(78.6)
    m = mean_std_table(df, {"accuracy": "Acc (%)"}, scale={"accuracy": 100}, decimals=2)
    assert m.loc[("mspc/SS-S>5", "SSCNN"), "Acc (%)"] == f"79.20 ± {100 * np.std([0, .001, .002, .003, .004]):.2f}"
    assert format_size(759_192) == "759.2 K" and slug("mspc/SS-S>5") == "mspc_SS-S_gt5"
    # one fold / one run: the spread is undefined, not 0
    one = df[df.fold == 0]
    assert np.isnan(fold_table(one).loc[("mspc/SS-S>5", "SSCNN", "7.5 M"), ("Accuracy (%)", "Std")])
    assert mean_std_table(one, {"accuracy": "Acc (%)"}, scale={"accuracy": 100}, decimals=2).loc[
        ("mspc/SS-S>5", "MSPC-Net"), "Acc (%)"] == "82.00"


def test_cv_workers_end_when_the_parent_is_killed(tmp_path):
    """A SIGKILLed cross_validate leaves no worker training: the pool's initializer watches the parent."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pidfile = tmp_path / "worker.pid"
    script = tmp_path / "parent.py"  # a file, so that spawned workers can import its `work`
    script.write_text(f"""
import multiprocessing as mp, os, time
from concurrent.futures import ProcessPoolExecutor
from spectool.train.cv import _exit_with_parent

def work(path):
    open(path, "w").write(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_exit_with_parent,
                             initargs=(os.getpid(), 0.2)) as pool:
        pool.submit(work, {str(pidfile)!r}).result()
""")
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.time() + 120
        while not (pidfile.is_file() and pidfile.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        worker = int(pidfile.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()

        def alive(pid):  # a zombie (exited, not yet reaped by its new parent) counts as ended
            stat = f"/proc/{pid}/stat"
            if os.path.exists("/proc/self/stat"):
                try:
                    with open(stat) as fh:
                        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
                except FileNotFoundError:
                    return False
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            return True

        deadline = time.time() + 10
        while alive(worker) and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(worker), "the worker outlived its killed parent"
    finally:
        parent.kill()



def test_worker_pool_is_kept_between_experiments_and_replaced_when_broken():
    """cross_validate's spawn pool outlives one call (workers import torch once per run of
    ``spectool figures``, not once per experiment); a shut-down or broken pool is replaced."""
    from spectool.train import cv

    first = cv._pool(3)
    try:
        assert cv._pool(3) is first
        other = cv._pool(4)
        assert other is not first and cv._pool(4) is other
        first.shutdown()
        replacement = cv._pool(3)
        assert replacement is not first and cv._pool(3) is replacement
    finally:
        cv._shutdown_pools()
    assert not any(key[0] == __import__("os").getpid() for key in cv._POOLS)


def test_cell_key_sees_the_mock_version_and_reads_configs_once(monkeypatch):
    """A new mock generator version is new data: cells on the embedded mock get a new key
    (so finished runs of the old mock are moved aside, not reused); a cell on a store keeps
    its key (the store is the data). Parsed YAML is memoised but never shared."""
    from spectool.mock import build
    from spectool.train import load_config
    from spectool.train.config import _parse_yaml
    from spectool.train.cv import cell_key

    mock = load_config("baselines_quick", ["model.name=sscnn"])
    stored = load_config("baselines_quick", ["model.name=sscnn", "data.store=/some/store"])
    before = cell_key(mock), cell_key(stored)
    monkeypatch.setattr(build, "MOCK_VERSION", build.MOCK_VERSION + 1)
    assert cell_key(mock) != before[0] and cell_key(stored) == before[1]
    first = _parse_yaml("a: {b: 1}")
    a = load_config("baselines_quick")
    a.trainer.max_epochs = 99  # editing one loaded config does not leak into the next
    assert load_config("baselines_quick").trainer.max_epochs != 99
    assert _parse_yaml("a: {b: 1}") is first
