"""The demand feature job on a local Spark session: values, leakage, staging and publishing."""

from datetime import date

import pandas as pd
import pytest

from ml_tasks.data.backfill import backfill_features
from ml_tasks.demo.demand_data import DemandDataConfig, land_demand_data
from ml_tasks.features.columns import lookback_days
from spark_jobs.demand_features import build_features, feature_columns
from spark_jobs.features_job import stage_features

pytestmark = pytest.mark.spark
START = date(2026, 3, 2)


def _hourly(units, start="2026-03-02 00:00"):
    """One store-item series, an hour apart from ``start`` (UTC), as pandas."""
    ts = pd.date_range(start, periods=len(units), freq="h", tz="UTC")
    return pd.DataFrame(
        {"ts": ts, "store_id": "S1", "item_id": "I1", "units": units, "price": 2.0, "promo": False, "is_holiday": False}
    )


def _series(spark, units, start="2026-03-02 00:00"):
    return spark.createDataFrame(_hourly(units, start))


def test_lags_and_windows_use_only_hours_at_least_a_horizon_old(spark, demand_spec):
    units = list(range(24 * 9))  # units == hour index, so every lag is checkable
    out = build_features(_series(spark, units), demand_spec).toPandas().sort_values("ts").reset_index(drop=True)
    row = out.iloc[200]
    assert row["lag_24h"] == 176 and row["lag_48h"] == 152 and row["lag_168h"] == 32
    # rolling over the 24 hours ending 24 h before: hours 153..176
    assert row["rolling_mean_24h"] == pytest.approx(sum(range(153, 177)) / 24)
    assert row["rolling_mean_168h"] == pytest.approx(sum(range(200 - 24 - 167, 200 - 24 + 1)) / 168)
    assert pd.isna(out.iloc[10]["lag_24h"])  # no history yet


def test_future_values_never_change_past_features(spark, demand_spec):
    units = [1.0] * (24 * 8)
    base = build_features(_series(spark, units), demand_spec).toPandas().sort_values("ts")
    spiked = units.copy()
    spiked[-1] = 10_000.0  # the last hour explodes
    after = build_features(_series(spark, spiked), demand_spec).toPandas().sort_values("ts")
    cols = [c for c in feature_columns(demand_spec) if c not in ("store_id", "item_id")]
    pd.testing.assert_frame_equal(
        base[cols].iloc[:-1].reset_index(drop=True), after[cols].iloc[:-1].reset_index(drop=True)
    )


def test_missing_hours_do_not_shift_lags(spark, demand_spec):
    units = list(range(24 * 3))
    ts = pd.date_range("2026-03-02", periods=len(units), freq="h", tz="UTC")
    pdf = pd.DataFrame(
        {"ts": ts, "store_id": "S1", "item_id": "I1", "units": units, "price": 2.0, "promo": False, "is_holiday": False}
    ).drop(index=[30, 31])
    out = build_features(spark.createDataFrame(pdf), demand_spec).toPandas().set_index("ts")
    ts = ts.tz_convert(None)  # Spark hands back naive UTC timestamps
    assert pd.isna(out.loc[ts[54], "lag_24h"])  # hour 30 is missing: no value from a neighbour
    assert out.loc[ts[60], "lag_24h"] == 36


def test_timestamps_keep_their_microseconds_and_lags_match_to_the_microsecond(spark, demand_spec):
    """Event times cross the window as microseconds: the output keeps them exactly, and a lag is
    the value at exactly a lag earlier (a reading half a second off is another time)."""
    pdf = _hourly(list(range(24 * 3)), start="2026-03-02 00:00:00.250001")
    pdf.loc[36, "ts"] += pd.Timedelta(milliseconds=500)
    out = build_features(spark.createDataFrame(pdf), demand_spec).toPandas().sort_values("ts").reset_index(drop=True)
    assert list(out["ts"]) == list(pdf["ts"].dt.tz_convert(None))
    assert out.loc[59, "lag_24h"] == 35 and pd.isna(out.loc[60, "lag_24h"]) and out.loc[61, "lag_24h"] == 37


