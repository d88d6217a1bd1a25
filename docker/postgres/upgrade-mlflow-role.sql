-- For a postgres volume initialised before MLflow had its own role (create-mlflow-db.sql runs on a
-- fresh volume only): creates the role `mlflow` with the password MLFLOW_DB_PASSWORD from the
-- postgres service's environment, hands it the existing `mlflow` database and everything MLflow
-- created there as the Airflow role, and creates `mlflow_auth`. Safe to re-run. Run it once,
-- with only postgres started, from the repository root:
--
--   docker compose up -d postgres
--   docker compose exec -T postgres sh -c 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d airflow' \
--     < docker/postgres/upgrade-mlflow-role.sql
\getenv mlflow_password MLFLOW_DB_PASSWORD
\if :{?mlflow_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'upgrade-mlflow-role.sql: MLFLOW_DB_PASSWORD is not set in the postgres service'; END $$;
\endif

SELECT 'CREATE ROLE mlflow LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mlflow') \gexec
ALTER ROLE mlflow LOGIN PASSWORD :'mlflow_password';
SELECT 'CREATE DATABASE mlflow OWNER mlflow' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'mlflow') \gexec
SELECT 'CREATE DATABASE mlflow_auth OWNER mlflow' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'mlflow_auth') \gexec
ALTER DATABASE mlflow OWNER TO mlflow;
ALTER DATABASE mlflow_auth OWNER TO mlflow;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow_auth FROM PUBLIC;
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;

-- REASSIGN OWNED cannot take objects from the cluster's bootstrap superuser (the Airflow role
-- here), so MLflow's tables, views, sequences and types move one by one.
\connect mlflow
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS obj, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
             -- a sequence owned by a column moves with its table
             AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO mlflow',
                   CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                   r.obj);
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS typ FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
  LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO mlflow', r.typ);
  END LOOP;
END $$;
