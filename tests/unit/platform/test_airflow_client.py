"""The Airflow REST client logs in again when its token expires, once, and says so when that fails."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ml_tasks.core.polling import WaitTimeout
from ml_tasks.platform.airflow_api.client import AirflowAPIError, AirflowClient


class FakeAirflow(BaseHTTPRequestHandler):
    """Airflow's token endpoint and one API route on loopback; a token is good for ``uses`` calls."""

    tokens_issued = 0
    uses = 2
    valid: dict[str, int] = {}
    password = "right"  # pragma: allowlist secret
    run_states: list[str] = []
    backfill_answers: list[int] = []  # what each POST /backfills answers: 503 (locked), 409, else created
    backfills: list[dict] = []

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path == "/auth/token" and body.get("password") == FakeAirflow.password:
            FakeAirflow.tokens_issued += 1
            token = f"t{FakeAirflow.tokens_issued}"
            FakeAirflow.valid[token] = FakeAirflow.uses
            return self._send(201, {"access_token": token})
        if self.path == "/api/v2/backfills":
            answer = FakeAirflow.backfill_answers.pop(0) if FakeAirflow.backfill_answers else 200
            if answer == 503:
                return self._send(
                    503,
                    {
                        "detail": "Database is locked. Backfill creation is not supported on "
                        "SQLite under concurrent access. Please use PostgreSQL or MySQL."
                    },
                )
            if answer == 409:
                return self._send(409, {"detail": "There is already a running backfill for dag d"})
            FakeAirflow.backfills.append(
                {"id": len(FakeAirflow.backfills) + 1, "dag_id": body["dag_id"], "completed_at": None}
            )
            return self._send(200, FakeAirflow.backfills[-1])
        self._send(401, {"detail": "bad credentials"})

    def do_GET(self):  # noqa: N802
        token = self.headers.get("authorization", "").removeprefix("Bearer ")
        if FakeAirflow.valid.get(token, 0) <= 0:
            return self._send(401, {"detail": "token expired"})
        FakeAirflow.valid[token] -= 1
        if self.path.startswith("/api/v2/backfills?dag_id=d"):
            return self._send(200, {"backfills": FakeAirflow.backfills, "total_entries": len(FakeAirflow.backfills)})
        if self.path.startswith("/api/v2/dags/d/dagRuns/r"):
            return self._send(200, {"state": FakeAirflow.run_states.pop(0) if FakeAirflow.run_states else "running"})
        self._send(200, {"dags": [{"dag_id": "a"}, {"dag_id": "b"}]})

    def log_message(self, *args):
        pass


@pytest.fixture
def airflow():
    FakeAirflow.tokens_issued, FakeAirflow.valid, FakeAirflow.password, FakeAirflow.uses = 0, {}, "right", 2
    FakeAirflow.backfill_answers, FakeAirflow.backfills = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_expired_token_is_renewed_once_and_the_call_repeated(airflow):
    client = AirflowClient(airflow, "admin", "right")
    for _ in range(5):  # each token serves two calls: the third call meets a 401 and logs in again
        assert client.dag_ids() == ["a", "b"]
    assert FakeAirflow.tokens_issued == 3


def test_a_failed_renewal_is_an_error_naming_the_user(airflow):
    client = AirflowClient(airflow, "admin", "right")
    client.dag_ids()
    client.dag_ids()
    FakeAirflow.password = "rotated"  # pragma: allowlist secret (expired token, and the password changed)
    with pytest.raises(AirflowAPIError, match="login as 'admin'.*401"):
        client.dag_ids()


def test_waiting_for_a_run_polls_until_it_finishes_and_names_it_when_it_does_not(airflow):
    client = AirflowClient(airflow, "admin", "right")
    FakeAirflow.uses = 100
    FakeAirflow.run_states = ["queued", "running", "success"]
    assert client.wait_for_run("d", "r", timeout=10, poll=0.01) == "success"
    FakeAirflow.run_states = []
    with pytest.raises(WaitTimeout, match="d run r to finish \\(it is 'running'\\)"):
        client.wait_for_run("d", "r", timeout=0.05, poll=0.01)


def test_a_backfill_refused_because_sqlite_was_locked_is_created_on_a_later_try(airflow):
    client = AirflowClient(airflow, "admin", "right")
    FakeAirflow.uses = 100
    FakeAirflow.backfill_answers = [503, 503]  # the scheduler held the lock twice; nothing was created
    created = client.backfill("d", "2026-01-01", "2026-01-03", every=0.01)
    assert created["id"] == 1 and len(FakeAirflow.backfills) == 1


def test_a_backfill_is_never_created_twice_and_other_refusals_are_not_retried(airflow):
    client = AirflowClient(airflow, "admin", "right")
    FakeAirflow.uses = 100
    FakeAirflow.backfills = [{"id": 7, "dag_id": "d", "completed_at": None}]  # made by a try we never heard back from
    FakeAirflow.backfill_answers = [503]
    assert client.backfill("d", "2026-01-01", "2026-01-03", every=0.01)["id"] == 7
    FakeAirflow.backfill_answers = [409]
    with pytest.raises(AirflowAPIError, match="409.*already a running backfill"):
        client.backfill("d", "2026-01-01", "2026-01-03", every=0.01)
    FakeAirflow.backfills, FakeAirflow.backfill_answers = [], [503] * 1000
    with pytest.raises(
        WaitTimeout, match="a backfill of d to be created \\(\\d+ refusals, the last: POST /api/v2/backfills: 503"
    ):
        client.backfill("d", "2026-01-01", "2026-01-03", timeout=0.1, every=0.01)
