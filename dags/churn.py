"""The `churn` pipeline's Airflow DAGs, built from `dags/specs/churn.yaml`.

Daily churn risk per subscriber (binary classification): `churn_features`, `churn_train`,
`churn_score`, `churn_drift` and `churn_rollback`.
"""

from conveyor_factory import build_pipeline_dags

globals().update(build_pipeline_dags("churn"))
