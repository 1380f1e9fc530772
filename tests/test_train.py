"""Training: config validation, augmentation, real few-step runs of the three tasks,
kill-and-resume, reproducibility, early stopping, prediction and the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import spectool
from spectool.errors import ConfigError
from spectool.train import fit, list_configs, load_config
from spectool.train.augment import Augmenter
from spectool.train.config import AugmentConfig, MaskAug, NoiseAug, RVShiftAug, TiltAug
from spectool.train.lightning_module import SpectralTask, lr_at_epoch

from _train_toys import register_tiny, tiny_config, toy_store

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def tiny_models():
    remove = register_tiny()
    yield
    remove()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    return {"cls": toy_store(root / "cls").path, "reg": toy_store(root / "reg", task="regression").path}


# ------------------------------------------------------------------ config
def test_config_errors_name_file_and_field(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("base: mspcnet_quick\noptim: {lrr: 0.1}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'optim\.lrr'; did you mean 'lr'\?"):
        load_config(f)
    f.write_text("base: mspcnet_quick\ntrainer: {max_epochs: ten}\n")
    with pytest.raises(ConfigError, match=r"field 'trainer\.max_epochs': expected an integer, got str 'ten'"):
        load_config(f)
    f.write_text("base: mspcnet_quick\noptim: {name: adamm}\n")
    with pytest.raises(ConfigError, match=r"'adamm' is not one of .*did you mean 'adam'"):
        load_config(f)
    f.write_text("base: mspcnet_quick\noptim: {lr: -1}\n")
    with pytest.raises(ConfigError, match=r"field 'optim\.lr': -1\.0 must be greater than 0"):
        load_config(f)
    f.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(f)
    f.write_text("model: {name: x}\ndata: {dataset: a}\n!!python/object:os.system {}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config("mspcnet_quick", ["trainer.max_epochs"])


def test_config_inheritance_and_overrides(tmp_path):
    cfg = load_config("mspcnet_quick", ["trainer.max_epochs=7", "model.overrides.depths=[1,1,2,1]", "optim.lr=1e-4"])
    full = load_config("mspcnet_full")
    assert cfg.trainer.max_epochs == 7 and cfg.optim.lr == 1e-4
    assert cfg.model.overrides["depths"] == [1, 1, 2, 1] and cfg.model.overrides["embed_dim"] == 32
    assert cfg.early_stopping.monitor == full.early_stopping.monitor == "val_acc"
    assert cfg.source_file.endswith("mspcnet_quick.yaml")


def test_shipped_configs_encode_the_papers_protocols():
    assert {"mspcnet_full", "mspcnet_quick", "baselines_full", "baselines_quick", "spfusion_full",
            "spfusion_quick", "scanet_full", "scanet_quick"} <= set(list_configs("train"))
    m = load_config("mspcnet_full")
    assert (m.optim.name, m.optim.lr, m.trainer.batch_size, m.trainer.max_epochs) == ("adam", 1e-4, 32, 100)
    assert (m.scheduler.T_0, m.scheduler.T_mult, m.scheduler.eta_min) == (40, 2, 1e-8)
    assert (m.early_stopping.patience, m.early_stopping.min_delta, m.early_stopping.monitor) == (25, 0.001, "val_acc")
    assert m.model.overrides["drop_path_rate"] == 0.2 and m.trainer.precision == "16-mixed"
    b = load_config("baselines_full")
    assert (b.scheduler.T_0, b.scheduler.eta_min, b.trainer.batch_size, b.trainer.max_epochs) == (30, 1e-6, 64, 150)
    assert (b.early_stopping.patience, b.early_stopping.min_delta) == (40, 0.005)
    s = load_config("spfusion_full")
    assert (s.optim.lr, s.optim.weight_decay, s.scheduler.T_0, s.scheduler.T_mult) == (1e-3, 1e-4, 20, 1)
    assert s.loss.weights == [100.0, 1.0] and s.loss.targets == ["mass", "age"]
    assert (s.early_stopping.monitor, s.early_stopping.patience, s.trainer.max_epochs) == ("val_loss", 40, 150)
    c = load_config("scanet_full")
    assert (c.optim.name, c.optim.lr, c.trainer.batch_size, c.trainer.max_epochs) == ("adamw", 1e-4, 32, 80)
    assert c.loss.name == "l1" and c.data.val_fraction == 0.1


def test_cosine_warm_restarts_closed_form():
    assert lr_at_epoch(1e-4, 0, 40, 2, 1e-8) == pytest.approx(1e-4)
    assert lr_at_epoch(1e-4, 39, 40, 2, 1e-8) == pytest.approx(1.6e-7, rel=0.05)  # reference facts 1.1
    assert lr_at_epoch(1e-4, 40, 40, 2, 1e-8) == pytest.approx(1e-4)
    assert lr_at_epoch(1e-4, 99, 40, 2, 1e-8) == pytest.approx(1.6e-5, rel=0.05)


# ------------------------------------------------------------- augmentation
def test_augmenter_keeps_padding_and_is_seeded():
    w = np.linspace(4000, 9000, 200)
    w[:5] = np.nan
    x = np.zeros(200, np.float32)
    x[5:] = np.random.default_rng(0).normal(size=195)
    cfg = AugmentConfig(noise=NoiseAug(p=1.0, sigma=[0.1, 0.2]), tilt=TiltAug(p=1.0),
                        mask=MaskAug(p=1.0, n=[1, 1], width=[10, 10]))
    aug = Augmenter(cfg, w, "zscore")
    a = aug(x, np.random.default_rng(1))
    b = aug(x, np.random.default_rng(1))
    assert a.dtype == np.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert np.all(a[:5] == 0) and not np.allclose(a[5:], x[5:])
    assert (a[5:] == 0).sum() >= 10  # the masked chunk


def test_rv_shift_moves_a_line_by_the_doppler_factor():
    w = np.geomspace(4000, 9000, 3000)  # ~1.8 A per pixel at H alpha
    x = np.exp(-0.5 * ((w - 6564.6) / 6.0) ** 2).astype(np.float32)
    aug = Augmenter(AugmentConfig(rv_shift=RVShiftAug(p=1.0, max_kms=500.0)), w, "none")

    class Fixed:  # rng stub: rv draw = +500 km/s
        def random(self):
            return 0.0

        def uniform(self, lo, hi):
            return hi
    y = aug(x, Fixed())
    expected = 6564.6 * (1 + 500.0 / 299792.458)
    centroid = float((w * y).sum() / y.sum())
    assert centroid == pytest.approx(expected, abs=0.1)


def test_extinction_reddens_then_renormalises():
    w = np.linspace(3800, 9200, 500)
    x = np.ones(500, np.float32) + 0.01 * np.random.default_rng(0).normal(size=500).astype(np.float32)
    from spectool.train.config import ExtinctionAug
    aug = Augmenter(AugmentConfig(extinction=ExtinctionAug(p=1.0, ebv_max=1.0)), w, "minmax")
    y = aug(x, np.random.default_rng(5))
    assert y.min() == pytest.approx(0.0, abs=1e-6) and y.max() == pytest.approx(1.0, abs=1e-6)
    assert y[-50:].mean() > y[:50].mean()  # blue end dimmed more than the red end


# ---------------------------------------------------------------- training
def test_toy_training_reproducible_with_augmentation(tmp_path, stores, tiny_models):
    aug = {"noise": {"p": 0.5, "sigma": [0.05, 0.2]}, "rv_shift": {"p": 0.5}, "mask": {"p": 0.5}}
    runs = [fit(tiny_config(stores["cls"], tmp_path, name=f"r{i}", augment=aug, trainer={"max_epochs": 3}))
            for i in range(2)]
    assert runs[0].metrics["accuracy"] == runs[1].metrics["accuracy"]
    pd.testing.assert_frame_equal(runs[0].history, runs[1].history)
    cols = [c for c in runs[0].predictions.columns if c.startswith("prob_")]
    np.testing.assert_array_equal(runs[0].predictions[cols].to_numpy(), runs[1].predictions[cols].to_numpy())
    assert runs[0].history["epoch"].tolist() == [1, 2, 3]
    assert runs[0].metrics["accuracy"] > 0.6  # learnable toy problem
    # a finished run is not trained again
    t0 = time.time()
    again = fit(tiny_config(stores["cls"], tmp_path, name="r0", augment=aug, trainer={"max_epochs": 3}))
    assert again.done == runs[0].done and time.time() - t0 < 5


def test_early_stopping_stops_before_max_epochs(tmp_path, stores, tiny_models):
    res = fit(tiny_config(stores["cls"], tmp_path, name="es", trainer={"max_epochs": 8},
                          early_stopping={"enabled": True, "monitor": "val_loss", "mode": "min",
                                          "patience": 1, "min_delta": 100.0}))
    assert res.done["epochs_completed"] == 2 < 8


def test_regression_loss_weights_and_log_transform(stores, tiny_models):
    from spectool.train.config import LossConfig, OptimConfig, SchedulerConfig
    model = spectool.models.create("tiny_reg")
    task = SpectralTask(model, task="regression", loss=LossConfig(name="mse", weights=[100.0, 1.0]),
                        optim=OptimConfig(), scheduler=SchedulerConfig(), targets=["teff", "logg"],
                        target_columns=[0, 1], output_index=[0, 1], transforms=["log10", "identity"])
    out = torch.tensor([[3.7, 4.0], [3.6, 2.0]])
    y = torch.tensor([[5000.0, 4.5], [4000.0, 2.5]])
    expected = 100 * ((out[:, 0] - torch.log10(y[:, 0])) ** 2).mean() + ((out[:, 1] - y[:, 1]) ** 2).mean()
    assert task.compute_loss(out, y).item() == pytest.approx(expected.item(), rel=1e-5)
    np.testing.assert_allclose(task.to_physical(out)[:, 0].numpy(), 10 ** out[:, 0].numpy(), rtol=1e-5)


def test_kill_and_resume_continues_from_last_checkpoint(tmp_path, stores, tiny_models):
    cfg = tiny_config(stores["cls"], tmp_path, name="killed", model={"overrides": {"delay": 0.03}},
                      trainer={"max_epochs": 6, "batch_size": 8},
                      scheduler={"name": "cosine_warm_restarts", "T_0": 2, "T_mult": 2, "eta_min": 1e-4})
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    run_dir = tmp_path / "killed"
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]);"
              "from _train_toys import register_tiny; register_tiny();"
              "from spectool.train import fit; fit(json.load(open(sys.argv[2])), run_dir=sys.argv[3])")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script, str(TESTS), str(tmp_path / "cfg.json"), str(run_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert last.is_file(), proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert not (run_dir / "done.json").exists()

    res = fit(cfg, run_dir=run_dir)
    assert 1 <= res.done["resumed_from_epoch"] < 6
    assert res.done["epochs_completed"] == 6
    hist = pd.read_csv(run_dir / "history.csv")
    assert hist["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    expected_lr = [lr_at_epoch(0.01, e, 2, 2, 1e-4) for e in range(6)]
    np.testing.assert_allclose(hist["lr"].to_numpy(), expected_lr, rtol=1e-6)
    assert len(list((run_dir / "logs").glob("version_*"))) == 2  # one CSVLogger version per start


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory):
    """A real few-step MSPC-Net (slim) training on the quick mock SC-S>5 set."""
    root = tmp_path_factory.mktemp("cls")
    return fit("mspcnet_quick", ["data.dataset=mspc/SC-S>5", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                                 "trainer.batch_size=8", "data.max_val=16", "data.max_test=24",
                                 "trainer.num_threads=2"], run_dir=root / "run", progress=False)


def test_real_classification_training(cls_run):
    res = cls_run
    pred = res.predictions
    assert len(pred) == 24 and res.metrics["n"] == 24 and res.metrics["eval_split"] == "test"
    assert 0.0 <= res.metrics["accuracy"] <= 1.0 and res.metrics["dataset"] == "mspc/SC-S>5"
    probs = pred[[c for c in pred.columns if c.startswith("prob_")]].to_numpy()
    assert probs.shape[1] == 7
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    test_rows = ds.indices("test", 0)
    assert set(pred["row"]) <= set(test_rows)
    assert (pred["object_id"].to_numpy() == ds.meta["object_id"].to_numpy()[pred["row"]]).all()
    for f in ("per_class.csv", "confusion.csv", "snr_accuracy.csv", "predictions.csv", "history.csv",
              "model.safetensors", "model.json", "done.json", "config.yaml"):
        assert (res.run_dir / f).is_file(), f
    assert len(res.history) == 1 and {"train_loss", "val_loss", "val_acc", "lr"} <= set(res.history.columns)
    card = json.loads((res.run_dir / "model.json").read_text())
    assert card["training"]["source"] == "mock" and card["output_names"][0] == "O"


def test_exported_model_predicts_like_the_run(cls_run):
    model = cls_run.load_model()
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    rows = cls_run.predictions["row"].to_numpy()
    again = spectool.predict(model, ds, indices=rows)
    np.testing.assert_allclose(again["prob_O"].to_numpy(), cls_run.predictions["prob_O"].to_numpy(), atol=1e-5)
    arr = spectool.predict(model, np.asarray(ds.flux[rows[:3]]))
    assert arr["pred_label"].tolist() == again["pred_label"].tolist()[:3]
    with pytest.raises(spectool.InvalidSpectrumError, match=r"shape \(N, 3584\)"):
        spectool.predict(model, np.zeros((2, 100), np.float32))
    # raw spectra go through the card's preprocessing recipe
    spec = ds.spectrum(int(rows[0]))
    spec_raw = spectool.Spectrum(spec.wavelength, spec.flux * 3.0 + 10.0, meta={"object_id": "raw-1"})
    one = spectool.predict(model, [spec_raw])
    assert one["object_id"].tolist() == ["raw-1"] and one["pred_label"].iloc[0] in ds.class_names


def test_real_spfusion_regression_training(tmp_path):
    res = fit("spfusion_quick", ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.batch_size=4",
                                 "data.max_val=8", "data.max_test=8", "data.test_batch_size=8"],
              run_dir=tmp_path / "spf", progress=False)
    pred = res.predictions
    assert {"mass", "age", "true_mass", "true_age", "object_id", "snr"} <= set(pred.columns) and len(pred) == 8
    assert {"mae_mass", "rmse_mass", "bias_age", "sigma_age"} <= set(res.metrics)
    table = pd.read_csv(res.run_dir / "regression_metrics.csv")
    assert set(table["parameter"]) == {"mass", "age"} and "all" in set(table["snr_bin"])
    assert np.isfinite(res.history["val_mae_mass"]).all()


def test_real_scanet_regression_training(tmp_path):
    res = fit("scanet_quick", ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.batch_size=4",
                               "data.max_val=4", "data.max_test=8", "data.test_batch_size=8",
                               "model.overrides={width: 0.0625, blocks: [1, 1, 1, 1, 1]}"],
              run_dir=tmp_path / "sca", progress=False)
    assert res.metrics["eval_split"] == "test" and {"mae_teff", "mae_logg", "mae_feh"} <= set(res.metrics)
    model = res.load_model()
    assert model.card["target_transforms"] == {"teff": "log2"}
    ds = spectool.datasets.load("scanet/AFGK", size="quick")
    rows = res.predictions["row"].to_numpy()[:2]
    with torch.no_grad():
        raw = model(torch.from_numpy(np.asarray(ds.flux[rows]))[:, None]).numpy()
    np.testing.assert_allclose(res.predictions["teff"].to_numpy()[:2], 2.0 ** raw[:, 0], rtol=1e-4)


def test_cpu_falls_back_from_fp16_amp():
    from spectool.train.fit import resolve_device
    cfg = load_config("mspcnet_full")
    if torch.cuda.is_available():
        pytest.skip("GPU present: 16-mixed is used as configured")
    with pytest.warns(spectool.SpectoolWarning, match="needs a GPU"):
        assert resolve_device(cfg.trainer) == ("cpu", "32-true")


def test_cli_train_reports_config_errors(tmp_path):
    from spectool.cli import app
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: mspcnet_quick\ntrainer: {batch_sise: 3}\n")
    out = CliRunner().invoke(app, ["train", str(bad)])
    assert out.exit_code == 2 and "did you mean 'batch_size'" in out.output and "bad.yaml" in out.output


def test_cli_train_runs_a_config(tmp_path, stores, tiny_models):
    from spectool.cli import app
    cfg = tmp_path / "toy.yaml"
    import yaml
    cfg.write_text(yaml.safe_dump(tiny_config(stores["reg"], tmp_path, name="cli", model={"name": "tiny_reg"},
                                              loss={"name": "l1"})))
    out = CliRunner().invoke(app, ["train", str(cfg), "--set", "trainer.max_epochs=2", "-q"])
    assert out.exit_code == 0, out.output
    assert "mae_teff=" in out.output and (tmp_path / "cli" / "done.json").is_file()
    hist = pd.read_csv(tmp_path / "cli" / "history.csv")
    assert hist["epoch"].tolist() == [1, 2]


def test_cli_predict_writes_one_row_per_spectrum(cls_run, tmp_path):
    from spectool.cli import app
    ds = spectool.datasets.load("mspc/SC-S>5", size="quick")
    out = tmp_path / "pred.parquet"
    res = CliRunner().invoke(app, ["predict", str(cls_run.run_dir / "model.safetensors"), str(ds.store.path),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    assert len(df) == len(ds) and df["object_id"].tolist() == ds.meta["object_id"].astype(str).tolist()
    bad = CliRunner().invoke(app, ["predict", "no-such-model", str(ds.store.path), "-o", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "error:" in bad.output


@pytest.mark.parametrize("name", spectool.models.list_pretrained())
def test_pretrained_models_are_mock_labelled_and_predict(name):
    from spectool.models.pretrained import pretrained_path
    assert pretrained_path(name).stat().st_size <= 10 * 1024 * 1024
    model = spectool.models.load(name)
    card = model.card
    assert card["training"]["source"] == "mock" and "synthetic" in card["description"]
    assert card["pretrained_name"] == name and card["metrics"]["n"] > 0
    rng = np.random.default_rng(0)
    x = rng.random((2, model.input_length), dtype=np.float32)
    images = rng.random((2, 3, 128, 128), dtype=np.float32) if model.needs_image else None
    df = spectool.predict(model, x, images=images)
    assert len(df) == 2
    if card["task"] == "regression":
        assert set(card["targets"]) <= set(df.columns) and np.isfinite(df[card["targets"]].to_numpy()).all()
    else:
        assert set(df["pred_label"]) <= set(card["output_names"])


@pytest.mark.parametrize("name", spectool.models.list_pretrained())
def test_pretrained_models_learned(name):
    """No shipped checkpoint that learned nothing. A classifier's card reports a mock test
    accuracy above 1.5 x chance. A regressor is evaluated here on a freshly generated quick
    mock set of its dataset (generator seed 1000: spectra it was never trained on) and must
    beat the best constant (the median of the truth) by at least 10% on at least one target;
    every target it does not learn is named in the card's limitations."""
    from spectool.papers._context import predictions_on
    from spectool.train.metrics import mae_vs_constant

    model = spectool.models.load(name)
    card = model.card
    if card["task"] == "classification":
        assert card["metrics"]["accuracy"] > 1.5 / len(card["output_names"])
        return
    ds = spectool.datasets.load(card["training"]["dataset"], source="mock", size="quick", seed=1000)
    pred = predictions_on(model, ds, np.arange(min(len(ds), 300)))
    learned = {t: mae <= 0.9 * base for t, (mae, base) in mae_vs_constant(pred).items()}
    assert set(learned) == set(card["targets"])
    assert any(learned.values()), f"{name} learned none of {card['targets']}"
    for t, ok in learned.items():
        assert ok or t in (card.get("limitations") or ""), f"{name}: {t} not learned and not in its limitations"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_amp_training(tmp_path):
    res = fit("mspcnet_quick", ["data.dataset=mspc/SC-S>5", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                                "trainer.precision=16-mixed", "trainer.accelerator=gpu", "trainer.devices=1",
                                "data.max_val=16", "data.max_test=16"], run_dir=tmp_path / "gpu", progress=False)
    assert res.done["config"]["trainer"]["precision"] == "16-mixed" and 0 <= res.metrics["accuracy"] <= 1


