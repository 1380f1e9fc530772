"""Fine-tune a (mock-)pretrained classifier on a small labelled set of the user's own spectra.

>>> import spectool
>>> from spectool.train import finetune
>>> res = finetune("convnext1d-mock-fc", ["a.fits", "b.fits"], ["K", "QSO"], out="runs/my_ft")
>>> spectool.predict(res.model, [spectool.read("c.fits")])

The spectra are preprocessed exactly as :func:`spectool.predict` does (the recipe on the model
card), so a fine-tuned model is used like any other. Labels may be the model's own output names
(``"K5"``) or a coarser main class (``"K"``, ``"GALAXY"``): a main-class label is trained with the
log of the summed probability of the outputs of that class (O..M: the outputs whose name starts
with that letter, after a ``d``/``g``/``sd`` dwarf/giant prefix), so a subclass head learns main
classes without losing its subclasses. Labels that match no output raise ``ModelError``.

Fine-tuned weights are the user's: they are written outside the package (``out``) with a card
that says which pretrained model they came from and on how many real spectra they were tuned.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import ModelError
from ..trust import calibration_of, main_class


@dataclass
class FinetuneResult:
    """A fine-tuned model, its per-epoch history and where it was saved (or None)."""

    model: torch.nn.Module
    history: pd.DataFrame
    path: Path | None = None
    info: dict = field(default_factory=dict)


def label_groups(labels: Sequence[str], output_names: Sequence[str]) -> np.ndarray:
    """Boolean (n_labels, n_outputs): which outputs a label stands for (its exact output, else its main class)."""
    names = [str(n) for n in output_names]
    mains = [main_class(n) for n in names]
    groups = np.zeros((len(labels), len(names)), bool)
    for i, lab in enumerate(labels):
        lab = str(lab)
        if lab in names:
            groups[i, names.index(lab)] = True
        else:
            groups[i] = [m == main_class(lab) for m in mains]
        if not groups[i].any():
            raise ModelError(f"label {lab!r} matches no output of the model ({', '.join(names)})")
    return groups


def _inputs(model: torch.nn.Module, spectra: Any, labels: Any) -> tuple[np.ndarray, list[str]]:
    """Model-ready flux rows and label strings for the accepted inputs (see :func:`finetune`)."""
    from ..datasets import SpectralDataset
    from ..inference import _model_inputs
    from ..spectrum import Spectrum

    if isinstance(spectra, (str, Path)) and Path(spectra).is_dir():  # an ingested store directory
        from ..store import SpectrumStore

        spectra = SpectralDataset(SpectrumStore.open(Path(spectra)))
    if isinstance(spectra, SpectralDataset):
        column = labels if isinstance(labels, str) or labels is None else None
        if column is not None or labels is None:
            column = column or "label"
            if column not in spectra.meta:
                raise ModelError(f"the store has no label column {column!r}; pass labels=")
            labels = spectra.meta[column].astype(str).tolist()
        return _usable(_model_inputs(model, spectra, None, None, {}, False), labels)
    if isinstance(spectra, (str, Path, Spectrum)):
        spectra = [spectra]
    if labels is None or isinstance(labels, str):
        raise ModelError("labels= (one per spectrum) is needed unless spectra is a store or dataset")
    if not isinstance(spectra, np.ndarray):
        from ..io import read

        spectra = [s if isinstance(s, Spectrum) else read(s) for s in spectra]
    if len(labels) != len(spectra):
        raise ModelError(f"{len(spectra)} spectra but {len(labels)} labels")
    return _usable(_model_inputs(model, spectra, None, None, {}, False), labels)


def _usable(inputs, labels) -> tuple[np.ndarray, list[str]]:
    """Model-ready rows and labels of the inputs that could be prepared; the others (window
    not covered, unreadable, ...) are left out with a warning naming each and why."""
    import warnings

    ok = inputs.ok
    if not ok.any():
        raise ModelError("none of the spectra can be prepared for the model: "
                         + "; ".join(f"{i}: {e}" for i, e in zip(inputs.ids, inputs.error)))
    if not ok.all():
        dropped = [f"{i} ({e})" for i, e, good in zip(inputs.ids, inputs.error, ok) if not good]
        warnings.warn(f"fine-tuning leaves out {len(dropped)} spectra that cannot be prepared: "
                      + "; ".join(dropped), stacklevel=3)
    flux = np.asarray(inputs.flux[0:len(inputs.flux)], np.float32)
    return flux, [str(x) for x, good in zip(labels, ok) if good]


def finetune(model: torch.nn.Module | str | Path, spectra: Any, labels: Sequence[str] | str | None = None, *,
             epochs: int = 40, lr: float = 1e-3, batch_size: int = 16, weight_decay: float = 0.01,
             freeze_backbone: bool = False, seed: int = 0, out: str | Path | None = None,
             progress: bool = False) -> FinetuneResult:
    """Adapt a pretrained classifier to a small labelled set of real spectra.

    Parameters
    ----------
    model
        A model, a pretrained name (``spectool.models.list_pretrained()``) or a saved model path.
        It is copied; the original is not changed.
    spectra
        Raw spectra (``Spectrum`` objects or file paths read with ``spectool.read``), a
        ``SpectralDataset`` or an ingested store directory (rows already preprocessed), or a
        model-ready flux array (N, L).
    labels
        One class name per spectrum (an output name or a main class, see the module
        docstring), or for a store the name of its label column (default ``"label"``).
    epochs, lr, batch_size, weight_decay
        AdamW with a cosine schedule from ``lr`` to ``lr / 100`` over ``epochs`` full passes.
    freeze_backbone
        Train only the last linear layer (a linear probe, for few labelled spectra); the rest of
        the network stays as pretrained and runs in evaluation mode throughout (BatchNorm
        statistics and dropout are not touched by the new spectra). The features are then the
        pretrained model's, so its out-of-distribution statistics and S/N floor stay valid and
        are kept (``ood`` and ``low_snr`` flags); its confidence calibration described the old
        last layer and is dropped (no ``low_confidence`` flag, raw softmax probabilities).
    seed
        Seeds shuffling and dropout: the same inputs and seed give the same weights.
    out
        Write the fine-tuned weights and card there (``.safetensors`` + ``.json``); keep this
        outside the package (user data).
    """
    from ..models import load, save

    base = load(model) if isinstance(model, (str, Path)) else model
    card = dict(getattr(base, "card", None) or {})
    if card.get("task", getattr(base, "task", "classification")) != "classification":
        raise ModelError("finetune supports classifiers (regression fine-tuning is not implemented)")
    net = copy.deepcopy(base).float()
    # a frozen backbone computes the pretrained features: the statistics that depend on them alone still hold
    base_cal = (calibration_of(base) or {}) if freeze_backbone else {}
    kept_cal = {k: base_cal[k] for k in ("ood", "snr_min") if base_cal.get(k) is not None}
    # figures of the pretrained model (mock metrics, real-data figures, confidence calibration) do not describe the
    # fine-tuned weights
    card = {k: v for k, v in card.items() if k not in ("metrics", "real_data", "calibration", "recipe", "saved_at")}
    net.card = card
    names = list(net.output_names)
    flux, labs = _inputs(net, spectra, labels)
    if len(flux) == 0:
        raise ModelError("no spectra to fine-tune on")
    uniq = sorted(set(labs))
    groups = torch.from_numpy(label_groups(uniq, names))
    y = torch.tensor([uniq.index(v) for v in labs])
    x = torch.from_numpy(np.array(flux, np.float32))[:, None]
    params = list(net.parameters())
    if freeze_backbone:
        last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
        for p in params:
            p.requires_grad_(False)
        params = list(last.parameters())
        for p in params:
            p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(len(x) / batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=lr / 100)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rows = []
    from tqdm.auto import trange

    t0 = time.time()
    for epoch in trange(epochs, disable=not progress, desc="finetune", unit="epoch"):
        net.train(not freeze_backbone)  # a frozen backbone keeps its BatchNorm statistics and no dropout
        perm = torch.randperm(len(x), generator=gen)
        tot, correct = 0.0, 0
        for s in range(0, len(x), batch_size):
            idx = perm[s:s + batch_size]
            logits = net(x[idx]).float()
            logp = torch.log_softmax(logits, 1)
            g = groups[y[idx]]
            # -log of the summed probability of the outputs the label stands for
            loss = -torch.logsumexp(logp.masked_fill(~g, float("-inf")), 1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
            correct += int(g[torch.arange(len(idx)), logits.argmax(1)].sum())
        rows.append({"epoch": epoch + 1, "lr": sched.get_last_lr()[0], "train_loss": tot / len(x),
                     "train_acc": correct / len(x)})
    net.eval()
    info = {"from": card.get("pretrained_name") or card.get("name"), "n_spectra": len(x),
            "labels": {u: labs.count(u) for u in uniq}, "epochs": epochs, "lr": lr, "batch_size": batch_size,
            "freeze_backbone": freeze_backbone, "seed": seed, "seconds": round(time.time() - t0, 1)}
    calibration = None
    if kept_cal:
        calibration = {**kept_cal, "method": "inherited",
                       "inherited_from": info["from"],
                       "note": "ood and snr_min of the pretrained model (backbone frozen, same features); "
                               "probabilities are not calibrated"}
    path = None
    if out is not None:
        extra = {k: v for k, v in card.items() if k in ("preprocess_options",)}
        if calibration:
            extra["calibration"] = calibration
        path = save(net, out, training={"source": "real", "kind": "fine-tuning", **info},
                    description=f"Fine-tuned from {info['from']} on {len(x)} labelled user spectra.",
                    finetuned=info, pretrained_name=None, **extra)
    else:
        net.card = {**card, "finetuned": info, "pretrained_name": None,
                    **({"calibration": calibration} if calibration else {})}
    return FinetuneResult(net, pd.DataFrame(rows), path, info)
