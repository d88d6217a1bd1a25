"""Performance decay without input drift, and Airflow backfills of scoring and monitoring.

On the real embedded stack: a champion is trained on normal data; a drift check of that data
requests nothing. Then the target relationship changes for the last week (the generator's
concept drift: the same inputs, different demand). Airflow backfills score those days with
the champion and replay the drift checks over them (history: backfill runs never request a
retrain); once actuals are joined with the predictions, today's check finds the decay without
data drift and the scheduler retrains from the Asset event.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from ml_tasks.core.lake import Lake
from ml_tasks.core.spec import load_spec
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.demo.seed import DemoSize, seed_demo, yesterday
from ml_tasks.platform.stack.environment import venv_executable

from .stack_helpers import asset_runs, running_stack, stack_settings, wait_all_runs, wait_asset_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
SIZE = DemoSize(stores=3, items=10, days=8 + 24)
CHANGED_DAYS = 7
# Decay is declared once its 90% lower bound clears x1.2. With the generator's default strength
# (0.6) a week ending 2026-01-03 (the holdout week holds Christmas) read x1.26, bound x1.17: not
# shown; at 1.0 it reads x1.36, bound x1.27 (2026-12-01: x1.48, bound x1.41), data drift share
# 0.43 and 0.29 (< 0.5). On 2026-12-07 (the week ending 12-06) 1.0 was no longer shown (detected false,
# twice); 1.4 is: 3 passed, data drift still not detected. The calendar moves the margin, so keep it wide.
CONCEPT_STRENGTH = 1.4


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    home = tmp_path_factory.mktemp("decay")
    settings = stack_settings(home)
    normal_end = yesterday() - timedelta(days=CHANGED_DAYS)
    seed_demo(settings, SIZE, end=normal_end, leave_unbuilt=0, say=lambda m: None)
    with running_stack(settings) as client:
        for dag_id in ("demand_train", "demand_score", "demand_drift"):
            client.set_paused(dag_id, False)
        yield {"settings": settings, "client": client, "normal_end": normal_end}


def _utc(day, hour: int = 0, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).isoformat()


def test_no_drift_no_retrain(platform):
    client = platform["client"]  # unpaused, demand_train starts its latest nightly run
    assert {r["state"] for r in wait_all_runs(client, "demand_train")} == {"success"}
    wait_all_runs(client, "demand_drift", at_least=0)  # a scheduled check of a day without data skips
    run_id = client.trigger("demand_drift", conf={"dt": platform["normal_end"].isoformat()})
    assert client.wait_for_run("demand_drift", run_id, timeout=300) == "success"
    decision = client.xcom("demand_drift", run_id, "decide_retrain")
    assert decision["outcome"] == "none" and not decision["fire"], decision
    assert client.task_states("demand_drift", run_id)["request_retrain"] == "skipped"
    time.sleep(15)  # give the scheduler a chance to (wrongly) start a retrain
    assert asset_runs(client, "demand_train") == []


def test_backfills_replay_scoring_and_monitoring_without_requesting_retrains(platform):
    client, settings = platform["client"], platform["settings"]
    lake = Lake.from_settings(settings)
    start = platform["normal_end"] + timedelta(days=1)
    changed = DemandDataConfig(
        stores=SIZE.stores,
        items=SIZE.items,
        days=CHANGED_DAYS,
        start=start,
        drift_from=start,
        drift_kind="concept",
        drift_strength=CONCEPT_STRENGTH,
    )
    land_demand_data(changed, lake)
    report = backfill_features(
        settings, load_spec("demand", settings.specs_dir), changed.dates, progress=lambda m: None
    )
    assert report.published == changed.dates

    # Ticks at 03:00 from the second changed day to the day before yesterday; each run looks at
    # the day before its tick. (The newest tick belongs to the scheduled run made on unpause.)
    window = (_utc(start + timedelta(days=1)), _utc(yesterday() - timedelta(days=1), 23, 59))
    replayed = CHANGED_DAYS - 2
    client.backfill("demand_score", *window)
    score_runs = [r for r in wait_all_runs(client, "demand_score", at_least=replayed) if r["run_type"] == "backfill"]
    assert len(score_runs) == replayed and {r["state"] for r in score_runs} == {"success"}, score_runs
    for day in (yesterday() - timedelta(days=1), yesterday()):
        run_id = client.trigger("demand_score", conf={"dt": day.isoformat()})
        assert client.wait_for_run("demand_score", run_id, timeout=300) == "success"
    assert all(lake.exists("predictions", "demand", d) for d in changed.dates)

    # The drift replay through the CLI the docs show (`conveyor airflow backfill create`).
    env = {
        **os.environ,
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_AIRFLOW_PORT": str(settings.airflow_port),
        "CONVEYOR_MLFLOW_PORT": str(settings.mlflow_port),
    }
    created = subprocess.run(
        [
            venv_executable("conveyor"),
            "airflow",
            "backfill",
            "create",
            "--dag-id",
            "demand_drift",
            "--from-date",
            window[0],
            "--to-date",
            window[1],
            "--max-active-runs",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    drift_runs = [
        r for r in wait_all_runs(client, "demand_drift", at_least=replayed + 1) if r["run_type"] == "backfill"
    ]
    assert len(drift_runs) == replayed and {r["state"] for r in drift_runs} == {"success"}, drift_runs
    decisions = [client.xcom("demand_drift", r["dag_run_id"], "decide_retrain") for r in drift_runs]
    assert not any(d["fire"] for d in decisions), decisions
    assert any("backfill" in d["reason"] for d in decisions), decisions  # decay seen in history, not acted on
    assert asset_runs(client, "demand_train") == []


def test_decay_without_input_drift_is_detected_and_retrains(platform):
    client = platform["client"]
    run_id = client.trigger("demand_drift", conf={"dt": yesterday().isoformat()})
    assert client.wait_for_run("demand_drift", run_id, timeout=300) == "success"
    verdict = client.xcom("demand_drift", run_id, "check_drift")
    decay = verdict["signals"]["performance_decay"]
    assert (
        decay["detected"] and decay["ratio"] > 1.2 and decay["rows"] == CHANGED_DAYS * SIZE.stores * SIZE.items * 24
    ), decay
    assert not verdict["signals"]["data_drift"]["detected"], verdict["signals"]["data_drift"]
    decision = client.xcom("demand_drift", run_id, "decide_retrain")
    assert decision["fire"] and "performance_decay" in decision["signals"], decision

    runs = wait_asset_runs(client, "demand_train", timeout=600)
    assert len(runs) == 1 and runs[0]["state"] == "success", runs
