"""The two model families behind one small interface: fit on days, predict a frame, log to MLflow.

`LightGBMTrainer` is the baseline (gradient-boosted trees, categorical keys); `LightningTrainer`
is the neural challenger (streamed batches, embeddings, GPU when available). Both are fit and
evaluated on exactly the same days and rows by `ml_tasks.training`.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ml_tasks.lake import Lake
from ml_tasks.spec import PipelineSpec

MODEL_CODE_DIR = Path(__file__).parent / "model_code"


def _requirements(*packages: str) -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "pandas", "numpy", "pyarrow", *packages)]


def _encode(frame: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    frame = frame.copy()
    for col, cats in categories.items():
        frame[col] = pd.Categorical(frame[col].astype("string"), categories=cats)
    return frame


class LightGBMTrainer:
    kind = "lightgbm"

    def __init__(self, spec: PipelineSpec, features: list[str]):
        self.spec, self.features = spec, features
        self.categorical = list(spec.data.keys)
        self.booster = None
        self.categories: dict[str, list[str]] = {}

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        import lightgbm as lgb

        from ml_tasks.training import load_features

        train = load_features(lake, self.spec, dates)
        self.categories = {c: sorted(train[c].astype(str).unique().tolist()) for c in self.categorical}
        p, seed = self.spec.training.lightgbm, self.spec.training.seed
        model = lgb.LGBMRegressor(
            objective=p.objective, learning_rate=p.learning_rate, num_leaves=p.num_leaves,
            n_estimators=p.n_estimators, min_child_samples=p.min_child_samples, subsample=p.subsample,
            subsample_freq=p.subsample_freq, colsample_bytree=p.colsample_bytree,
            random_state=seed, deterministic=True, force_row_wise=True, n_jobs=2, verbose=-1,
        )
        model.fit(_encode(train[self.features], self.categories), train[self.spec.data.target].astype(float),
                  categorical_feature=self.categorical)
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
        self.categorical = list(spec.data.keys)
        self.numeric = [f for f in features if f not in self.categorical]
        self.model = None
        self.schema = None

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        from ml_tasks.feature_data import FeatureDataModule
        from ml_tasks.lightning_trainer import fit_lightning

        cfg = self.spec.training.lightning
        val_days = min(cfg.val_days, max(1, len(dates) // 4))
        files = {d: lake.parquet_files(lake.partition("features", self.spec.name, d)) for d in dates}
        train_files = [f for d in dates[:-val_days] for f in files[d]]
        val_files = [f for d in dates[-val_days:] for f in files[d]]
        dm = FeatureDataModule(lake, train_files, val_files, self.categorical, self.numeric, self.spec.data.target,
                               batch_size=cfg.batch_size, num_workers=cfg.num_workers, seed=self.spec.training.seed)
        resources = self.spec.training.resources
        self.model, facts = fit_lightning(dm, cfg, self.spec.training.seed, gpus=resources.gpus if resources.gpu else 0,
                                          logger=logger)
        self.schema = dm.schema
        return {**facts, "val_days": val_days}

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        from ml_tasks.lightning_trainer import predict

        return predict(self.model, self.schema, frame)

    def params(self) -> dict:
        return {f"nn.{k}": v for k, v in self.spec.training.lightning.model_dump().items()}

    def log_model(self, example: pd.DataFrame, signature):
        import mlflow

        from ml_tasks.lightning_trainer import save_for_mlflow

        with tempfile.TemporaryDirectory() as tmp:
            artifacts = save_for_mlflow(self.model, self.schema, self.features, Path(tmp))
            return mlflow.pyfunc.log_model(
                name="model", python_model=str(MODEL_CODE_DIR / "torch_model.py"), artifacts=artifacts,
                code_paths=[str(MODEL_CODE_DIR / "tabular_net.py")], signature=signature,
                pip_requirements=_requirements("torch"),
            )


TRAINERS = {"lightgbm": LightGBMTrainer, "lightning": LightningTrainer}
