"""`conveyor land`: files split by UTC day into raw partitions; bad times named with examples."""

from datetime import date

import pandas as pd
import pytest

from ml_tasks.landing import LandingError, land_files


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
