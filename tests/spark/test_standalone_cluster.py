"""The feature job on a Spark standalone cluster (a master and two workers on loopback).

The cluster is started from the pyspark distribution itself (``bin/spark-class``), so it runs
the same Spark as the driver. Only ``CONVEYOR_SPARK_MASTER`` changes between the two runs; the
published features must be the same rows and values as in local mode.
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
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.features.columns import lookback_days
from soak.spark_cluster import spark_cluster

from ..conftest import DAY0

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(600)]
DAYS = 4
KEY = ["store_id", "item_id", "ts"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and two one-core workers; yields (master URL, master web URL)."""
    with spark_cluster(tmp_path_factory.mktemp("spark-cluster")) as started:
        yield started.master_url, started.web_url


def _run_job(home: Path, days, master: str) -> str:
    env = {
        **os.environ,
        "CONVEYOR_HOME": str(home),
        "CONVEYOR_SPARK_MASTER": master,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    out = subprocess.run(
        [sys.executable, "-m", "spark_jobs.features_job", "demand", *[d.isoformat() for d in days]],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert out.returncode == 0, f"feature job on {master} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out.stdout


def _land(home: Path, spec):
    cfg = DemandDataConfig(stores=5, items=20, days=lookback_days(spec) + DAYS, start=DAY0)
    lake = Lake.from_settings(load_settings(home=home))
    land_demand_data(cfg, lake)
    return lake, cfg.dates[-DAYS:]


def test_the_feature_job_on_a_standalone_cluster_matches_local_mode(cluster, tmp_path, demand_spec):
    master_url, web_url = cluster
    local_lake, days = _land(tmp_path / "local", demand_spec)
    _run_job(tmp_path / "local", days, "local[2]")
    cluster_lake, _ = _land(tmp_path / "cluster", demand_spec)
    _run_job(tmp_path / "cluster", days, master_url)

    # the job really ran as an application of the cluster, with executors on both workers
    state = requests.get(f"{web_url}/json/", timeout=10).json()
    apps = [a for a in state["completedapps"] if a["name"] == "demand_features"]
    assert apps, f"no demand_features application in the master's records: {state['completedapps']}"
    assert apps[-1]["cores"] >= 2, apps[-1]

    assert cluster_lake.partitions("features", "demand") == days
    expected = local_lake.read_range("features", "demand", days).sort_values(KEY).reset_index(drop=True)
    got = cluster_lake.read_range("features", "demand", days).sort_values(KEY).reset_index(drop=True)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_exact=False, rtol=1e-9)
