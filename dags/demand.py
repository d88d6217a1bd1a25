"""The `demand` pipeline's Airflow DAGs, built from `dags/specs/demand.yaml`.

Hourly product demand per store and item: `demand_features`, `demand_train`, `demand_score`
and `demand_drift`. See each DAG's own page for what its tasks do.
"""

from conveyor_factory import build_pipeline_dags

globals().update(build_pipeline_dags("demand"))
