"""The LightningModule shared by every task: classification (cross-entropy) and
regression (weighted MSE / L1 on optionally log-transformed targets)."""
from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import LossConfig, OptimConfig, SchedulerConfig

TRANSFORMS = {
    "identity": (lambda t: t, lambda t: t),
    "log10": (torch.log10, lambda t: torch.pow(10.0, t)),
    "log2": (torch.log2, lambda t: torch.pow(2.0, t)),
    "ln": (torch.log, torch.exp),
}


class SpectralTask(L.LightningModule):
    """Wraps a :class:`~spectool.models.SpectralModel` with its loss, metrics and optimiser.

    Parameters
    ----------
    model
        The network; ``model(x, image=None)`` returns (B, n_outputs).
    task
        ``"classification"`` or ``"regression"``.
    loss, optim, scheduler
        Config sections (see :mod:`spectool.train.config`).
    targets
        Regression: names of the targets the loss uses, in the order of the batch's
        ``y`` columns given by ``target_columns``.
    target_columns
        Regression: column of each loss target in the batch ``y`` (B, n_dataset_targets).
    output_index
        Regression: model output column of each loss target.
    transforms
        Regression: per loss target ``identity``, ``log10``, ``log2`` or ``ln``, mapping the
        physical target to the model output's scale (e.g. SCA-Net's log2 Teff).
    compile
        Run the forward pass through ``torch.compile``.
    """

    def __init__(self, model: nn.Module, *, task: str, loss: LossConfig, optim: OptimConfig,
                 scheduler: SchedulerConfig, targets: list[str] | None = None,
                 target_columns: list[int] | None = None, output_index: list[int] | None = None,
                 transforms: list[str] | None = None, compile: bool = False) -> None:
        super().__init__()
        self.model = model
        self.task = task
        self.loss_cfg, self.optim_cfg, self.sched_cfg = loss, optim, scheduler
        self.targets = list(targets or [])
        self.target_columns = list(target_columns or [])
        self.output_index = list(output_index or [])
        self.transforms = list(transforms or ["identity"] * len(self.targets))
        weights = loss.weights if loss.weights is not None else [1.0] * len(self.targets)
        self.register_buffer("loss_weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.needs_image = bool(getattr(model, "needs_image", False))
        # kept out of the module tree so the state dict keys stay those of ``model``
        self.__dict__["_forward"] = torch.compile(model) if compile else model

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return self._forward(x, image) if self.needs_image else self._forward(x)

    def _outputs(self, batch: dict) -> torch.Tensor:
        return self(batch["x"], batch.get("image"))

    def transform_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Dataset targets (physical units) -> loss space (e.g. log10 Teff)."""
        cols = [TRANSFORMS[t][0](y[:, c].float()) for c, t in zip(self.target_columns, self.transforms)]
        return torch.stack(cols, dim=1)

    def to_physical(self, out: torch.Tensor) -> torch.Tensor:
        """Model outputs -> predictions in the targets' physical units."""
        cols = [TRANSFORMS[t][1](out[:, i].float()) for i, t in zip(self.output_index, self.transforms)]
        return torch.stack(cols, dim=1)

    def compute_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return F.cross_entropy(out.float(), y, label_smoothing=self.loss_cfg.label_smoothing)
        pred = out[:, self.output_index].float()
        target = self.transform_targets(y)
        fn = F.mse_loss if self.loss_cfg.name == "mse" else F.l1_loss
        per_target = torch.stack([fn(pred[:, k], target[:, k]) for k in range(pred.shape[1])])
        return (self.loss_weights * per_target).sum()

    # ------------------------------------------------------------------- steps
    def _shared_step(self, batch: dict, stage: str) -> torch.Tensor:
        out = self._outputs(batch)
        y = batch["y"]
        loss = self.compute_loss(out, y)
        n = y.shape[0]
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, on_step=on_step, on_epoch=True, batch_size=n, sync_dist=True,
                 prog_bar=True)
        if self.task == "classification":
            acc = (out.argmax(1) == y).float().mean()
            self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, batch_size=n, sync_dist=True, prog_bar=True)
        else:
            with torch.no_grad():
                err = (self.to_physical(out) - y[:, self.target_columns].float()).abs().mean(0)
            for name, e in zip(self.targets, err):
                self.log(f"{stage}_mae_{name}", e, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        out = self._outputs(batch).float()
        if self.task == "classification":
            return {"index": batch["index"], "prob": torch.softmax(out, dim=1)}
        return {"index": batch["index"], "pred": self.to_physical(out)}

    def on_train_epoch_start(self) -> None:
        opt = self.trainer.optimizers[0] if self.trainer.optimizers else None
        if opt is not None:
            self.log("lr", opt.param_groups[0]["lr"], on_step=False, on_epoch=True, sync_dist=False)

    # -------------------------------------------------------------- optimisers
    def configure_optimizers(self) -> Any:
        o = self.optim_cfg
        params = [p for p in self.model.parameters() if p.requires_grad]
        if o.name == "adam":
            opt = torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        elif o.name == "adamw":
            opt = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        s = self.sched_cfg
        if s.name == "none":
            return opt
        if s.name == "cosine_warm_restarts":
            sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=s.T_0, T_mult=s.T_mult,
                                                                         eta_min=s.eta_min)
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.trainer.max_epochs),
                                                               eta_min=s.eta_min)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


def lr_at_epoch(lr: float, epoch: int, T_0: int, T_mult: int, eta_min: float) -> float:
    """Closed form of CosineAnnealingWarmRestarts at an integer epoch (for docs and checks)."""
    t_cur, t_i = epoch, T_0
    while t_cur >= t_i:
        t_cur -= t_i
        t_i *= T_mult
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