def test_classifier_architecture_as_regressor(tmp_path, stores, tiny_models):
    res = fit(tiny_config(stores["reg"], tmp_path, name="asreg", model={"name": "tiny_cls", "as_regressor": True},
                          loss={"name": "mse", "weights": [1e-6, 1.0]}))
    assert {"teff", "logg", "true_teff"} <= set(res.predictions.columns) and "mae_logg" in res.metrics
    model = res.load_model()
    assert model.card["task"] == "regression" and model.card["output_names"] == ["teff", "logg"]
    again = spectool.predict(model, np.zeros((2, 64), np.float32))
    targets = ["teff", "teff_err", "logg", "logg_err"]
    assert [c for c in again.columns if c in targets] == targets
    assert again.columns[0] == "object_id" and (again["error"] == "").all()
    with pytest.raises(ConfigError, match="already a regression model"):
        fit(tiny_config(stores["reg"], tmp_path, name="asreg2", model={"name": "tiny_reg", "as_regressor": True},
                        loss={"name": "mse"}))


@pytest.mark.slow
def test_ddp_spawn_on_two_cpu_processes_records_its_epochs(tmp_path, stores, tiny_models):
    """2-process CPU DDP (ddp_spawn, gloo): the epochs run in spawned processes; done.json and the
    history still count them (rank 0's history comes back in the last checkpoint)."""
    res = fit(tiny_config(stores["cls"], tmp_path, name="ddp", trainer={
        "max_epochs": 2, "accelerator": "cpu", "devices": 2, "strategy": "ddp_spawn"}))
    assert res.done["epochs_completed"] == 2
    assert list(res.history["epoch"]) == [1, 2]  # epochs are counted from 1
    assert (res.run_dir / "model.safetensors").is_file()
