"""The lake and MLflow's artifacts on ``s3://``, chosen by settings alone.

An S3 API runs on loopback (moto's server mode). The feature stage (raw gate, Spark job,
features gate, validation stamp, atomic publish, quarantine) runs against ``s3://`` and
must give the same features as against a local lake; the MLflow server the stack launcher
builds from the settings stores artifacts in the bucket and serves them back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests

from ml_tasks.core.lake import Lake
from ml_tasks.core.polling import WaitTimeout, wait_until
from ml_tasks.core.settings import load_settings
from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.features.columns import lookback_days

from ..conftest import DAY0
from ..e2e.stack_helpers import free_port

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]
DAYS = 5
KEY = ["store_id", "item_id", "ts"]
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "conveyor-test",
    "AWS_SECRET_ACCESS_KEY": "conveyor-test-secret",  # pragma: allowlist secret
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server on loopback with the buckets `conveyor-lake` and `conveyor-artifacts`."""
    import boto3

    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        wait_until(
            lambda: requests.get(endpoint, timeout=2) is not None,
            60,
            "the moto S3 server",
            every=0.5,
            transient=(requests.RequestException,),
        )
        s3 = boto3.client("s3", endpoint_url=endpoint)
        for bucket in ("conveyor-lake", "conveyor-artifacts"):
            s3.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    import boto3

    pages = (
        boto3.client("s3", endpoint_url=endpoint)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=prefix)
    )
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_the_feature_stage_on_s3_matches_a_local_lake(s3_endpoint, tmp_path, demand_spec, spark):
    cfg = DemandDataConfig(stores=4, items=10, days=lookback_days(demand_spec) + DAYS, start=DAY0)
    days = cfg.dates[-DAYS:]

    local = load_settings(home=tmp_path / "local")
    land_demand_data(cfg, Lake.from_settings(local))
    backfill_features(local, demand_spec, days, progress=lambda m: None, spark=spark)

    remote = load_settings(home=tmp_path / "remote", lake_uri="s3://conveyor-lake/lake", s3_endpoint_url=s3_endpoint)
    lake = Lake.from_settings(remote)
    assert lake.is_remote and not lake.spark_reads_directly
    land_demand_data(cfg, lake)
    # the last raw day goes bad on the way in: it must be quarantined in the bucket, the rest
    # published (the last, so that no other day's look-back needs it)
    bad_day = days[-1]
    raw = lake.read_partition("raw", "demand", bad_day)
    raw.loc[raw.index[:20], "units"] = -3.0
    lake.write_partition(raw, "raw", "demand", bad_day)

    report = backfill_features(remote, demand_spec, days, progress=lambda m: None, spark=spark)
    assert sorted(report.quarantined) == [bad_day]
    assert report.published == [d for d in days if d != bad_day]
    assert lake.partitions("features", "demand") == report.published

    keys = _keys(s3_endpoint, "conveyor-lake", "lake/")
    assert not [k for k in keys if "_staging-" in k or "_retired-" in k], "staging left behind in the bucket"
    assert any(k.startswith(f"lake/quarantine/demand/dt={bad_day}") for k in keys), keys[:20]
    for d in report.published:
        assert f"lake/features/demand/dt={d}/_validation.json" in keys
        assert any(k.startswith(f"lake/features/demand/dt={d}/part-") for k in keys)

    expected = Lake.from_settings(local).read_range("features", "demand", report.published)
    got = lake.read_range("features", "demand", report.published)
    pd.testing.assert_frame_equal(
        got.sort_values(KEY).reset_index(drop=True),
        expected.sort_values(KEY).reset_index(drop=True),
        check_exact=False,
        rtol=1e-9,
    )


def test_mlflow_artifacts_go_to_s3_through_the_server_the_settings_describe(s3_endpoint, tmp_path):
    import mlflow

    from ml_tasks.platform.stack.environment import services, stack_env

    port = free_port()
    settings = load_settings(
        home=tmp_path / "home",
        mlflow_port=port,
        s3_endpoint_url=s3_endpoint,
        mlflow_artifacts_dir="s3://conveyor-artifacts/mlflow",
    )
    (settings.home / "mlflow").mkdir(parents=True)
    server = next(s for s in services(settings) if s.name == "mlflow")
    env = stack_env(settings)
    assert env["MLFLOW_S3_ENDPOINT_URL"] == s3_endpoint
    log = open(tmp_path / "mlflow.log", "wb")
    proc = subprocess.Popen(server.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_until(
                lambda: requests.get(f"{settings.mlflow_url}/health", timeout=2).status_code == 200,
                120,
                "the MLflow server",
                transient=(requests.RequestException,),
                give_up=lambda: "it exited" if proc.poll() is not None else None,
            )
        except WaitTimeout as exc:
            pytest.fail(f"{exc}\n" + (tmp_path / "mlflow.log").read_text()[-3000:])
        report = tmp_path / "metrics.json"
        report.write_text('{"mae": 0.42}')
        mlflow.set_tracking_uri(settings.mlflow_url)
        mlflow.set_experiment("s3-artifacts")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(report), artifact_path="evaluation")
        stored = _keys(s3_endpoint, "conveyor-artifacts", "mlflow/")
        assert any(k.endswith(f"{run.info.run_id}/artifacts/evaluation/metrics.json") for k in stored), stored
        back = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="evaluation/metrics.json", dst_path=str(tmp_path / "back")
        )
        assert Path(back).read_text() == '{"mae": 0.42}'
    finally:
        mlflow.set_tracking_uri(None)
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
