"""The learned model families behind one small interface: fit on days, predict a frame, log to MLflow.

`LightGBMTrainer` (gradient-boosted trees, categorical keys) and `NeuralTrainer` (the neural
family, kind ``lightning``: streamed batches, embeddings, GPU when available; its network and
Lightning's `Trainer` loop are in `neural_net`) each take a target transform
(`transforms`), applied to what they learn and undone exactly on what they predict. Every family,
the baselines of `baselines` included, is fit and evaluated on exactly the same days and rows by
`ml_tasks.training.candidate`; `families` lists them.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.core.threads import lightgbm_threads
from ml_tasks.features.columns import categorical_features
from ml_tasks.training.model_code import target_transform as tt
from ml_tasks.training.transforms import candidate_transforms

if TYPE_CHECKING:  # imported where they run: lightgbm and torch are slow to import
    import lightgbm as lgb

    from ml_tasks.training.datamodule import TabularSchema
    from ml_tasks.training.neural_net import TabularForecaster

MODEL_CODE_DIR = Path(__file__).parent / "model_code"
# Objectives that need a non-negative target: a differenced target is fit with squared error instead.
NON_NEGATIVE_OBJECTIVES = {"tweedie", "poisson", "gamma"}


def _requirements(*packages: str) -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "pandas", "numpy", "pyarrow", *packages)]


def log_pyfunc(
    model_file: str,
    json_artifacts: dict[str, dict],
    code: list[str],
    signature,
    files: dict[str, Path] | None = None,
    packages: tuple[str, ...] = (),
):
    """Log a models-from-code pyfunc: ``model_code/<model_file>``, JSON artifacts, more model code files."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        artifacts = {name: str(path) for name, path in (files or {}).items()}
        for name, content in json_artifacts.items():
            (Path(tmp) / f"{name}.json").write_text(json.dumps(content))
            artifacts[name] = str(Path(tmp) / f"{name}.json")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE_DIR / model_file),
            artifacts=artifacts,
            code_paths=[str(MODEL_CODE_DIR / c) for c in code] or None,
            signature=signature,
            pip_requirements=_requirements(*packages),
        )


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

    def __init__(
        self, spec: PipelineSpec, features: list[str], transform: dict | None = None, params: dict | None = None
    ):
        self.spec, self.features = spec, features
        self.transform = transform or tt.NONE
        self.settings = spec.training.lightgbm.model_copy(update=params or {})  # tuned overrides the spec's
        self.categorical = categorical_features(spec, features)
        self.booster: lgb.Booster | None = None
        self.categories: dict[str, list[str]] = {}
        self.clip_min: float | None = 0.0
        self.objective = spec.training.lightgbm.objective

    @classmethod
    def transforms(cls, spec: PipelineSpec) -> list[dict]:
        return candidate_transforms(spec)

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        import lightgbm as lgb

        from ml_tasks.features.store import load_features

        train = load_features(lake, self.spec, dates)
        self.categories = {c: sorted(train[c].astype(str).unique().tolist()) for c in self.categorical}
        p, seed = self.settings, self.spec.training.seed
        target = train[self.spec.data.target].astype(float)
        # Forecasts stay at or above the lowest value the training target took when that is zero or
        # more (counts); a target that goes negative (temperatures) is not clipped.
        self.clip_min = 0.0 if self.spec.task == "regression" and target.min() >= 0 else None
        self.transform = tt.fitted(self.transform, target.to_numpy(dtype=float, na_value=np.nan))
        learned = tt.transform_target(train, target.to_numpy(), self.transform)
        keep = ~np.isnan(learned)
        train, target = train[keep], pd.Series(learned[keep], index=train.index[keep])
        self.objective = p.objective
        if self.transform["kind"] == "difference" and p.objective in NON_NEGATIVE_OBJECTIVES:
            self.objective = "regression"
        kwargs: dict[str, Any] = dict(
            objective=self.objective,
            learning_rate=p.learning_rate,
            num_leaves=p.num_leaves,
            n_estimators=p.n_estimators,
            min_child_samples=p.min_child_samples,
            subsample=p.subsample,
            subsample_freq=p.subsample_freq,
            colsample_bytree=p.colsample_bytree,
            random_state=seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=lightgbm_threads(),
            verbose=-1,
        )
        if self.spec.task == "classification":
            model = lgb.LGBMClassifier(**kwargs, scale_pos_weight=positive_weight(self.spec, target))
            target = target.astype(int)
        else:
            model = lgb.LGBMRegressor(**kwargs)
        inputs = tt.transform_frame(train[self.features], self.transform)
        model.fit(_encode(inputs, self.categories), target, categorical_feature=self.categorical)
        self.booster = model.booster_
        return {"train_rows": len(train), "trees": self.booster.num_trees(), "objective": self.objective}

    def _fitted(self) -> lgb.Booster:
        if self.booster is None:
            raise RuntimeError(f"{self.kind}: fit() has not run, there is no booster to predict with or log")
        return self.booster

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        inputs = tt.transform_frame(frame[self.features], self.transform)
        # an array: Booster.predict returns sparse matrices only for pred_contrib on sparse input
        raw = np.asarray(self._fitted().predict(_encode(inputs, self.categories)))
        prediction = tt.invert(frame, raw, self.transform)
        return prediction if self.clip_min is None else np.clip(prediction, self.clip_min, None)

    def params(self) -> dict:
        return {
            **{f"lgbm.{k}": v for k, v in self.settings.model_dump().items()},
            "lgbm.objective": self.objective,
            "transform": tt.describe(self.transform),
        }

    def log_model(self, example: pd.DataFrame, signature):
        with tempfile.TemporaryDirectory() as tmp:
            booster = Path(tmp) / "booster.txt"
            self._fitted().save_model(str(booster))
            meta = {
                "features": self.features,
                "categories": self.categories,
                "target": self.spec.data.target,
                "transform": self.transform,
                "clip_min": self.clip_min,
            }
            return log_pyfunc(
                "lightgbm_model.py",
                {"metadata": meta},
                ["target_transform.py"],
                signature,
                files={"booster": booster},
                packages=("lightgbm",),
            )


