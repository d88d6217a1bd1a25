"""What the embedded stack runs: its services, their commands and the environment they share.

Every stack process gets :func:`stack_env`: Airflow's configuration plus Conveyor's settings. The
secrets (the Airflow password, the JWT and API secrets) are generated on first use and kept under
``<home>``, never in git. With ``CONVEYOR_CELERY_BROKER_URL`` set, the stack runs Airflow's
CeleryExecutor: the metadata database is ``CONVEYOR_AIRFLOW_DB_URI`` (PostgreSQL), and one Celery
worker serves each queue in ``CONVEYOR_CELERY_QUEUES`` (``default`` and ``gpu``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ml_tasks.core.files import create_atomic
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.stack.task_slots import LOCAL_PARALLELISM, task_threads, worker_concurrency

SERVICES = ("mlflow", "api-server", "scheduler", "dag-processor", "triggerer")
SUPERVISOR = "supervisor"  # started last, so `down` stops it first (it must not restart what down stops)


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)


def service_names(settings: ConveyorSettings) -> tuple[str, ...]:
    workers = tuple(f"worker-{q}" for q in settings.worker_queues) if settings.executor == "CeleryExecutor" else ()
    return SERVICES + workers + (SUPERVISOR,)


def worker_hostname() -> str:
    """Airflow's ``hostname_callable`` for Celery workers: the host, plus the worker's name.

    Several workers on one host (the loopback test, a GPU box that also serves ``default``)
    would otherwise share one hostname in Airflow's task records; logs are read from the shared
    log folder, so the name does not need to resolve.
    """
    import socket

    from ml_tasks.core.settings import load_settings

    name = load_settings().worker_name
    host = socket.getfqdn()
    return f"{host}-{name}" if name else host


class StackError(RuntimeError):
    pass


def free_port() -> int:
    """A loopback port nothing listens on now (for a second stack beside `make up`)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_executable(name: str) -> str:
    """An executable of this virtualenv (the stack must not pick up another install)."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def _secret(path: Path, make) -> str:
    """The file's text; created first (owner-only, whole or not at all) when missing or empty (an empty
    one, left by a crash before writes were atomic, is no secret)."""
    if not path.exists() or not path.read_text().strip():
        path.unlink(missing_ok=True)
        create_atomic(path, make(), 0o600)
    return path.read_text().strip()


def airflow_password(settings: ConveyorSettings) -> str:
    """The generated password of the embedded admin user (created on first use)."""
    text = _secret(
        settings.airflow_home / "passwords.json", lambda: json.dumps({settings.airflow_user: secrets.token_urlsafe(12)})
    )
    return json.loads(text)[settings.airflow_user]


# How long SQLite waits for a lock before "database is locked": the scheduler, the API server and
# a CLI command (`conveyor airflow backfill create`) write the same file, and pysqlite's default of
# 5 s ran out once on 2 busy cores. Airflow imports this dict (sql_alchemy_connect_args).
SQLITE_CONNECT_ARGS = {"timeout": 60}


def stack_env(settings: ConveyorSettings) -> dict[str, str]:
    """Environment for every stack process: Airflow's config plus Conveyor's own settings."""
    home = settings.airflow_home
    airflow_password(settings)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": settings.executor,
            "AIRFLOW__CORE__PARALLELISM": str(LOCAL_PARALLELISM),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.airflow_user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.airflow_db_uri,
            "AIRFLOW__API__HOST": settings.airflow_host,
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__BASE_URL": settings.airflow_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": _secret(home / "api_secret", lambda: secrets.token_hex(32)),
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home / "jwt_secret", lambda: secrets.token_hex(32)),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # A scheduler the supervisor restarts at once finds its dead predecessor's heartbeat still
            # fresh; it looks again for the orphaned tasks every minute (Airflow's default: 5 minutes).
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "60",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.home / "logs" / "airflow"),
            "CONVEYOR_HOME": str(settings.home),
            "CONVEYOR_LAKE_URI": settings.lake_uri,
            "CONVEYOR_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "CONVEYOR_SPECS_DIR": str(settings.specs_dir),
            "CONVEYOR_EXPECTATIONS_DIR": str(settings.expectations_dir),
            "CONVEYOR_ALERT_WEBHOOK_URL": settings.alert_webhook_url,
            "CONVEYOR_TASK_RETRY_DELAY_SECONDS": str(settings.task_retry_delay_seconds),
            "CONVEYOR_TASK_THREADS": str(task_threads(settings)),
            # Links a task writes (MLflow pages, the Conveyor view) name the servers as people reach them.
            "CONVEYOR_MLFLOW_HOST": settings.mlflow_host,
            "CONVEYOR_MLFLOW_PORT": str(settings.mlflow_port),
            "CONVEYOR_AIRFLOW_HOST": settings.airflow_host,
            "CONVEYOR_AIRFLOW_PORT": str(settings.airflow_port),
            "CONVEYOR_MLFLOW_PUBLIC_URL": settings.mlflow_public_url,
            "CONVEYOR_AIRFLOW_PUBLIC_URL": settings.airflow_public_url,
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
            "CONVEYOR_SPARK_MASTER": settings.spark_master,
            "CONVEYOR_MODE": settings.mode,
            "CONVEYOR_SPARK_S3A": str(settings.spark_s3a).lower(),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "GX_ANALYTICS_ENABLED": "false",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            # MLflow's usage telemetry calls out to the network and, from a thread, writes os.environ
            # while requests reads it (a KeyError seen once in a task); nothing here needs it.
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    if settings.airflow_db_uri.startswith("sqlite"):
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "ml_tasks.platform.stack.environment.SQLITE_CONNECT_ARGS"
    if settings.s3_endpoint_url:  # the lake (s3fs) and the MLflow server's artifact store (boto3)
        env.update(
            {"CONVEYOR_S3_ENDPOINT_URL": settings.s3_endpoint_url, "MLFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url}
        )
    if settings.failpoints_dir:
        env["CONVEYOR_FAILPOINTS_DIR"] = settings.failpoints_dir
    if settings.executor == "CeleryExecutor":
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": settings.celery_broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": settings.celery_result_backend,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "ml_tasks.platform.stack.environment.worker_hostname",
            }
        )
    return env


def services(settings: ConveyorSettings) -> list[Service]:
    workers = (
        [
            # a Celery task is a fork of a pool process, itself a fork of the worker: it imports their libraries once
            Service(
                f"worker-{queue}",
                [
                    sys.executable,
                    "-m",
                    "conveyor_scheduler.preloaded",
                    "celery",
                    "worker",
                    "--queues",
                    queue,
                    "--concurrency",
                    str(worker_concurrency(queue)),
                    "--celery-hostname",
                    f"{queue}@%h",
                    # one log server per host is enough, and the api-server reads the shared log folder
                    "--skip-serve-logs",
                ],
                env={"CONVEYOR_WORKER_NAME": queue},
            )
            for queue in settings.worker_queues
        ]
        if settings.executor == "CeleryExecutor"
        else []
    )
    return [
        Service(
            "mlflow",
            [
                venv_executable("mlflow"),
                "server",
                "--backend-store-uri",
                settings.mlflow_backend_store_uri,
                "--artifacts-destination",
                settings.mlflow_artifacts_dir,
                "--serve-artifacts",
                "--host",
                settings.mlflow_host,
                "--port",
                str(settings.mlflow_port),
                "--workers",
                "1",
            ],
        ),
        Service("api-server", [venv_executable("airflow"), "api-server"]),
        # LocalExecutor tasks are forks of the scheduler: it imports their libraries once for all
        Service(
            "scheduler",
            [sys.executable, "-m", "conveyor_scheduler.preloaded"]
            if settings.executor == "LocalExecutor"
            else [venv_executable("airflow"), "scheduler"],
        ),
        Service("dag-processor", [venv_executable("airflow"), "dag-processor"]),
        Service("triggerer", [venv_executable("airflow"), "triggerer"]),
        *workers,
        Service(
            SUPERVISOR, [sys.executable, "-m", "ml_tasks.platform.stack.supervisor", str(supervised_settings(settings))]
        ),
    ]


def supervised_settings(settings: ConveyorSettings) -> Path:
    """Where `up` leaves the settings the supervisor restarts services with (owner-only: it names secrets)."""
    return settings.home / "run" / "supervised-settings.json"
