"""One model family trained as a candidate: backtest, fit, evaluate on the holdout, log.

`train_model` runs the steps in a child run of the plan's parent run:

1. :func:`~ml_tasks.training.backtest.backtest`: rolling-origin folds before the holdout, each
   fit on the days before it, once per target transform the family tries; :func:`choose_transform`
   keeps the one with the lowest backtest error (never the holdout's);
2. the final fit on every training day with that transform (Lightning logs its epochs into the
   child run);
3. :func:`choose_threshold` (classification: tuned on the folds' out-of-sample predictions) and
   :func:`evaluate_holdout`: metrics overall and per segment on the held-out days;
4. :func:`log_candidate`: parameters, metrics, plots, permutation importance and the model.

The choices (in :mod:`ml_tasks.training.backtest`) and :func:`evaluate_holdout` are pure. What
`train_model` returns, a :class:`TrainedCandidate`, is the hand-off from a `train_<family>` task
to `register`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import feature_names
from ml_tasks.features.store import load_features
from ml_tasks.training.backtest import (
    Backtest,
    backtest,
    backtest_means,
    choose_threshold,
    choose_transform,
)
from ml_tasks.training.evaluation import (
    naive_columns,
    naive_forecasts,
    permutation_importance,
    row_loss,
    segment_column,
    segment_metrics,
    task_metrics,
)
from ml_tasks.training.model_code import target_transform as tt
from ml_tasks.training.plan import TrainingPlan, TrainingWindow

log = logging.getLogger(__name__)

SEGMENT_METRICS = {"regression": ("mae", "mase"), "classification": ("log_loss", "roc_auc")}
PREDICTIONS = "predictions.npz"  # in each family run's evaluation/: holdout and out-of-fold predictions


class TrainedCandidate(TypedDict):
    """Hand-off from a `train_<family>` task to `register` (an XCom, JSON as is).

    ``metrics`` are the holdout metrics, ``backtest_mean`` the rolling-origin backtest's means (what
    the registered candidate is chosen by), ``segments`` the first segment metric per segment,
    ``fit`` what the fit reported (epochs, device, rows, the target transform chosen and the
    backtest error of each one tried...).
    """

    kind: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    backtest_mean: dict[str, float]
    segments: dict[str, float]
    fit: dict[str, Any]


def evaluate_holdout(
    spec: PipelineSpec, holdout: pd.DataFrame, prediction: np.ndarray, threshold: float
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Holdout metrics overall and per segment (the gate's guardrail segments)."""
    target = spec.data.target
    metrics = task_metrics(spec.task, holdout[target], prediction, naive_forecasts(spec, holdout) or None, threshold)
    segments = segment_metrics(
        holdout, prediction, segment_column(spec), target, naive_columns(spec), spec.task, threshold
    )
    return metrics, segments


