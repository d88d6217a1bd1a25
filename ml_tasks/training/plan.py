"""The training plan: which feature days train and which are held out, and the parent MLflow run.

`plan_training` fixes the window (the newest ``window_days`` feature partitions, the last
``holdout_days`` held out) and opens a parent MLflow run with the lineage: feature partitions
and their content hash, the data-quality records of those days, the Airflow run, the code
version, and the reference sample the drift checks compare new data with. What it returns, a
:class:`TrainingPlan`, is the hand-off to every family's training task.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypedDict

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import REPO_ROOT, ConveyorSettings
from ml_tasks.core.spec import PipelineSpec
from ml_tasks.data.gate_records import validation_lineage
from ml_tasks.features.store import load_features, partitions_fingerprint


class TrainingDataError(RuntimeError):
    """Not enough (or unusable) feature data to train on."""


class TrainingPlan(TypedDict):
    """Hand-off from `plan` to each `train_<family>` task and to `register` (an XCom, JSON as is).

    ``tags`` are the lineage tags every run and the registered version carry; dates are ISO days.
    """

    parent_run_id: str
    tags: dict[str, str]
    train_dates: list[str]
    holdout_dates: list[str]


@dataclass(frozen=True)
class TrainingWindow:
    train_dates: list[date]
    holdout_dates: list[date]

    @property
    def all_dates(self) -> list[date]:
        return [*self.train_dates, *self.holdout_dates]

    @classmethod
    def of(cls, plan: TrainingPlan) -> TrainingWindow:
        """The window a plan fixed."""
        return cls(
            [date.fromisoformat(d) for d in plan["train_dates"]], [date.fromisoformat(d) for d in plan["holdout_dates"]]
        )

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
    window = available[-spec.training.window_days :]
    holdout = spec.training.holdout_days
    if len(window) <= holdout:
        raise TrainingDataError(
            f"pipeline {spec.name!r}: {len(window)} feature partition(s) under "
            f"{lake.zone('features', spec.name)} (up to {end or 'latest'}); need more than "
            f"holdout_days={holdout} to train. Build features for more days first."
        )
    return TrainingWindow(train_dates=window[:-holdout], holdout_dates=window[-holdout:])


def code_version() -> str:
    """The git commit the code runs from (``-dirty`` with local changes), else the package version."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        return f"conveyor-{version('conveyor')}"


def plan_training(
    settings: ConveyorSettings, spec: PipelineSpec, run_context: dict[str, str] | None = None, end: date | None = None
) -> TrainingPlan:
    """Fix the window and open the parent run that every model's run hangs under."""
    import mlflow

    lake = Lake.from_settings(settings)
    window = select_window(lake, spec, end)
    tracking.ensure_experiment(settings, tracking.training_experiment(spec.name))
    validation = validation_lineage(lake, spec, window.all_dates)
    tags = {
        "conveyor.pipeline": spec.name,
        "conveyor.code_version": code_version(),
        "conveyor.feature_partitions": json.dumps([d.isoformat() for d in window.all_dates]),
        "conveyor.features_sha256": partitions_fingerprint(lake, spec, window.all_dates),
        "conveyor.validation": json.dumps(validation["summary"]),
        **(run_context or {}),
    }
    with mlflow.start_run(run_name=f"{spec.name}-train", tags=tags) as parent:
        mlflow.log_dict(validation["records"], "lineage/validation.json")
        mlflow.log_params(
            {
                "train_start": window.train_dates[0],
                "train_end": window.train_dates[-1],
                "holdout_start": window.holdout_dates[0],
                "holdout_end": window.holdout_dates[-1],
                "models": ",".join(spec.candidate_families),
                "seed": spec.training.seed,
            }
        )
        # The drift check compares new data with samples of (1) what the models learned from, the
        # last two weeks of training days, and (2) the holdout week, which the fitted models never
        # saw: prediction drift is judged against their predictions there, since on rows a model
        # was fit on its predictions are more confident than on any new rows (which read as
        # prediction drift on the first clean day).
        with tempfile.TemporaryDirectory() as tmp:
            for name, dates in (("features", window.train_dates[-14:]), ("holdout", window.holdout_dates)):
                rows = load_features(lake, spec, dates)
                rows.sample(n=min(len(rows), spec.drift.reference_sample_rows), random_state=spec.training.seed).drop(
                    columns=["dt"]
                ).to_parquet(Path(tmp) / f"{name}.parquet", index=False)
                mlflow.log_artifact(str(Path(tmp) / f"{name}.parquet"), artifact_path="reference")
    return TrainingPlan(
        parent_run_id=parent.info.run_id,
        tags=tags,
        train_dates=[d.isoformat() for d in window.train_dates],
        holdout_dates=[d.isoformat() for d in window.holdout_dates],
    )
