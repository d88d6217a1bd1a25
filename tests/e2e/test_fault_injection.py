"""Processes killed with SIGKILL in the middle of the training loop, on the real embedded stack.

Each test really kills a process (the training task mid-epoch, the scheduler mid-run, the MLflow
server while a task logs to it), lets retry or restart do its work, and then checks the end
state from the records: the run succeeded, every training run registered at most one model
version, no MLflow run is left looking alive, and the champion moved only by a valid promotion
(an audit record per move). The Spark job's kill -9 mid-write is in tests/spark.
"""

from __future__ import annotations

import os
import signal

import pytest

from ml_tasks.core import tracking
from ml_tasks.core.polling import wait_until
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.seed import DemoSize, seed_demo
from ml_tasks.platform import stack
from ml_tasks.platform.supervisor import restarts
from ml_tasks.registry import client as registry
from ml_tasks.registry.audit import history

from .stack_helpers import champion_version, explain_run, free_port, running_stack, wait_all_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
SIZE = DemoSize(stores=2, items=6, days=28)
TRAIN = "demand_train"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("faults")
    settings = load_settings(home=home, airflow_port=free_port(), mlflow_port=free_port())
    seed_demo(settings, SIZE, leave_unbuilt=0, say=lambda m: None)
    with running_stack(settings) as client:
        yield {"settings": settings, "client": client}


def _ti(client, run_id: str, task_id: str) -> dict:
    return next(t for t in client.task_instances(TRAIN, run_id) if t["task_id"] == task_id)


def _log_text(settings, run_id: str, task_id: str, try_number: int) -> str:
    path = (settings.home / "logs" / "airflow" / f"dag_id={TRAIN}" / f"run_id={run_id}" / f"task_id={task_id}"
            / f"attempt={try_number}.log")
    return path.read_text(errors="replace") if path.exists() else ""


def _wait_for(what: str, check, timeout: float = 600, poll: float = 1.0):
    return wait_until(check, timeout, what, every=poll)


def _kill_group(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)
    _wait_for(f"process group {pid} to die", lambda: not stack.group_alive(pid), timeout=60, poll=0.2)


def _versions_of(settings, run_id: str) -> list[str]:
    client = tracking.connect(settings)
    versions = client.search_model_versions(f"name='{registry.model_name('demand')}'")
    return [str(v.version) for v in versions if v.tags.get("airflow.run_id") == run_id]


def _training_runs(settings, run_id: str) -> list:
    client = tracking.connect(settings)
    exp = client.get_experiment_by_name(tracking.training_experiment("demand"))
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`airflow.run_id` = '{run_id}'")


def _assert_consistent(settings, run_id: str) -> None:
    """One version per training run; no run left RUNNING; each model family finished exactly once."""
    assert len(_versions_of(settings, run_id)) == 1, _versions_of(settings, run_id)
    runs = _training_runs(settings, run_id)
    assert not [r.info.run_id for r in runs if r.info.status == "RUNNING"], [(r.info.run_id, r.info.status) for r in runs]
    finished = [r.data.tags.get("conveyor.model_family") for r in runs
                if r.info.status == "FINISHED" and "conveyor.model_family" in r.data.tags]
    assert sorted(finished) == ["lightgbm", "lightning"], finished


def test_training_killed_mid_epoch_is_retried_and_registers_once(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused(TRAIN, False)  # starts the run of the latest nightly tick
    run_id = _wait_for("the nightly run", lambda: next((r["dag_run_id"] for r in client.runs(TRAIN)), None), 120)
    # mid-epoch: the first epoch has been logged, training goes on
    _wait_for("the first Lightning epoch", lambda: "epoch 1/" in _log_text(settings, run_id, "train_lightning", 1))
    victim = _ti(client, run_id, "train_lightning")
    assert victim["state"] == "running" and victim["pid"], victim
    os.kill(victim["pid"], signal.SIGKILL)

    assert client.wait_for_run(TRAIN, run_id, timeout=900) == "success", explain_run(client, settings, TRAIN, run_id)
    retried = _ti(client, run_id, "train_lightning")
    assert retried["try_number"] == 2 and retried["state"] == "success", retried
    _assert_consistent(settings, run_id)
    killed = [r for r in _training_runs(settings, run_id) if r.info.status == "KILLED"]
    assert [r.data.tags.get("conveyor.model_family") for r in killed] == ["lightning"]
    # the first model of the pipeline, promoted by the gate: one move in the audit trail
    runs = wait_all_runs(client, TRAIN)
    assert {r["state"] for r in runs} == {"success"}, runs
    moves = history(settings, "demand")
    assert len(moves) == 1 and moves[0]["to_version"] == champion_version(settings)
    platform["champion"] = champion_version(settings)


def test_scheduler_killed_mid_run_finishes_after_a_restart(platform):
    client, settings = platform["client"], platform["settings"]
    run_id = client.trigger(TRAIN, conf={"force": False})
    _wait_for("training to start", lambda: _ti(client, run_id, "train_lightgbm")["state"] == "running")
    scheduler = stack.running(settings)["scheduler"]
    _kill_group(scheduler)  # the scheduler and its LocalExecutor workers, tasks included
    # nobody calls `conveyor up`: the stack's supervisor starts a new scheduler, which resets the
    # orphaned tasks once its dead predecessor's heartbeat is stale and runs them again
    _wait_for("the supervisor to restart the scheduler", lambda: stack.running(settings)["scheduler"] not in (None, scheduler),
              timeout=60, poll=0.5)
    assert [r.service for r in restarts(settings) if r.old_pid == scheduler] == ["scheduler"]

    assert client.wait_for_run(TRAIN, run_id, timeout=900) == "success", explain_run(client, settings, TRAIN, run_id)
    _assert_consistent(settings, run_id)
    # same data, same seed: the gate sees a tie and keeps the champion, with no new move
    assert champion_version(settings) == platform["champion"]
    assert len(history(settings, "demand")) == 1


def test_mlflow_killed_while_a_task_logs_recovers_with_one_version(platform):
    client, settings = platform["client"], platform["settings"]
    run_id = client.trigger(TRAIN, conf={"force": False})
    _wait_for("Lightning to log epochs to MLflow",
              lambda: "epoch 1/" in _log_text(settings, run_id, "train_lightning", 1))
    mlflow_pid = stack.running(settings)["mlflow"]
    _kill_group(mlflow_pid)  # the supervisor restarts MLflow on the same database and artifacts
    _wait_for("the supervisor to restart MLflow", lambda: stack.running(settings)["mlflow"] not in (None, mlflow_pid),
              timeout=60, poll=0.5)
    assert [r.service for r in restarts(settings) if r.old_pid == mlflow_pid] == ["mlflow"]

    assert client.wait_for_run(TRAIN, run_id, timeout=900) == "success", explain_run(client, settings, TRAIN, run_id)
    _assert_consistent(settings, run_id)
    [version] = _versions_of(settings, run_id)
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{registry.model_name('demand')}/{version}")  # artifacts intact
    assert model.metadata.run_id
    assert champion_version(settings) == platform["champion"] and len(history(settings, "demand")) == 1
