"""The benchmark's peers (DuckDB SQL, pandas) compute the same demand features as the Spark job.

`make bench` reports Spark's time as a ratio to these peers; the ratio only means something if
the three produce the same rows and values, which this checks on a small lake.
"""

from __future__ import annotations

import pytest

from bench.bench_features import compare, run_duckdb, run_pandas
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from spark_jobs.features_job import stage_features

from ..conftest import DAY0

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]


def test_duckdb_and_pandas_peers_agree_with_the_spark_job(tmp_path, demand_spec, spark):
    settings = load_settings(home=tmp_path / "home")
    cfg = DemandDataConfig(stores=2, items=4, days=12, start=DAY0)
    land_demand_data(cfg, Lake.from_settings(settings))
    staged = stage_features(settings, demand_spec, cfg.dates, spark=spark)

    run_duckdb(settings, demand_spec, cfg.dates, tmp_path / "duckdb.parquet")
    run_pandas(settings, demand_spec, cfg.dates, tmp_path / "pandas.parquet")
    for peer in ("duckdb", "pandas"):
        check = compare(staged, tmp_path / f"{peer}.parquet")
        assert check["agree"], (peer, check)
        assert check["rows"] == cfg.rows_per_day * cfg.days
