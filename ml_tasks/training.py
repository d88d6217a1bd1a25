"""Training: a time-based split of the feature window, a LightGBM model, logged and registered.

The newest ``holdout_days`` feature partitions of the window are the holdout; the days before
them train the model. Every run records its lineage (feature partitions with a content hash,
the training window, params, the Airflow run and the code version) and a sample of its training
features, which the drift check later uses as the reference distribution.
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
from ml_tasks.evaluation import regression_metrics
from ml_tasks.lake import Lake
from ml_tasks.settings import REPO_ROOT, ConveyorSettings
from ml_tasks.spec import PipelineSpec

log = logging.getLogger(__name__)
MODEL_CODE = Path(__file__).parent / "model_code" / "lightgbm_model.py"
SEASONAL_NAIVE = "lag_168h"


class TrainingDataError(RuntimeError):
    """Not enough (or unusable) feature data to train on."""


@dataclass(frozen=True)
class TrainingWindow:
    train_dates: list[date]
    holdout_dates: list[date]

    @property
    def all_dates(self) -> list[date]:
        return [*self.train_dates, *self.holdout_dates]


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


def fit_lightgbm(train: pd.DataFrame, spec: PipelineSpec, features: list[str], categorical: list[str]):
    """Fit the baseline model; returns the booster and the categories of each key column."""
    import lightgbm as lgb

    categories = {c: sorted(train[c].astype(str).unique().tolist()) for c in categorical}
    X = _encode(train[features], categories)
    y = train[spec.data.target].astype(float)
    p = spec.training.lightgbm
    model = lgb.LGBMRegressor(
        objective=p.objective, learning_rate=p.learning_rate, num_leaves=p.num_leaves,
        n_estimators=p.n_estimators, min_child_samples=p.min_child_samples, subsample=p.subsample,
        subsample_freq=p.subsample_freq, colsample_bytree=p.colsample_bytree,
        random_state=spec.training.seed, deterministic=True, force_row_wise=True, n_jobs=2, verbose=-1,
    )
    model.fit(X, y, categorical_feature=categorical)
    return model.booster_, categories


def _encode(frame: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    frame = frame.copy()
    for col, cats in categories.items():
        frame[col] = pd.Categorical(frame[col].astype("string"), categories=cats)
    return frame


def train_challenger(
    settings: ConveyorSettings, spec: PipelineSpec, run_context: dict[str, str] | None = None, end: date | None = None
) -> dict:
    """Train, evaluate on the holdout, log to MLflow and register a new model version.

    Returns a small dict (safe for XCom): run id, version, holdout metrics and dates.
    """
    import mlflow
    from mlflow.models import infer_signature

    from ml_tasks.plots import forecast_plot

    lake = Lake(settings.lake_uri)
    window = select_window(lake, spec, end)
    features = feature_names(spec)
    categorical = list(spec.data.keys)
    target = spec.data.target
    df = load_features(lake, spec, window.all_dates)
    train = df[df["dt"].isin(window.train_dates)]
    holdout = df[df["dt"].isin(window.holdout_dates)].reset_index(drop=True)
    if len(train) < spec.training.min_train_rows:
        raise TrainingDataError(f"pipeline {spec.name!r}: {len(train)} training rows, need {spec.training.min_train_rows}")

    registry.ensure_experiment(settings, registry.training_experiment(spec.name))
    tags = {"conveyor.pipeline": spec.name, "conveyor.code_version": code_version(), **(run_context or {})}
    with mlflow.start_run(run_name=f"{spec.name}-lightgbm", tags=tags) as run:
        mlflow.log_params({
            "model": "lightgbm", **{f"lgbm.{k}": v for k, v in spec.training.lightgbm.model_dump().items()},
            "seed": spec.training.seed, "train_start": window.train_dates[0], "train_end": window.train_dates[-1],
            "holdout_start": window.holdout_dates[0], "holdout_end": window.holdout_dates[-1],
            "train_rows": len(train), "holdout_rows": len(holdout), "n_features": len(features),
        })
        mlflow.set_tags({
            "conveyor.feature_partitions": json.dumps([d.isoformat() for d in window.all_dates]),
            "conveyor.features_sha256": partitions_fingerprint(lake, spec, window.all_dates),
        })
        log.info("training LightGBM on %d rows (%s..%s), holdout %d rows",
                 len(train), window.train_dates[0], window.train_dates[-1], len(holdout))
        booster, categories = fit_lightgbm(train, spec, features, categorical)
        prediction = np.clip(booster.predict(_encode(holdout[features], categories)), 0.0, None)
        metrics = regression_metrics(holdout[target], prediction, holdout[SEASONAL_NAIVE])
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})

        with tempfile.TemporaryDirectory() as tmp:
            booster_path = Path(tmp) / "booster.txt"
            booster.save_model(str(booster_path))
            meta_path = Path(tmp) / "metadata.json"
            meta_path.write_text(json.dumps({"features": features, "categories": categories, "target": target}))
            reference = train.sample(n=min(len(train), spec.drift.reference_sample_rows), random_state=spec.training.seed)
            ref_path = Path(tmp) / "features.parquet"
            reference.drop(columns=["dt"]).to_parquet(ref_path, index=False)
            mlflow.log_artifact(str(ref_path), artifact_path="reference")
            plot_path = forecast_plot(holdout.assign(prediction=prediction), spec, Path(tmp) / "holdout_forecast.png")
            mlflow.log_artifact(str(plot_path), artifact_path="plots")

            example = holdout[features].head(5)
            signature = infer_signature(example, pd.Series(prediction[:5], name="prediction"))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(MODEL_CODE),
                artifacts={"booster": str(booster_path), "metadata": str(meta_path)},
                signature=signature,
                pip_requirements=_model_requirements(),
                registered_model_name=registry.model_name(spec.name),
            )
        version = str(info.registered_model_version)
        log.info("registered %s version %s (run %s): %s", spec.name, version, run.info.run_id, metrics)
    return {
        "run_id": run.info.run_id,
        "version": version,
        "metrics": metrics,
        "holdout_dates": [d.isoformat() for d in window.holdout_dates],
        "train_dates": [window.train_dates[0].isoformat(), window.train_dates[-1].isoformat()],
    }


def _model_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "lightgbm", "pandas", "numpy", "pyarrow")]
