"""A training task retried after a kill registers nothing twice and leaves no run looking alive."""

from __future__ import annotations

from ml_tasks.core import tracking
from ml_tasks.registry import client as registry
from ml_tasks.registry.registration import register_best
from ml_tasks.training.candidate import train_model
from ml_tasks.training.plan import plan_training


def test_register_after_a_killed_attempt_reuses_the_version(loop, demand_spec):
    settings = loop["settings"]
    spec = demand_spec.model_copy(update={"training": demand_spec.training.model_copy(update={"models": ["lightgbm"]})})
    plan = plan_training(settings, spec, {"airflow.run_id": "retry-test"})
    result = train_model(settings, spec, plan, "lightgbm")
    client = tracking.connect(settings)
    before = client.search_model_versions(f"name='{registry.model_name(spec.name)}'")

    first = register_best(settings, spec, plan, [result])
    again = register_best(settings, spec, plan, [result])  # the retry of a register killed after registering

    after = client.search_model_versions(f"name='{registry.model_name(spec.name)}'")
    assert again["version"] == first["version"]
    assert len(after) == len(before) + 1


def test_a_retried_training_closes_the_run_its_killed_attempt_left_running(loop, demand_spec):
    settings = loop["settings"]
    spec = demand_spec.model_copy(update={"training": demand_spec.training.model_copy(update={"models": ["lightgbm"]})})
    plan = plan_training(settings, spec, {"airflow.run_id": "kill-test"})
    client = tracking.connect(settings)
    exp = client.get_experiment_by_name(tracking.training_experiment(spec.name)).experiment_id
    killed = client.create_run(
        exp, tags={**plan["tags"], "mlflow.parentRunId": plan["parent_run_id"], "conveyor.model_family": "lightgbm"}
    )
    train_model(settings, spec, plan, "lightgbm")
    children = client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{plan['parent_run_id']}'")
    assert sorted(r.info.status for r in children) == ["FINISHED", "KILLED"]
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
