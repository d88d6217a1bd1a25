"""The faults of the distributed deployment, really done to the running services, and how it came back.

Each fault has a kind, the stage of the night it hits and a seeded point inside it:

- ``kill_worker``: ``kill -9`` of the ``gpu`` Celery worker's process group while it trains the
  Lightning model; the supervisor starts the worker again, the scheduler finds the task's
  heartbeat gone and Airflow's retry trains again.
- ``restart_postgres``: PostgreSQL (Airflow's metadata and MLflow's backend) restarted with
  ``-m immediate`` while a task runs: every connection dropped.
- ``s3_outage``: the network to the S3 API cut for a seeded minute or two while a task runs.
- ``kill_publish``: the task publishing a day to S3 killed (SIGKILL) before a seeded object copy
  (a crash point, :mod:`ml_tasks.core.failpoints`).
- ``kill_promote``: the promote task killed between the `@champion` move and its audit record.
- ``truncated_challenger``: a model version whose upload was cut short (its recorded digest is the
  whole model's) made `@challenger`; a rollback to it must be refused, with an alert.
- ``corrupt_features``: bytes of a published features file flipped in place (same size); the
  night's training must refuse the day by name, and the day is published again.
- ``webhook_down``: the alert receiver stopped for a stage; no task may fail for it.

When a run fails through a fault's cause, the runner does what an operator would once the cause
is gone (clear the failed task, publish the day again) and the record says so, with the time from
the fault to the night's run succeeding.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ml_tasks.core.polling import wait_until
from ml_tasks.platform.airflow_api.client import AirflowClient

FAULT_KINDS = (
    "kill_worker",
    "restart_postgres",
    "s3_outage",
    "kill_publish",
    "kill_promote",
    "truncated_challenger",
    "corrupt_features",
    "webhook_down",
)
# the stage each kind hits: "before_train" is between the features and the training runs,
# "after_train" between training and scoring
TARGETS = {
    "kill_worker": ("train",),
    "restart_postgres": ("features", "score", "drift"),
    "s3_outage": ("score", "drift"),
    "kill_publish": ("features",),
    "kill_promote": ("train",),
    "truncated_challenger": ("after_train",),
    "corrupt_features": ("before_train",),
    "webhook_down": ("train", "drift"),
}
FAILED = ("failed", "upstream_failed")


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str
    at_fraction: float  # a seeded point: how deep into the task, how long an outage, which copy

    def describe(self) -> str:
        return f"{self.kind} during {self.target} at {self.at_fraction:.0%}"


@dataclass
class FaultRecord:
    day: date
    fault: Fault
    hit: str = ""
    recovery: str = ""
    seconds: float | None = None  # from the fault to the night's runs succeeding again
    refused: bool | None = None  # for a corrupt artifact or file: refused loudly, never used

    @property
    def landed(self) -> bool:
        return bool(self.hit) and not self.hit.startswith("nothing")


def make_plan(seed: int, days: int) -> list[list[Fault]]:
    """The faults of each day: every kind once before any repeats, spread over the days (at most
    four a day, one of a kind a day), at least eight in all; the same seed, the same plan."""
    rng = random.Random(seed)
    count = max(8, round(days * 1.3))
    kinds = list(FAULT_KINDS)
    rng.shuffle(kinds)
    kinds = (kinds * (count // len(kinds) + 1))[:count]
    per_day: list[list[Fault]] = [[] for _ in range(days)]
    for kind in kinds:
        open_days = [
            i
            for i in range(days)
            if len(per_day[i]) < max(4, -(-count // days))
            and kind not in {f.kind for f in per_day[i]}
            and not (kind == "kill_publish" and any(f.kind == "corrupt_features" for f in per_day[i]))
        ]
        day = rng.choice(open_days or range(days))
        per_day[day].append(Fault(kind, rng.choice(TARGETS[kind]), round(rng.uniform(0.2, 0.8), 2)))
    return per_day


def running_task(client: AirflowClient, dag_id: str, run_id: str, only: tuple[str, ...] = ()) -> dict | None:
    """Wait for a task of the run to be running (one of ``only`` if given); None when the run ends first."""

    def found():
        if client.run_state(dag_id, run_id) in ("success", "failed"):
            return {}
        return next(
            (
                t
                for t in client.task_instances(dag_id, run_id)
                if t["state"] == "running" and (not only or t["task_id"] in only)
            ),
            None,
        )

    return wait_until(found, 1800, f"a running task of {dag_id} {run_id}", every=0.3) or None


def settle(client: AirflowClient, dag_id: str, run_id: str, rounds: int = 2) -> tuple[str, list[str]]:
    """Wait for the run; while it failed, clear its failed tasks (with what they hold up), as an operator
    does once the cause is gone. Returns the final state and the tasks cleared."""
    cleared: list[str] = []
    state = client.wait_for_run(dag_id, run_id, timeout=1800, poll=1.0)
    for _ in range(rounds):
        if state != "failed":
            break
        failed = [t["task_id"] for t in client.task_instances(dag_id, run_id) if t["state"] == "failed"]
        for task_id in failed:
            client.clear_task(dag_id, run_id, task_id)
        cleared += failed
        time.sleep(2)
        state = client.wait_for_run(dag_id, run_id, timeout=1800, poll=1.0)
    return state, cleared


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def flip_bytes(fs, path: str, seed: int) -> int:
    """Overwrite a stretch in the middle of ``path`` with other bytes of the same length; returns where."""
    data = bytearray(fs.cat_file(path))
    rng = random.Random(seed)
    at = len(data) // 2 + rng.randrange(0, max(1, len(data) // 8))
    for i in range(at, min(len(data) - 8, at + 64)):
        data[i] ^= 0xA5
    fs.pipe_file(path, bytes(data))
    fs.invalidate_cache()
    return at


def task_log_text(home: Path, dag_id: str, run_id: str, task_id: str) -> str:
    """Every attempt's log of a task, from the shared log folder the workers write to."""
    base = home / "logs" / "airflow" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(base.rglob("*.log"))) if base.exists() else ""
