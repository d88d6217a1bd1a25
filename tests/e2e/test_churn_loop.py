"""The churn pipeline (classification) runs the full loop on the real embedded stack.

Subscriber data is seeded to two weeks before yesterday. `churn_train` trains both classifier
families through the scheduler and promotes a first champion; `churn_score` writes
probabilities. Then a plan-mix campaign lands (half the customers move to the basic plan,
territories are redrawn): the features DAG publishes the newest day, `churn_drift` sees the
categorical drift in plan and region and requests a retrain, and the scheduler runs
`churn_train` from that Asset; its gate decides on log loss.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import load_spec
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.churn_data import ChurnDataConfig, land_churn_data
from ml_tasks.demo.seed import seed_churn, yesterday
from ml_tasks.registry import client as registry

from .stack_helpers import running_stack, stack_settings, wait_all_runs, wait_asset_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
CUSTOMERS, NORMAL_DAYS, CAMPAIGN_DAYS = 1500, 8 + 28, 14
CHURN_DAGS = [f"churn_{kind}" for kind in ("features", "train", "score", "drift", "rollback")]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("churn-stack")
    settings = stack_settings(home, light_training=False)  # the first classifier must beat the logistic baseline
    normal_end = yesterday() - timedelta(days=CAMPAIGN_DAYS)
    seed_churn(settings, customers=CUSTOMERS, days=NORMAL_DAYS, end=normal_end, leave_unbuilt=0, say=lambda m: None)
    with running_stack(settings) as client:
        client.wait_for_dags(CHURN_DAGS)
        yield {"settings": settings, "client": client, "normal_end": normal_end}


def test_training_through_the_scheduler_promotes_a_classifier(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused("churn_train", False)  # the scheduler starts the latest nightly run
    runs = wait_all_runs(client, "churn_train", at_least=1)
    assert {r["state"] for r in runs} == {"success"}, runs
    champion = registry.version_by_alias(tracking.connect(settings), "churn", registry.CHAMPION)
    candidates = json.loads(champion.tags["conveyor.candidates"])
    assert set(candidates) == {"base_rate", "logistic", "lightgbm", "lightning"}  # judged on log loss
    assert "ROC AUC" in champion.description


def test_scoring_writes_probabilities(platform):
    client, settings = platform["client"], platform["settings"]
    client.set_paused("churn_score", False)
    run_id = client.trigger("churn_score", conf={"dt": platform["normal_end"].isoformat()})
    assert client.wait_for_run("churn_score", run_id, timeout=300) == "success"
    preds = Lake.from_settings(settings).read_partition("predictions", "churn", platform["normal_end"])
    assert len(preds) > 0.9 * CUSTOMERS and preds["prediction"].between(0, 1).all()


def test_categorical_drift_requests_a_retrain_that_the_scheduler_runs(platform):
    client, settings = platform["client"], platform["settings"]
    lake = Lake.from_settings(settings)
    spec = load_spec("churn", settings.specs_dir)
    start = platform["normal_end"] - timedelta(days=NORMAL_DAYS - 1)
    campaign = ChurnDataConfig(
        customers=CUSTOMERS,
        start=start,
        days=NORMAL_DAYS + CAMPAIGN_DAYS,
        drift_from=platform["normal_end"] + timedelta(days=1),
        drift_kind="plan_mix",
    )
    land_churn_data(campaign, lake)  # identical rows up to normal_end, then the campaign
    backfill_features(settings, spec, campaign.dates[-CAMPAIGN_DAYS:-1], progress=lambda m: None)

    client.set_paused("churn_features", False)  # publishes yesterday, the newest day
    runs = wait_all_runs(client, "churn_features")
    assert runs[0]["state"] == "success" and lake.exists("features", "churn", yesterday()), runs

    client.set_paused("churn_drift", False)  # its scheduled run checks yesterday's window as well
    run_id = client.trigger("churn_drift", conf={"dt": yesterday().isoformat()})
    assert client.wait_for_run("churn_drift", run_id, timeout=300) == "success"
    data = client.xcom("churn_drift", run_id, "check_drift")["signals"]["data_drift"]
    assert data["detected"] and {"plan", "region"} <= set(data["drifted_columns"]), data
    drift_runs = wait_all_runs(client, "churn_drift")
    decisions = [client.xcom("churn_drift", r["dag_run_id"], "decide_retrain") for r in drift_runs]
    assert sum(d["fire"] for d in decisions) == 1, decisions  # one request, however many checks saw it

    asset_runs = wait_asset_runs(client, "churn_train")
    assert len(asset_runs) == 1 and asset_runs[0]["state"] == "success", asset_runs
    versions = tracking.connect(settings).search_model_versions("name='churn'")
    latest = max(versions, key=lambda v: int(v.version))
    decision = json.loads(latest.tags["conveyor.promotion_decision"])
    assert decision["checks"]["paired_bootstrap"]["metric"] == "log_loss"
    assert latest.tags["airflow.run_id"] == asset_runs[0]["dag_run_id"]
