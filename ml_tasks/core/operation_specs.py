"""The spec's sections for what happens after training: promotion (the champion/challenger gate),
scoring (``scoring``) and monitoring (``drift``: data drift, prediction drift, decay, retraining)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ml_tasks.core.training_specs import Strict


class PromotionSpec(Strict):
    """The champion/challenger gate (see ml_tasks/registry/gate.py)."""

    metric: Literal["mae", "rmse", "log_loss", "brier"] = "mae"
    level: float = Field(default=0.95, gt=0.5, lt=1.0)
    bootstrap_samples: int = Field(default=2000, ge=100)
    mode: Literal["superiority", "non_inferiority"] = "superiority"
    margin: float = Field(default=0.0, ge=0.0, lt=0.5, description="relative margin for non-inferiority")
    thresholds: dict[
        Literal["mae", "rmse", "wape", "mase", "roc_auc", "pr_auc", "f1", "log_loss", "brier", "ece"], float
    ] = {"mase": 1.0}
    guardrail_tolerance: float = Field(default=0.15, ge=0.0)
    baseline_ratio: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description=(
            "a challenger's holdout loss must be at most this share of the strongest baseline's on the same rows "
            "(the best naive forecast: MASE; for classification the better of base rate and logistic regression "
            "on log loss)"
        ),
    )
    segment_by: str | None = Field(default=None, description="guardrail segments; default: the first key")
    require_approval: bool = Field(default=False, description="a person approves each promotion in the Airflow UI")
    approval_timeout_hours: float = Field(default=72.0, gt=0, description="no answer by then counts as Reject")


class ScoringSpec(Strict):
    schedule: str = "@daily"


DriftMethod = Literal[
    "wasserstein",
    "ks",
    "psi",
    "kl_div",
    "jensenshannon",
    "chisquare",
    "z",
    "hellinger",
    "anderson",
    "cramer_von_mises",
    "energy_distance",
    "mannw",
    "ed",
    "es",
    "t_test",
    "empirical_mmd",
]


class DriftSpec(Strict):
    """The monitoring DAG: data drift, prediction drift, performance decay, and when to retrain."""

    schedule: str = "@daily"
    window_days: int = Field(default=7, ge=1)
    reference_sample_rows: int = Field(default=50_000, ge=100)
    sample_rows: int = Field(
        default=100_000, ge=1000, description="simple random sample of the window (without replacement) that is tested"
    )
    columns: list[str] = Field(min_length=1)
    numeric_method: DriftMethod = "wasserstein"
    numeric_threshold: float = Field(default=0.1, gt=0.0)
    categorical_method: DriftMethod = "jensenshannon"
    categorical_threshold: float = Field(default=0.1, gt=0.0)
    drift_share_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    prediction_threshold: float = Field(default=0.1, gt=0.0, description="numeric_method score on the predictions")
    decay_metric: Literal["mae", "rmse", "wape", "mase", "log_loss", "brier"] = "mae"
    decay_tolerance: float = Field(default=0.2, gt=0.0, description="relative worsening vs the champion's holdout")
    decay_min_rows: int = Field(default=500, ge=1)
    decay_level: float = Field(
        default=0.9, ge=0.5, lt=1.0, description="one-sided confidence that the window's error is above the tolerance"
    )
    retrain_on: list[Literal["data_drift", "prediction_drift", "performance_decay"]] = Field(
        default=["data_drift", "prediction_drift", "performance_decay"], min_length=1
    )
    cooldown_hours: float = Field(default=24.0, ge=0.0, description="at most one retrain request per window")
