"""The monitoring check on real data, models and Evidently: quiet when nothing changed, decay
found once actuals arrive when only the target relationship changed, reports and a time series
in MLflow."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.monitoring.checks import EPOCH, check_drift, latest_check, load_reference, record_decision
from ml_tasks.monitoring.retrain_policy import decide_retrain
from ml_tasks.registry import client as registry
from ml_tasks.serving.batch import score_partition

from ..conftest import DAY0
from .variants import variant

pytestmark = pytest.mark.spark
NORMAL, CHANGED = 8 + 24, 7  # lookback + history days, then days with the concept change


@pytest.fixture(scope="module")
def monitored(tmp_path_factory, demand_spec, spark):
    """A champion trained before a concept change, and its predictions for the last normal week."""
    from ml_tasks.registry.promotion import promote_if_better
    from ml_tasks.registry.registration import train_challenger

    home = tmp_path_factory.mktemp("monitor")
    settings = load_settings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    spec = variant(demand_spec)
    lake = Lake.from_settings(settings)
    cfg = DemandDataConfig(
        stores=3,
        items=10,
        days=NORMAL + CHANGED,
        start=DAY0,
        drift_from=DAY0 + timedelta(days=NORMAL),
        drift_kind="concept",
    )
    land_demand_data(cfg, lake)
    report = backfill_features(settings, spec, cfg.dates[8:], progress=lambda m: None, spark=spark)
    assert not report.quarantined, report.quarantined  # a concept change is not bad data
    normal, changed = cfg.dates[:NORMAL], cfg.dates[NORMAL:]
    promote_if_better(settings, spec, train_challenger(settings, spec, end=normal[-1]))
    for d in normal[-7:]:
        score_partition(settings, spec, d)
    return {"settings": settings, "spec": spec, "lake": lake, "normal": normal, "changed": changed}


def test_unchanged_data_raises_no_signal_and_no_request(monitored):
    settings, spec = monitored["settings"], monitored["spec"]
    verdict = check_drift(settings, spec, monitored["normal"][-1])
    signals = verdict["signals"]
    assert not any(s["detected"] for s in signals.values()), signals
    assert signals["performance_decay"]["evaluated"] and signals["performance_decay"]["rows"] == 7 * 30 * 24
    assert 0.8 < signals["performance_decay"]["ratio"] < 1.2
    decision = decide_retrain(verdict, list(spec.drift.retrain_on), _now(), None, 0, timedelta(hours=24))
    assert decision["outcome"] == "none"


def test_decay_without_input_drift_is_found_once_actuals_arrive(monitored):
    settings, spec, changed = monitored["settings"], monitored["spec"], monitored["changed"]
    before = check_drift(settings, spec, changed[-1])  # no predictions joined with actuals for these days yet
    decay = before["signals"]["performance_decay"]
    assert not decay["evaluated"] and not decay["detected"]

    for d in changed:
        score_partition(settings, spec, d)
    after = check_drift(settings, spec, changed[-1])
    decay = after["signals"]["performance_decay"]
    assert decay["evaluated"] and decay["detected"], repr(decay)
    assert decay["ratio_low"] > 1 + spec.drift.decay_tolerance and decay["ratio"] > decay["ratio_low"]
    assert not after["signals"]["data_drift"]["detected"], after["signals"]["data_drift"]  # inputs look the same
    decision = decide_retrain(after, list(spec.drift.retrain_on), _now(), None, 0, timedelta(hours=24))
    assert decision["fire"] and "performance_decay" in decision["signals"]
    record_decision(settings, spec, after, decision)
    monitored["fired"] = after


def test_reports_and_metrics_over_time_land_in_the_monitoring_run(monitored):
    settings, spec = monitored["settings"], monitored["spec"]
    fired = monitored["fired"]
    client = tracking.connect(settings)
    run = client.get_run(fired["monitor_run_id"])
    champion = registry.version_by_alias(client, "demand", registry.CHAMPION)
    assert run.data.tags["conveyor.monitor_of"] == str(champion.version)
    history = client.get_metric_history(run.info.run_id, "drift_share")
    days = sorted({EPOCH + timedelta(days=m.step) for m in history})
    assert days == [monitored["normal"][-1], monitored["changed"][-1]]  # one point per checked day
    decay = client.get_metric_history(run.info.run_id, "decay_ratio")
    assert max(m.value for m in decay) > 1 + spec.drift.decay_tolerance
    assert [m.value for m in client.get_metric_history(run.info.run_id, "retrain_requested")] == [1.0]
    day = fired["dt"]
    files = {a.path for a in client.list_artifacts(run.info.run_id, f"checks/dt={day}")}
    assert {
        f"checks/dt={day}/{name}"
        for name in (
            "data_drift.html",
            "data_drift.json",
            "prediction_drift.html",
            "prediction_drift.json",
            "performance.json",
            "verdict.json",
            "retrain_decision.json",
        )
    } <= files
    assert "monitoring_timeseries.png" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert fired["report_uri"].endswith(f"/runs/{run.info.run_id}/artifacts/checks/dt={day}/data_drift.html")
    assert latest_check(settings, "demand")["dt"] == day
    performance = json.loads(
        open(client.download_artifacts(run.info.run_id, f"checks/dt={day}/performance.json")).read()
    )
    assert performance["days"]["joined"] == [d.isoformat() for d in monitored["changed"]]


def test_prediction_drift_is_judged_on_the_unseen_holdout_week_and_older_champions_still_check(monitored):
    settings, spec = monitored["settings"], monitored["spec"]
    client = tracking.connect(settings)
    champion = registry.version_by_alias(client, spec.name, registry.CHAMPION)
    holdout = load_reference(settings, champion, "holdout")
    assert len(holdout) == 7 * 30 * 24  # every row of the holdout week (fewer than the sample size)
    run_id = champion.tags.get("conveyor.reference_run_id", champion.run_id)
    logged = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://")) / "reference" / "holdout.parquet"
    kept = logged.read_bytes()
    logged.unlink()  # as a champion trained before the holdout sample was logged
    try:
        assert load_reference(settings, champion, "holdout") is None
        verdict = check_drift(settings, spec, monitored["normal"][-1])  # falls back to the training rows
        assert verdict["signals"]["prediction_drift"]["score"] >= 0
    finally:
        logged.write_bytes(kept)


def _now():
    from datetime import datetime

    return datetime.now(UTC)
