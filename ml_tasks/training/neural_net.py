"""The neural challenger: a LightningModule around `TabularNet`, trained from streamed features.

`trainers.NeuralTrainer` (the family's interface) calls :func:`fit_lightning`, which runs
Lightning's own `Trainer` loop on `TabularForecaster`.

Seeds are fixed and Lightning runs deterministically, so the same data and seed give the same
metrics on CPU. ``accelerator="auto"`` uses a GPU when there is one (bf16 mixed precision there,
DDP across several GPUs when the spec asks for more than one) and the CPU otherwise. Early
stopping watches the validation days (the newest training days, never the holdout), the best
checkpoint is restored before evaluation, and every metric goes to MLflow through
``MLFlowLogger``.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from ml_tasks.core.training_specs import LightningSpec
from ml_tasks.training.datamodule import FeatureDataModule, TabularSchema
from ml_tasks.training.model_code.tabular_net import TabularNet

log = logging.getLogger(__name__)
# Lightning 2.6 on torch 2.13 warns once per step about a torch-internal rename; nothing to act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
MODEL_CODE = Path(__file__).parent / "model_code" / "torch_model.py"
NET_CODE = Path(__file__).parent / "model_code" / "tabular_net.py"


class TabularForecaster(pl.LightningModule):
    """Embeddings for the categorical columns and an MLP: Poisson regression of counts (output:
    log-rate) or, for ``task="classification"``, a binary classifier (output: logit, weighted
    cross-entropy with ``pos_weight`` for the rare class)."""

    def __init__(
        self,
        cardinalities: list[int],
        n_numeric: int,
        embedding_dim: int = 8,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
        lr: float = 3e-3,
        weight_decay: float = 1e-5,
        task: str = "regression",
        pos_weight: float = 1.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        # One optimiser and no gradient scaling (fp32 on CPU, bf16 on GPU), so the step is done by
        # hand: Lightning's closure and per-step hook dispatch cost about as much as a small
        # network's whole step. Autocast (bf16) and DDP's gradient hooks still apply.
        self.automatic_optimization = False
        self.net = TabularNet(cardinalities, n_numeric, embedding_dim, tuple(hidden), dropout)

    def forward(self, categorical, numeric):
        return self.net(categorical, numeric)

    def loss(self, output, target):
        if self.hparams["task"] == "classification":
            weight = torch.as_tensor(self.hparams["pos_weight"], device=output.device, dtype=output.dtype)
            return F.binary_cross_entropy_with_logits(output, target, pos_weight=weight)
        return F.poisson_nll_loss(output, target, log_input=True)

    def on_train_epoch_start(self):
        self._loss_sum = torch.zeros((), device=self.device)
        self._batches = 0

    def training_step(self, batch, batch_idx):
        categorical, numeric, target = batch
        optimizer = self.optimizers()  # its step() also advances global_step (checkpoints key on it)
        assert not isinstance(optimizer, list), "configure_optimizers returns one optimiser"
        loss = self.loss(self(categorical, numeric).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # Summed here and logged once per epoch: per-step self.log costs more than a small MLP step.
        self._loss_sum += loss.detach()
        self._batches += 1

    def on_train_epoch_end(self):
        if self._batches:
            self.log("train_loss", self._loss_sum / self._batches)

    def validation_step(self, batch, batch_idx):
        categorical, numeric, target = batch
        output = self(categorical, numeric).float()
        self.log("val_loss", self.loss(output, target), on_epoch=True, prog_bar=True, batch_size=len(target))
        self.log(
            "val_mae",
            (inverse_link(output, self.hparams["task"]) - target).abs().mean(),
            on_epoch=True,
            batch_size=len(target),
        )

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])


def trainer_kwargs(gpus: int) -> dict:
    """Accelerator, devices, precision and strategy for this machine and the spec's resources."""
    if torch.cuda.is_available() and gpus > 0:
        devices = min(gpus, torch.cuda.device_count())
        return {
            "accelerator": "gpu",
            "devices": devices,
            "precision": "bf16-mixed",
            "strategy": "ddp" if devices > 1 else "auto",
        }
    return {"accelerator": "cpu", "devices": 1, "precision": "32-true", "strategy": "auto"}


def inverse_link(output: torch.Tensor, task: str) -> torch.Tensor:
    """Network output -> prediction: expected count (exp) or probability (sigmoid)."""
    return torch.sigmoid(output) if task == "classification" else output.exp()


