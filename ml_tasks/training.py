"""Training: a time-based plan, every model family fit on it, the better one registered.

`plan_training` fixes the window (the newest ``window_days`` feature partitions, the last
``holdout_days`` held out) and opens a parent MLflow run with the lineage: feature partitions
and their content hash, the Airflow run, the code version. `train_model` fits one family on the
training days inside a child run, with a rolling-origin backtest before the holdout, holdout
metrics overall and per store, plots and the logged model. `register_best` registers the family
with the lower holdout error among those that finished as a new version, with a model card that
names any family that failed. In Airflow these are separate tasks (the neural one can run on a
GPU worker, and one failing does not stop the others); `train_challenger` runs them in sequence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ml_tasks import registry
from ml_tasks.evaluation import (naive_column, permutation_importance, segment_column, segment_metrics,
                                 task_metrics, tune_threshold)
from ml_tasks.promotion_gate import row_loss
from ml_tasks.gates import validation_lineage
from ml_tasks.lake import Lake
from ml_tasks.settings import REPO_ROOT, ConveyorSettings
from ml_tasks.spec import PipelineSpec

log = logging.getLogger(__name__)


class TrainingDataError(RuntimeError):
    """Not enough (or unusable) feature data to train on."""


class NoCandidateError(RuntimeError):
    """Every model family failed: there is nothing to register."""


@dataclass(frozen=True)
class TrainingWindow:
    train_dates: list[date]
    holdout_dates: list[date]

    @property
    def all_dates(self) -> list[date]:
        return [*self.train_dates, *self.holdout_dates]

    def folds(self, n: int, size: int) -> list[tuple[list[date], list[date]]]:
        """Rolling-origin folds before the holdout: (train days, test days), oldest first."""
        out = []
        for k in range(n, 0, -1):
            end = len(self.train_dates) - (k - 1) * size
            start = end - size
            if start < size:  # keep at least as many training days as test days
                continue
            out.append((self.train_dates[:start], self.train_dates[start:end]))
        return out


def select_window(lake: Lake, spec: PipelineSpec, end: date | None = None) -> TrainingWindow:
    """The newest ``window_days`` feature partitions up to ``end``, split by time."""
    available = [d for d in lake.partitions("features", spec.name) if end is None or d <= end]
    window = available[-spec.training.window_days:]
    holdout = spec.training.holdout_days
    if len(window) <= holdout:
        raise TrainingDataError(
            f"pipeline {spec.name!r}: {len(window)} feature partition(s) under "
            f"{lake.zone('features', spec.name)} (up to {end or 'latest'}); need more than "
            f"holdout_days={holdout} to train. Build features for more days first."
        )
    return TrainingWindow(train_dates=window[:-holdout], holdout_dates=window[-holdout:])


def feature_names(spec: PipelineSpec) -> list[str]:
    from spark_jobs.features_job import feature_module

    return feature_module(spec).feature_columns(spec)


def load_features(lake: Lake, spec: PipelineSpec, dates: list[date]) -> pd.DataFrame:
    df = lake.read_range("features", spec.name, dates)
    df["dt"] = pd.to_datetime(df[spec.data.timestamp], utc=True).dt.date
    return df


def partitions_fingerprint(lake: Lake, spec: PipelineSpec, dates: list[date]) -> str:
    """SHA-256 over the bytes of every feature file used, in a fixed order."""
    digest = hashlib.sha256()
    fs = lake.fs
    for d in dates:
        for f in lake.parquet_files(lake.partition("features", spec.name, d)):
            digest.update(f.rsplit("/", 1)[-1].encode())
            with fs.open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def code_version() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain"], capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        return f"conveyor-{version('conveyor')}"


def plan_training(settings: ConveyorSettings, spec: PipelineSpec, run_context: dict[str, str] | None = None,
                  end: date | None = None) -> dict:
    """Fix the window and open the parent run that every model's run hangs under."""
    import mlflow

    lake = Lake.from_settings(settings)
    window = select_window(lake, spec, end)
    registry.ensure_experiment(settings, registry.training_experiment(spec.name))
    validation = validation_lineage(lake, spec, window.all_dates)
    tags = {"conveyor.pipeline": spec.name, "conveyor.code_version": code_version(),
            "conveyor.feature_partitions": json.dumps([d.isoformat() for d in window.all_dates]),
            "conveyor.features_sha256": partitions_fingerprint(lake, spec, window.all_dates),
            "conveyor.validation": json.dumps(validation["summary"]), **(run_context or {})}
    with mlflow.start_run(run_name=f"{spec.name}-train", tags=tags) as parent:
        mlflow.log_dict(validation["records"], "lineage/validation.json")
        mlflow.log_params({"train_start": window.train_dates[0], "train_end": window.train_dates[-1],
                           "holdout_start": window.holdout_dates[0], "holdout_end": window.holdout_dates[-1],
                           "models": ",".join(spec.training.models), "seed": spec.training.seed})
        # The drift check compares new data with this sample of what the models learned from.
        recent = load_features(lake, spec, window.train_dates[-14:])
        reference = recent.sample(n=min(len(recent), spec.drift.reference_sample_rows),
                                  random_state=spec.training.seed).drop(columns=["dt"])
        with tempfile.TemporaryDirectory() as tmp:
            reference.to_parquet(Path(tmp) / "features.parquet", index=False)
            mlflow.log_artifact(str(Path(tmp) / "features.parquet"), artifact_path="reference")
    return {"parent_run_id": parent.info.run_id, "tags": tags,
            "train_dates": [d.isoformat() for d in window.train_dates],
            "holdout_dates": [d.isoformat() for d in window.holdout_dates]}


