"""MLflow behind its basic-auth app, as both deployments run it, on loopback.

helm/conveyor/files/mlflow_auth.py is what docker-compose.yaml's `mlflow` and `mlflow-init`
services and the chart's MLflow Deployment and users hook job run: `exec-with-config` writes the
auth app's config and becomes `mlflow server --app-name basic-auth`, `users` creates the clients'
users. Here both run for real against a local server (SQLite stores in a temporary folder): an
anonymous request is refused, each client works with its own credentials and only within its
permissions, and re-running `users` rotates a password.
"""

from __future__ import annotations

import configparser
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ml_tasks.platform.stack.environment import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "helm" / "conveyor" / "files" / "mlflow_auth.py"
ADMIN = ("admin", "admin-password-for-the-test")  # pragma: allowlist secret
WORKER = ("conveyor-worker", "worker-password-for-the-test")  # pragma: allowlist secret
VIEW = ("conveyor-view", "view-password-for-the-test")  # pragma: allowlist secret


def users_env(base: str, worker_password: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "MLFLOW_TRACKING_URI": base,
        "MLFLOW_TRACKING_USERNAME": ADMIN[0],
        "MLFLOW_TRACKING_PASSWORD": ADMIN[1],  # pragma: allowlist secret
        "CONVEYOR_MLFLOW_CLIENTS": "worker,view",
        "CONVEYOR_MLFLOW_WORKER_USERNAME": WORKER[0],
        "CONVEYOR_MLFLOW_WORKER_PASSWORD": worker_password,
        "CONVEYOR_MLFLOW_VIEW_USERNAME": VIEW[0],
        "CONVEYOR_MLFLOW_VIEW_PASSWORD": VIEW[1],
        "CONVEYOR_MLFLOW_WAIT_SECONDS": "30",
    }


def run_users(base: str, worker_password: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "users"],
        env=users_env(base, worker_password),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-auth")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = folder / "config" / "basic_auth.ini"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_DATABASE_URI": f"sqlite:///{folder / 'auth.db'}",
        "MLFLOW_AUTH_DEFAULT_PERMISSION": "READ",
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],  # pragma: allowlist secret
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-secret-for-the-test",  # pragma: allowlist secret
    }
    mlflow = str(Path(sys.executable).parent / "mlflow")
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "exec-with-config",
            "--",
            mlflow,
            "server",
            "--app-name",
            "basic-auth",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 50
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, config
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def client(monkeypatch, base: str, user: tuple[str, str]):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
    return MlflowClient(base)


def test_config_file_is_private_and_names_the_auth_database(server):
    _, config = server
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    parser = configparser.ConfigParser()
    parser.read(config)
    assert parser["mlflow"]["default_permission"] == "READ"
    assert parser["mlflow"]["database_uri"].startswith("sqlite:///")
    assert "admin_password" not in parser["mlflow"]  # MLflow reads it from the environment


def test_anonymous_requests_are_refused_but_health_is_open(server):
    base, _ = server
    assert (
        requests.get(f"{base}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, timeout=10).status_code
        == 401
    )
    assert requests.get(f"{base}/api/2.0/mlflow/registered-models/search", timeout=10).status_code == 401
    assert requests.get(f"{base}/health", timeout=10).status_code == 200


def test_each_client_signs_in_as_its_own_user_within_its_permissions(server, monkeypatch):
    from mlflow.exceptions import MlflowException

    base, _ = server
    created = run_users(base, WORKER[1])
    assert created.returncode == 0, created.stderr
    assert created.stdout.split().count("created") == 2

    worker = client(monkeypatch, base, WORKER)
    experiment = worker.create_experiment("demand_training")
    run = worker.create_run(experiment)
    worker.log_metric(run.info.run_id, "rmse", 1.5)
    worker.create_registered_model("demand")

    view = client(monkeypatch, base, VIEW)
    assert view.get_experiment(experiment).name == "demand_training"
    assert view.get_run(run.info.run_id).data.metrics == {"rmse": 1.5}
    with pytest.raises(MlflowException) as refused:
        view.log_metric(run.info.run_id, "rmse", 9.0)
    assert refused.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as refused:
        view.set_registered_model_alias("demand", "champion", "1")
    assert refused.value.error_code in ("PERMISSION_DENIED", "RESOURCE_DOES_NOT_EXIST")

    with pytest.raises(MlflowException) as refused:
        client(monkeypatch, base, (VIEW[0], "not-the-password")).get_experiment(experiment)
    assert refused.value.error_code == "UNAUTHENTICATED"

    # Re-running the users job with a new password rotates it: the old one stops working.
    rotated = run_users(base, WORKER[1] + "-rotated")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.split().count("updated") == 2
    with pytest.raises(MlflowException) as refused:
        client(monkeypatch, base, WORKER).get_experiment(experiment)
    assert refused.value.error_code == "UNAUTHENTICATED"
    assert (
        client(monkeypatch, base, (WORKER[0], WORKER[1] + "-rotated")).get_experiment(experiment).name
        == "demand_training"
    )
