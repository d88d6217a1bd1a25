"""The features gate gives the same verdict in pandas (small days, no Spark session to start) as on Spark.

A day of staged demand features is validated on both engines as the feature job wrote it, and
again after each kind of damage the features suite must catch; both engines must agree on the
verdict and on which expectations failed, and pandas must name the offending rows' keys.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from ml_tasks.data.features_gate import check_staged_features, validates_in_pandas
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.features.columns import lookback_days
from spark_jobs.features_job import stage_features

from ..conftest import DAY0


def _day_shift(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.loc[df.index[:3], "ts"] = df["ts"].iloc[0] + pd.Timedelta(days=1)
    return df


DAMAGE = {
    "negative units": lambda df: df.assign(units=df["units"].where(df.index % 7 != 0, -1.0)),
    "hour out of range": lambda df: df.assign(hour=df["hour"].where(df.index != 5, 25)),
    "repeated key": lambda df: pd.concat([df, df.iloc[:4]], ignore_index=True),
    "time outside the day": _day_shift,
    "lags mostly null": lambda df: df.assign(lag_24h=None),
    "no rows": lambda df: df.iloc[:0],
}


@pytest.fixture(scope="module")
def staged_day(tmp_path_factory, demand_spec, spark):
    from ml_tasks.core.lake import Lake
    from ml_tasks.core.settings import load_settings

    settings = load_settings(home=tmp_path_factory.mktemp("gate-engines"))
    lake = Lake.from_settings(settings)
    cfg = DemandDataConfig(stores=2, items=5, days=lookback_days(demand_spec) + 1, start=DAY0)
    land_demand_data(cfg, lake)
    day: date = cfg.dates[-1]
    staged = stage_features(settings, demand_spec, [day], spark=spark)[day]
    return settings, lake, day, staged


def _failed(result) -> list[tuple[str, str]]:
    return sorted((f["expectation"], str(f["target"])) for f in result.failures)


def _both(settings, lake, spec, day, staged, spark):
    on_spark = check_staged_features(lake, settings.expectations_dir, spec, day, staged, spark)
    in_pandas = check_staged_features(lake, settings.expectations_dir, spec, day, staged)
    return on_spark, in_pandas


def test_a_good_day_passes_on_both_engines_with_the_same_expectations(staged_day, demand_spec, spark):
    settings, lake, day, staged = staged_day
    assert lake.row_count(staged) == 10 * 24
    on_spark, in_pandas = _both(settings, lake, demand_spec, day, staged, spark)
    assert on_spark.success and in_pandas.success, (on_spark.summary(), in_pandas.summary())
    assert on_spark.statistics["evaluated_expectations"] == in_pandas.statistics["evaluated_expectations"] > 5


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_fails_both_engines_on_the_same_expectations(staged_day, demand_spec, spark, tmp_path, damage):
    settings, lake, day, staged = staged_day
    damaged = tmp_path / f"dt={day.isoformat()}"
    damaged.mkdir()
    frame = DAMAGE[damage](lake.read_folder(staged))
    frame.to_parquet(damaged / "part-0.parquet", index=False)
    on_spark, in_pandas = _both(settings, lake, demand_spec, day, str(damaged), spark)
    assert not on_spark.success and not in_pandas.success, damage
    assert _failed(on_spark) == _failed(in_pandas), (on_spark.summary(), in_pandas.summary())
    if damage in ("negative units", "repeated key"):
        examples = " ".join(str(f["examples"]) for f in in_pandas.failures)
        assert "store_id" in examples and "item_id" in examples, in_pandas.summary()


def test_the_day_after_is_not_this_days_data(staged_day, demand_spec):
    settings, lake, day, staged = staged_day
    result = check_staged_features(lake, settings.expectations_dir, demand_spec, day + timedelta(days=1), staged)
    assert not result.success and ("expect_column_values_to_be_between", "ts") in _failed(result)


@pytest.mark.parametrize(
    "rows, max_rows, in_pandas",
    [
        (4_800, 1_000_000, True),
        (1_000_000, 1_000_000, True),
        (1_000_001, 1_000_000, False),
        (0, 1_000_000, True),
        (4_800, 0, False),
        (0, 0, False),  # 0 = always Spark, even for an empty day
    ],
)
def test_one_rule_picks_the_engine_for_the_daily_gate_and_the_backfill(rows, max_rows, in_pandas):
    assert validates_in_pandas(rows, max_rows) is in_pandas
