"""The spec's ``training`` section (:class:`TrainingSpec`), with a section for each model family and for
where training runs (``training.lightgbm``, ``training.lightning``, ``training.statsforecast``,
``training.tuning``, ``training.resources``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    """A spec section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LightGBMSpec(Strict):
    objective: str = "regression"
    learning_rate: float = 0.05
    num_leaves: int = 31
    n_estimators: int = 300
    min_child_samples: int = 20
    subsample: float = 1.0
    subsample_freq: int = 0
    colsample_bytree: float = 1.0


class LightningSpec(Strict):
    max_epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=4096, ge=1)
    lr: float = Field(default=3e-3, gt=0)
    weight_decay: float = Field(default=1e-5, ge=0)
    embedding_dim: int = Field(default=8, ge=1)
    hidden: list[int] = Field(default=[128, 64], min_length=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    patience: int = Field(default=2, ge=1)
    val_days: int = Field(default=3, ge=1, description="newest training days used for early stopping")
    num_workers: int = Field(default=0, ge=0)


class ResourcesSpec(Strict):
    """Where the neural training task runs: a GPU worker queue or pod, per executor."""

    gpu: bool = True
    gpus: int = Field(default=1, ge=1)
    queue: str = "gpu"
    node_selector: dict[str, str] = {"nvidia.com/gpu.present": "true"}
    tolerations: list[dict[str, str]] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    memory: str = "8Gi"
    cpu: str = "4"


class TuningSpec(Strict):
    """An Optuna search per learned family on the rolling-origin backtest (never the holdout)."""

    trials: int = Field(default=0, ge=0, description="trials per family; 0: no tuning, the spec's parameters")
    minutes: float = Field(default=5.0, gt=0, description="budget per family; what is left unfinished is not used")
    families: list[Literal["lightgbm", "lightning"]] = Field(
        default=["lightgbm"],
        description=("the families searched (each trial of the neural family costs a full backtest of it)"),
    )


class StatsForecastSpec(Strict):
    """The statistical family: AutoETS per series on the newest ``history_days`` of the training days."""

    history_days: int | None = Field(
        default=None,
        ge=3,
        description=(
            "newest training days each series' model is fit on; default all of them (on real temperatures, "
            "MAE 0.086 with 167 days against 0.121 with 28)"
        ),
    )
    minutes: float = Field(default=10.0, gt=0, description="fit budget; series left then take the naive forecast")


class TrainingSpec(Strict):
    schedule: str = "0 2 * * *"
    window_days: int = Field(ge=2)
    holdout_days: int = Field(ge=1)
    min_train_rows: int = Field(default=1000, ge=1)
    seed: int = 42
    models: list[Literal["lightgbm", "lightning", "statsforecast"]] = Field(
        default=["lightgbm", "lightning"], min_length=1
    )
    baselines: bool = Field(
        default=True,
        description=(
            "train the task's baselines as candidates too: the naive forecasts of the cadence for regression, the "
            "base rate and a logistic regression for classification; the gate compares every challenger with the "
            "strongest of them"
        ),
    )
    lightgbm: LightGBMSpec = LightGBMSpec()
    lightning: LightningSpec = LightningSpec()
    statsforecast: StatsForecastSpec = StatsForecastSpec()
    resources: ResourcesSpec = ResourcesSpec()
    backtest_folds: int = Field(default=2, ge=0, description="rolling-origin folds before the holdout")
    tuning: TuningSpec = TuningSpec()
    selection_margin: float = Field(
        default=0.005,
        ge=0.0,
        lt=0.5,
        description=(
            "a family later in the candidates' order (baselines, then training.models as listed) is registered "
            "only when its backtest error is below the earlier, simpler ones' by more than this share: a tie "
            "within noise goes to the simpler model"
        ),
    )
    class_weight: Literal["none", "balanced"] = Field(
        default="none",
        description="classification: 'balanced' weights classes by inverse frequency (more recall "
        "on a rare class, less calibrated probabilities); the tuned F1 threshold already "
        "adapts to imbalance",
    )

    @field_validator("holdout_days")
    @classmethod
    def _holdout_inside_window(cls, holdout: int, info) -> int:
        window = info.data.get("window_days")
        if window is not None and holdout >= window:
            raise ValueError(f"holdout_days={holdout} must be smaller than window_days={window}")
        return holdout
