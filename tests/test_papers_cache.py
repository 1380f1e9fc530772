"""The results cache stores a step's Result as JSON + npz + parquet and reads it back
exactly; it refuses to store or rebuild anything outside its allow-list and never unpickles."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from spectool.demo import synthetic_spectrum
from spectool.explain import FeatureMap
from spectool.papers import Result, RunSet, Source
from spectool.papers import _cache
from spectool.papers._cache import CACHE_VERSION, CacheError, load_result, save_result


def _example() -> Result:
    from spectool import preprocess as P

    spec = synthetic_spectrum(seed=3)
    runs = RunSet(pd.DataFrame({"dataset": ["d", "d"], "label": ["A", "B"], "accuracy": [0.5, np.nan],
                                "learned": [True, False]}),
                  predictions={("d", "A"): pd.DataFrame({"object_id": ["x", "y"], "pred_label": ["G", "K"],
                                                         "snr": [3.5, 12.0]})},
                  histories={("d", "A"): pd.DataFrame({"epoch": [0, 1], "val_acc": [0.2, 0.6]})},
                  class_names={"d": ["G", "K"]})
    table = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["r1", "r2"], name="row"))
    wide = pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("Acc", "fold1"), ("Acc", "Avg")]))
    return Result({"runs": runs, "spec": (spec, P.mspcnet(spec)), "fm": FeatureMap("embed", np.eye(3), np.arange(3.0)),
                   "table": table, "wide": wide, "nan": float("nan"), "groups": {"k=5": (0, 16)},
                   "ints": np.arange(4, dtype=np.int16), "text": np.array(["a", "bc"], dtype=object)},
                  Source(synthetic=True, mode="quick"), note="n")


def test_round_trip_is_exact(tmp_path):
    res = _example()
    save_result(res, tmp_path / "step")
    files = sorted(p.name for p in (tmp_path / "step").iterdir())
    assert files[0] == "arrays.npz" and "result.json" in files and all(
        f.endswith((".npz", ".json", ".parquet")) for f in files)
    back = load_result(tmp_path / "step")
    assert isinstance(back, Result) and back.note == "n" and back.source == res.source
    runs = back.data["runs"]
    pd.testing.assert_frame_equal(runs.results, res.data["runs"].results)
    pd.testing.assert_frame_equal(runs.predictions[("d", "A")], res.data["runs"].predictions[("d", "A")])
    assert runs.class_names == {"d": ["G", "K"]}
    spec, prep = back.data["spec"]
    assert np.array_equal(spec.flux, res.data["spec"][0].flux) and spec.meta == res.data["spec"][0].meta
    assert np.array_equal(prep.flux, res.data["spec"][1].flux) and prep.steps == res.data["spec"][1].steps
    pd.testing.assert_frame_equal(back.data["table"], res.data["table"])
    pd.testing.assert_frame_equal(back.data["wide"], res.data["wide"])
    assert np.isnan(back.data["nan"]) and back.data["groups"] == {"k=5": (0, 16)}
    assert back.data["ints"].dtype == np.int16 and back.data["text"].tolist() == ["a", "bc"]
    assert np.array_equal(back.data["fm"].values, np.eye(3))


def test_refuses_unknown_types_and_damaged_files(tmp_path):
    class Opaque:
        pass

    with pytest.raises(CacheError, match="cannot store"):
        save_result(Result({"x": Opaque()}), tmp_path / "a")
    save_result(Result({"x": 1}), tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "result.json").read_text())
    meta["tree"]["__dataclass__"] = "os.system"  # a foreign type name is never looked up
    (tmp_path / "b" / "result.json").write_text(json.dumps(meta))
    with pytest.raises(CacheError, match="unknown type"):
        load_result(tmp_path / "b")
    save_result(Result({"x": np.arange(3)}), tmp_path / "c")
    with zipfile.ZipFile(tmp_path / "c" / "arrays.npz", "w") as z:  # an object array needs pickle: refused
        with z.open("a0.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(CacheError, match="unreadable"):
        load_result(tmp_path / "c")


def test_missing_or_old_cache_is_recomputed(tmp_path):
    assert load_result(tmp_path / "none") is None
    save_result(Result({"x": 1}), tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "result.json").read_text())
    meta["version"] = CACHE_VERSION - 1
    (tmp_path / "old" / "result.json").write_text(json.dumps(meta))
    assert load_result(tmp_path / "old") is None


def test_nested_steps_are_timed_once(tmp_path, monkeypatch):
    import time

    from spectool import papers
    from spectool.papers import _context

    import spectool.mock.build  # noqa: F401 - a one-time import that step fingerprints need

    def inner(ctx):
        time.sleep(0.3)
        return ctx.result(1.0)

    def outer(ctx):
        time.sleep(0.1)
        return ctx.result(ctx.get("inner_step").data + 1)

    monkeypatch.setitem(_context.STEPS, "inner_step", inner)
    monkeypatch.setitem(_context.STEPS, "outer_step", outer)
    ctx = papers.context("quick", cache=tmp_path, progress=False)
    assert ctx.get("outer_step").data == 2.0
    got = {r["step"]: r["wall_s"] for r in ctx.timings}
    assert got["inner_step"] >= 0.3 and 0.1 <= got["outer_step"] < 0.3  # outer excludes inner's time


def test_context_reads_the_cache_instead_of_recomputing(tmp_path, monkeypatch):
    from spectool import papers
    from spectool.papers import _context

    calls = []

    def fake(ctx):
        calls.append(1)
        return ctx.result(pd.DataFrame({"v": [1.0]}), "made")

    monkeypatch.setitem(_context.STEPS, "fake_step", fake)
    for _ in range(2):  # a new context each time: the second one reads the files
        ctx = papers.context("quick", cache=tmp_path, progress=False)
        assert ctx.get("fake_step").note == "made"
    assert len(calls) == 1
    assert (tmp_path / "quick-mock-seed0" / "results" / "fake_step" / "result.json").is_file()
    # the computation (not the cache read) was timed: wall and CPU seconds, in the log too
    log = [json.loads(x) for x in (tmp_path / "quick-mock-seed0" / "timings.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == ["fake_step"] and log[0]["wall_s"] >= 0 and log[0]["cpu_s"] >= 0
    assert not list(tmp_path.rglob("*.pkl"))


def test_gate_verdicts_survive_the_cache(tmp_path):
    """A regression run that beat no baseline reads back as NO, not as learned (boolean
    columns with missing values used to come back from the cache as the text 'False')."""
    from spectool.papers._common import verdicts

    res = pd.DataFrame({"dataset": ["d", "d", "d"], "label": ["a", "b", "c"], "mae_mass": [0.5, 0.1, 0.2],
                        "baseline_mae_mass": [0.4, 0.4, np.nan], "learned": [False, True, True]})
    res["learned_mass"] = pd.Series([False, True, np.nan], dtype=object)  # run "c" has no mass target
    for k, frame in enumerate((res, res.assign(learned_mass=res["learned_mass"].astype("boolean")))):
        back = load_result(save_result(Result(RunSet(frame)), tmp_path / f"r{k}")).data.results
        v = verdicts(back)
        assert v[("d", "a")].startswith("NO") and v[("d", "b")].startswith("yes"), (k, v)


def test_a_result_is_recomputed_when_what_it_used_changed(tmp_path, monkeypatch):
    """A cached step is reused only while its own fingerprint and those of the steps and
    checkpoints it used (directly or through another step) are unchanged."""
    from spectool import papers
    from spectool.papers import _context

    calls = {"base": 0, "top": 0}
    prints = {"step:base_step": "b1", "step:top_step": "t1", "pretrained:ckpt": "c1"}

    def base(ctx):
        calls["base"] += 1
        ctx.depends("pretrained:ckpt")
        return ctx.result(1.0)

    def top(ctx):
        calls["top"] += 1
        return ctx.result(ctx.get("base_step").data + 1)

    monkeypatch.setitem(_context.STEPS, "base_step", base)
    monkeypatch.setitem(_context.STEPS, "top_step", top)
    monkeypatch.setattr(_context.Context, "fingerprint", lambda self, key: prints[key])

    def run():  # a new context each time: it reads the cache files
        return papers.context("quick", cache=tmp_path, progress=False).get("top_step").data

    assert run() == 2.0 and calls == {"base": 1, "top": 1}
    assert run() == 2.0 and calls == {"base": 1, "top": 1}  # all current: read back
    meta = _cache.load_meta(tmp_path / "quick-mock-seed0" / "results" / "top_step")
    assert meta == {"fingerprint": "t1", "deps": {"step:base_step": "b1", "pretrained:ckpt": "c1"}}
    prints["pretrained:ckpt"] = "c2"  # a checkpoint two steps down changed
    assert run() == 2.0 and calls == {"base": 2, "top": 2}
    prints["step:top_step"] = "t2"  # only the top step's own protocol changed
    assert run() == 2.0 and calls == {"base": 2, "top": 3}
    assert run() == 2.0 and calls == {"base": 2, "top": 3}


def test_step_fingerprints_follow_the_protocol_and_the_checkpoints(monkeypatch, tmp_path):
    """The fingerprint of a training step changes with its reduced-mode protocol and with the
    mock generator's version, differs between modes, and does not build any mock store;
    a checkpoint's fingerprint is the hash of its files."""
    from dataclasses import replace

    from spectool.mock import build
    from spectool.papers import _context

    monkeypatch.setenv("SPECTOOL_CACHE", str(tmp_path / "cache"))
    ctx = _context.Context(mode="quick", cache=tmp_path / "figs")
    fp = _context.step_fingerprint(ctx, "spf_models")  # a scaled-mock step: named, not built
    assert not (tmp_path / "cache" / "mock").exists()
    assert fp == _context.step_fingerprint(ctx, "spf_models")
    assert fp != _context.step_fingerprint(_context.Context(mode="medium", cache=ctx.cache), "spf_models")
    full, protocols = _context.EXPERIMENTS["spf_models"]
    monkeypatch.setitem(_context.EXPERIMENTS, "spf_models",
                        (full, {**protocols, "quick": replace(protocols["quick"], epochs=protocols["quick"].epochs + 1)}))
    assert _context.step_fingerprint(ctx, "spf_models") != fp
    analysis = _context.step_fingerprint(ctx, "mspc_embedding")
    monkeypatch.setattr(build, "MOCK_VERSION", build.MOCK_VERSION + 1)
    assert _context.step_fingerprint(ctx, "mspc_embedding") != analysis
    from spectool import models

    name = models.list_pretrained()[0]
    assert len(_context.checkpoint_fingerprint(name)) == 16
    assert _context.checkpoint_fingerprint("no-such-checkpoint") == "absent"
