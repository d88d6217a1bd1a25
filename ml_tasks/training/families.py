"""Every model family a pipeline can train, by the name specs and task ids use.

A family is a class with one small interface (`kind`, ``transforms(spec)``, ``fit``, ``predict``,
``params``, ``log_model``; written down as `FamilyClass` and `ModelFamily`): the learned ones in
`trainers`, the statistical one in `statistical`, the baselines in `baselines`. Which families a
pipeline trains is ``PipelineSpec.candidate_families``: its task's baselines, then the spec's
``training.models``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import BASELINE_FAMILIES, PipelineSpec
from ml_tasks.training.baselines import BaseRateTrainer, LinearBaselineTrainer, NaiveTrainer
from ml_tasks.training.statistical import StatsForecastTrainer
from ml_tasks.training.trainers import LightGBMTrainer, NeuralTrainer


class ModelFamily(Protocol):
    """One model of a family: fit on days, predict a frame, its parameters, logged as an MLflow model."""

    kind: str

    def fit(self, lake: Lake, dates: list[date], logger: Any = None) -> dict: ...

    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...

    def params(self) -> dict: ...

    def log_model(self, example: pd.DataFrame, signature: Any) -> Any: ...


class FamilyClass(Protocol):
    """A family's class: the target transforms it tries, and a model built with one of them."""

    def __call__(
        self, spec: PipelineSpec, features: list[str], transform: dict | None = None, params: dict | None = None
    ) -> ModelFamily: ...

    def transforms(self, spec: PipelineSpec) -> list[dict]: ...


TRAINERS: dict[str, FamilyClass] = {
    "lightgbm": LightGBMTrainer,
    "lightning": NeuralTrainer,
    "statsforecast": StatsForecastTrainer,
    "naive": NaiveTrainer,
    "base_rate": BaseRateTrainer,
    "logistic": LinearBaselineTrainer,
}


def is_baseline(kind: str) -> bool:
    return any(kind in kinds for kinds in BASELINE_FAMILIES.values())
