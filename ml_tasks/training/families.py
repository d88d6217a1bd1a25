"""Every model family a pipeline can train, by the name specs and task ids use.

A family is a class with one small interface (`kind`, ``transforms(spec)``, ``fit``, ``predict``,
``params``, ``log_model``): the learned ones in `trainers`, the statistical one in `statistical`,
the baselines in `baselines`. Which families a pipeline trains is ``PipelineSpec.candidate_families``: its task's baselines, then the
spec's ``training.models``.
"""

from __future__ import annotations

from ml_tasks.core.spec import BASELINE_FAMILIES
from ml_tasks.training.baselines import BaseRateTrainer, LinearBaselineTrainer, NaiveTrainer
from ml_tasks.training.statistical import StatsForecastTrainer
from ml_tasks.training.trainers import LightGBMTrainer, NeuralTrainer

TRAINERS = {
    "lightgbm": LightGBMTrainer,
    "lightning": NeuralTrainer,
    "statsforecast": StatsForecastTrainer,
    "naive": NaiveTrainer,
    "base_rate": BaseRateTrainer,
    "logistic": LinearBaselineTrainer,
}


def is_baseline(kind: str) -> bool:
    return any(kind in kinds for kinds in BASELINE_FAMILIES.values())
