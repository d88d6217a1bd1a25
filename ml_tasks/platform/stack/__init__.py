"""The embedded stack: MLflow and Airflow's components as local processes, and the supervisor."""
