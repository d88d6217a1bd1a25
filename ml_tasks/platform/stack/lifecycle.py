"""The embedded stack's lifecycle: `conveyor up`, `conveyor down` and `conveyor status`.

`up` starts each service of :mod:`ml_tasks.platform.stack.environment` in its own process group
(PIDs under ``<home>/run/``, logs under ``<home>/logs/``), `down` stops exactly those process
groups, and :func:`running` reports them. Everything binds to loopback. This is also how the
distributed mode is exercised on one machine; docker-compose.yaml runs the same processes in
containers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from ml_tasks.core.files import create_atomic
from ml_tasks.core.polling import WaitTimeout, wait_until
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.airflow_api.client import unhealthy_components
from ml_tasks.platform.stack.environment import (
    SUPERVISOR,
    Service,
    StackError,
    service_names,
    services,
    stack_env,
    supervised_settings,
    venv_executable,
)


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
        proc = subprocess.Popen(
            service.command,
            env={**env, **service.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=settings.home,
        )
    path = pid_file(settings, service.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(proc.pid))
    return proc.pid


def _log_tail(settings: ConveyorSettings, name: str, chars: int = 3000) -> str:
    log = settings.home / "logs" / f"{name}.log"
    return f"last lines of {log}:\n" + (log.read_text()[-chars:] if log.exists() else "(no log)")


def _wait_http(url: str, what: str, settings: ConveyorSettings, log_name: str, timeout: float = 180) -> None:
    try:
        wait_until(
            lambda: requests.get(url, timeout=5).status_code == 200,
            timeout,
            f"{what} at {url}",
            every=1.5,
            transient=(requests.RequestException,),
            give_up=lambda: None if running(settings).get(log_name) is not None else "its process exited",
        )
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

    result = subprocess.run(
        [venv_executable("airflow"), "pools", "set", REGISTRY_POOL, "1", "registry alias moves, one at a time"],
        env=env,
        capture_output=True,
        text=True,
    )
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
        wait_until(
            healthy,
            timeout,
            lambda: f"Airflow's {', '.join(pending)} to report healthy",
            every=1.5,
            transient=(requests.RequestException, ValueError),
            give_up=exited,
        )
    except WaitTimeout as exc:
        tails = "\n".join(_log_tail(settings, HEARTBEATING[c], 2000) for c in pending)
        raise StackError(f"{exc}; {tails}") from None


def _check_ports_free(settings: ConveyorSettings, state: dict) -> None:
    import socket

    for name, host, port in (
        ("mlflow", settings.mlflow_host, settings.mlflow_port),
        ("api-server", settings.airflow_host, settings.airflow_port),
    ):
        if state.get(name) is not None:
            continue
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                raise StackError(
                    f"port {host}:{port} for {name} is taken by another program; stop it or set "
                    f"CONVEYOR_{'MLFLOW' if name == 'mlflow' else 'AIRFLOW'}_PORT to a free port"
                )


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
            wait_until(
                lambda pid=pid: not group_alive(pid),
                max(deadline - time.monotonic(), 0.0),
                f"{name} to stop",
                every=0.3,
            )
        except WaitTimeout:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pid_file(settings, name).unlink(missing_ok=True)
        say(f"stopped {name} (pid {pid})")
    return stopped
