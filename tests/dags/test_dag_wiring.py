"""How the demand DAGs are scheduled and connected through Assets."""

import json

import pytest

from conveyor_factory import build_pipeline_dags


@pytest.fixture(scope="module")
def dags():
    return build_pipeline_dags("demand")


def test_train_runs_nightly_or_on_a_retrain_request(dags):
    train = dags["demand_train"]
    timetable = train.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert "retrain_request:demand" in repr(train.timetable.asset_condition)
    assert "0 2 * * *" in repr(timetable.timetable.summary)


def test_drift_request_task_updates_the_retrain_asset(dags):
    task = dags["demand_drift"].get_task("request_retrain")
    assert [a.name for a in task.outlets] == ["retrain_request:demand"]
    decide = dags["demand_drift"].get_task("decide_retrain")
    assert [a.name for a in decide.inlets] == ["retrain_request:demand"]  # reads the last request (cooldown)
    assert decide.downstream_task_ids == {"request_retrain"}  # which skips itself when the decision does not fire


def test_features_publish_emits_the_features_asset(dags):
    task = dags["demand_features"].get_task("publish_features")
    assert [a.name for a in task.outlets] == ["features:demand"]


def test_a_teardown_removes_what_a_failed_features_run_staged(dags):
    dag = dags["demand_features"]
    cleanup = dag.get_task("discard_staging")
    assert cleanup.is_teardown and "publish_features" in cleanup.upstream_task_ids
    assert not dag.leaves or {t.task_id for t in dag.leaves} == {"discard_staging"}


def test_promotion_announces_the_model_asset_only_after_the_gate(dags):
    dag = dags["demand_train"]
    assert [a.name for a in dag.get_task("announce_champion").outlets] == ["model:demand"]
    assert dag.get_task("promote").downstream_task_ids == {"announce_champion"}  # skipped unless @champion moved


def test_features_dag_processes_daily_intervals(dags):
    assert type(dags["demand_features"].timetable).__name__ == "CronDataIntervalTimetable"


def test_without_approval_the_gate_feeds_promote_directly(dags):
    dag = dags["demand_train"]
    assert "approve" not in dag.task_ids
    assert dag.get_task("gate").downstream_task_ids == {"promote"}
    assert dag.get_task("promote").pool == "default_pool"  # embedded: the registry file lock serialises


def test_a_spec_asking_for_approval_puts_airflows_approval_task_between_gate_and_promote(demand_spec):
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from conveyor_factory.train_dag import build_train_dag

    promotion = demand_spec.promotion.model_copy(update={"require_approval": True, "approval_timeout_hours": 12})
    dag = build_train_dag(demand_spec.model_copy(update={"promotion": promotion}), {}, "compose")
    approve = dag.get_task("approve")
    assert isinstance(approve, ApprovalOperator) and approve.defaults == ["Reject"]
    assert approve.response_timeout.total_seconds() == 12 * 3600
    assert dag.get_task("gate_says_promote").downstream_task_ids == {"approve"}
    assert approve.downstream_task_ids == {"promote"}
    assert dag.get_task("promote").pool == "conveyor_registry"  # one alias move at a time across workers
    assert dag.get_task("gate").pool == "default_pool"


def test_rollback_takes_the_registry_pool_like_promote_beyond_one_machine(demand_spec):
    from conveyor_factory.rollback_dag import build_rollback_dag

    assert build_rollback_dag(demand_spec, {}, "compose").get_task("rollback").pool == "conveyor_registry"
    assert build_rollback_dag(demand_spec, {}, "kubernetes").get_task("rollback").pool == "conveyor_registry"
    assert build_rollback_dag(demand_spec, {}).get_task("rollback").pool == "default_pool"


def test_every_dags_trigger_form_accepts_its_own_defaults(dags):
    """The UI's trigger form keeps Trigger disabled while a param is required and empty: a
    string-only `dt` with default "" is exactly that, so `dt` must be optional (null)."""
    for dag_id, dag in dags.items():
        assert dag.params.validate()["dt"] is None, dag_id
        dt = dag.params.get_param("dt").schema
        assert "null" in dt["type"] and dt["format"] == "date", (dag_id, dt)