def train_model(settings: ConveyorSettings, spec: PipelineSpec, plan: TrainingPlan, kind: str) -> TrainedCandidate:
    """Backtest, fit and evaluate one model family in a child run; returns its hand-off."""
    import mlflow

    from ml_tasks.training.families import TRAINERS

    lake = Lake.from_settings(settings)
    window = TrainingWindow.of(plan)
    features = feature_names(spec)
    holdout = load_features(lake, spec, window.holdout_dates).reset_index(drop=True)
    experiment_id = tracking.ensure_experiment(settings, tracking.training_experiment(spec.name))
    tags = {**plan["tags"], "mlflow.parentRunId": plan["parent_run_id"], "conveyor.model_family": kind}
    abandoned = tracking.close_abandoned_runs(
        settings, experiment_id, {"mlflow.parentRunId": plan["parent_run_id"], "conveyor.model_family": kind}
    )
    if abandoned:
        log.warning("%s: marked run(s) %s of an earlier, killed attempt as KILLED", kind, ", ".join(abandoned))
    with mlflow.start_run(run_name=f"{spec.name}-{kind}", tags=tags) as run:
        options = {tt.describe(t): t for t in TRAINERS[kind].transforms(spec)}
        tried = {name: backtest(lake, spec, kind, window, features, t) for name, t in options.items()}
        chosen = choose_transform(spec.task, spec.promotion.metric, tried)
        folds, params, tuned = tried[chosen], None, None
        if spec.training.tuning.trials and kind in spec.training.tuning.families and folds.folds:
            tuned = tune_family(lake, spec, kind, window, features, options, folds)
            if tuned.params:
                params, folds = dict(tuned.params), tuned.folds
                chosen = params.pop("transform", chosen)
        for i, fold in enumerate(folds.folds):
            mlflow.log_metrics({f"backtest_{k}": v for k, v in fold.items() if isinstance(v, float)}, step=i)
        model = TRAINERS[kind](spec, features, options[chosen], params)
        facts = model.fit(lake, window.train_dates, logger=_epoch_logger(settings, spec, kind, run.info.run_id))
        facts["transform"] = chosen
        if tuned is not None:
            facts["tuning"] = tuned.summary()
        if len(tried) > 1 and folds.folds:  # with no folds there is nothing to compare (XCom takes no NaN)
            facts["transforms_backtest"] = {
                name: round(backtest_means(spec.task, bt.folds)[spec.promotion.metric], 6) for name, bt in tried.items()
            }
        prediction = model.predict(holdout)
        threshold, tuned_on = choose_threshold(
            spec.task, folds.out_of_fold, holdout[spec.data.target].to_numpy(), prediction
        )
        if tuned_on:
            facts["threshold_tuned_on"] = tuned_on
        metrics, segments = evaluate_holdout(spec, holdout, prediction, threshold)
        means = backtest_means(spec.task, folds.folds)
        info = log_candidate(spec, kind, model, facts, holdout, prediction, threshold, metrics, segments, folds, means)
        log.info("%s: holdout %s", kind, metrics)
    first = SEGMENT_METRICS[spec.task][0]
    return checked_handoff(
        TrainedCandidate(
            kind=kind,
            run_id=run.info.run_id,
            model_uri=info.model_uri,
            metrics=metrics,
            backtest_mean=means,
            segments={s: round(m[first], 4) for s, m in segments.items()},
            fit=facts,
        )
    )


def checked_handoff(candidate: TrainedCandidate) -> TrainedCandidate:
    """``candidate`` if Airflow can pass it on as an XCom (strict JSON: no NaN or infinity), else a
    ValueError naming the field: the same failure here as in the DAG, where it would otherwise
    surface as the api-server's "Out of range float values are not JSON compliant"."""
    try:
        json.dumps(candidate, allow_nan=False)
    except ValueError:
        bad = [
            f"{key}.{name}"
            for key, value in candidate.items()
            if isinstance(value, dict)
            for name, v in value.items()
            if isinstance(v, float) and not np.isfinite(v)
        ]
        raise ValueError(
            f"{candidate['kind']}: the hand-off to `register` has values JSON cannot carry: "
            f"{', '.join(bad) or 'a nested NaN or infinity'}"
        ) from None
    return candidate


def tune_family(
    lake: Lake,
    spec: PipelineSpec,
    kind: str,
    window: TrainingWindow,
    features: list[str],
    transforms: dict[str, dict],
    spec_folds: Backtest,
):
    """Optuna search of ``kind``'s parameters and target transform (of ``transforms``, by name) on the
    backtest folds (``training.tuning``); each trial is a child run of the family's run.
    ``spec_folds`` is the spec's parameters' backtest (with the best transform) to beat."""
    import mlflow

    from ml_tasks.training.tuning import tune

    metric, budget = spec.promotion.metric, spec.training.tuning

    def run_folds(params, report):
        params = dict(params)
        transform = transforms[params.pop("transform", next(iter(transforms)))]
        folds = backtest(lake, spec, kind, window, features, transform, params, report)
        return backtest_means(spec.task, folds.folds)[metric], folds

    def log_trial(number, params, outcome):
        with mlflow.start_run(
            run_name=f"{spec.name}-{kind}-trial-{number}",
            nested=True,
            tags={"conveyor.tuning_trial": str(number), "conveyor.trial_state": outcome["state"]},
        ):
            mlflow.log_params({k: str(v) for k, v in params.items()})
            if "score" in outcome:
                mlflow.log_metric(f"backtest_mean_{metric}", outcome["score"])

    baseline = backtest_means(spec.task, spec_folds.folds)[metric]
    return tune(
        kind,
        budget.trials,
        budget.minutes,
        spec.training.seed,
        baseline,
        run_folds,
        log_trial,
        transforms=list(transforms),
    )


