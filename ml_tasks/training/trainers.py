"""The two model families behind one small interface: fit on days, predict a frame, log to MLflow.

`LightGBMTrainer` is the baseline (gradient-boosted trees, categorical keys); `LightningTrainer`
is the neural challenger (streamed batches, embeddings, GPU when available). Both are fit and
evaluated on exactly the same days and rows by `ml_tasks.training.candidate`.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.features.columns import categorical_features

MODEL_CODE_DIR = Path(__file__).parent / "model_code"


def _requirements(*packages: str) -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "pandas", "numpy", "pyarrow", *packages)]


def positive_weight(spec: PipelineSpec, target: pd.Series) -> float:
    """Weight of the positive class under ``class_weight: balanced`` (negatives / positives), else 1."""
    if spec.task != "classification" or spec.training.class_weight != "balanced":
        return 1.0
    positives = float(target.sum())
    return float((len(target) - positives) / positives) if positives else 1.0


def _encode(frame: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    frame = frame.copy()
    for col, cats in categories.items():
        frame[col] = pd.Categorical(frame[col].astype("string"), categories=cats)
    return frame


class LightGBMTrainer:
    kind = "lightgbm"

    def __init__(self, spec: PipelineSpec, features: list[str]):
        self.spec, self.features = spec, features
        self.categorical = categorical_features(spec, features)
        self.booster = None
        self.categories: dict[str, list[str]] = {}

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        import lightgbm as lgb

        from ml_tasks.features.store import load_features

        train = load_features(lake, self.spec, dates)
        self.categories = {c: sorted(train[c].astype(str).unique().tolist()) for c in self.categorical}
        p, seed = self.spec.training.lightgbm, self.spec.training.seed
        target = train[self.spec.data.target].astype(float)
        kwargs = dict(objective=p.objective, learning_rate=p.learning_rate, num_leaves=p.num_leaves,
                      n_estimators=p.n_estimators, min_child_samples=p.min_child_samples, subsample=p.subsample,
                      subsample_freq=p.subsample_freq, colsample_bytree=p.colsample_bytree,
                      random_state=seed, deterministic=True, force_row_wise=True, n_jobs=2, verbose=-1)
        if self.spec.task == "classification":
            model = lgb.LGBMClassifier(**kwargs, scale_pos_weight=positive_weight(self.spec, target))
            target = target.astype(int)
        else:
            model = lgb.LGBMRegressor(**kwargs)
        model.fit(_encode(train[self.features], self.categories), target, categorical_feature=self.categorical)
        self.booster = model.booster_
        return {"train_rows": len(train), "trees": self.booster.num_trees()}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.clip(self.booster.predict(_encode(frame[self.features], self.categories)), 0.0, None)

    def params(self) -> dict:
        return {f"lgbm.{k}": v for k, v in self.spec.training.lightgbm.model_dump().items()}

    def log_model(self, example: pd.DataFrame, signature):
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            booster = Path(tmp) / "booster.txt"
            self.booster.save_model(str(booster))
            meta = Path(tmp) / "metadata.json"
            meta.write_text(json.dumps({"features": self.features, "categories": self.categories,
                                        "target": self.spec.data.target}))
            return mlflow.pyfunc.log_model(
                name="model", python_model=str(MODEL_CODE_DIR / "lightgbm_model.py"),
                artifacts={"booster": str(booster), "metadata": str(meta)}, signature=signature,
                pip_requirements=_requirements("lightgbm"),
            )


class LightningTrainer:
    kind = "lightning"

    def __init__(self, spec: PipelineSpec, features: list[str]):
        self.spec, self.features = spec, features
        self.categorical = categorical_features(spec, features)
        self.numeric = [f for f in features if f not in self.categorical]
        self.model = None
        self.schema = None

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        from ml_tasks.training.datamodule import FeatureDataModule
        from ml_tasks.training.lightning_trainer import fit_lightning

        cfg = self.spec.training.lightning
        val_days = min(cfg.val_days, max(1, len(dates) // 4))
        files = {d: lake.parquet_files(lake.partition("features", self.spec.name, d)) for d in dates}
        train_files = [f for d in dates[:-val_days] for f in files[d]]
        val_files = [f for d in dates[-val_days:] for f in files[d]]
        dm = FeatureDataModule(lake, train_files, val_files, self.categorical, self.numeric, self.spec.data.target,
                               batch_size=cfg.batch_size, num_workers=cfg.num_workers, seed=self.spec.training.seed)
        resources = self.spec.training.resources
        pos_weight = 1.0
        if self.spec.task == "classification" and self.spec.training.class_weight == "balanced":
            from ml_tasks.features.store import load_features

            pos_weight = positive_weight(self.spec, load_features(lake, self.spec, dates[:-val_days])[self.spec.data.target])
        self.model, facts = fit_lightning(dm, cfg, self.spec.training.seed, gpus=resources.gpus if resources.gpu else 0,
                                          logger=logger, task=self.spec.task, pos_weight=pos_weight)
        self.schema = dm.schema
        return {**facts, "val_days": val_days}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        from ml_tasks.training.lightning_trainer import predict

        return predict(self.model, self.schema, frame)

    def params(self) -> dict:
        return {f"nn.{k}": v for k, v in self.spec.training.lightning.model_dump().items()}

    def log_model(self, example: pd.DataFrame, signature):
        import mlflow

        from ml_tasks.training.lightning_trainer import save_for_mlflow

        with tempfile.TemporaryDirectory() as tmp:
            artifacts = save_for_mlflow(self.model, self.schema, self.features, Path(tmp))
            return mlflow.pyfunc.log_model(
                name="model", python_model=str(MODEL_CODE_DIR / "torch_model.py"), artifacts=artifacts,
                code_paths=[str(MODEL_CODE_DIR / "tabular_net.py")], signature=signature,
                pip_requirements=_requirements("torch"),
            )


TRAINERS = {"lightgbm": LightGBMTrainer, "lightning": LightningTrainer}