def test_a_null_at_the_lag_hour_is_a_null_lag_and_windows_skip_nulls(spark, demand_spec):
    units = [float(i) for i in range(24 * 3)]
    units[30] = None  # present but unknown: the lag is unknown too, not the hour before's value
    out = build_features(_series(spark, units), demand_spec).toPandas().sort_values("ts").reset_index(drop=True)
    assert pd.isna(out.loc[54, "lag_24h"]) and out.loc[55, "lag_24h"] == 31
    # the 24 hours ending a horizon before hour 60 are hours 13..36; hour 30's null counts nothing
    known = [u for u in range(13, 37) if u != 30]
    assert out.loc[60, "rolling_mean_24h"] == pytest.approx(sum(known) / len(known))


def test_feature_columns_match_the_spec(demand_spec):
    cols = feature_columns(demand_spec)
    assert cols[:2] == ["store_id", "item_id"]
    assert {"lag_24h", "lag_48h", "lag_168h", "rolling_mean_24h", "rolling_std_168h", "price_ratio_168h"} <= set(cols)
    assert set(demand_spec.drift.columns) <= set(cols)


def test_backfill_publishes_gated_partitions_and_reruns_give_identical_rows(settings, lake, demand_spec, spark):
    cfg = DemandDataConfig(stores=2, items=3, days=lookback_days(demand_spec) + 3, start=START)
    land_demand_data(cfg, lake)
    days = cfg.dates[-3:]
    report = backfill_features(settings, demand_spec, days, progress=lambda m: None, spark=spark)
    assert report.published == days and not report.quarantined
    first = lake.read_partition("features", "demand", days[-1])
    assert len(first) == 2 * 3 * 24 and first["lag_168h"].notna().all()
    backfill_features(settings, demand_spec, days[-1:], progress=lambda m: None, spark=spark)
    again = lake.read_partition("features", "demand", days[-1])
    key = ["store_id", "item_id", "ts"]
    pd.testing.assert_frame_equal(
        first.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True)
    )
    leftovers = [p for p in lake.fs.ls(lake.zone("features", "demand"), detail=False) if "/_" in p]
    assert leftovers == []


def test_staging_refuses_days_without_raw_data(settings, demand_spec, spark):
    from ml_tasks.core.lake import LakeError

    with pytest.raises(LakeError, match="raw partitions missing for \\['2026-03-02'\\]"):
        stage_features(settings, demand_spec, [START], spark=spark)


def test_features_of_days_without_history_are_published_with_the_nulls_gaps_explain(settings, lake, demand_spec, spark):
    cfg = DemandDataConfig(stores=2, items=3, days=2, start=START)  # no look-back: lags are all null
    land_demand_data(cfg, lake)
    report = backfill_features(settings, demand_spec, cfg.dates, progress=lambda m: None, spark=spark)
    assert report.published == cfg.dates and not report.quarantined
    first = lake.read_partition("features", "demand", cfg.dates[0])
    assert first["lag_168h"].isna().all()  # nothing a week before: null, for the models to take
    assert lake.partitions("raw", "demand") == cfg.dates  # raw was fine and stays where it is


