"""The whole loop on the real embedded stack: Airflow's scheduler, MLflow's server, Spark.

Data is seeded to end a week before yesterday. Training runs through the scheduler, scoring
writes predictions from `@champion`, then a price regime change lands for the last week; the
features DAG publishes it, the drift DAG detects it and updates the retrain-request Asset, and
the scheduler starts `demand_train` from that Asset event.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pandas as pd
import pytest

from ml_tasks import registry
from ml_tasks.backfill import backfill_features
from ml_tasks.demand_data import DemandDataConfig, generate_day, land_demand_data, series_params
from ml_tasks.demo import DemoSize, seed_demo, yesterday
from ml_tasks.lake import Lake
from ml_tasks.settings import load_settings
from ml_tasks.spec import load_spec

from .stack_helpers import free_port, running_stack, wait_all_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
SIZE = DemoSize(stores=3, items=8, days=30)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack")
    settings = load_settings(home=home, airflow_port=free_port(), mlflow_port=free_port())
    normal_end = yesterday() - timedelta(days=7)
    seed_demo(settings, SIZE, end=normal_end, leave_unbuilt=0, say=lambda m: None)
    with running_stack(settings) as client:
        yield {"settings": settings, "client": client, "normal_end": normal_end}


def test_health_and_dags_listed_without_import_errors(platform):
    client = platform["client"]
    health = client.health()
    assert all(health[c]["status"] == "healthy" for c in ("metadatabase", "scheduler", "dag_processor", "triggerer"))
    assert client.import_errors() == []
    import requests

    assert requests.get(f"{platform['settings'].mlflow_url}/health", timeout=10).status_code == 200
    ui = requests.get(platform["settings"].mlflow_url, timeout=10)
    assert ui.status_code == 200 and "MLflow" in ui.text
    assert requests.get(platform["settings"].airflow_url, timeout=10).status_code == 200


def test_training_through_the_scheduler_creates_a_loadable_champion(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused("demand_train", False)
    client.trigger("demand_train")
    runs = wait_all_runs(client, "demand_train", at_least=2)
    assert {r["state"] for r in runs} == {"success"}, runs
    import mlflow

    registry.connect(settings)
    model = mlflow.pyfunc.load_model(registry.model_uri("demand"))
    features = Lake(settings.lake_uri).read_partition("features", "demand", platform["normal_end"])
    assert len(model.predict(features)) == len(features)


def test_scoring_writes_predictions_from_the_champion(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused("demand_score", False)
    runs = wait_all_runs(client, "demand_score")
    assert runs[0]["state"] == "success", runs
    lake = Lake(settings.lake_uri)
    assert lake.partitions("predictions", "demand") == [platform["normal_end"]]
    preds = lake.read_partition("predictions", "demand", platform["normal_end"])
    champion = registry.version_by_alias(registry.connect(settings), "demand", registry.CHAMPION)
    assert len(preds) == SIZE.stores * SIZE.items * 24 and set(preds["model_version"]) == {str(champion.version)}


def test_injected_drift_fires_the_asset_and_the_scheduler_retrains(platform):
    client, settings = platform["client"], platform["settings"]
    spec = load_spec("demand", settings.specs_dir)
    lake = Lake(settings.lake_uri)
    start = platform["normal_end"] + timedelta(days=1)
    drifted = DemandDataConfig(stores=SIZE.stores, items=SIZE.items, days=7, start=start,
                               drift_from=start, drift_kind="price")
    land_demand_data(drifted, lake)
    backfill_features(settings, spec, drifted.dates[:-1], progress=lambda m: None)

    client.set_paused("demand_features", False)  # the scheduler runs the latest interval: yesterday
    runs = wait_all_runs(client, "demand_features")
    assert runs[0]["state"] == "success", runs
    assert lake.exists("features", "demand", yesterday())

    client.set_paused("demand_drift", False)
    drift_runs = wait_all_runs(client, "demand_drift")
    assert drift_runs[0]["state"] == "success", drift_runs
    states = client.task_states("demand_drift", drift_runs[0]["dag_run_id"])
    assert states["request_retrain"] == "success", states

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        asset_runs = [r for r in client.runs("demand_train") if r["run_type"] == "asset_triggered"]
        if asset_runs and asset_runs[0]["state"] in ("success", "failed"):
            break
        time.sleep(5)
    assert len(asset_runs) == 1 and asset_runs[0]["state"] == "success", asset_runs


def test_bad_raw_day_fails_the_gate_and_clearing_after_relanding_processes_it(platform):
    client, settings = platform["client"], platform["settings"]
    lake = Lake(settings.lake_uri)
    day = platform["normal_end"] - timedelta(days=1)
    cfg = DemandDataConfig(stores=SIZE.stores, items=SIZE.items, days=1, start=day)
    good = generate_day(cfg, series_params(cfg), day)
    features_before = lake.read_partition("features", "demand", day)
    lake.write_partition(good.assign(price=-1.0), "raw", "demand", day)  # a broken price feed

    run_id = client.trigger("demand_features", conf={"dt": day.isoformat()})
    assert client.wait_for_run("demand_features", run_id, timeout=300) == "failed"
    states = client.task_states("demand_features", run_id)
    assert states["gate_raw"] == "failed" and states["build_features"] == "upstream_failed", states
    assert not lake.exists("raw", "demand", day) and lake.fs.exists(lake.partition("quarantine", "demand", day) + "/raw/report.html")
    pd.testing.assert_frame_equal(lake.read_partition("features", "demand", day), features_before)

    lake.write_partition(good, "raw", "demand", day)  # fixed upstream and landed again
    client.clear_task("demand_features", run_id, "gate_raw")
    assert client.wait_for_run("demand_features", run_id, timeout=300) == "success"
    assert set(client.task_states("demand_features", run_id).values()) == {"success"}
