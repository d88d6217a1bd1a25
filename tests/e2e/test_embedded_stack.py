"""The whole loop on the real embedded stack: Airflow's scheduler, MLflow's server, Spark.

Data is seeded to end two weeks before yesterday. Training runs through the scheduler; then
demand quadruples for the last two weeks and scoring writes predictions from `@champion`. Four
drift checks run (one on the old, quiet window, three on drifted windows, plus the scheduled one):
the quiet one requests nothing, exactly one drifted check fires the retrain-request Asset and the
others are suppressed (cooldown, or absorbed by the queued training run); the scheduler starts one
`demand_train` from that Asset, and the gate judges the retrained model against the champion on
the drifted holdout, the alias following its decision.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import pytest
import yaml

from conveyor_plugin.overview import day_report
from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.polling import wait_until
from ml_tasks.core.spec import load_spec
from ml_tasks.data.backfill import backfill_features
from ml_tasks.data.landing import land_files
from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, land_demand_data, series_params
from ml_tasks.demo.seed import DemoSize, seed_demo, yesterday
from ml_tasks.platform.airflow_api.relanding import announce_relanded
from ml_tasks.registry import client as registry
from ml_tasks.registry.audit import history

from .stack_helpers import alert_receiver, running_stack, stack_settings, wait_all_runs, wait_asset_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
SIZE = DemoSize(stores=3, items=8, days=30)
DRIFT_DAYS = 14  # a week in the new training window, a week in its holdout
# The drifted regime: demand x(1 + DEMAND_JUMP). The drift checks see data drift on every drifted
# window (share 0.57 on three calendars replayed in-process). Which model the gate keeps is not
# fixed in advance: the champion scales its target by its trailing weekly mean, which follows a
# new level within a week, and trained before the jump it beat the retrain (CI of 59789c5: holdout
# MAE 3.89 vs 4.82; in-process on two calendars: retrain worse by +0.66 and +0.80, both 95%
# intervals above zero). A relaunch (items and weekdays trading places as well, x4) did not make
# the retrain reliably better either: on two of three calendars it lost to the week-ago naive.
DEMAND_JUMP = 3.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack")
    with alert_receiver() as (hook, alerts):
        settings = stack_settings(home, alert_webhook_url=hook)
        demand_yaml = settings.specs_dir / "demand.yaml"  # with a features deadline for the demand pipeline
        demand = yaml.safe_load(demand_yaml.read_text())
        demand["features"]["deadline_hours"] = 2
        demand_yaml.write_text(yaml.safe_dump(demand, sort_keys=False))
        normal_end = yesterday() - timedelta(days=DRIFT_DAYS)
        seed_demo(settings, SIZE, end=normal_end, leave_unbuilt=0, say=lambda m: None)
        with running_stack(settings) as client:
            yield {"settings": settings, "client": client, "normal_end": normal_end, "alerts": alerts}


def alerts_of(platform, event: str) -> list[dict]:
    return [a for a in platform["alerts"] if a["event"] == event]


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
    client.set_paused("demand_train", False)  # the scheduler starts the latest nightly run
    runs = wait_all_runs(client, "demand_train", at_least=1)
    assert [r["run_type"] for r in runs] == ["scheduled"], runs
    assert {r["state"] for r in runs} == {"success"}, runs
    import mlflow

    tracking.connect(settings)
    model = mlflow.pyfunc.load_model(registry.model_uri("demand"))
    features = Lake.from_settings(settings).read_partition("features", "demand", platform["normal_end"])
    assert len(model.predict(features)) == len(features)
    moves = history(settings, "demand")  # one alert per move of @champion, naming the new version
    wait_until(lambda: len(alerts_of(platform, "champion_changed")) >= len(moves), 60, "the champion alerts")
    assert [a["details"]["champion"] for a in alerts_of(platform, "champion_changed")] == [
        m["to_version"] for m in moves
    ]


def test_training_tasks_link_to_their_mlflow_run_and_model_version(platform):
    """The task instance page's buttons, as the API server serves them to the UI, open real MLflow pages."""
    import requests

    client, settings = platform["client"], platform["settings"]
    run = next(r for r in wait_all_runs(client, "demand_train", at_least=1) if r["state"] == "success")
    links = client.extra_links("demand_train", run["dag_run_id"], "train_lightgbm")
    assert links["MLflow run"].startswith(f"{settings.mlflow_url}/#/experiments/"), links
    run_id = links["MLflow run"].rsplit("/", 1)[-1]
    assert tracking.connect(settings).get_run(run_id).data.tags["conveyor.model_family"] == "lightgbm"
    registered = client.extra_links("demand_train", run["dag_run_id"], "register")
    version = registered["Model version"].rsplit("/", 1)[-1]
    assert registered["Model version"] == registry.version_url(settings, "demand", version)
    assert (
        requests.get(
            f"{settings.mlflow_url}/ajax-api/2.0/mlflow/model-versions/get",
            params={"name": "demand", "version": version},
            timeout=10,
        ).status_code
        == 200
    )