def test_big_days_written_by_spark_equal_small_days_split_by_arrow(settings, lake, demand_spec, spark, monkeypatch):
    """The two ways the job writes its day folders give the same rows under deterministic names."""
    from pathlib import Path

    from spark_jobs import features_job

    cfg = DemandDataConfig(stores=2, items=3, days=lookback_days(demand_spec) + 3, start=START)
    land_demand_data(cfg, lake)
    days = cfg.dates[-3:]
    outputs = {}
    for name, threshold in (("split", 10**9), ("spark", 0)):
        monkeypatch.setattr(features_job, "SPARK_WRITE_MIN_ROWS_PER_DAY", threshold)
        assert features_job.written_by_spark(lake, demand_spec, days) == (name == "spark")
        staged = stage_features(settings, demand_spec, days, spark=spark, owner=name)
        root = Path(staged[days[0]]).parent
        assert sorted(p.name for p in root.iterdir()) == [f"dt={d.isoformat()}" for d in days]  # nothing else left
        for folder in staged.values():
            names = sorted(p.name for p in Path(folder).iterdir())
            assert names == [f"part-{i}.parquet" for i in range(len(names))], names
        key = ["store_id", "item_id", "ts"]
        outputs[name] = {
            d: pd.read_parquet(folder).sort_values(key).reset_index(drop=True) for d, folder in staged.items()
        }
    for d in days:
        pd.testing.assert_frame_equal(outputs["split"][d], outputs["spark"][d])


@pytest.mark.parametrize("frequency", ["hourly", "daily"])
def test_calendar_columns_and_day_match_pandas_in_utc(spark, demand_spec, frequency):
    # Integer arithmetic on epoch seconds, checked against pandas across centuries, a leap day,
    # the epoch itself, times before it and times off the hour (sub-second ones included).
    ts = pd.DatetimeIndex(
        [
            "1969-12-31 23:59:59.5",
            "1970-01-01 00:00",
            "1900-03-01 13:00",
            "2024-02-29 23:30",
            "2026-03-08 00:00",
            "2026-03-14 12:00:01",
            "2038-01-19 03:14:08",
            "1999-12-31 23:00",
        ],
        tz="UTC",
    )
    pdf = pd.DataFrame(
        {
            "ts": ts,
            "store_id": [f"S{i}" for i in range(len(ts))],
            "item_id": "I1",
            "units": 1.0,
            "price": 2.0,
            "promo": False,
            "is_holiday": False,
        }
    )
    spec = demand_spec.model_copy(
        update={
            "features": demand_spec.features.model_copy(
                update={"frequency": frequency, "horizon": 1, "lags": [1], "windows": [7]}
            )
        }
    )
    out = build_features(spark.createDataFrame(pdf), spec).toPandas().set_index("store_id").loc[pdf["store_id"]]
    assert (out["day_of_week"].to_numpy() == ts.dayofweek).all()
    assert (out["is_weekend"].to_numpy() == (ts.dayofweek >= 5)).all()
    assert [pd.Timestamp(d).date() for d in out["dt"]] == list(ts.date)
    if frequency == "hourly":
        assert (out["hour"].to_numpy() == ts.hour).all()
    else:
        assert (out["month"].to_numpy() == ts.month).all()


def test_a_feature_module_may_use_python_udfs(spark):
    # Python workers run the job's own interpreter (with pandas and pyarrow), not the first
    # `python3` on the PATH: a pipeline's module may use pandas UDFs and mapInArrow.
    df = spark.createDataFrame(pd.DataFrame({"units": [1.0, 2.0, 3.0]}))
    doubled = df.mapInPandas(lambda frames: (f * 2 for f in frames), "units double").toPandas()
    assert sorted(doubled["units"]) == [2.0, 4.0, 6.0]


def test_spark_writes_numbers_plain_and_text_with_a_dictionary(settings, lake, demand_spec, spark, monkeypatch):
    import pyarrow.parquet as pq

    from spark_jobs import features_job

    land_demand_data(DemandDataConfig(stores=2, items=3, days=lookback_days(demand_spec) + 1, start=START), lake)
    monkeypatch.setattr(features_job, "SPARK_WRITE_MIN_ROWS_PER_DAY", 0)
    day = lake.partitions("raw", "demand")[-1]
    folder = stage_features(settings, demand_spec, [day], spark=spark)[day]
    meta = pq.ParquetFile(lake.parquet_files(folder)[0]).metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert all("PLAIN_DICTIONARY" in encodings[c] for c in ("store_id", "item_id"))
    assert not any("PLAIN_DICTIONARY" in encodings[c] for c in ("units", "lag_24h", "rolling_std_168h", "hour", "ts"))
