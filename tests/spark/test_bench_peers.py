"""The benchmark's peers (DuckDB SQL, pandas) compute the same demand features as the Spark job.

`make bench` reports Spark's time as a ratio to these peers; the ratio only means something if
the three produce the same rows and values, which this checks on a small lake.
"""

from __future__ import annotations

import pytest

from bench.bench_features import compare, run_duckdb, run_pandas, spark_frame
from bench.features_duckdb import FORMULATIONS
from bench.features_pandas import FORMULATIONS as PANDAS_FORMULATIONS
from ml_tasks.core.lake import Lake
from ml_tasks.core.settings import load_settings
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from spark_jobs.features_job import stage_features

from ..conftest import DAY0

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]


def test_duckdb_and_pandas_peers_agree_with_the_spark_job(tmp_path, demand_spec, spark):
    settings = load_settings(home=tmp_path / "home")
    cfg = DemandDataConfig(stores=2, items=4, days=12, start=DAY0)
    lake = Lake.from_settings(settings)
    land_demand_data(cfg, lake)
    gap_day = cfg.dates[8]  # missing hours in one series: the grid formulations must not shift onto them
    raw = lake.read_partition("raw", "demand", gap_day)
    first = raw.iloc[0]
    hole = (raw["store_id"] == first.store_id) & (raw["item_id"] == first.item_id) & raw["ts"].dt.hour.isin([3, 4, 17])
    lake.write_partition(raw[~hole].reset_index(drop=True), "raw", "demand", gap_day)
    staged = stage_features(settings, demand_spec, cfg.dates, spark=spark)

    for formulation in FORMULATIONS:
        run_duckdb(settings, demand_spec, cfg.dates, tmp_path / f"duckdb-{formulation}.parquet", formulation)
    for formulation in PANDAS_FORMULATIONS:
        run_pandas(settings, demand_spec, cfg.dates, tmp_path / f"pandas-{formulation}.parquet", formulation)
    reference = spark_frame(staged)
    for peer in [*(f"duckdb-{f}" for f in FORMULATIONS), *(f"pandas-{f}" for f in PANDAS_FORMULATIONS)]:
        check = compare(reference, tmp_path / f"{peer}.parquet")
        assert check["agree"], (peer, check)
        assert check["rows"] == cfg.rows_per_day * cfg.days - 3
