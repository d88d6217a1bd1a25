"""The DAG factory: turns a pipeline spec (dags/specs/<name>.yaml) into its Airflow DAGs.

DAG files stay three lines long; everything here is wiring. Task bodies import the heavy
libraries (Spark, MLflow, Great Expectations, Evidently, LightGBM) only when they run.
"""

from __future__ import annotations

from datetime import timedelta

from conveyor_factory.drift_dag import build_drift_dag
from conveyor_factory.features_dag import build_features_dag
from conveyor_factory.relanded_dag import build_relanded_dag
from conveyor_factory.rollback_dag import build_rollback_dag
from conveyor_factory.score_dag import build_score_dag
from conveyor_factory.train_dag import build_train_dag


def build_pipeline_dags(pipeline: str) -> dict:
    """All DAGs of one pipeline, keyed by dag_id, ready for ``globals().update(...)``."""
    from ml_tasks.core.settings import load_settings
    from ml_tasks.core.spec import load_spec

    settings = load_settings()
    spec = load_spec(pipeline, settings.specs_dir)
    default_args = {
        "owner": spec.owner,
        "retries": 1,
        "retry_delay": timedelta(seconds=settings.task_retry_delay_seconds),
    }
    dags = [
        build_features_dag(spec, default_args),
        build_train_dag(spec, default_args, settings.mode),
        build_score_dag(spec, default_args),
        build_drift_dag(spec, default_args),
        build_rollback_dag(spec, default_args, settings.mode),
        build_relanded_dag(spec, default_args),
    ]
    return {d.dag_id: d for d in dags}
