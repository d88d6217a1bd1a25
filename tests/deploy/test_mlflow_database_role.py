"""docker/postgres/*.sql, run as the postgres image runs them, on throwaway clusters.

The image's entrypoint runs /docker-entrypoint-initdb.d/*.sql with `psql -v ON_ERROR_STOP=1` as
the superuser, connected to POSTGRES_DB, on the first start. Here the same psql runs the script
against a local PostgreSQL 15 (the version docker-compose.yaml runs; installed when missing),
with password authentication on TCP, so the `mlflow` role's password is really checked.
upgrade-mlflow-role.sql, for a volume from before the role, runs against a cluster laid out as
the old create-mlflow-db.sql left it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from ml_tasks.platform.stack.environment import free_port

SCRIPTS = Path(__file__).resolve().parents[2] / "docker" / "postgres"
SCRIPT = SCRIPTS / "create-mlflow-db.sql"
UPGRADE = SCRIPTS / "upgrade-mlflow-role.sql"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "pass'word%with 20 chars"  # quotes and % survive psql's :'var' quoting  # pragma: allowlist secret


@pytest.fixture(autouse=True, scope="module")
def postgres_installed():
    """PostgreSQL 15 from Debian's packages, installed when missing (as the distributed-mode tests do)."""
    from soak.services import ensure_installed

    ensure_installed()


RUNUSER = shutil.which("runuser", path="/usr/sbin:/usr/bin:/sbin:/bin") or "runuser"


