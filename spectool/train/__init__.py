"""Training, cross-validation and evaluation (PyTorch Lightning).

>>> from spectool.train import fit, cross_validate
>>> res = fit("mspcnet_quick")                       # a shipped config (spectool/configs)
>>> res = fit("my.yaml", ["trainer.max_epochs=3"])   # YAML file + dotted overrides
>>> cv = cross_validate("mspc_table4_quick")         # experiment grid -> cv.table()
>>> ft = finetune("convnext1d-mock-fc", files, labels)  # adapt a pretrained model to labelled real spectra

Command line: ``spectool train CONFIG.yaml [--set key=value]``, ``spectool cv EXPERIMENT``,
``spectool predict MODEL INPUT...``. The config schema is in :mod:`.config`; the shipped
configs are listed by :func:`list_configs` (``*_full`` = paper protocol, ``*_quick`` =
minutes on a CPU).

Run directory layout (one training run; ``<output_root>/<name>`` by default)::

    config.yaml            the resolved config (after ``base:`` and overrides)
    checkpoints/
        last.ckpt          written at the end of every epoch: model, optimizer, scheduler,
                           epoch/step counters, callback states (history rows, RNG states)
        epochNNN-<monitor><value>.ckpt   the best ``checkpoint.save_top_k`` epochs
    logs/version_<k>/      Lightning CSVLogger output (one version per (re)start):
        metrics.csv        step-level and epoch-level logged values
    history.csv            one row per finished epoch: epoch, lr, train_loss, train_acc,
                           val_loss, val_acc (classification) or val_mae_<target>
                           (regression, physical units); exact across kill/resume
    predictions.parquet    evaluation split predictions with object_id, row, split, snr,
    predictions.csv        true values and predictions (class + probabilities, or targets
                           in physical units)
    metrics.json           summary metrics (accuracy, macro F1 ... or mae/rmse/bias/sigma
                           per target), params, epochs, dataset, fold, seed
    per_class.csv          classification: TP, top-1 FN source, top-1 FP target per class
    confusion.csv          classification: confusion matrix (rows true, columns predicted)
    snr_accuracy.csv       classification: accuracy per S/N bin (width 10, >=100 pooled)
    regression_metrics.csv regression: n, MAE, RMSE, bias, sigma per target, overall and
                           per S/N bin (width 10, >=100 pooled)
    model.safetensors      exported weights of the evaluated checkpoint + card (JSON
    model.json             beside it); load with ``spectool.models.load(path)``
    done.json              written last, atomically: the run is finished; ``fit`` and
                           the CV runner skip runs that have it

A killed run restarts from ``checkpoints/last.ckpt`` when ``fit`` is called again with
the same run directory (``resume=True``, the default).
"""
from __future__ import annotations

from .config import (ExperimentConfig, TrainConfig, list_configs, load_config, load_experiment,
                     parse_override)
from .cv import CVResult, cross_validate
from .finetune import FinetuneResult, finetune
from .fit import FitResult, evaluate, fit
from .metrics import (accuracy_by_snr, classification_metrics, confusion_matrix, per_class_table,
                      regression_metrics)
from .tables import fold_table, mean_std_table, per_class_comparison

__all__ = [
    "fit", "FitResult", "evaluate", "finetune", "FinetuneResult", "cross_validate", "CVResult", "TrainConfig", "ExperimentConfig",
    "load_config", "load_experiment", "list_configs", "parse_override", "classification_metrics",
    "confusion_matrix", "per_class_table", "accuracy_by_snr", "regression_metrics", "fold_table",
    "mean_std_table", "per_class_comparison",
]