def _window(plan: dict) -> TrainingWindow:
    return TrainingWindow([date.fromisoformat(d) for d in plan["train_dates"]],
                          [date.fromisoformat(d) for d in plan["holdout_dates"]])


SUMMARY_METRICS = {"regression": ("mae", "rmse", "wape", "mase"),
                   "classification": ("roc_auc", "pr_auc", "log_loss", "brier", "f1")}
SEGMENT_METRICS = {"regression": ("mae", "mase"), "classification": ("log_loss", "roc_auc")}


def train_model(settings: ConveyorSettings, spec: PipelineSpec, plan: dict, kind: str) -> dict:
    """Backtest, fit and evaluate one model family in a child run; returns its XCom-sized summary.

    Classification: the F1 threshold is tuned on the backtest folds' out-of-sample predictions
    (on the holdout itself, flagged as optimistic, when there are no folds) and stored with
    the model's metrics; predictions are probabilities of the positive class.
    """
    import mlflow
    from mlflow.models import infer_signature

    from ml_tasks.model_trainers import TRAINERS

    lake = Lake.from_settings(settings)
    window = _window(plan)
    features, target, task, naive = feature_names(spec), spec.data.target, spec.task, naive_column(spec)
    holdout = load_features(lake, spec, window.holdout_dates).reset_index(drop=True)
    experiment_id = registry.ensure_experiment(settings, registry.training_experiment(spec.name))
    tags = {**plan["tags"], "mlflow.parentRunId": plan["parent_run_id"], "conveyor.model_family": kind}
    abandoned = registry.close_abandoned_runs(
        settings, experiment_id, {"mlflow.parentRunId": plan["parent_run_id"], "conveyor.model_family": kind})
    if abandoned:
        log.warning("%s: marked run(s) %s of an earlier, killed attempt as KILLED", kind, ", ".join(abandoned))
    with mlflow.start_run(run_name=f"{spec.name}-{kind}", tags=tags) as run:
        backtest, out_of_fold = [], []
        for i, (train_days, test_days) in enumerate(window.folds(spec.training.backtest_folds, spec.training.holdout_days)):
            fold_model = TRAINERS[kind](spec, features)
            fold_model.fit(lake, train_days)
            test = load_features(lake, spec, test_days)
            fold_pred = fold_model.predict(test)
            out_of_fold.append((test[target].to_numpy(), fold_pred))
            m = task_metrics(task, test[target], fold_pred, test[naive] if naive else None)
            backtest.append({"fold": i, "test_start": test_days[0].isoformat(), "test_end": test_days[-1].isoformat(), **m})
            mlflow.log_metrics({f"backtest_{k}": v for k, v in m.items()}, step=i)
            log.info("%s backtest fold %d (%s..%s): %s", kind, i, test_days[0], test_days[-1], m)

        model = TRAINERS[kind](spec, features)
        logger = None
        if kind == "lightning":  # Lightning logs its epochs into this run
            from pytorch_lightning.loggers import MLFlowLogger

            logger = MLFlowLogger(experiment_name=registry.training_experiment(spec.name),
                                  tracking_uri=settings.mlflow_tracking_uri, run_id=run.info.run_id)
        facts = model.fit(lake, window.train_dates, logger=logger)
        prediction = model.predict(holdout)
        threshold = 0.5
        if task == "classification":
            y_tune = np.concatenate([y for y, _ in out_of_fold]) if out_of_fold else holdout[target].to_numpy()
            p_tune = np.concatenate([p for _, p in out_of_fold]) if out_of_fold else prediction
            threshold = tune_threshold(y_tune, p_tune)
            facts["threshold_tuned_on"] = "backtest folds" if out_of_fold else "holdout (optimistic: no backtest folds)"
        metrics = task_metrics(task, holdout[target], prediction, holdout[naive] if naive else None, threshold)
        segments = segment_metrics(holdout, prediction, segment_column(spec), target, naive, task, threshold)
        mlflow.log_params({**model.params(), **{f"fit.{k}": v for k, v in facts.items()}})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        mlflow.log_metrics({f"segment.{seg}.{k}": v for seg, m in segments.items() for k, v in m.items()
                            if k in SEGMENT_METRICS[task] and np.isfinite(v)})
        backtest_mean = {k: float(np.nanmean([b[k] for b in backtest])) for k in SUMMARY_METRICS[task]} if backtest else {}
        mlflow.log_metrics({f"backtest_mean_{k}": v for k, v in backtest_mean.items()})
        loss = None if task == "regression" else (lambda y, p: row_loss(y, p, "log_loss").mean())
        importance = permutation_importance(model.predict, holdout, features, target, seed=spec.training.seed, loss=loss)
        with tempfile.TemporaryDirectory() as tmp:
            _evaluation_plots(spec, kind, holdout.assign(prediction=prediction), importance, threshold, Path(tmp))
            (Path(tmp) / "evaluation.json").write_text(json.dumps(
                {"holdout": metrics, "backtest": backtest, "segments": segments, "importance": importance}, indent=1))
            mlflow.log_artifacts(tmp, artifact_path="evaluation")
        signature = infer_signature(holdout[features].head(5), pd.Series(prediction[:5], name="prediction"))
        info = model.log_model(holdout[features].head(5), signature)
        log.info("%s: holdout %s", kind, metrics)
    return {"kind": kind, "run_id": run.info.run_id, "model_uri": info.model_uri, "metrics": metrics,
            "backtest_mean": backtest_mean, "segments": {s: round(m[SEGMENT_METRICS[task][0]], 4) for s, m in segments.items()}, "fit": facts}