def test_a_dt_that_is_not_a_date_is_refused_with_a_clear_error(dags):
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    param = dags["demand_train"].params.get_param("dt")
    assert param.resolve("2026-03-01") == "2026-03-01"
    with pytest.raises(ParamValidationError, match="is not a 'date'"):
        Param(param.value, **param.schema).resolve("03/01/2026")


def test_register_waits_for_every_family_and_runs_when_one_of_them_failed(dags):
    dag = dags["demand_train"]
    register = dag.get_task("register")
    assert register.upstream_task_ids == {"plan", "train_naive", "train_lightgbm", "train_lightning"}
    # all done, at least one upstream succeeded: a failed family stays red, the others are registered
    assert register.trigger_rule == "all_done_min_one_success"
    assert all(dag.get_task(t).trigger_rule == "all_success" for t in ("gate", "promote", "train_lightning"))


def test_tasks_with_evidence_offer_buttons_that_survive_serialization(dags):
    """Training, registry and drift tasks declare their evidence links; the serialized DAG (what the
    API server renders) keeps one stored link per kind, so two buttons never share a value."""
    from airflow.serialization.serialized_objects import DagSerialization

    expected = {
        ("demand_train", "plan"): {"MLflow run"},
        ("demand_train", "train_naive"): {"MLflow run"},
        ("demand_train", "train_lightgbm"): {"MLflow run"},
        ("demand_train", "train_lightning"): {"MLflow run"},
        ("demand_train", "register"): {"Model version", "MLflow run"},
        ("demand_train", "gate"): {"Model version"},
        ("demand_train", "promote"): {"Model version"},
        ("demand_drift", "check_drift"): {"Evidently report", "MLflow run"},
        ("demand_features", "gate_raw"): {"Validation report"},
        ("demand_features", "gate_features"): {"Validation report"},
        ("demand_features", "publish_features"): {"Validation report"},
        ("demand_score", "score"): {"Predictions"},
    }
    for (dag_id, task_id), names in expected.items():
        task = dags[dag_id].get_task(task_id)
        assert {link.name for link in task.operator_extra_links} == names, (dag_id, task_id)
        serialized = DagSerialization.to_dict(dags[dag_id])["dag"]["tasks"]
        stored = next(t["__var"] for t in serialized if t["__var"]["task_id"] == task_id)["_operator_extra_links"]
        assert set(stored) == names and len(set(stored.values())) == len(names), stored


def test_alerts_hang_on_the_tasks_that_raise_them(dags):
    from conveyor_factory.callbacks import ConveyorNotifier

    def events(task, hook):
        return [n.event for n in (getattr(task, hook) or []) if isinstance(n, ConveyorNotifier)]

    for gate in ("gate_raw", "gate_features"):
        assert events(dags["demand_features"].get_task(gate), "on_failure_callback") == ["quarantine"]
    for family in ("train_lightgbm", "train_lightning"):
        assert events(dags["demand_train"].get_task(family), "on_failure_callback") == ["training_failed"]
    assert events(dags["demand_train"].get_task("announce_champion"), "on_success_callback") == ["champion_changed"]
    assert events(dags["demand_drift"].get_task("request_retrain"), "on_success_callback") == ["retrain_requested"]


def test_a_spec_deadline_becomes_a_deadline_alert_on_the_features_dag(demand_spec):
    from datetime import timedelta

    from airflow.serialization.serialized_objects import DagSerialization

    from conveyor_factory.features_dag import build_features_dag

    assert build_features_dag(demand_spec, {}).deadline in (None, [])
    features = demand_spec.features.model_copy(update={"deadline_hours": 6})
    dag = build_features_dag(demand_spec.model_copy(update={"features": features}), {})
    deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert [d.interval for d in deadlines] == [timedelta(days=1, hours=6)]
    assert "deadline_missed" in json.dumps(DagSerialization.to_dict(dag)["dag"], default=str)
