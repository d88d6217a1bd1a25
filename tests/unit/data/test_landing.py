"""`conveyor land`: files split by UTC day into raw partitions; bad times named with examples."""

from datetime import date

import pandas as pd
import pytest

from ml_tasks.data.landing import LandingError, land_files


def _rows(times):
    return pd.DataFrame({"ts": times, "store_id": "S1", "item_id": "I1", "units": range(len(times))})


def test_rows_are_split_by_utc_day_whatever_the_time_format(lake, demand_spec, tmp_path):
    aware = pd.date_range("2026-05-01 22:00", periods=4, freq="h", tz="Europe/Lisbon")  # 21:00 UTC .. 00:00 UTC
    _rows(aware).to_parquet(tmp_path / "a.parquet")
    _rows(["2026-05-03 10:00", "2026-05-03 11:00"]).to_csv(tmp_path / "b.csv", index=False)  # strings, naive = UTC
    days = land_files(lake, demand_spec, [tmp_path / "a.parquet", tmp_path / "b.csv"], say=lambda m: None)
    assert days == [date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]
    first = lake.read_partition("raw", "demand", date(2026, 5, 1))
    assert len(first) == 3 and str(first["ts"].dt.tz) == "UTC"
    assert len(lake.read_partition("raw", "demand", date(2026, 5, 3))) == 2


def test_bad_times_and_missing_columns_are_named(lake, demand_spec, tmp_path):
    _rows(["2026-05-03 10:00", "yesterday-ish", "2026-05-03 12:00"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(LandingError, match=r"bad\.csv: column 'ts' has values that are not times, e.g. \['yesterday-ish'\]"):
        land_files(lake, demand_spec, [tmp_path / "bad.csv"], say=lambda m: None)
    _rows(["2026-05-03 10:00"]).rename(columns={"ts": "time"}).to_csv(tmp_path / "renamed.csv", index=False)
    with pytest.raises(LandingError, match="no column 'ts'"):
        land_files(lake, demand_spec, [tmp_path / "renamed.csv"], say=lambda m: None)


def test_a_repeated_delivery_lands_once_and_unsorted_files_land_sorted(lake, demand_spec, tmp_path):
    times = list(pd.date_range("2026-05-03 00:00", periods=6, freq="h", tz="UTC"))
    day = _rows(times[::-1])  # newest first
    day.to_parquet(tmp_path / "a.parquet")
    day.iloc[:3].to_csv(tmp_path / "again.csv", index=False)  # half of the day delivered a second time
    land_files(lake, demand_spec, [tmp_path / "a.parquet", tmp_path / "again.csv"], say=lambda m: None)
    first = lake.read_partition("raw", "demand", date(2026, 5, 3))
    assert len(first) == 6 and first["ts"].is_monotonic_increasing
    land_files(lake, demand_spec, [tmp_path / "a.parquet"], say=lambda m: None)  # the whole file once more
    assert lake.read_partition("raw", "demand", date(2026, 5, 3)).equals(first)


def test_conflicting_duplicates_are_kept_for_the_gate_to_quarantine(lake, demand_spec, tmp_path):
    times = list(pd.date_range("2026-05-03 00:00", periods=3, freq="h", tz="UTC"))
    conflict = pd.concat([_rows(times), _rows(times[:1]).assign(units=99)], ignore_index=True)
    conflict.to_parquet(tmp_path / "c.parquet")
    land_files(lake, demand_spec, [tmp_path / "c.parquet"], say=lambda m: None)
    landed = lake.read_partition("raw", "demand", date(2026, 5, 3))
    assert len(landed) == 4 and landed["ts"].duplicated().sum() == 1  # the raw gate's uniqueness check fails it