def test_scoring_writes_predictions_from_the_champion(platform):
    client, settings = platform["client"], platform["settings"]
    lake = Lake.from_settings(settings)
    start = platform["normal_end"] + timedelta(days=1)
    drifted = DemandDataConfig(
        stores=SIZE.stores,
        items=SIZE.items,
        days=DRIFT_DAYS,
        start=start,
        drift_from=start,
        drift_kind="demand",
        drift_strength=DEMAND_JUMP,
    )
    land_demand_data(drifted, lake)  # demand x4 from here to yesterday
    backfill_features(settings, load_spec("demand", settings.specs_dir), drifted.dates, progress=lambda m: None)

    client.set_paused("demand_score", False)  # its scheduled run scores the day before its tick
    run_id = client.trigger("demand_score", conf={"dt": platform["normal_end"].isoformat()})
    assert client.wait_for_run("demand_score", run_id, timeout=300) == "success"
    runs = wait_all_runs(client, "demand_score", at_least=1)
    assert {r["state"] for r in runs} == {"success"}, runs
    preds = lake.read_partition("predictions", "demand", platform["normal_end"])
    champion = registry.version_by_alias(tracking.connect(settings), "demand", registry.CHAMPION)
    assert len(preds) == SIZE.stores * SIZE.items * 24 and set(preds["model_version"]) == {str(champion.version)}


def test_many_drift_checks_make_one_retrain_that_the_gate_judges_against_the_champion(platform):
    client, settings = platform["client"], platform["settings"]
    registry_client = tracking.connect(settings)
    before = str(registry.version_by_alias(registry_client, "demand", registry.CHAMPION).version)

    client.set_paused("demand_drift", False)  # the scheduled run checks a drifted window too
    quiet = client.trigger("demand_drift", conf={"dt": platform["normal_end"].isoformat()})
    loud = [
        client.trigger("demand_drift", conf={"dt": (yesterday() - timedelta(days=k)).isoformat()}) for k in (2, 1, 0)
    ]
    runs = wait_all_runs(client, "demand_drift", at_least=4)
    assert {r["state"] for r in runs} == {"success"}, runs
    decisions = {r["dag_run_id"]: client.xcom("demand_drift", r["dag_run_id"], "decide_retrain") for r in runs}
    assert decisions[quiet]["outcome"] == "none", decisions[quiet]
    drifted = [d for run_id, d in decisions.items() if run_id != quiet]
    assert all("data_drift" in d["signals"] for d in drifted), drifted
    assert sorted(d["outcome"] for d in drifted) == ["fired"] + ["suppressed"] * (len(drifted) - 1), drifted
    assert all(("cooldown" in d["reason"]) or ("absorbed" in d["reason"]) for d in drifted if not d["fire"])
    assert set(loud) <= set(decisions)

    # The Conveyor view, through the api-server and its login, charts these checks: the drift share
    # against its threshold, with the fired retrain request marked on its day.
    spec = load_spec("demand", settings.specs_dir)
    page = client.page("/conveyor/pipelines/demand")
    fired_run = next(run_id for run_id, d in decisions.items() if d["fire"])
    fired_day = client.xcom("demand_drift", fired_run, "check_drift")["dt"]
    assert "data drift share" in page and f"<title>threshold {spec.drift.drift_share_threshold:g}</title>" in page
    assert f"<title>retrain requested {fired_day}</title>" in page, page[page.find("Monitoring") :][:3000]

    asset_runs = wait_asset_runs(client, "demand_train")
    assert len(asset_runs) == 1 and asset_runs[0]["state"] == "success", asset_runs

    retrained = max(registry_client.search_model_versions("name='demand'"), key=lambda v: int(v.version))
    assert retrained.tags["airflow.run_id"] == asset_runs[0]["dag_run_id"]
    decision = client.xcom("demand_train", asset_runs[0]["dag_run_id"], "gate")
    assert decision["version"] == str(retrained.version) and decision["gated_against"] == before, decision
    assert decision["forced"] is False and json.loads(retrained.tags["conveyor.promotion_decision"])["reason"]
    after = str(registry.version_by_alias(registry_client, "demand", registry.CHAMPION).version)
    if decision["promote"]:  # proven better on the drifted holdout: the alias moved to it
        assert after == str(retrained.version) and "below +0.0000" in decision["reason"], decision
    else:  # not proven better (or not better than a naive forecast): the champion stays
        assert after == before and ("not shown better" in decision["reason"] or "fails" in decision["reason"]), decision
    assert history(settings, "demand")[-1]["to_version"] == after