def _evaluation_plots(spec: PipelineSpec, kind: str, scored: pd.DataFrame, importance: dict, threshold: float,
                      folder: Path) -> None:
    from ml_tasks.plots import classification_plots, forecast_plot, importance_plot, residual_plots

    if spec.task == "classification":
        classification_plots(scored[spec.data.target], scored["prediction"], threshold,
                             f"{spec.name} {kind}: holdout", folder / "roc_pr_calibration.png")
    else:
        forecast_plot(scored, spec, folder / "holdout_forecast.png")
        residual_plots(scored, spec, folder / "residuals_and_error_by_hour.png")
    importance_plot(importance, f"{kind}: permutation importance (holdout)", folder / "feature_importance.png")


def register_best(settings: ConveyorSettings, spec: PipelineSpec, plan: dict, results: list[dict],
                  failed: dict[str, str] | None = None) -> dict:
    """Register the family with the lower holdout error (the spec's metric) as a new version.

    ``results`` are the families that finished; ``failed`` maps each family that did not to what
    went wrong. Failed families are named on the version (tag ``conveyor.failed_families``), in
    the model card and in what this returns, so the gate's decision can say what was compared.
    """
    import mlflow

    from ml_tasks.model_card import render_model_card

    failed = dict(failed or {})
    if not results:
        raise NoCandidateError(f"pipeline {spec.name!r}: every model family failed, nothing to register: "
                               + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    client = registry.connect(settings)
    metric = spec.promotion.metric
    best = min(results, key=lambda r: (np.nan_to_num(r["metrics"][metric], nan=np.inf), r["kind"]))
    name = registry.model_name(spec.name)
    # A retry after a killed attempt reuses the version that attempt registered: one training
    # run, one version, however often the task ran.
    earlier = client.search_model_versions(f"name='{name}' and run_id='{best['run_id']}'")
    if earlier:
        v = str(min(int(e.version) for e in earlier))
        log.warning("version %s of %s was already registered from run %s by an earlier attempt; reusing it",
                    v, name, best["run_id"])
    else:
        v = str(mlflow.register_model(best["model_uri"], name).version)
    for key, value in {**plan["tags"], "conveyor.model_family": best["kind"], "conveyor.run_id": best["run_id"],
                       "conveyor.parent_run_id": plan["parent_run_id"], "conveyor.reference_run_id": plan["parent_run_id"],
                       "conveyor.training_window": f"{plan['train_dates'][0]}..{plan['train_dates'][-1]}",
                       "conveyor.holdout_window": f"{plan['holdout_dates'][0]}..{plan['holdout_dates'][-1]}",
                       "conveyor.candidates": json.dumps({r["kind"]: r["metrics"][metric] for r in results}),
                       "conveyor.failed_families": json.dumps(failed)}.items():
        client.set_model_version_tag(name, v, key, str(value))
    card = render_model_card(spec, v, best, results, plan, failed)
    client.update_model_version(name, v, description=card)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model_card.md").write_text(card)
        client.log_artifact(best["run_id"], str(Path(tmp) / "model_card.md"))
    log.info("registered %s version %s from %s (%s=%.4f)", name, v, best["kind"], metric, best["metrics"][metric])
    if failed:
        log.warning("families that failed and were not compared: %s", failed)
    return {"run_id": best["run_id"], "version": v, "model": best["kind"], "metrics": best["metrics"],
            "holdout_dates": plan["holdout_dates"], "train_dates": [plan["train_dates"][0], plan["train_dates"][-1]],
            "candidates": {r["kind"]: r["metrics"] for r in results}, "failed": failed}


def train_challenger(settings: ConveyorSettings, spec: PipelineSpec, run_context: dict[str, str] | None = None,
                     end: date | None = None) -> dict:
    """Plan, train every family the spec lists, register the best that finished; returns its summary.

    A family that raises is logged and named as failed; the others are still compared and the
    best registered (as the Airflow DAG does with one task per family).
    """
    plan = plan_training(settings, spec, run_context, end)
    results, failed = [], {}
    for kind in spec.training.models:
        try:
            results.append(train_model(settings, spec, plan, kind))
        except Exception as exc:  # one family's failure must not lose the others' models
            log.exception("%s training failed; continuing with the other families", kind)
            failed[kind] = f"{type(exc).__name__}: {exc}"
    return register_best(settings, spec, plan, results, failed)