def _epoch_logger(settings: ConveyorSettings, spec: PipelineSpec, kind: str, run_id: str):
    """Lightning logs its epochs into the family's run; LightGBM has no epoch logger."""
    if kind != "lightning":
        return None
    from pytorch_lightning.loggers import MLFlowLogger

    return MLFlowLogger(
        experiment_name=tracking.training_experiment(spec.name),
        tracking_uri=settings.mlflow_tracking_uri,
        run_id=run_id,
    )


def log_candidate(
    spec: PipelineSpec,
    kind: str,
    model,
    facts: dict,
    holdout: pd.DataFrame,
    prediction: np.ndarray,
    threshold: float,
    metrics: dict,
    segments: dict,
    folds: Backtest,
    means: dict,
):
    """Log the candidate's parameters, metrics, evaluation artifacts and model into the active run."""
    import mlflow
    from mlflow.models import infer_signature

    features, target, task = model.features, spec.data.target, spec.task
    mlflow.log_params({**model.params(), **{f"fit.{k}": v for k, v in facts.items()}})
    mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
    mlflow.log_metrics(
        {
            f"segment.{seg}.{k}": v
            for seg, m in segments.items()
            for k, v in m.items()
            if k in SEGMENT_METRICS[task] and np.isfinite(v)
        }
    )
    mlflow.log_metrics({f"backtest_mean_{k}": v for k, v in means.items()})
    loss = None if task == "regression" else (lambda y, p: row_loss(y, p, "log_loss").mean())
    importance = permutation_importance(model.predict, holdout, features, target, seed=spec.training.seed, loss=loss)
    with tempfile.TemporaryDirectory() as tmp:
        _evaluation_plots(spec, kind, holdout.assign(prediction=prediction), importance, threshold, Path(tmp))
        (Path(tmp) / "evaluation.json").write_text(
            json.dumps(
                {"holdout": metrics, "backtest": folds.folds, "segments": segments, "importance": importance}, indent=1
            )
        )
        np.savez(
            Path(tmp) / PREDICTIONS,
            allow_pickle=False,  # float arrays only
            holdout=np.asarray(prediction, dtype=float),  # what an ensemble is made of
            **{
                f"fold{i}_{part}": np.asarray(v, dtype=float)
                for i, pair in enumerate(folds.out_of_fold)
                for part, v in zip(("y", "p"), pair, strict=True)
            },
        )
        mlflow.log_artifacts(tmp, artifact_path="evaluation")
    inputs = getattr(model, "inputs", features)  # the statistical family also places rows by keys and time
    signature = infer_signature(holdout[inputs].head(5), pd.Series(prediction[:5], name="prediction"))
    return model.log_model(holdout[inputs].head(5), signature)


def _evaluation_plots(
    spec: PipelineSpec, kind: str, scored: pd.DataFrame, importance: dict, threshold: float, folder: Path
) -> None:
    from ml_tasks.training.plots import classification_plots, forecast_plot, importance_plot, residual_plots

    if spec.task == "classification":
        classification_plots(
            scored[spec.data.target],
            scored["prediction"],
            threshold,
            f"{spec.name} {kind}: holdout",
            folder / "roc_pr_calibration.png",
        )
    else:
        forecast_plot(scored, spec, folder / "holdout_forecast.png")
        residual_plots(scored, spec, folder / "residuals_and_error_by_hour.png")
    importance_plot(importance, f"{kind}: permutation importance (holdout)", folder / "feature_importance.png")
