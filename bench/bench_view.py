"""Benchmark: the Conveyor view's pipeline page on a year of history, against MLflow's own model page.

Run with ``make bench-view``. It builds a year of history for the demand pipeline the way the
platform records it, through the platform's own functions: 365 days in the lake (raw and feature
partitions with both gates' records, one day in 20 quarantined with its report), 50 registered
versions (each a training run with holdout metrics, a model card and lineage tags), 50 moves of
`@champion` through the audit trail, and a monitoring run per champion with a point per day. The
MLflow server is the one `conveyor up` starts (same command line, SQLite backend). It then times

- Conveyor: ``GET /conveyor/pipelines/demand`` through Airflow's own api-server app (the plugin
  mounted as `conveyor up` mounts it, a real Airflow login token), first request and warm ones;
- the peer: the requests MLflow's UI makes to draw its registered-model page for the same model
  (the model, then its 50 versions), over the same loopback connection. It shows far less (no
  gates, days, drift or lineage), so it is the floor a page about the model can hope for.

Results go to ``bench/results-view.json``. The target: the page answers in under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import free_port, quiet_environment, say  # noqa: E402

quiet_environment()

TARGET_SECONDS = 1.0
FIRST_DAY = date(2025, 6, 1)
PIPELINE = "demand"


def seed_lake(settings, days: int, quarantine_every: int) -> int:
    """``days`` days of raw and feature partitions with gate records; every ``quarantine_every``-th quarantined."""
    import pandas as pd

    from ml_tasks.core.lake import Lake
    from ml_tasks.data.expectations import GateResult
    from ml_tasks.data.gate_records import stamp_validation
    from ml_tasks.data.quarantine import quarantine

    lake = Lake.from_settings(settings)
    frame = pd.DataFrame({"store_id": ["s1"] * 24, "item_id": ["i1"] * 24, "units": range(24)})
    passed = {"suite": "demand_raw", "passed": True, "evaluated": 18, "warnings": [], "scope": "partition"}
    quarantined = 0
    for i in range(days):
        dt = FIRST_DAY + timedelta(days=i)
        lake.write_partition(frame, "raw", PIPELINE, dt)
        if i % quarantine_every == quarantine_every - 1:
            failure = {
                "expectation": "expect_column_values_to_be_between",
                "target": "price",
                "observed": "3 rows < 0",
                "expected": "[0, None]",
                "examples": [-1.0],
                "notes": "prices are never negative",
            }
            quarantine(
                lake,
                PIPELINE,
                dt,
                "raw",
                lake.partition("raw", PIPELINE, dt),
                GateResult("demand_raw", False, failures=[failure], statistics={"evaluated_expectations": 18}),
            )
            quarantined += 1
            continue
        staged = lake.staging("features", PIPELINE, dt)
        lake.fs.makedirs(staged, exist_ok=True)
        with lake.fs.open(f"{staged}/part-00000.parquet", "wb") as fh:
            frame.to_parquet(fh, index=False)
        warnings = ["expect_column_values_to_not_be_null(promo)"] if i % 11 == 0 else []
        stamp_validation(lake, staged, dt, {**passed, "warnings": warnings}, {**passed, "suite": "demand_features"})
        lake.publish(staged, "features", PIPELINE, dt)
    return quarantined


def seed_registry(settings, versions: int, days: int) -> None:
    """``versions`` registered versions, each promoted through the audit trail, each monitored for its days."""
    from ml_tasks.core import tracking
    from ml_tasks.core.spec import load_spec
    from ml_tasks.monitoring.checks import log_series, monitor_run
    from ml_tasks.registry import client as registry
    from ml_tasks.registry.audit import AliasMove, move_alias

    spec = load_spec(PIPELINE, settings.specs_dir)
    client = tracking.connect(settings)
    name = registry.model_name(PIPELINE)
    client.create_registered_model(name)
    exp_id = tracking.ensure_experiment(settings, tracking.training_experiment(PIPELINE))
    per_version = max(1, days // versions)
    previous = None
    for v in range(1, versions + 1):
        last = FIRST_DAY + timedelta(days=min(days - 1, v * per_version))
        window = [(last - timedelta(days=d)).isoformat() for d in range(56, 0, -1)]
        run = client.create_run(exp_id, run_name=f"{PIPELINE}-lightgbm-{v}")
        for key, value in {"holdout_rmse": 2.0 - v / 100, "holdout_mae": 1.5 - v / 120, "holdout_mape": 0.3}.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
        version = client.create_model_version(
            name,
            f"{run.info.artifact_uri}/model",
            run.info.run_id,
            tags={
                "conveyor.model_family": "lightgbm" if v % 3 else "lightning",
                "conveyor.feature_partitions": json.dumps(window),
                "conveyor.features_sha256": f"{v:064x}",
                "conveyor.training_window": f"{window[0]}..{window[-1]}",
                "conveyor.code_version": "bench",
                "airflow.dag_id": f"{PIPELINE}_train",
                "airflow.run_id": f"scheduled__{last}T03:00:00+00:00",
            },
            description=f"## {PIPELINE} v{v}\nLightGBM on {len(window)} days; holdout rmse {2.0 - v / 100:.3f}.",
        )
        move = AliasMove(
            PIPELINE,
            registry.CHAMPION,
            previous,
            str(version.version),
            f"rmse {2.0 - v / 100:.3f} beats {2.0 - (v - 1) / 100:.3f}",
            {"metric": "rmse"},
        )
        move_alias(client, move, {"trigger": "scheduled", "airflow.run_id": f"scheduled__{last}"}, settings=settings)
        previous = str(version.version)
        monitored, _ = monitor_run(settings, client, spec, previous)
        for d in range(per_version):
            day = last + timedelta(days=d)
            log_series(
                client,
                monitored,
                day,
                {
                    "drift_share": 0.1 + (d % 5) / 20,
                    "prediction_drift_score": 0.05,
                    "decay_ratio": 1.0 + d / 50,
                    "retrain_requested": float(d == 4),
                },
            )
        client.set_terminated(monitored)


def start_mlflow(settings) -> subprocess.Popen:
    """The MLflow server exactly as the embedded stack runs it."""
    from ml_tasks.core.polling import wait_until
    from ml_tasks.platform.stack.environment import services, stack_env

    service = next(s for s in services(settings) if s.name == "mlflow")
    (settings.home / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True)
    log = open(settings.home / "mlflow.log", "ab")
    proc = subprocess.Popen(
        service.command,
        env=stack_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=settings.home,
    )
    wait_until(
        lambda: requests.get(f"{settings.mlflow_url}/health", timeout=5).status_code == 200,
        180,
        "MLflow server",
        every=1,
        transient=(requests.RequestException,),
    )
    return proc


def time_requests(get, repeats: int) -> dict:
    """First request and the median / worst of ``repeats`` warm ones, in seconds."""
    start = time.perf_counter()
    get()
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        get()
        warm.append(time.perf_counter() - start)
    return {
        "first_s": round(first, 4),
        "median_s": round(statistics.median(warm), 4),
        "max_s": round(max(warm), 4),
        "repeats": repeats,
    }


def conveyor_page(settings, repeats: int) -> dict:
    """The pipeline page through Airflow's api-server app, with a real login token."""
    from ml_tasks.platform.stack.environment import airflow_password, stack_env
    from ml_tasks.platform.stack.lifecycle import migrate_airflow_db

    migrate_airflow_db(settings)
    os.environ.update(stack_env(settings))  # Airflow reads its configuration at import, so before it
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app(), base_url="http://127.0.0.1")
    token = client.post(
        "/auth/token", json={"username": settings.airflow_user, "password": airflow_password(settings)}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    page = {}

    def get():
        r = client.get(f"/conveyor/pipelines/{PIPELINE}", headers=headers)
        r.raise_for_status()
        page["html"] = r.text

    timing = time_requests(get, repeats)
    return {**timing, "bytes": len(page["html"]), "html": page["html"]}


def mlflow_model_page(settings, repeats: int) -> dict:
    """What MLflow's UI requests to draw the registered-model page (model, then its versions)."""
    from ml_tasks.registry import client as registry

    name = registry.model_name(PIPELINE)
    api = f"{settings.mlflow_url}/ajax-api/2.0/mlflow"
    session = requests.Session()
    found = {}

    def get():
        model = session.get(f"{api}/registered-models/get", params={"name": name}, timeout=30)
        model.raise_for_status()
        listed = session.get(
            f"{api}/model-versions/search", params={"filter": f"name='{name}'", "max_results": 100}, timeout=30
        )
        listed.raise_for_status()
        found["versions"] = len(listed.json()["model_versions"])

    return {**time_requests(get, repeats), "versions": found.get("versions")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-view.json")
    args = parser.parse_args()

    from ml_tasks.core.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="bench-view-") as tmp:
        settings = load_settings(home=Path(tmp), mlflow_port=free_port(), airflow_port=free_port())
        os.environ.update({"CONVEYOR_HOME": str(settings.home), "CONVEYOR_MLFLOW_PORT": str(settings.mlflow_port)})
        mlflow = start_mlflow(settings)
        try:
            start = time.perf_counter()
            quarantined = seed_lake(settings, args.days, quarantine_every=20)
            seed_registry(settings, args.versions, args.days)
            say(
                f"seeded {args.days} days ({quarantined} quarantined) and {args.versions} versions "
                f"in {time.perf_counter() - start:.0f} s"
            )
            peer = mlflow_model_page(settings, args.repeats)
            view = conveyor_page(settings, args.repeats)
        finally:
            mlflow.terminate()
            mlflow.wait(30)
    html = view.pop("html")
    shows = {
        "champion": f"v{args.versions}" in html,
        "quarantined days": html.count("quarantined") >= quarantined,
        "every day": all((FIRST_DAY + timedelta(days=i)).isoformat() in html for i in (0, args.days - 1)),
        "50 alias moves": html.count("beats") >= args.versions - 1,
    }
    results = {
        "days": args.days,
        "versions": args.versions,
        "quarantined_days": quarantined,
        "conveyor": view,
        "peer_mlflow_model_page": peer,
        "page_shows": shows,
        "target_s": TARGET_SECONDS,
        "within_target": view["median_s"] < TARGET_SECONDS,
        "ratio_median": round(view["median_s"] / peer["median_s"], 2),
    }
    say(
        f"Conveyor view, /conveyor/pipelines/{PIPELINE} ({args.days} days, {args.versions} versions, "
        f"{view['bytes']:,} bytes): first {view['first_s']:.3f} s, median {view['median_s']:.3f} s, "
        f"worst {view['max_s']:.3f} s (target < {TARGET_SECONDS:.0f} s)"
    )
    say(
        f"peer, MLflow UI's model page requests ({peer['versions']} versions): first {peer['first_s']:.3f} s, "
        f"median {peer['median_s']:.3f} s; ratio {results['ratio_median']}x"
    )
    say(f"the page shows: {shows}")
    args.out.write_text(json.dumps(results, indent=1))
    return 0 if results["within_target"] and all(shows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
