"""Rolling-origin backtests of one model family, and the pure choices made from them: the target
transform with the lowest backtest error, the decision threshold, the folds' mean metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.store import load_features
from ml_tasks.training.evaluation import (
    naive_forecasts,
    task_metrics,
    tune_threshold,
)
from ml_tasks.training.model_code import target_transform as tt
from ml_tasks.training.plan import TrainingWindow

log = logging.getLogger(__name__)

SUMMARY_METRICS = {
    "regression": ("mae", "rmse", "wape", "mase"),
    "classification": ("roc_auc", "pr_auc", "log_loss", "brier", "f1"),
}


@dataclass
class Backtest:
    """Per-fold metrics and the folds' (truth, prediction) pairs, oldest fold first."""

    folds: list[dict[str, Any]] = field(default_factory=list)
    out_of_fold: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def backtest(
    lake: Lake,
    spec: PipelineSpec,
    kind: str,
    window: TrainingWindow,
    features: list[str],
    transform: dict | None = None,
    params: dict | None = None,
    report=None,
) -> Backtest:
    """Fit ``kind`` (with ``transform`` and ``params``) on the days before each rolling-origin fold and
    score the fold; ``report(fold, error)`` hears each fold's error in the spec's metric."""
    from ml_tasks.training.families import TRAINERS

    target, out = spec.data.target, Backtest()
    for i, (train_days, test_days) in enumerate(window.folds(spec.training.backtest_folds, spec.training.holdout_days)):
        fold_model = TRAINERS[kind](spec, features, transform, params)
        fold_model.fit(lake, train_days)
        test = load_features(lake, spec, test_days)
        fold_pred = fold_model.predict(test)
        out.out_of_fold.append((test[target].to_numpy(), fold_pred))
        m = task_metrics(spec.task, test[target], fold_pred, naive_forecasts(spec, test) or None)
        out.folds.append(
            {"fold": i, "test_start": test_days[0].isoformat(), "test_end": test_days[-1].isoformat(), **m}
        )
        log.info(
            "%s (%s) backtest fold %d (%s..%s): %s",
            kind,
            tt.describe(transform or tt.NONE),
            i,
            test_days[0],
            test_days[-1],
            m,
        )
        if report is not None:
            report(i, m[spec.promotion.metric])
    return out


def choose_transform(task: str, metric: str, tried: dict[str, Backtest]) -> str:
    """The transform with the lowest mean backtest ``metric`` (ties and no folds: the first tried, ``none``)."""

    def score(name: str) -> float:
        means = backtest_means(task, tried[name].folds)
        return float(np.nan_to_num(means.get(metric, np.nan), nan=np.inf))

    names = list(tried)
    return min(names, key=lambda name: (score(name), names.index(name)))


def backtest_means(task: str, folds: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each summary metric over the folds (NaN folds ignored); empty without folds."""
    return {k: float(np.nanmean([f[k] for f in folds])) for k in SUMMARY_METRICS[task]} if folds else {}


def choose_threshold(
    task: str, out_of_fold: list[tuple[np.ndarray, np.ndarray]], y_holdout: np.ndarray, p_holdout: np.ndarray
) -> tuple[float, str | None]:
    """The decision threshold and what it was tuned on (None for regression, which has none).

    Tuned for F1 on the backtest folds' out-of-sample predictions; on the holdout itself, flagged
    as optimistic, when there are no folds.
    """
    if task != "classification":
        return 0.5, None
    if out_of_fold:
        return tune_threshold(
            np.concatenate([y for y, _ in out_of_fold]), np.concatenate([p for _, p in out_of_fold])
        ), "backtest folds"
    return tune_threshold(y_holdout, p_holdout), "holdout (optimistic: no backtest folds)"
