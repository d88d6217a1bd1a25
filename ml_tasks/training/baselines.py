"""The baselines every pipeline's candidates are measured against, trained as families themselves.

- ``naive`` (forecasts): the naive forecasts of the cadence (the target one horizon ago, one day
  ago, one week ago...: `ml_tasks.features.columns.naive_columns`). Fitting ranks them by MAE on
  the training days; the model forecasts with the best one (the next where a lag is missing).
- ``base_rate`` (classification): the training days' share of positives, for every row.
- ``logistic`` (classification): an L2-regularised logistic regression on the same features
  (medians for missing numbers, standardised; one-hot text categories).

They are cheap, logged as pyfunc models like every family, backtested, registered when they win
the backtest, and gated like any candidate; the gate requires a champion to beat the strongest of
them (``promotion.baseline_ratio``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import categorical_features
from ml_tasks.features.store import load_features
from ml_tasks.training.evaluation import naive_columns
from ml_tasks.training.model_code import linear_design, target_transform
from ml_tasks.training.trainers import log_pyfunc

LOGISTIC_MAX_ROWS = 200_000
MAX_CATEGORIES = 50


class NaiveTrainer:
    kind = "naive"

    def __init__(
        self, spec: PipelineSpec, features: list[str], transform: dict | None = None, params: dict | None = None
    ):
        self.spec, self.features = spec, features
        self.columns: list[str] = []
        self.fill = 0.0
        self.ranking: dict[str, float] = {}

    @classmethod
    def transforms(cls, spec: PipelineSpec) -> list[dict]:
        return [target_transform.NONE]

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        train = load_features(lake, self.spec, dates)
        y = train[self.spec.data.target].to_numpy(dtype=float)
        for column in naive_columns(self.spec):
            values = train[column].to_numpy(dtype=float, na_value=np.nan)
            ok = ~np.isnan(values) & ~np.isnan(y)
            self.ranking[column] = float(np.mean(np.abs(values[ok] - y[ok]))) if ok.any() else float("inf")
        if not self.ranking:
            raise ValueError(
                f"pipeline {self.spec.name!r}: no naive forecast: the target has no lags "
                f"(features.lags and features.history_of)"
            )
        self.columns = sorted(self.ranking, key=self.ranking.__getitem__)
        self.fill = float(np.nanmean(y)) if np.isfinite(y).any() else 0.0
        return {
            "train_rows": len(train),
            "naive": self.columns[0],
            **{f"train_mae.{c}": round(v, 6) for c, v in self.ranking.items()},
        }

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        first = target_transform.first_present(frame, self.columns)
        return np.where(np.isnan(first), self.fill, first)

    def params(self) -> dict:
        return {"naive.columns": ",".join(self.columns)}

    def log_model(self, example: pd.DataFrame, signature):
        return log_pyfunc(
            "naive_model.py",
            {"metadata": {"columns": self.columns, "fill": self.fill}},
            ["target_transform.py"],
            signature,
        )


class LinearBaselineTrainer:
    """A logistic regression on the features (``logistic``), or on none of them (``base_rate``)."""

    kind = "logistic"
    uses_features = True

    def __init__(
        self, spec: PipelineSpec, features: list[str], transform: dict | None = None, params: dict | None = None
    ):
        self.spec, self.features = spec, features
        self.meta: dict = {}

    @classmethod
    def transforms(cls, spec: PipelineSpec) -> list[dict]:
        return [target_transform.NONE]

    def _inputs(self, train: pd.DataFrame) -> dict:
        """Medians, means and spreads of the numeric features; the categories of the text ones."""
        if not self.uses_features:
            return {"numeric": [], "categorical": []}
        categorical = categorical_features(self.spec, self.features)
        numeric, cats = [], []
        for c in self.features:
            if c in categorical:
                counts = train[c].astype("string").value_counts()
                cats.append([c, sorted(counts.index[:MAX_CATEGORIES].tolist())])
                continue
            values = pd.to_numeric(train[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if np.isnan(values).all():
                continue
            median = float(np.nanmedian(values))
            filled = np.where(np.isnan(values), median, values)
            numeric.append([c, median, float(filled.mean()), float(filled.std()) or 1.0])
        return {"numeric": numeric, "categorical": cats}

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        from sklearn.linear_model import LogisticRegression

        train = load_features(lake, self.spec, dates)
        if len(train) > LOGISTIC_MAX_ROWS:
            train = train.sample(n=LOGISTIC_MAX_ROWS, random_state=self.spec.training.seed)
        y = train[self.spec.data.target].to_numpy(dtype=float).astype(int)
        self.meta = {**self._inputs(train), "weights": [], "intercept": 0.0}
        x = linear_design.design(self.meta, train)
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        if x.shape[1] == 0 or y.min() == y.max():
            self.meta.update(weights=[0.0] * x.shape[1], intercept=float(np.log(rate / (1 - rate))))
        else:
            model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
            self.meta.update(weights=model.coef_[0].tolist(), intercept=float(model.intercept_[0]))
        return {"train_rows": len(train), "inputs": x.shape[1], "positive_rate": round(rate, 6)}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return linear_design.probability(self.meta, frame)

    def params(self) -> dict:
        return {f"{self.kind}.inputs": len(self.meta.get("weights", [])), f"{self.kind}.C": 1.0}

    def log_model(self, example: pd.DataFrame, signature):
        return log_pyfunc("linear_model.py", {"metadata": self.meta}, ["linear_design.py"], signature)


class BaseRateTrainer(LinearBaselineTrainer):
    kind = "base_rate"
    uses_features = False
