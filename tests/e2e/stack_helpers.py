"""Starting the real embedded stack on free loopback ports, and waiting on its runs."""

from __future__ import annotations

from contextlib import contextmanager

from ml_tasks.core.polling import wait_until
from ml_tasks.platform.airflow_api.client import AirflowClient
from ml_tasks.platform.stack import environment, lifecycle
from ml_tasks.platform.stack.environment import free_port
from soak.services import AlertReceiver

PIPELINE_DAGS = ["demand_features", "demand_train", "demand_score", "demand_drift", "demand_rollback"]
# A failed task's retry waits 10 s instead of a minute, as in the soak: the tests that make a run fail
# (a bad or missing day) wait for its last attempt.
RETRY_DELAY = {"task_retry_delay_seconds": 10}


def stack_settings(home, light_training: bool = True, **overrides):
    """Settings for a test stack: its own ``home`` and free ports, a short retry delay, and (by default) a copy
    of the shipped specs with the soak's lighter training budget (one backtest fold, a few Lightning epochs and
    tuning trials): these tests are about operation, not accuracy, which tests/realdata judges."""
    from ml_tasks.core.settings import load_settings
    from soak.settings import soak_specs

    if light_training and "specs_dir" not in overrides:
        overrides["specs_dir"] = soak_specs(load_settings().specs_dir, home / "specs")
    return load_settings(home=home, airflow_port=free_port(), mlflow_port=free_port(), **{**RETRY_DELAY, **overrides})


@contextmanager
def alert_receiver():
    """A webhook on loopback: yields its URL and the list of JSON alerts it received, in order."""
    with AlertReceiver() as receiver:
        yield receiver.url, receiver.received


@contextmanager
def running_stack(settings):
    """`conveyor up` for ``settings`` (already seeded), a logged-in client, `conveyor down` after."""
    lifecycle.up(settings, say=lambda m: None)
    client = AirflowClient(settings.airflow_url, settings.airflow_user, environment.airflow_password(settings))
    try:
        client.wait_for_dags(PIPELINE_DAGS)
        yield client
    finally:
        lifecycle.down(settings, say=lambda m: None)


def champion_version(settings, pipeline: str = "demand") -> str | None:
    """The version `@champion` points at, or None before the first promotion."""
    from ml_tasks.core import tracking
    from ml_tasks.registry import client as registry

    version = registry.version_by_alias(tracking.connect(settings), pipeline, registry.CHAMPION)
    return str(version.version) if version is not None else None


def wait_all_runs(client: AirflowClient, dag_id: str, at_least: int = 1, timeout: float = 900) -> list[dict]:
    def finished() -> list[dict] | None:
        runs = client.runs(dag_id)
        return runs if len(runs) >= at_least and all(r["state"] in ("success", "failed") for r in runs) else None

    return wait_until(
        finished, timeout, lambda: f"{dag_id}: {at_least}+ finished runs; runs: {client.runs(dag_id)}", every=5
    )


def asset_runs(client: AirflowClient, dag_id: str) -> list[dict]:
    """Runs the scheduler started from an Asset event (not from the cron or by hand)."""
    return [r for r in client.runs(dag_id) if r["run_type"] == "asset_triggered"]


def wait_asset_runs(client: AirflowClient, dag_id: str, timeout: float = 900) -> list[dict]:
    """The asset-triggered runs of ``dag_id`` once at least one exists and all have finished."""

    def finished() -> list[dict] | None:
        runs = asset_runs(client, dag_id)
        return runs if runs and all(r["state"] in ("success", "failed") for r in runs) else None

    return wait_until(
        finished,
        timeout,
        lambda: f"{dag_id}: a finished asset-triggered run; runs: {asset_runs(client, dag_id)}",
        every=5,
    )


def explain_run(client: AirflowClient, settings, dag_id: str, run_id: str, lines: int = 25) -> str:
    """Task states of a run and the last log lines of its failed tasks, for assertion messages."""
    import json

    out = [f"{dag_id} {run_id}: {client.task_states(dag_id, run_id)}"]
    logs = settings.home / "logs" / "airflow" / f"dag_id={dag_id}" / f"run_id={run_id}"
    for ti in client.task_instances(dag_id, run_id):
        if ti["state"] not in ("failed", "upstream_failed") or not (logs / f"task_id={ti['task_id']}").exists():
            continue
        for log in sorted((logs / f"task_id={ti['task_id']}").glob("*.log")):
            tail = []
            for line in log.read_text(errors="replace").splitlines()[-lines:]:
                try:
                    event = json.loads(line)
                    tail.append(
                        f"{event.get('level', '')} {event.get('event', '')} {event.get('error_detail', '')}"[:600]
                    )
                except ValueError:
                    tail.append(line[:600])
            out.append(f"--- {ti['task_id']} {log.name}\n" + "\n".join(tail))
    return "\n".join(out)