def as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: its tools run as the `postgres` user then."""
    return [RUNUSER, "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def new_cluster(script: Path):
    data = Path(tempfile.mkdtemp(prefix="conveyor-pg-role-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    run = lambda cmd, **kw: subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)  # noqa: E731
    try:
        init = run(
            as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data / "db"),
                    "-U",
                    "airflow",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                ]
            )
        )
        assert init.returncode == 0, init.stderr
        start = run(
            as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(data / "db"),
                    "-l",
                    str(data / "log"),
                    "-w",
                    "-o",
                    f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data}",
                    "start",
                ]
            )
        )
        assert start.returncode == 0, start.stderr
        created = run(
            as_postgres(
                [
                    "psql",
                    "-h",
                    str(data),
                    "-p",
                    str(port),
                    "-U",
                    "airflow",
                    "-d",
                    "postgres",
                    "-c",
                    "CREATE DATABASE airflow",
                ]
            )
        )
        assert created.returncode == 0, created.stderr
        copy = data / script.name
        shutil.copy(script, copy)
        copy.chmod(0o644)
        yield data, port, copy
    finally:
        run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"]))
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    with new_cluster(SCRIPT) as made:
        yield made


def init_script(cluster, env: dict[str, str]) -> subprocess.CompletedProcess:
    data, port, script = cluster
    cmd = [
        "psql",
        "-v",
        "ON_ERROR_STOP=1",
        "--no-psqlrc",
        "-h",
        str(data),
        "-p",
        str(port),
        "-U",
        "airflow",
        "-d",
        "airflow",
        "-f",
        str(script),
    ]
    full_env = {"PATH": "/usr/bin:/bin", **env}
    if os.geteuid() == 0:
        cmd = [RUNUSER, "-u", "postgres", "--preserve-environment", "--", *cmd]
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=60)


def as_mlflow(cluster, database: str, password: str) -> subprocess.CompletedProcess:
    _, port, _ = cluster
    return subprocess.run(
        [
            "psql",
            "--no-psqlrc",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "mlflow",
            "-d",
            database,
            "-Atc",
            "select current_user, current_database()",
        ],
        env={"PATH": "/usr/bin:/bin", "PGPASSWORD": password},  # pragma: allowlist secret
        capture_output=True,
        text=True,
        timeout=30,
    )


def as_superuser(cluster, sql: str) -> str:
    data, port, _ = cluster
    out = subprocess.run(
        as_postgres(
            ["psql", "--no-psqlrc", "-h", str(data), "-p", str(port), "-U", "airflow", "-d", "airflow", "-Atc", sql]
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_without_the_password_the_script_fails_and_creates_nothing(cluster):
    out = init_script(cluster, {})
    assert out.returncode != 0 and "MLFLOW_DB_PASSWORD is not set" in out.stderr
    assert as_superuser(cluster, "select count(*) from pg_roles where rolname = 'mlflow'") == "0"
    assert as_superuser(cluster, "select count(*) from pg_database where datname like 'mlflow%'") == "0"


def test_mlflow_role_owns_its_databases_and_reaches_only_them(cluster):
    out = init_script(cluster, {"MLFLOW_DB_PASSWORD": PASSWORD})  # pragma: allowlist secret
    assert out.returncode == 0, out.stderr
    assert as_superuser(
        cluster,
        "select datname || ':' || pg_get_userbyid(datdba) from pg_database where datname like 'mlflow%' order by 1",
    ).split() == ["mlflow:mlflow", "mlflow_auth:mlflow"]
    assert (
        as_superuser(cluster, "select rolsuper or rolcreatedb or rolcreaterole from pg_roles where rolname = 'mlflow'")
        == "f"
    )
    for database in ("mlflow", "mlflow_auth"):
        signed_in = as_mlflow(cluster, database, PASSWORD)
        assert signed_in.stdout.strip() == f"mlflow|{database}", signed_in.stderr
    assert "password authentication failed" in as_mlflow(cluster, "mlflow", "wrong").stderr
    # Airflow's database is closed to it (the script revokes PUBLIC's CONNECT there too).
    assert "permission denied for database" in as_mlflow(cluster, "airflow", PASSWORD).stderr


def test_upgrade_hands_an_existing_mlflow_database_to_the_role():
    with new_cluster(UPGRADE) as old:
        # as the previous create-mlflow-db.sql left it: MLflow's tables created by the Airflow role
        as_superuser(old, "CREATE DATABASE mlflow")
        data, port, _ = old
        made = subprocess.run(
            as_postgres(
                [
                    "psql",
                    "--no-psqlrc",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    str(data),
                    "-p",
                    str(port),
                    "-U",
                    "airflow",
                    "-d",
                    "mlflow",
                    "-c",
                    "CREATE TYPE status AS ENUM ('RUNNING', 'FINISHED');"
                    "CREATE TABLE runs (id serial PRIMARY KEY, status status);"
                    "CREATE VIEW finished AS SELECT * FROM runs WHERE status = 'FINISHED'",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert made.returncode == 0, made.stderr
        for _ in range(2):  # safe to re-run
            out = init_script(old, {"MLFLOW_DB_PASSWORD": PASSWORD})  # pragma: allowlist secret
            assert out.returncode == 0, out.stderr
        owners = subprocess.run(
            as_postgres(
                [
                    "psql",
                    "--no-psqlrc",
                    "-h",
                    str(data),
                    "-p",
                    str(port),
                    "-U",
                    "airflow",
                    "-d",
                    "mlflow",
                    "-Atc",
                    "SELECT (SELECT tableowner FROM pg_tables WHERE tablename = 'runs'),"
                    " (SELECT viewowner FROM pg_views WHERE viewname = 'finished'),"
                    " (SELECT sequenceowner FROM pg_sequences WHERE sequencename = 'runs_id_seq'),"
                    " (SELECT typowner::regrole FROM pg_type WHERE typname = 'status')",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert owners.stdout.strip() == "mlflow|mlflow|mlflow|mlflow", owners.stderr
        for database in ("mlflow", "mlflow_auth"):
            assert as_mlflow(old, database, PASSWORD).stdout.strip() == f"mlflow|{database}"
        assert "permission denied for database" in as_mlflow(old, "airflow", PASSWORD).stderr
