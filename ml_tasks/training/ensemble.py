"""A weighted mean of the two best learned families, a candidate when the backtest says it beats both.

After every family has trained, :func:`ensemble_candidate` takes the two non-baseline families with
the lowest backtest error (forecasts only), reads the out-of-fold and holdout predictions each
logged (``evaluation/predictions.npz``), and scores the mean ``w * a + (1 - w) * b`` on the same
folds for each weight of ``WEIGHTS``. Only when the best weight's backtest error is below both
members' by more than ``training.selection_margin`` is the ensemble logged (a run beside the
families', the members stored inside its model) and returned, to be compared like any family. The
holdout plays no part in any of this; the gate alone sees it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.store import load_features
from ml_tasks.training.candidate import (
    PREDICTIONS,
    SEGMENT_METRICS,
    TrainedCandidate,
    checked_handoff,
    evaluate_holdout,
)
from ml_tasks.training.families import is_baseline
from ml_tasks.training.plan import TrainingPlan, TrainingWindow

log = logging.getLogger(__name__)

KIND = "ensemble"
WEIGHTS = (0.25, 0.5, 0.75)  # of the member with the lower backtest error
PACKAGES = {"lightgbm": ("lightgbm",), "lightning": ("torch",), "statsforecast": ("statsforecast",)}


def members(results: list[TrainedCandidate], metric: str) -> list[TrainedCandidate]:
    """The two learned families with the lowest backtest ``metric`` (best first); fewer: none."""
    scored = [
        r
        for r in results
        if not is_baseline(r["kind"])
        and r["kind"] != KIND
        and np.isfinite((r.get("backtest_mean") or {}).get(metric, np.nan))
    ]
    scored.sort(key=lambda r: r["backtest_mean"][metric])
    return scored[:2] if len(scored) >= 2 else []


def fold_pairs(predictions: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (predictions[f"fold{i}_y"], predictions[f"fold{i}_p"])
        for i in range(len(predictions))
        if f"fold{i}_y" in predictions
    ]


def best_weight(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> tuple[float, dict[float, float]] | None:
    """The weight of ``first`` with the lowest mean MAE over the folds, and each weight's; None when the
    two were not backtested on the same rows."""
    a, b = fold_pairs(first), fold_pairs(second)
    if (
        not a
        or len(a) != len(b)
        or any(
            len(ya) != len(yb) or not np.allclose(ya, yb, equal_nan=True) for (ya, _), (yb, _) in zip(a, b, strict=True)
        )
    ):
        return None
    scores: dict[float, float] = {}
    for w in WEIGHTS:
        scores[w] = float(
            np.mean([np.nanmean(np.abs(y - (w * pa + (1 - w) * pb))) for (y, pa), (_, pb) in zip(a, b, strict=True)])
        )
    return min(scores, key=scores.__getitem__), scores


def _predictions(run_id: str) -> dict[str, np.ndarray]:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=f"evaluation/{PREDICTIONS}", dst_path=tmp
        )
        with np.load(path) as stored:
            return {k: stored[k] for k in stored.files}


def _earlier_attempt(settings: ConveyorSettings, experiment_id: str, plan: TrainingPlan) -> TrainedCandidate | None:
    """The ensemble a killed or retried `register` attempt already logged for this plan, if any."""
    import mlflow

    client = tracking.connect(settings)
    tags = {"mlflow.parentRunId": plan["parent_run_id"], "conveyor.model_family": KIND}
    tracking.close_abandoned_runs(settings, experiment_id, tags)
    for run in tracking.runs_tagged(client, experiment_id, tags, "FINISHED", max_results=1):
        with tempfile.TemporaryDirectory() as tmp:
            return json.loads(
                Path(
                    mlflow.artifacts.download_artifacts(
                        run_id=run.info.run_id, artifact_path="candidate.json", dst_path=tmp
                    )
                ).read_text()
            )
    return None


def ensemble_candidate(
    settings: ConveyorSettings, spec: PipelineSpec, plan: TrainingPlan, results: list[TrainedCandidate]
) -> TrainedCandidate | None:
    """The ensemble of the two best learned families, logged, when the backtest supports it; else None."""
    import mlflow

    metric = spec.promotion.metric
    pair = members(results, metric)
    if spec.task != "regression" or metric != "mae" or not pair:
        return None
    experiment_id = tracking.ensure_experiment(settings, tracking.training_experiment(spec.name))
    earlier = _earlier_attempt(settings, experiment_id, plan)
    if earlier is not None:
        return earlier
    predictions = [_predictions(r["run_id"]) for r in pair]
    found = best_weight(*predictions)
    if found is None:
        log.info("no ensemble: %s and %s were not backtested on the same rows", pair[0]["kind"], pair[1]["kind"])
        return None
    weight, scores = found
    single = min(r["backtest_mean"][metric] for r in pair)
    if not scores[weight] < single * (1 - spec.training.selection_margin):
        log.info(
            "no ensemble: its best backtest %s %.4f does not beat %s's %.4f by the selection margin",
            metric,
            scores[weight],
            pair[0]["kind"],
            single,
        )
        return None
    weights = {pair[0]["kind"]: weight, pair[1]["kind"]: 1 - weight}
    holdout = load_features(Lake.from_settings(settings), spec, TrainingWindow.of(plan).holdout_dates)
    holdout = holdout.reset_index(drop=True)
    prediction = weight * predictions[0]["holdout"] + (1 - weight) * predictions[1]["holdout"]
    metrics, segments = evaluate_holdout(spec, holdout, prediction, threshold=0.5)  # as every family's
    tags = {**plan["tags"], "mlflow.parentRunId": plan["parent_run_id"], "conveyor.model_family": KIND}
    with mlflow.start_run(run_name=f"{spec.name}-{KIND}", tags=tags, experiment_id=experiment_id) as run:
        mlflow.log_params({f"weight.{kind}": w for kind, w in weights.items()})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_metrics({f"backtest_mean_{metric}_w{w}": v for w, v in scores.items()})
        info = _log_model(pair, weights, holdout)
        candidate = checked_handoff(
            TrainedCandidate(
                kind=KIND,
                run_id=run.info.run_id,
                model_uri=info.model_uri,
                metrics=metrics,
                backtest_mean={metric: scores[weight]},
                segments={s: round(m[SEGMENT_METRICS[spec.task][0]], 4) for s, m in segments.items()},
                fit={
                    "members": weights,
                    "backtest_by_weight": {str(w): round(v, 6) for w, v in scores.items()},
                    "transform": "+".join(f"{w:g} {kind}" for kind, w in weights.items()),
                },
            )
        )
        mlflow.log_text(json.dumps(candidate), "candidate.json")
    log.info(
        "ensemble %s: backtest %s %.4f (members %s); holdout %s",
        weights,
        metric,
        scores[weight],
        {r["kind"]: round(r["backtest_mean"][metric], 4) for r in pair},
        metrics,
    )
    return candidate


def _log_model(pair: list[TrainedCandidate], weights: dict[str, float], holdout):
    """The ensemble pyfunc, the members' whole models inside it; its signature takes what either takes."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema

    from ml_tasks.training.trainers import log_pyfunc

    columns, outputs = {}, None
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for r in pair:
            files[r["kind"]] = Path(mlflow.artifacts.download_artifacts(r["model_uri"], dst_path=f"{tmp}/{r['kind']}"))
            signature = mlflow.models.get_model_info(r["model_uri"]).signature
            columns.update({c.name: c for c in signature.inputs.inputs if c.name not in columns})
            outputs = signature.outputs
        signature = ModelSignature(Schema(list(columns.values())), outputs)
        packages = tuple(dict.fromkeys(p for r in pair for p in PACKAGES.get(r["kind"], ())))
        return log_pyfunc(
            "ensemble_model.py", {"metadata": {"weights": weights}}, [], signature, files=files, packages=packages
        )