class EpochLog(pl.Callback):
    """One log line per epoch, since the progress bar is off outside a terminal (task logs)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        shown = {k: float(v) for k, v in trainer.callback_metrics.items() if k in ("train_loss", "val_loss", "val_mae")}
        log.info(
            "epoch %d/%d: %s (%.1f s)",
            trainer.current_epoch + 1,
            trainer.max_epochs,
            ", ".join(f"{k} {v:.4f}" for k, v in sorted(shown.items())),
            time.monotonic() - self.started,
        )


def fit_lightning(
    datamodule: FeatureDataModule,
    cfg: LightningSpec,
    seed: int,
    gpus: int = 0,
    logger=None,
    progress: bool | None = None,
    task: str = "regression",
    pos_weight: float = 1.0,
) -> tuple[TabularForecaster, dict]:
    """Train with early stopping and checkpointing; returns the best model and fit facts."""
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)  # banner lines
    pl.seed_everything(seed, workers=True, verbose=False)
    datamodule.setup("fit")
    schema, mean, std = datamodule.fitted()
    model = TabularForecaster(
        schema.cardinalities,
        len(schema.numeric),
        cfg.embedding_dim,
        tuple(cfg.hidden),
        cfg.dropout,
        cfg.lr,
        cfg.weight_decay,
        task,
        pos_weight,
    )
    model.net.set_scaling(mean, std)
    show_bar = sys.stderr.isatty() if progress is None else progress
    with tempfile.TemporaryDirectory() as ckpt_dir:
        checkpoint = ModelCheckpoint(dirpath=ckpt_dir, monitor="val_loss", mode="min", save_top_k=1)
        callbacks = [EarlyStopping(monitor="val_loss", mode="min", patience=cfg.patience), checkpoint]
        trainer = pl.Trainer(
            max_epochs=cfg.max_epochs,
            deterministic=True,
            logger=logger if logger is not None else False,
            callbacks=callbacks if show_bar else [*callbacks, EpochLog()],
            enable_progress_bar=show_bar,
            enable_model_summary=False,
            reload_dataloaders_every_n_epochs=1,
            log_every_n_steps=50,
            num_sanity_val_steps=0,
            **trainer_kwargs(gpus),
        )
        trainer.fit(model, datamodule=datamodule)
        if checkpoint.best_model_score is None:
            raise RuntimeError(f"no checkpoint was saved in {trainer.current_epoch} epoch(s): no val_loss was logged")
        best = TabularForecaster.load_from_checkpoint(checkpoint.best_model_path, map_location="cpu")
    facts = {
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "best_val_loss": float(checkpoint.best_model_score),
        "accelerator": trainer_kwargs(gpus)["accelerator"],
    }
    return best.eval(), facts


@torch.no_grad()
def predict(
    model: TabularForecaster, schema: TabularSchema, frame: pd.DataFrame, batch_size: int = 65_536
) -> np.ndarray:
    """Predictions (expected counts or probabilities) for every row of ``frame`` (CPU, in chunks)."""
    net = model.net.cpu().eval()
    out = []
    for start in range(0, len(frame), batch_size):
        cats, nums = schema.encode(frame.iloc[start : start + batch_size])
        out.append(inverse_link(net(cats, nums), model.hparams["task"]).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def save_for_mlflow(
    model: TabularForecaster, schema: TabularSchema, features: list[str], directory: Path, transform: dict | None = None
) -> dict[str, str]:
    """Write the artifacts the pyfunc model in ``model_code/torch_model.py`` loads."""
    weights = directory / "net.pt"
    torch.save(model.net.state_dict(), weights)
    meta = directory / "metadata.json"
    meta.write_text(
        json.dumps(
            {
                "features": features,
                "categorical": schema.categorical,
                "numeric": schema.numeric,
                "vocab": schema.vocab,
                "target": schema.target,
                "link": "logit" if model.hparams["task"] == "classification" else "log",
                "transform": transform or {"kind": "none"},
                "net": {
                    "cardinalities": schema.cardinalities,
                    "n_numeric": len(schema.numeric),
                    "embedding_dim": model.hparams["embedding_dim"],
                    "hidden": list(model.hparams["hidden"]),
                    "dropout": model.hparams["dropout"],
                },
            }
        )
    )
    return {"weights": str(weights), "metadata": str(meta)}