class NeuralTrainer:
    """The neural family: `neural_net.TabularForecaster` fit on streamed feature batches."""

    kind = "lightning"  # the name specs and task ids use (train_lightning)

    def __init__(
        self, spec: PipelineSpec, features: list[str], transform: dict | None = None, params: dict | None = None
    ):
        self.spec, self.features = spec, features
        self.transform = transform or tt.NONE
        self.settings = spec.training.lightning.model_copy(update=params or {})  # tuned overrides the spec's
        self.categorical = categorical_features(spec, features)
        self.numeric = [f for f in features if f not in self.categorical]
        self.model: TabularForecaster | None = None
        self.schema: TabularSchema | None = None

    @classmethod
    def transforms(cls, spec: PipelineSpec) -> list[dict]:
        """None or per-series scaling: its Poisson loss needs a target that stays non-negative."""
        return candidate_transforms(spec, kinds=("scale",))

    def fit(self, lake: Lake, dates: list[date], logger=None) -> dict:
        from ml_tasks.training.datamodule import FeatureDataModule
        from ml_tasks.training.neural_net import fit_lightning

        cfg = self.settings
        val_days = min(cfg.val_days, max(1, len(dates) // 4))
        files = {d: lake.parquet_files(lake.partition("features", self.spec.name, d)) for d in dates}
        train_files = [f for d in dates[:-val_days] for f in files[d]]
        val_files = [f for d in dates[-val_days:] for f in files[d]]
        dm = FeatureDataModule(
            lake,
            train_files,
            val_files,
            self.categorical,
            self.numeric,
            self.spec.data.target,
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            seed=self.spec.training.seed,
            transform=self.transform,
        )
        resources = self.spec.training.resources
        pos_weight = 1.0
        if self.spec.task == "classification" and self.spec.training.class_weight == "balanced":
            from ml_tasks.features.store import load_features

            pos_weight = positive_weight(
                self.spec, load_features(lake, self.spec, dates[:-val_days])[self.spec.data.target]
            )
        self.model, facts = fit_lightning(
            dm,
            cfg,
            self.spec.training.seed,
            gpus=resources.gpus if resources.gpu else 0,
            logger=logger,
            task=self.spec.task,
            pos_weight=pos_weight,
        )
        self.schema, self.transform = dm.fitted()[0], dm.transform
        return {**facts, "val_days": val_days}

    def _fitted(self) -> tuple[TabularForecaster, TabularSchema]:
        if self.model is None or self.schema is None:
            raise RuntimeError(f"{self.kind}: fit() has not run, there is no network to predict with or log")
        return self.model, self.schema

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        from ml_tasks.training.neural_net import predict

        return tt.invert(frame, predict(*self._fitted(), tt.transform_frame(frame, self.transform)), self.transform)

    def params(self) -> dict:
        return {
            **{f"nn.{k}": v for k, v in self.settings.model_dump().items()},
            "transform": tt.describe(self.transform),
        }

    def log_model(self, example: pd.DataFrame, signature):
        from ml_tasks.training.neural_net import save_for_mlflow

        with tempfile.TemporaryDirectory() as tmp:
            files = save_for_mlflow(*self._fitted(), self.features, Path(tmp), self.transform)
            return log_pyfunc(
                "torch_model.py",
                {},
                ["tabular_net.py", "target_transform.py"],
                signature,
                files={k: Path(v) for k, v in files.items()},
                packages=("torch",),
            )
