"""The embedded stack: MLflow server and Airflow's components as local processes.

`conveyor up` starts them (each in its own process group, PIDs under ``<home>/run/``, logs
under ``<home>/logs/``), `conveyor down` stops exactly those process groups, and
`conveyor status` reports them. Everything binds to loopback. Secrets (the Airflow password,
the JWT and API secrets) are generated on first start and kept under ``<home>``, never in git.

With ``CONVEYOR_CELERY_BROKER_URL`` set, the same launcher runs Airflow's CeleryExecutor: the
metadata database is ``CONVEYOR_AIRFLOW_DB_URI`` (PostgreSQL), and one Celery worker serves each
queue in ``CONVEYOR_CELERY_QUEUES`` (``default`` and ``gpu``). This is how the distributed mode
is exercised on one machine; docker-compose.yaml runs the same processes in containers.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ml_tasks.core.files import create_atomic
from ml_tasks.core.polling import WaitTimeout, wait_until
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.airflow_client import unhealthy_components
from ml_tasks.platform.task_slots import LOCAL_PARALLELISM, task_threads, worker_concurrency

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
    text = _secret(settings.airflow_home / "passwords.json",
                   lambda: json.dumps({settings.airflow_user: secrets.token_urlsafe(12)}))
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
    env.update({
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
    })
    if settings.airflow_db_uri.startswith("sqlite"):
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "ml_tasks.platform.stack.SQLITE_CONNECT_ARGS"
    if settings.s3_endpoint_url:  # the lake (s3fs) and the MLflow server's artifact store (boto3)
        env.update({"CONVEYOR_S3_ENDPOINT_URL": settings.s3_endpoint_url,
                    "MLFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url})
    if settings.failpoints_dir:
        env["CONVEYOR_FAILPOINTS_DIR"] = settings.failpoints_dir
    if settings.executor == "CeleryExecutor":
        env.update({
            "AIRFLOW__CELERY__BROKER_URL": settings.celery_broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": settings.celery_result_backend,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "ml_tasks.platform.stack.worker_hostname",
        })
    return env


def services(settings: ConveyorSettings) -> list[Service]:
    workers = [
        # a Celery task is a fork of a pool process, itself a fork of the worker: it imports their libraries once
        Service(f"worker-{queue}", [
            sys.executable, "-m", "conveyor_scheduler.preloaded", "celery", "worker", "--queues", queue,
            "--concurrency", str(worker_concurrency(queue)), "--celery-hostname", f"{queue}@%h",
            # one log server per host is enough, and the api-server reads the shared log folder
            "--skip-serve-logs",
        ], env={"CONVEYOR_WORKER_NAME": queue})
        for queue in settings.worker_queues
    ] if settings.executor == "CeleryExecutor" else []
    return [
        Service("mlflow", [
            venv_executable("mlflow"), "server", "--backend-store-uri", settings.mlflow_backend_store_uri,
            "--artifacts-destination", settings.mlflow_artifacts_dir, "--serve-artifacts",
            "--host", settings.mlflow_host, "--port", str(settings.mlflow_port), "--workers", "1",
        ]),
        Service("api-server", [venv_executable("airflow"), "api-server"]),
        # LocalExecutor tasks are forks of the scheduler: it imports their libraries once for all
        Service("scheduler", [sys.executable, "-m", "conveyor_scheduler.preloaded"]
                if settings.executor == "LocalExecutor" else [venv_executable("airflow"), "scheduler"]),
        Service("dag-processor", [venv_executable("airflow"), "dag-processor"]),
        Service("triggerer", [venv_executable("airflow"), "triggerer"]),
        *workers,
        Service(SUPERVISOR, [sys.executable, "-m", "ml_tasks.platform.supervisor", str(supervised_settings(settings))]),
    ]


def supervised_settings(settings: ConveyorSettings) -> Path:
    """Where `up` leaves the settings the supervisor restarts services with (owner-only: it names secrets)."""
    return settings.home / "run" / "supervised-settings.json"


@contextmanager
def stack_lock(settings: ConveyorSettings):
    """One starter at a time: `up` and the supervisor never both start the same dead service."""
    import fcntl

    path = settings.home / "run" / "stack.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pid_file(settings: ConveyorSettings, name: str) -> Path:
    return settings.home / "run" / f"{name}.pid"


def running(settings: ConveyorSettings) -> dict[str, int | None]:
    """Service name -> PID when its process group is alive, else None."""
    out: dict[str, int | None] = {}
    for name in service_names(settings):
        path = pid_file(settings, name)
        pid = int(path.read_text()) if path.exists() else None
        out[name] = pid if pid is not None and group_alive(pid) else None
    return out


def group_alive(pgid: int) -> bool:
    """Whether a process group still has a live member (zombies, killed but not yet reaped, don't count)."""
    import psutil

    try:
        os.waitpid(pgid, os.WNOHANG)  # reap the leader if it is our own child (tests start the stack in-process)
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def start_service(service: Service, settings: ConveyorSettings, env: dict[str, str]) -> int:
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{service.name}.log", "ab") as log:
        proc = subprocess.Popen(service.command, env={**env, **service.env}, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=settings.home)
    path = pid_file(settings, service.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(proc.pid))
    return proc.pid


def _log_tail(settings: ConveyorSettings, name: str, chars: int = 3000) -> str:
    log = settings.home / "logs" / f"{name}.log"
    return f"last lines of {log}:\n" + (log.read_text()[-chars:] if log.exists() else "(no log)")


def _wait_http(url: str, what: str, settings: ConveyorSettings, log_name: str, timeout: float = 180) -> None:
    try:
        wait_until(lambda: requests.get(url, timeout=5).status_code == 200, timeout, f"{what} at {url}", every=1.5,
                   transient=(requests.RequestException,),
                   give_up=lambda: None if running(settings).get(log_name) is not None else "its process exited")
    except WaitTimeout as exc:
        raise StackError(f"{exc}; {_log_tail(settings, log_name)}") from None


def migrate_airflow_db(settings: ConveyorSettings, env: dict[str, str] | None = None) -> None:
    env = env or stack_env(settings)
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([venv_executable("airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def ensure_registry_pool(env: dict[str, str]) -> None:
    """The one-slot pool the promote task uses outside embedded mode (see dags routing)."""
    from conveyor_factory.routing import REGISTRY_POOL

    result = subprocess.run([venv_executable("airflow"), "pools", "set", REGISTRY_POOL, "1",
                             "registry alias moves, one at a time"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"could not create pool {REGISTRY_POOL}:\n{result.stderr[-2000:]}")


def up(settings: ConveyorSettings, say=print) -> None:
    """Start every service that is not already running and wait until they answer."""
    for directory in (settings.home / "mlflow" / "artifacts", settings.home / "logs", settings.airflow_home):
        directory.mkdir(parents=True, exist_ok=True)
    env = stack_env(settings)
    state = running(settings)
    if all(state.values()):
        say("the embedded stack is already running")
        return
    _check_ports_free(settings, state)
    say(f"migrating the Airflow metadata database ({settings.airflow_db_uri.split(':', 1)[0]})")
    migrate_airflow_db(settings, env)
    if settings.mode != "embedded":
        ensure_registry_pool(env)
    path = supervised_settings(settings)
    path.unlink(missing_ok=True)
    create_atomic(path, settings.model_dump_json(), 0o600)
    with stack_lock(settings):
        state = running(settings)  # the supervisor may have restarted something meanwhile
        for service in services(settings):
            if state.get(service.name) is None:
                pid = start_service(service, settings, env)
                say(f"started {service.name:<14} pid {pid}")
    _wait_http(f"{settings.mlflow_url}/health", "MLflow", settings, "mlflow")
    _wait_http(f"{settings.airflow_url}/api/v2/monitor/health", "Airflow api-server", settings, "api-server")
    wait_components_healthy(settings)


# the api-server's health keys of the services that heartbeat: the embedded scheduler imports the
# tasks' libraries before its first heartbeat, so "answers HTTP" is not yet "schedules"
HEARTBEATING = {"scheduler": "scheduler", "dag_processor": "dag-processor", "triggerer": "triggerer"}


def wait_components_healthy(settings: ConveyorSettings, timeout: float = 180) -> None:
    pending = [key for key, name in HEARTBEATING.items() if name in service_names(settings)]
    url, expected = f"{settings.airflow_url}/api/v2/monitor/health", list(pending)

    def healthy() -> bool:
        pending[:] = unhealthy_components(requests.get(url, timeout=5).json(), expected)
        return not pending

    def exited() -> str | None:
        gone = [HEARTBEATING[c] for c in pending if running(settings).get(HEARTBEATING[c]) is None]
        return f"{', '.join(gone)} exited" if gone else None

    try:
        wait_until(healthy, timeout, lambda: f"Airflow's {', '.join(pending)} to report healthy", every=1.5,
                   transient=(requests.RequestException, ValueError), give_up=exited)
    except WaitTimeout as exc:
        tails = "\n".join(_log_tail(settings, HEARTBEATING[c], 2000) for c in pending)
        raise StackError(f"{exc}; {tails}") from None


def _check_ports_free(settings: ConveyorSettings, state: dict) -> None:
    import socket

    for name, host, port in (("mlflow", settings.mlflow_host, settings.mlflow_port),
                             ("api-server", settings.airflow_host, settings.airflow_port)):
        if state.get(name) is not None:
            continue
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                raise StackError(
                    f"port {host}:{port} for {name} is taken by another program; stop it or set "
                    f"CONVEYOR_{'MLFLOW' if name == 'mlflow' else 'AIRFLOW'}_PORT to a free port")


def down(settings: ConveyorSettings, say=print, grace: float = 20.0) -> list[str]:
    """Stop the process groups `up` started (SIGTERM, then SIGKILL after ``grace`` seconds).

    The supervisor goes first and alone (it would start again what is being stopped); then the
    services, sharing one grace period.
    """
    stopped = _stop(settings, [SUPERVISOR], grace, say)
    with stack_lock(settings):
        stopped += _stop(settings, [n for n in reversed(service_names(settings)) if n != SUPERVISOR], grace, say)
    if not stopped:
        say("nothing was running")
    return stopped


def _stop(settings: ConveyorSettings, names: list[str], grace: float, say) -> list[str]:
    stopped = []
    state = running(settings)
    for name in names:
        pid = state.get(name)
        if pid is None:
            pid_file(settings, name).unlink(missing_ok=True)
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        stopped.append(name)
    deadline = time.monotonic() + grace
    for name in stopped:
        pid = state[name]
        try:  # the group shares one grace period; then SIGKILL
            wait_until(lambda: not group_alive(pid), max(deadline - time.monotonic(), 0.0), f"{name} to stop",
                       every=0.3)
        except WaitTimeout:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pid_file(settings, name).unlink(missing_ok=True)
        say(f"stopped {name} (pid {pid})")
    return stopped
