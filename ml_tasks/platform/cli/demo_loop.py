"""The headless demo loop: every demand DAG run through Airflow's own ``airflow dags test``.

`run_demo` seeds an isolated home (`ml_tasks.demo.seed`), then runs the real DAGs and tasks with
no servers and checks the outcome of every stage: a champion, predictions, a drift verdict
before and after injected drift, and the retraining that drift asks for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import timedelta

from ml_tasks.core import tracking
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import ConveyorSettings
from ml_tasks.core.spec import load_spec
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.demo.seed import DemoFailed, DemoSize, seed_demo, yesterday
from ml_tasks.platform.stack.environment import stack_env, venv_executable
from ml_tasks.platform.stack.lifecycle import migrate_airflow_db
from ml_tasks.registry import client as registry

DRIFT_GROWTH = 0.05


def airflow_dags_test(settings: ConveyorSettings, dag_id: str, conf: dict, say=print) -> float:
    """Run one DAG headless with ``airflow dags test``; raise if any task failed."""
    t0 = time.monotonic()
    result = subprocess.run(
        [venv_executable("airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)],
        env=stack_env(settings),
        capture_output=True,
        text=True,
    )
    log = settings.home / "logs" / f"dags-test-{dag_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    text = result.stdout + result.stderr
    failed = result.returncode != 0 or "state=failed" in text.replace(" ", "") or "TaskInstanceState.FAILED" in text
    if failed:
        raise DemoFailed(f"{dag_id} failed (exit {result.returncode}); log: {log}\n{text[-4000:]}")
    took = time.monotonic() - t0
    say(f"  {dag_id} {conf or ''} ok in {took:.0f}s")
    return took


def run_demo(settings: ConveyorSettings, size: DemoSize = DemoSize(), say=print) -> dict:
    """The whole loop, headless; returns the summary and raises DemoFailed on any failure."""
    t0 = time.monotonic()
    if settings.home.exists():
        shutil.rmtree(settings.home)
    spec = load_spec("demand", settings.specs_dir)
    end = yesterday()
    # Two drift windows of the new regime: one week lands in the retrained model's training days
    # and one in its holdout, so the retrained model can show the gate that it is better.
    drift_days = 2 * spec.drift.window_days
    normal_end = end - timedelta(days=drift_days)
    cfg = seed_demo(settings, size, end=normal_end, say=say)
    migrate_airflow_db(settings)
    lake = Lake.from_settings(settings)
    normal_end = lake.partitions("raw", "demand")[-1]  # messy data: the last day that arrived

    say("running the demand DAGs with `airflow dags test`")
    airflow_dags_test(settings, "demand_features", {"dt": normal_end.isoformat()}, say)
    airflow_dags_test(settings, "demand_train", {}, say)
    airflow_dags_test(settings, "demand_score", {"dt": normal_end.isoformat()}, say)
    predictions = lake.read_partition("predictions", "demand", normal_end)
    airflow_dags_test(settings, "demand_drift", {"dt": normal_end.isoformat()}, say)
    before = _latest_drift(settings)

    # Demand takes off (+5% a day, compounding): a change the champion's inputs show (data drift)
    # and one it cannot follow, since its trailing weekly mean always lags a growing level. A step
    # change of prices or level alone no longer makes a retrain better: the champion's target is
    # scaled by that mean and catches up within a week, and the gate rightly keeps it.
    say(f"injecting drift: demand takes off (+{DRIFT_GROWTH:.0%} a day) for the {drift_days} days after {normal_end}")
    drifted = DemandDataConfig(
        stores=size.stores,
        items=size.items,
        start=normal_end + timedelta(days=1),
        days=(end - normal_end).days,
        drift_from=normal_end + timedelta(days=1),
        drift_kind="growth",
        drift_strength=DRIFT_GROWTH,
        messy=size.messy,
    )
    arrived = land_demand_data(drifted, lake)
    backfill_features(settings, spec, arrived[:-1], progress=lambda m: say(f"  {m}"))
    airflow_dags_test(settings, "demand_features", {"dt": arrived[-1].isoformat()}, say)
    airflow_dags_test(settings, "demand_drift", {"dt": arrived[-1].isoformat()}, say)
    after = _latest_drift(settings)
    if not after["drift_detected"]:
        raise DemoFailed(f"injected drift was not detected: {after}")
    say("drift requested a retrain; `airflow dags test` does not start Asset consumers, so run demand_train")
    airflow_dags_test(settings, "demand_train", {}, say)

    client = tracking.connect(settings)
    champion = registry.version_by_alias(client, "demand", registry.CHAMPION)
    if champion is None:
        raise DemoFailed("no @champion after the demo loop")
    run = client.get_run(champion.run_id)
    latest = max(client.search_model_versions("name='demand'"), key=lambda v: int(v.version))
    decision = json.loads(latest.tags.get("conveyor.promotion_decision", "{}"))
    return {
        "champion_version": champion.version,
        "champion_model": (champion.tags or {}).get("conveyor.model_family", "?"),
        "champion_metrics": {
            k.removeprefix("holdout_"): round(v, 4) for k, v in run.data.metrics.items() if k.startswith("holdout_")
        },
        "candidates_holdout_mae": _candidates(champion),
        "predictions_written": len(predictions),
        "drift_before": {k: before[k] for k in ("drift_detected", "drift_share")},
        "drift_after_injection": {k: after[k] for k in ("drift_detected", "drift_share")},
        "retrain_decision": decision.get("reason", "?"),
        "raw_rows": cfg.rows_per_day * (cfg.days + drift_days),
        "seconds": round(time.monotonic() - t0),
        "mlflow_db": settings.mlflow_tracking_uri,
    }


def _candidates(version) -> dict:
    """Holdout error of every family trained for this version (the spec's promotion metric)."""
    return {k: round(v, 4) for k, v in json.loads((version.tags or {}).get("conveyor.candidates", "{}")).items()}


def _latest_drift(settings: ConveyorSettings) -> dict:
    from ml_tasks.monitoring.checks import latest_check

    verdict = latest_check(settings, "demand")
    if verdict is None:
        raise DemoFailed("the drift DAG logged no monitoring check")
    data = verdict["signals"]["data_drift"]
    return {"drift_detected": data["detected"], "drift_share": data["share"]}
