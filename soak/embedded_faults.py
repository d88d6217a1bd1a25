"""The faults of a soak run, really done to the running stack, and how the platform came back.

``kill_task``: ``kill -9`` of the task process Airflow says is running (its retry must redo the
work once). ``kill_scheduler`` / ``kill_mlflow`` / ``kill_api_server``: ``kill -9`` of that
service's whole process group (the scheduler's LocalExecutor workers and their tasks with it);
the stack's supervisor starts it again, nobody runs `conveyor up`. ``disk_full``: the lake's
file system is filled to the last byte while a features run works (a size-limited tmpfs under
root, as in CI; otherwise the ballast fills the disk the lake is on, which needs the headroom
to be small), then freed, and the failed task cleared as an operator would. ``restart``:
`conveyor down` then `conveyor up` between two runs. A fault aimed at training waits for the
Lightning training task and lands inside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ml_tasks.core.polling import WaitTimeout, wait_until
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.platform.airflow_api.client import AirflowAPIError, AirflowClient
from ml_tasks.platform.stack import environment, lifecycle
from ml_tasks.platform.stack.supervisor import restarts
from soak.plan import Fault

BALLAST = ".soak-ballast"
SERVICE_OF = {"kill_scheduler": "scheduler", "kill_mlflow": "mlflow", "kill_api_server": "api-server"}
FEATURE_TASKS = ("gate_raw", "build_features", "gate_features", "publish_features")
# A fault aimed at training hits the Lightning training task (data loading, the fit, epochs logged
# to MLflow), not the planning step before it: a kill there is where a retry could register twice
# or leave a run RUNNING.
TRAINING_TASKS = ("train_lightning",)


def aim(fault: Fault) -> tuple[tuple[str, ...], float]:
    """The tasks a fault waits for (any running task when empty) and the seconds of its seeded delay
    into one at ``at_fraction`` 1.0: a fault aimed at one long task goes deeper into it."""
    if fault.kind == "disk_full":
        return ("build_features",), 10.0
    if fault.target == "train":
        return TRAINING_TASKS, 10.0
    return (), 5.0


@dataclass
class FaultRecord:
    day: date
    fault: Fault
    hit: str = ""  # what was hit
    recovery: str = ""  # what brought the platform back, and how long it took


def lake_dir(settings: ConveyorSettings) -> Path:
    return Path(settings.lake_uri.removeprefix("file://"))


def limited_lake(settings: ConveyorSettings, size_mb: int, say=print) -> bool:
    """Mount a size-limited file system (tmpfs) at the lake so a full disk really happens; needs
    root (CI has it). Returns whether it did; the caller unmounts with :func:`release_lake`."""
    path = lake_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        say("not root: the lake stays on the main disk; disk_full fills that disk's free space")
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        say(f"could not mount a size-limited lake ({done.stderr.strip()}); disk_full fills the main disk")
        return False
    return True


def release_lake(settings: ConveyorSettings) -> None:
    subprocess.run(["umount", "-l", str(lake_dir(settings))], capture_output=True)


def fill_disk(settings: ConveyorSettings) -> int:
    """Write real bytes into a ballast file until the file system refuses more; returns how many."""
    free = shutil.disk_usage(lake_dir(settings)).free
    chunk = b"\0" * (1 << 20)
    written = 0
    with open(lake_dir(settings) / BALLAST, "wb") as fh:
        try:
            for _ in range(free // len(chunk) + 2):
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
        except OSError:
            pass
    return written


def free_disk(settings: ConveyorSettings) -> None:
    (lake_dir(settings) / BALLAST).unlink(missing_ok=True)


def running_task(client: AirflowClient, dag_id: str, run_id: str, only: tuple[str, ...] = ()) -> dict | None:
    """Wait for a task of the run to be running with a PID (one of ``only`` if given); None when the
    run ends first."""

    def found():
        if client.run_state(dag_id, run_id) in ("success", "failed"):
            return {}
        return next(
            (
                t
                for t in client.task_instances(dag_id, run_id)
                if t["state"] == "running" and t.get("pid") and (not only or t["task_id"] in only)
            ),
            None,
        )

    return wait_until(found, 1800, f"a running task of {dag_id} {run_id}", every=0.3) or None


def inject(
    settings: ConveyorSettings, client: AirflowClient, day: date, fault: Fault, dag_id: str, run_id: str
) -> FaultRecord:
    """Do ``fault`` to the stack while ``run_id`` goes, wait until the platform is back; the record says how."""
    record = FaultRecord(day, fault)
    only, depth = aim(fault)
    task = running_task(client, dag_id, run_id, only)
    if task is None:
        record.hit = f"nothing: {dag_id} finished before the fault could hit"
        return record
    time.sleep(fault.at_fraction * depth)  # a seeded point inside the task
    t0 = time.monotonic()
    if fault.kind == "kill_task":
        try:
            os.kill(task["pid"], signal.SIGKILL)
            record.hit = f"kill -9 of {dag_id}.{task['task_id']} (pid {task['pid']})"
        except ProcessLookupError:
            record.hit = f"nothing: {dag_id}.{task['task_id']} ended before the kill"
            return record
        record.recovery = "Airflow's retry of the task"
    elif fault.kind in SERVICE_OF:
        service = SERVICE_OF[fault.kind]
        pid = lifecycle.running(settings)[service]
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: not lifecycle.group_alive(pid), 60, f"{service} to die", every=0.1)
        record.hit = f"kill -9 of the {service} (pid {pid}) while {dag_id}.{task['task_id']} ran"
        back = wait_until(
            lambda: next((r for r in restarts(settings) if r.old_pid == pid), None),
            120,
            f"the supervisor to restart the {service}",
            every=0.5,
        )
        if service == "api-server":  # the soak's own client talks to it too
            import requests

            wait_until(
                client.health,
                180,
                "the api-server to answer again",
                every=1.0,
                transient=(requests.RequestException, AirflowAPIError),
            )
        record.recovery = (
            f"the supervisor started the {service} again (pid {back.new_pid}) after {time.monotonic() - t0:.0f}s"
        )
    elif fault.kind == "disk_full":
        written = fill_disk(settings)
        record.hit = (
            f"the lake's file system full ({written / 2**20:.0f} MB of ballast) while {dag_id}.{task['task_id']} ran"
        )
        try:
            client.wait_for_run(dag_id, run_id, timeout=1800)
        finally:
            free_disk(settings)
        cleared = clear_failed(client, dag_id, run_id)
        record.recovery = (
            f"space freed, {cleared} cleared with its downstream"
            if cleared
            else "the run got through (its retry found the space freed)"
        )
    state = client.wait_for_run(dag_id, run_id, timeout=1800)
    record.recovery += f"; {dag_id} {state} {time.monotonic() - t0:.0f}s after the fault"
    return record


def clear_failed(client: AirflowClient, dag_id: str, run_id: str) -> str | None:
    """Clear the first failed task of a features run (with its downstream), as an operator does once
    the cause is gone; returns its name, or None when nothing failed."""
    states = client.task_states(dag_id, run_id)
    failed = next((t for t in FEATURE_TASKS if states.get(t) in ("failed", "upstream_failed")), None)
    if failed:
        client.clear_task(dag_id, run_id, failed)
    return failed


def restart_stack(
    settings: ConveyorSettings, day: date, fault: Fault, dags: list[str]
) -> tuple[FaultRecord, AirflowClient]:
    """`conveyor down` then `conveyor up`, as a person would mid-month; returns a fresh client."""
    t0 = time.monotonic()
    lifecycle.down(settings, say=lambda m: None)
    lifecycle.up(settings, say=lambda m: None)
    client = AirflowClient(settings.airflow_url, settings.airflow_user, environment.airflow_password(settings))
    try:
        client.wait_for_dags(dags)
    except WaitTimeout as exc:
        raise environment.StackError(f"after the restart: {exc}") from None
    record = FaultRecord(
        day,
        fault,
        hit="`conveyor down` then `conveyor up` between two runs",
        recovery=f"the stack answered again after {time.monotonic() - t0:.0f}s",
    )
    return record, client
