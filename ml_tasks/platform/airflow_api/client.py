"""A small client for Airflow's stable REST API (v2), used by the CLI and the tests.

It logs in with the simple auth manager's user (``POST /auth/token``) and sends the JWT as a
bearer token; when the token expires (a 401), it logs in again once and repeats the call. Only
loopback or configured endpoints are ever contacted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from ml_tasks.core.polling import wait_until

TERMINAL = {"success", "failed"}


def unhealthy_components(health: dict, expected: list[str]) -> list[str]:
    """The components of ``expected`` that a /monitor/health answer does not call healthy."""
    return [c for c in expected if (health.get(c) or {}).get("status") != "healthy"]


class AirflowAPIError(RuntimeError):
    """An answer of 400 or more; ``status`` and ``body`` are what the server said."""

    def __init__(self, message: str, status: int = 0, body: str = "") -> None:
        super().__init__(message)
        self.status, self.body = status, body

    @property
    def database_locked(self) -> bool:
        """SQLite's "database is locked": Airflow refuses the write (503) and nothing was written."""
        return self.status == 503 and "locked" in self.body.lower()


@dataclass
class AirflowClient:
    base_url: str
    username: str
    password: str
    timeout: float = 30.0
    _token: str | None = field(default=None, repr=False)

    def _headers(self, renew: bool = False) -> dict[str, str]:
        if self._token is None or renew:
            r = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=self.timeout,
            )
            if r.status_code not in (200, 201):
                raise AirflowAPIError(
                    f"login as {self.username!r} at {self.base_url} failed: {r.status_code} {r.text[:200]}"
                )
            self._token = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        r = requests.request(method, url, headers=self._headers(), timeout=self.timeout, **kwargs)
        if r.status_code == 401:  # the token expired (a long wait, a restarted API server): log in again
            r = requests.request(method, url, headers=self._headers(renew=True), timeout=self.timeout, **kwargs)
        if r.status_code >= 400:
            raise AirflowAPIError(
                f"{method} {url.removeprefix(self.base_url)}: {r.status_code} {r.text[:500]}", r.status_code, r.text
            )
        return r

    def request(self, method: str, path: str, **kwargs) -> Any:
        r = self._send(method, f"{self.base_url}/api/v2{path}", **kwargs)
        return r.json() if r.content else None

    def page(self, path: str) -> str:
        """A page the api-server serves besides the REST API (the Conveyor view, ``/conveyor/...``), logged in."""
        return self._send("GET", f"{self.base_url}{path}").text

    def health(self) -> dict:
        r = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=self.timeout)
        r.raise_for_status()
        return r.json()

    def dag_ids(self) -> list[str]:
        return sorted(d["dag_id"] for d in self.request("GET", "/dags", params={"limit": 1000})["dags"])

    def import_errors(self) -> list[dict]:
        return self.request("GET", "/importErrors")["import_errors"]

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(
        self, dag_id: str, conf: dict | None = None, run_id: str | None = None, logical_date: str | None = None
    ) -> str:
        """Start a run; without ``logical_date`` it has none (a manual run of "now")."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def asset_event(self, name: str, extra: dict) -> dict:
        """Record an event on the Asset called ``name`` (DAGs scheduled on it run), as an outlet would."""
        found = self.request("GET", "/assets", params={"name_pattern": name, "limit": 100})["assets"]
        asset = next((a for a in found if a["name"] == name), None)
        if asset is None:
            raise AirflowAPIError(f"Airflow knows no Asset {name!r} (the pipeline's DAGs are not parsed yet?)", 404)
        return self.request("POST", "/assets/events", json={"asset_id": asset["id"], "extra": extra})

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear a task and everything downstream of it in one run, as the UI's Clear does."""
        self.request(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "include_downstream": True,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

    def hitl_detail(self, dag_id: str, run_id: str, task_id: str) -> dict:
        """The human-in-the-loop request of a task (subject, body, options, response)."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails")

    def respond(self, dag_id: str, run_id: str, task_id: str, option: str) -> dict:
        """Answer a human-in-the-loop request, as the UI's Required Actions page does."""
        return self.request(
            "PATCH",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails",
            json={"chosen_options": [option], "params_input": {}},
        )

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 600, poll: float = 3.0
    ) -> str:
        seen: dict[str, str | None] = {"state": None}

        def reached() -> str | None:
            seen["state"] = self.task_states(dag_id, run_id).get(task_id)
            return seen["state"] if seen["state"] in states else None

        def run_over() -> str | None:
            run = self.run_state(dag_id, run_id)
            return f"the run is {run}" if run in TERMINAL else None

        return wait_until(
            reached,
            timeout,
            lambda: f"{dag_id} {run_id}: task {task_id} to be one of {sorted(states)} (it is {seen['state']!r})",
            every=poll,
            give_up=run_over,
        )

    def extra_links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """The buttons on a task instance's page: link name -> URL (None: nothing to show)."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links")["extra_links"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value (JSON-native values come back as they were pushed)."""
        import json

        value = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")[
            "value"
        ]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def backfill(
        self,
        dag_id: str,
        from_date: str,
        to_date: str,
        max_active_runs: int = 1,
        timeout: float = 120,
        every: float = 2.0,
    ) -> dict:
        """Create an Airflow backfill (runs for every schedule tick in the range), as `airflow backfill create`.

        On the embedded SQLite database Airflow answers 503 "Database is locked" when the scheduler
        writes at the same moment (it rolls back: nothing is created). That answer is retried, after
        checking that no backfill of this DAG is active, for up to ``timeout`` seconds.
        """
        body = {
            "dag_id": dag_id,
            "from_date": from_date,
            "to_date": to_date,
            "run_backwards": False,
            "dag_run_conf": {},
            "reprocess_behavior": "completed",
            "max_active_runs": max_active_runs,
        }
        refused: list[AirflowAPIError] = []

        def create() -> dict | None:
            try:
                return self.request("POST", "/backfills", json=body)
            except AirflowAPIError as exc:
                if not exc.database_locked:
                    raise
                refused.append(exc)
                return self.active_backfill(dag_id)

        return wait_until(
            create,
            timeout,
            lambda: (
                f"a backfill of {dag_id} to be created ({len(refused)} refusals, "
                f"the last: {refused[-1] if refused else None})"
            ),
            every=every,
        )

    def active_backfill(self, dag_id: str) -> dict | None:
        """The DAG's unfinished backfill, if any (Airflow allows one at a time)."""
        found = self.request("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})["backfills"]
        return next((b for b in found if b.get("completed_at") is None), None)

    def runs(self, dag_id: str) -> list[dict]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "-run_after"})[
            "dag_runs"
        ]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Airflow's records of a run's tasks: state, queue, pool, hostname, timings."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def dag_task_instances(self, dag_id: str, page: int = 100, **filters) -> list[dict]:
        """The task records of every run of a DAG (``filters`` as the API takes them, e.g. ``state``),
        page by page: one request per hundred instead of one per run."""
        found: list[dict] = []
        while True:
            got = self.request(
                "GET",
                f"/dags/{dag_id}/dagRuns/~/taskInstances",
                params={**filters, "limit": page, "offset": len(found)},
            )["task_instances"]
            found += got
            if len(got) < page:
                return found

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run_id)}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 3.0) -> str:
        seen: dict[str, str | None] = {"state": None}

        def finished() -> str | None:
            seen["state"] = self.run_state(dag_id, run_id)
            return seen["state"] if seen["state"] in TERMINAL else None

        return wait_until(
            finished, timeout, lambda: f"{dag_id} run {run_id} to finish (it is {seen['state']!r})", every=poll
        )

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180, poll: float = 3.0) -> None:
        wait_until(
            lambda: set(dag_ids) <= set(self.dag_ids()),
            timeout,
            f"DAGs {dag_ids} listed by {self.base_url}",
            every=poll,
            transient=(requests.RequestException, AirflowAPIError),
        )
