"""The demand pipeline on Airflow's CeleryExecutor: PostgreSQL 15 and Redis on loopback.

Distributed mode on one machine: the same launcher as `conveyor up`, with the metadata
database and MLflow's backend on PostgreSQL, Redis as the Celery broker, and two Celery
workers: one serving queue `default`, one serving queue `gpu`. The features, training and
scoring DAGs run through the scheduler; where each task ran is read back from Airflow's own
task-instance records (queue, the worker's hostname, pool), not from anything the test did.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.seed import DemoSize, seed_demo, yesterday
from ml_tasks.registry import client as registry

from soak.services import postgres_and_redis
from .stack_helpers import explain_run, free_port, running_stack, wait_all_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
SIZE = DemoSize(stores=3, items=8, days=30)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("celery-stack")
    with postgres_and_redis(("airflow", "mlflow")) as services:
        settings = load_settings(
            home=home, airflow_port=free_port(), mlflow_port=free_port(), mode="compose",
            airflow_db_uri=services.database_uri("airflow"),
            mlflow_backend_store_uri=services.database_uri("mlflow"),
            celery_broker_url=services.broker_url, celery_queues="default,gpu",
        )
        # the seeding trains nothing: it lands raw days and builds features for all but yesterday
        seed_demo(settings, SIZE, end=yesterday(), leave_unbuilt=1, say=lambda m: None)
        with running_stack(settings) as client:
            yield {"settings": settings, "client": client}


def _records(client, settings, dag_id: str) -> list[dict]:
    runs = wait_all_runs(client, dag_id, at_least=1, timeout=900)
    assert {r["state"] for r in runs} == {"success"}, "\n".join(
        explain_run(client, settings, dag_id, r["dag_run_id"]) for r in runs)
    return [ti for r in runs for ti in client.task_instances(dag_id, r["dag_run_id"])]


def _ran(ti: dict) -> bool:
    return ti["state"] == "success" and ti.get("hostname")


def test_celery_workers_are_up_and_the_pool_exists(platform):
    client, settings = platform["client"], platform["settings"]
    assert settings.executor == "CeleryExecutor"
    health = client.health()
    assert all(health[c]["status"] == "healthy" for c in ("metadatabase", "scheduler", "dag_processor", "triggerer"))
    assert client.import_errors() == []
    pool = client.request("GET", "/pools/conveyor_registry")
    assert pool["slots"] == 1


def test_features_run_on_the_default_worker(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused("demand_features", False)  # its run for the latest tick builds yesterday
    records = _records(client, settings, "demand_features")
    build = [ti for ti in records if ti["task_id"] == "build_features" and _ran(ti)]
    assert build, records
    for ti in records:
        if _ran(ti):
            assert ti["queue"] == "default" and ti["hostname"].endswith("-default"), ti
    assert yesterday() in Lake.from_settings(settings).partitions("features", "demand")


def test_training_runs_lightning_on_the_gpu_worker_and_promotes_through_the_pool(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused("demand_train", False)  # its run for the latest tick trains on the new day
    records = _records(client, settings, "demand_train")
    by_task = {ti["task_id"]: ti for ti in records if _ran(ti)}
    lightning, lgbm = by_task["train_lightning"], by_task["train_lightgbm"]
    assert lightning["queue"] == "gpu" and lightning["hostname"].endswith("-gpu"), lightning
    assert lgbm["queue"] == "default" and lgbm["hostname"].endswith("-default"), lgbm
    assert lightning["hostname"] != lgbm["hostname"]
    others = [ti for ti in by_task.values() if ti["task_id"] != "train_lightning"]
    assert all(ti["queue"] == "default" for ti in others), others
    assert by_task["promote"]["pool"] == "conveyor_registry"

    client_ml = tracking.connect(settings)
    champion = registry.version_by_alias(client_ml, "demand", registry.CHAMPION)
    assert champion is not None
    assert settings.mlflow_backend_store_uri.startswith("postgresql+psycopg2://")


def test_scoring_writes_yesterdays_predictions_from_the_champion(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused("demand_score", False)  # scores the day before its latest tick
    records = _records(client, settings, "demand_score")
    assert all(ti["queue"] == "default" for ti in records if _ran(ti)), records
    # The run of the latest 03:00 tick scores the day before the tick: yesterday after 03:00 UTC,
    # the day before yesterday when the test runs between midnight and 03:00.
    ticks = [r["logical_date"] for r in client.request("GET", "/dags/demand_score/dagRuns")["dag_runs"]]
    scored = datetime.fromisoformat(max(ticks).replace("Z", "+00:00")).date() - timedelta(days=1)
    assert scored in (yesterday(), yesterday() - timedelta(days=1)), ticks
    preds = Lake.from_settings(settings).read_partition("predictions", "demand", scored)
    champion = registry.version_by_alias(tracking.connect(settings), "demand", registry.CHAMPION)
    assert len(preds) == SIZE.stores * SIZE.items * 24
    assert set(preds["model_version"]) == {str(champion.version)}
    assert yesterday() - timedelta(days=1) in Lake.from_settings(settings).partitions("features", "demand")
