-- Runs once, when the postgres volume is first initialised (psql, as the cluster's superuser,
-- connected to Airflow's database): MLflow gets its own role, which owns MLflow's tracking and
-- model-registry database and the database of its basic-auth app, and nothing of Airflow's.
-- The role's password comes from MLFLOW_DB_PASSWORD in the postgres service's environment
-- (.env); psql's \getenv reads it and :'...' quotes it as a literal.
\getenv mlflow_password MLFLOW_DB_PASSWORD
\if :{?mlflow_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'create-mlflow-db.sql: MLFLOW_DB_PASSWORD is not set in the postgres service'; END $$;
\endif

CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;

-- Databases are open to every role by default (CONNECT, TEMPORARY): close them, so `mlflow`
-- reaches its own two only (Airflow's role is the cluster's superuser and needs no grant).
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow_auth FROM PUBLIC;
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