def test_bad_raw_day_fails_the_gate_and_landing_it_again_reruns_its_features(platform, tmp_path):
    """Quarantined by the real gate; the fixed file landed again: `land`'s Asset event starts demand_relanded,
    which runs demand_features for the day; the day's page tells the story and names the models trained on it."""
    client, settings = platform["client"], platform["settings"]
    lake, spec = Lake.from_settings(settings), load_spec("demand", settings.specs_dir)
    day = platform["normal_end"] - timedelta(days=1)
    cfg = DemandDataConfig(stores=SIZE.stores, items=SIZE.items, days=1, start=day)
    good = generate_day(cfg, series_params(cfg), day)
    good.to_parquet(tmp_path / "fixed.parquet")
    good.assign(price=-1.0).to_parquet(tmp_path / "broken.parquet")  # a broken price feed
    features_before = lake.read_partition("features", "demand", day)
    assert land_files(lake, spec, [tmp_path / "broken.parquet"], say=print).replaced[day] == ["raw", "published"]

    client.set_paused("demand_features", False)  # its scheduled run (yesterday's interval) goes first
    run_id = client.trigger("demand_features", conf={"dt": day.isoformat()})
    assert client.wait_for_run("demand_features", run_id, timeout=400) == "failed"
    states = client.task_states("demand_features", run_id)
    assert states["gate_raw"] == "failed" and states["build_features"] == "upstream_failed", states
    assert not lake.exists("raw", "demand", day) and lake.fs.exists(
        lake.partition("quarantine", "demand", day) + "/raw/report.html"
    )
    pd.testing.assert_frame_equal(lake.read_partition("features", "demand", day), features_before)
    quarantined = wait_until(
        lambda: [a for a in alerts_of(platform, "quarantine") if a["details"]["dt"] == day.isoformat()],
        60,
        f"the quarantine alert of {day}",
    )
    assert len(quarantined) == 1 and quarantined[0]["details"]["stage"] == "raw", quarantined
    assert quarantined[0]["link"].endswith(f"/conveyor/pipelines/demand/days/{day}")
    failed = quarantined[0]["details"]["failed"]  # the expectations and counts, not the rows' values
    assert any("price" in f for f in failed) and not any("e.g." in f for f in failed), failed

    client.set_paused("demand_relanded", False)
    landed = land_files(lake, spec, [tmp_path / "fixed.parquet"], say=print)  # fixed upstream and landed again
    assert landed.again == [day] and "quarantined at the raw gate" in landed.replaced[day]
    said = announce_relanded(settings, "demand", landed.again)
    assert said.startswith("Airflow told (Asset raw:demand): demand_relanded runs demand_features"), said
    rerun = wait_until(
        lambda: [
            r["dag_run_id"] for r in client.runs("demand_features") if r["dag_run_id"].startswith(f"relanded__{day}__")
        ],
        180,
        f"the re-run of {day}",
        every=3,
    )
    assert len(rerun) == 1 and client.wait_for_run("demand_features", rerun[0], timeout=400) == "success"
    assert client.xcom("demand_features", rerun[0], "gate_raw")["dt"] == day.isoformat()

    report = day_report(settings, "demand", day)
    assert report["status"] == "published", report["status"]
    events = [e["event"] for e in report["story"]]
    assert events[-4:] == ["landed", "quarantined", "landed", "published"], report["story"]
    assert report["story"][-1]["by"] == f"demand_features {rerun[0]}"
    assert report["models"], "the champion trained on the day before it was quarantined"
    page = client.page(f"/conveyor/pipelines/demand/days/{day}")
    assert "What happened to this day" in page and "quarantined at the raw gate" in page
    assert f">v{report['models'][-1]['version']}</a>" in page


def test_a_day_past_its_deadline_raises_one_deadline_alert(platform):
    """A run for a day whose raw data never landed, two hours past the day's end: Airflow's deadline fires once."""
    client = platform["client"]
    missing = platform["normal_end"] - timedelta(days=SIZE.days + 10)  # long before the seeded data
    logical = datetime.combine(missing, time(0), tzinfo=UTC).isoformat()
    client.set_paused("demand_features", False)
    run_id = client.trigger("demand_features", conf={"dt": missing.isoformat()}, logical_date=logical)
    found = wait_until(
        lambda: [a for a in alerts_of(platform, "deadline_missed") if a["details"]["run_id"] == run_id],
        300,
        f"the deadline alert of {run_id}",
        every=3,
    )
    assert found[0]["details"]["dt"] == missing.isoformat(), found
    client.wait_for_run("demand_features", run_id, timeout=400)
    assert len([a for a in alerts_of(platform, "deadline_missed") if a["details"]["run_id"] == run_id]) == 1
