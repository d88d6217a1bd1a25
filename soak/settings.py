"""A soak run's home and specs: a fresh home on free ports, the shipped specs with a lighter budget."""

from __future__ import annotations

from pathlib import Path

from ml_tasks.core.settings import ConveyorSettings, load_settings
from ml_tasks.platform.stack import environment
from soak.plan import PIPELINES

# Operation, not accuracy, is under test: the shipped specs with a lighter training budget (one
# backtest fold, at most 4 epochs) so that a night's training costs about half as long
SOAK_TRAINING = {"backtest_folds": 1, "max_epochs": 4, "tuning_trials": 3, "tuning_minutes": 1.0}


def soak_settings(home: Path) -> ConveyorSettings:
    """A fresh home on free ports (beside a running `make up`) with its own copy of the shipped specs
    (:data:`SOAK_TRAINING`); a failed task's retry waits 10 s instead of a minute, as the days are compressed."""
    shipped = load_settings().specs_dir
    return load_settings(
        home=home,
        airflow_port=environment.free_port(),
        mlflow_port=environment.free_port(),
        task_retry_delay_seconds=10,
        specs_dir=soak_specs(shipped, home / "specs"),
    )


def soak_specs(shipped: Path, target: Path) -> Path:
    """Every spec of ``shipped`` copied into ``target``, the soak's pipelines with :data:`SOAK_TRAINING`."""
    import yaml

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(shipped.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if path.stem in PIPELINES:
            training = data.setdefault("training", {})
            training["backtest_folds"] = min(training.get("backtest_folds", 2), SOAK_TRAINING["backtest_folds"])
            lightning = training.setdefault("lightning", {})
            lightning["max_epochs"] = min(lightning.get("max_epochs", 10), SOAK_TRAINING["max_epochs"])
            tuning = training.setdefault("tuning", {})
            tuning["trials"] = min(tuning.get("trials", 0), SOAK_TRAINING["tuning_trials"])
            tuning["minutes"] = min(tuning.get("minutes", 5.0), SOAK_TRAINING["tuning_minutes"])
        (target / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    return target
