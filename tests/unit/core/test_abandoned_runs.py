"""A retried training task closes the MLflow run its killed attempt left RUNNING."""

from __future__ import annotations

from ml_tasks.core import tracking
from ml_tasks.core.settings import load_settings


def test_runs_left_running_by_a_killed_attempt_are_marked_killed(tmp_path):
    settings = load_settings(home=tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = tracking.connect(settings)
    exp = tracking.ensure_experiment(settings, "demand_training")
    mine = {"mlflow.parentRunId": "parent-1", "conveyor.model_family": "lightning"}
    killed = client.create_run(exp, tags=mine)  # a killed process never ends its run
    other_family = client.create_run(exp, tags={**mine, "conveyor.model_family": "lightgbm"})
    finished = client.create_run(exp, tags=mine)
    client.set_terminated(finished.info.run_id)

    assert tracking.close_abandoned_runs(settings, exp, mine) == [killed.info.run_id]
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    assert client.get_run(killed.info.run_id).data.tags["conveyor.abandoned"]
    assert client.get_run(other_family.info.run_id).info.status == "RUNNING"
    assert client.get_run(finished.info.run_id).info.status == "FINISHED"
    assert tracking.close_abandoned_runs(settings, exp, mine) == []


def test_the_trial_runs_nested_under_an_abandoned_run_are_closed_with_it(tmp_path):
    """A kill during tuning leaves the family run and the trial it was in RUNNING (soak, kill_scheduler)."""
    settings = load_settings(home=tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = tracking.connect(settings)
    exp = tracking.ensure_experiment(settings, "demand_training")
    mine = {"mlflow.parentRunId": "parent-1", "conveyor.model_family": "lightgbm"}
    family = client.create_run(exp, tags=mine)
    done_trial = client.create_run(exp, tags={"mlflow.parentRunId": family.info.run_id})
    client.set_terminated(done_trial.info.run_id)
    open_trial = client.create_run(exp, tags={"mlflow.parentRunId": family.info.run_id})
    inner = client.create_run(exp, tags={"mlflow.parentRunId": open_trial.info.run_id})
    unrelated = client.create_run(exp, tags={"mlflow.parentRunId": "someone-else"})

    closed = tracking.close_abandoned_runs(settings, exp, mine)

    assert closed == [family.info.run_id, open_trial.info.run_id, inner.info.run_id]
    assert {client.get_run(r).info.status for r in closed} == {"KILLED"}
    assert client.get_run(done_trial.info.run_id).info.status == "FINISHED"
    assert client.get_run(unrelated.info.run_id).info.status == "RUNNING"
