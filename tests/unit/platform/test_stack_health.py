"""`conveyor up` returns only when the scheduler, dag-processor and triggerer heartbeat.

The api-server answers HTTP seconds before the scheduler's first heartbeat (the embedded scheduler
imports the tasks' libraries first); "up" must mean "schedules". A small HTTP server on 127.0.0.1
stands in for the api-server's health endpoint; the services are real process groups.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.airflow_api.client import unhealthy_components
from ml_tasks.platform.stack import environment, lifecycle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Health:
    """Answers like /api/v2/monitor/health: the scheduler turns healthy after ``unhealthy_for`` asks."""

    def __init__(self, unhealthy_for: int):
        self.asks = 0
        self.unhealthy_for = unhealthy_for

    def answer(self) -> dict:
        self.asks += 1
        scheduler = "healthy" if self.asks > self.unhealthy_for else None
        return {
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": scheduler},
            "triggerer": {"status": "healthy"},
            "dag_processor": {"status": "healthy"},
        }


@pytest.fixture
def api(tmp_path):
    port = _free_port()
    health = _Health(unhealthy_for=2)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = json.dumps(health.answer()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = ConveyorSettings(home=tmp_path, airflow_port=port)
    groups = {}
    (tmp_path / "logs").mkdir()
    for name in ("scheduler", "dag-processor", "triggerer"):
        proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
        groups[name] = proc
        lifecycle.pid_file(settings, name).parent.mkdir(parents=True, exist_ok=True)
        lifecycle.pid_file(settings, name).write_text(str(proc.pid))
        (tmp_path / "logs" / f"{name}.log").write_text(f"{name}: importing the tasks' libraries\n")
    yield settings, health, groups
    server.shutdown()
    for proc in groups.values():
        proc.kill()
        proc.wait()


def test_health_names_the_components_not_yet_healthy():
    answer = {
        "scheduler": {"status": None},
        "triggerer": {"status": "healthy"},
        "dag_processor": {"status": "unhealthy"},
    }
    assert unhealthy_components(answer, ["scheduler", "dag_processor", "triggerer"]) == ["scheduler", "dag_processor"]
    assert unhealthy_components({}, ["triggerer"]) == ["triggerer"]


def test_up_waits_for_the_scheduler_s_first_heartbeat(api):
    settings, health, _ = api
    lifecycle.wait_components_healthy(settings, timeout=30)
    assert health.asks == 3  # two unhealthy answers, then healthy


def test_a_scheduler_that_exits_before_its_heartbeat_is_named_with_its_log(api):
    settings, health, groups = api
    health.unhealthy_for = 10**6
    os.killpg(groups["scheduler"].pid, signal.SIGKILL)
    groups["scheduler"].wait()
    with pytest.raises(environment.StackError) as err:
        lifecycle.wait_components_healthy(settings, timeout=30)
    assert "scheduler exited" in str(err.value)
    assert "importing the tasks' libraries" in str(err.value)
