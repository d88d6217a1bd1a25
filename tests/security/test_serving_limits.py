"""`conveyor serve` in a shared deployment, against the real server (uvicorn in a child process, a real
MLflow registry with a real pyfunc model): who asks is checked before what they send is read, what
they send is bounded, a slow prediction never stalls `/health`, a champion that fails to load is
said, counted, alerted and retried with back-off while the old one keeps serving, and the server
refuses to face the network without a token unless told to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import mlflow
import pandas as pd
import psutil
import pytest
import requests
from mlflow.models import infer_signature
from typer.testing import CliRunner

from ml_tasks.core.polling import wait_until
from ml_tasks.core.settings import REPO_ROOT, load_settings
from ml_tasks.platform.cli.app import app
from ml_tasks.platform.stack.environment import free_port
from ml_tasks.registry.artifacts import record_digest
from tests.e2e.stack_helpers import alert_receiver
from tests.security.slow_model import SlowDouble

TOKEN = "serving-test-token"  # pragma: allowlist secret
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 1024 * 1024


def _register(name: str) -> str:
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name(name).experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=SlowDouble(),
            registered_model_name=name,
            signature=infer_signature(pd.DataFrame({"x": [0.0]}), pd.Series([0.0])),
        )
    version = str(info.registered_model_version)
    settings = load_settings(mlflow_tracking_uri=mlflow.get_tracking_uri())
    record_digest(settings, name, version)  # as Conveyor's registration does
    return version


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # an earlier test in this process may have pointed the registry elsewhere
    mlflow.create_experiment("slowpoke", artifact_location=str(home / "artifacts"))
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    client.set_registered_model_alias("slowpoke", "champion", _register("slowpoke"))
    port = free_port()
    with alert_receiver() as (hook, alerts):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
            "PYTHONPATH": str(REPO_ROOT),
            "CONVEYOR_HOME": str(home / "home"),
            "CONVEYOR_MLFLOW_TRACKING_URI": uri,
            "CONVEYOR_SERVING_TOKEN": TOKEN,
            "CONVEYOR_SERVING_MAX_ROWS": "5",
            "CONVEYOR_ALERT_WEBHOOK_URL": hook,
        }
        log = home / "serve.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ml_tasks.platform.cli.app",
                "serve",
                "slowpoke",
                "--port",
                str(port),
                "--refresh-seconds",
                "1",
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited ({proc.returncode}): {log.read_text()[-3000:]}")
            return requests.get(f"{url}/health", timeout=2).json().get("version") == "1"

        try:
            wait_until(serving, 120, "the server to serve v1", transient=(requests.RequestException,))
            yield {"url": url, "port": port, "proc": proc, "client": client, "home": home, "alerts": alerts}
        finally:
            proc.terminate()
            proc.wait(30)


def _raw_post(port: int, headers: dict[str, str], body_bytes: int) -> tuple[str, int]:
    """POST a declared body of ``body_bytes`` zeros over a raw socket, sending until the server stops
    taking it; returns the answer's status line and how many body bytes went out."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = "".join(
        f"{k}: {v}\r\n"
        for k, v in {
            "Host": "127.0.0.1",
            "Content-Type": "application/json",
            "Content-Length": str(body_bytes),
            **headers,
        }.items()
    )
    sock.sendall(f"POST /predict HTTP/1.1\r\n{head}\r\n".encode())
    sent, chunk = 0, b"0" * MB
    sock.settimeout(0.5)
    try:
        while sent < body_bytes:
            sent += sock.send(chunk)
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        pass  # the server answered and stopped reading
    sock.settimeout(10)
    answer = sock.recv(4096).decode(errors="replace")
    sock.close()
    return answer.split("\r\n", 1)[0], sent


def test_an_anonymous_100_mb_post_is_refused_unread_and_memory_stays_flat(server):
    process = psutil.Process(server["proc"].pid)
    before = process.memory_info().rss
    status, _ = _raw_post(server["port"], {}, 100 * MB)
    assert status == "HTTP/1.1 401 Unauthorized", status
    assert process.memory_info().rss - before < 20 * MB, process.memory_info().rss - before


