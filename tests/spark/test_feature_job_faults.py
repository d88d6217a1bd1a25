"""Killing the Spark feature job mid-write leaves nothing half-written, and the retry succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from ml_tasks.core.lake import Lake
from ml_tasks.core.polling import WaitTimeout, wait_until
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.features.columns import lookback_days

from ..conftest import DAY0

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]
DAYS = 6


def _job(home, days, wait=True, owner=None):
    env = {**os.environ, "CONVEYOR_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
    cmd = [sys.executable, "-m", "spark_jobs.features_job", "demand", *[d.isoformat() for d in days]]
    cmd += ["--owner", owner] if owner else []
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    if wait:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out.decode()[-3000:]
    return proc


def _land(home, spec):
    cfg = DemandDataConfig(stores=6, items=25, days=lookback_days(spec) + DAYS, start=DAY0)
    lake = Lake.from_settings(load_settings(home=home))
    land_demand_data(cfg, lake)
    return lake, cfg.dates[-DAYS:]


def _frame(lake, days):
    key = ["store_id", "item_id", "ts"]
    return lake.read_range("features", "demand", days).sort_values(key).reset_index(drop=True)


def test_kill_9_mid_write_leaves_no_partition_and_the_retry_matches_a_clean_run(tmp_path, demand_spec):
    clean_lake, days = _land(tmp_path / "clean", demand_spec)
    _job(tmp_path / "clean", days)
    expected = _frame(clean_lake, days)

    lake, _ = _land(tmp_path / "killed", demand_spec)
    zone = lake.zone("features", "demand")
    proc = _job(tmp_path / "killed", days, wait=False, owner="demand_features/run-1")

    def started_writing() -> bool:
        return proc.poll() is None and any(
            p.endswith(".parquet") or "_temporary" in p for p in lake.fs.glob(f"{zone}/_staging-*/**")
        )

    try:
        writing = wait_until(
            started_writing,
            240,
            "the job to start writing",
            every=0.05,
            give_up=lambda: "the job ended" if proc.poll() is not None else None,
        )
    except WaitTimeout:
        writing = False
    assert writing, "the job finished or failed before it started writing; nothing was killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, with no chance to clean up
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert lake.partitions("features", "demand") == [], "a killed job must publish nothing"
    leftovers = [p.rsplit("/", 1)[-1] for p in lake.fs.ls(zone, detail=False)]
    assert all(name.startswith("_") for name in leftovers), leftovers  # hidden from readers

    _job(tmp_path / "killed", days, owner="demand_features/run-1")  # the retry, as Airflow's next try
    assert lake.partitions("features", "demand") == days
    pd.testing.assert_frame_equal(_frame(lake, days), expected)
    assert [p for p in lake.fs.ls(zone, detail=False) if "/_" in p] == []  # the retry replaced the killed try's folder


def test_a_failing_job_leaves_no_staging_folder(tmp_path, demand_spec, spark, monkeypatch):
    import spark_jobs.features_job as job

    lake, days = _land(tmp_path, demand_spec)

    class Broken:
        @staticmethod
        def build_features(raw, spec):
            return raw.selectExpr("raise_error('disk full, as far as this test is concerned') AS dt")

    monkeypatch.setattr(job, "feature_module", lambda spec: Broken)
    with pytest.raises(Exception, match="disk full"):
        job.stage_features(load_settings(home=tmp_path), demand_spec, days, spark=spark, owner="r1")
    zone = lake.zone("features", "demand")
    assert not lake.fs.exists(zone) or lake.fs.ls(zone, detail=False) == []
