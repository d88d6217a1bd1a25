-- Runs once, when the postgres volume is first initialised: the MLflow tracking store and
-- model registry live in their own database next to Airflow's metadata database.
CREATE DATABASE mlflow;