def test_bodies_and_batches_over_the_limits_are_413_naming_the_limit(server):
    status, _ = _raw_post(server["port"], AUTH, 2 * MB)  # declared too large: refused before it is read
    assert status == "HTTP/1.1 413 Request Entity Too Large", status
    chunked = requests.post(
        f"{server['url']}/predict",
        headers={**AUTH, "Content-Type": "application/json"},
        data=(b"0" * 64 * 1024 for _ in range(40)),
        timeout=30,
    )  # 2.5 MB, no length declared
    assert chunked.status_code == 413 and "serving_max_body_bytes" in chunked.json()["detail"], chunked.text
    six = requests.post(f"{server['url']}/predict", headers=AUTH, json={"rows": [{"x": 0.0}] * 6}, timeout=30)
    assert six.status_code == 413 and six.json()["detail"] == "6 rows; the limit is 5 rows a request (serving_max_rows)"
    text = requests.post(
        f"{server['url']}/predict",
        headers={**AUTH, "Content-Type": "text/plain"},
        data='{"rows": [{"x": 0.0}]}',
        timeout=30,
    )
    assert text.status_code == 415 and "application/json" in text.json()["detail"]
    ok = requests.post(f"{server['url']}/predict", headers=AUTH, json={"rows": [{"x": 0.0}, {"x": 0.25}]}, timeout=30)
    assert ok.json() == {"model_version": "1", "predictions": [0.0, 0.5]}, ok.text


def test_a_slow_prediction_does_not_stall_health(server):
    done: dict = {}
    slow = threading.Thread(
        target=lambda: done.update(
            r=requests.post(f"{server['url']}/predict", headers=AUTH, json={"rows": [{"x": 3.0}]}, timeout=60)
        )
    )
    slow.start()
    time.sleep(0.5)  # the prediction is sleeping on the server now
    started = time.perf_counter()
    health = requests.get(f"{server['url']}/health", timeout=10)
    waited = time.perf_counter() - started
    slow.join()
    assert health.json()["status"] == "ok" and waited < 1.5, waited  # not the 2.5 s the prediction had left
    assert done["r"].json()["predictions"] == [6.0]


def test_a_champion_that_fails_to_load_is_degraded_counted_alerted_and_backed_off(server):
    artifacts = server["home"] / "artifacts"
    before = set(artifacts.rglob("python_model.pkl"))
    version = _register("slowpoke")
    for path in set(artifacts.rglob("python_model.pkl")) - before:  # what anyone who can write artifacts could do
        path.write_bytes(b"not a pickle")
    server["client"].set_registered_model_alias("slowpoke", "champion", version)
    health = wait_until(
        lambda: (h := requests.get(f"{server['url']}/health", timeout=5).json())["status"] == "degraded" and h,
        60,
        "health to turn degraded",
    )
    assert health["version"] == "1" and f"could not load @champion v{version}" in health["problem"], health
    assert "do not match the sha256 recorded at registration" in health["problem"], health  # never unpickled
    still = requests.post(f"{server['url']}/predict", headers=AUTH, json={"rows": [{"x": 0.0}]}, timeout=30)
    assert still.json()["model_version"] == "1"
    metrics = requests.get(f"{server['url']}/metrics", headers=AUTH, timeout=5).text
    assert 'conveyor_model_reload_failures_total{pipeline="slowpoke"} 1.0' in metrics
    alert = wait_until(lambda: [a for a in server["alerts"] if a["event"] == "serving_reload_failed"], 30, "the alert")
    assert len(alert) == 1 and alert[0]["details"]["version"] == version
    time.sleep(7)  # refreshes every second; loads retried after 1, 2, 4 s
    attempts = int(requests.get(f"{server['url']}/health", timeout=5).json()["problem"].split("(")[1].split(" ")[0])
    assert 2 <= attempts <= 4, attempts
    assert len([a for a in server["alerts"] if a["event"] == "serving_reload_failed"]) == 1  # one alert per version
    assert len([a for a in server["alerts"] if a["event"] == "model_unverified"]) == 1


def test_serving_beyond_loopback_needs_a_token_or_insecure(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    monkeypatch.delenv("CONVEYOR_SERVING_TOKEN", raising=False)
    refused = CliRunner().invoke(app, ["serve", "demand", "--host", "0.0.0.0"])
    assert refused.exit_code == 1 and "$CONVEYOR_SERVING_TOKEN holds no token" in refused.output, refused.output
    assert "--insecure" in refused.output
