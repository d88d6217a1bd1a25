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
    days = land_files(lake, demand_spec, [tmp_path / "a.parquet", tmp_path / "b.csv"], say=lambda m: None).days
    assert days == [date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]
    first = lake.read_partition("raw", "demand", date(2026, 5, 1))
    assert len(first) == 3 and str(first["ts"].dt.tz) == "UTC"
    assert len(lake.read_partition("raw", "demand", date(2026, 5, 3))) == 2


def test_bad_times_and_missing_columns_are_named(lake, demand_spec, tmp_path):
    _rows(["2026-05-03 10:00", "yesterday-ish", "2026-05-03 12:00"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(
        LandingError, match=r"bad\.csv: column 'ts': 1 value\(s\) are not times, e.g. \['yesterday-ish'\]"
    ):
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


def _cli_land(settings, *args: str):
    """`conveyor land demand ARGS` with Airflow on a port nothing answers (a day landed again is announced)."""
    from typer.testing import CliRunner

    from ml_tasks.platform.cli.app import app
    from ml_tasks.platform.stack.environment import free_port

    port = free_port()  # nothing listens there
    env = {
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_LAKE_URI": str(settings.lake_uri),
        "CONVEYOR_AIRFLOW_PORT": str(port),
    }
    return CliRunner().invoke(app, ["land", "demand", *args], env=env)


BAD_FILES = {
    "empty.csv": (b"", "the file is empty"),
    "header-only.csv": (
        b"ts,store_id,item_id,units\n",
        r"no rows \(columns \['ts', 'store_id', 'item_id', 'units'\]\)",
    ),
    "garbage.parquet": (b"PAR1\x00\x01not really parquet", "not readable as Parquet"),
    "epoch-as-text.csv": (b"ts,store_id,item_id,units\n12,S1,I1,3\n13,S1,I1,4\n", "are not epoch times"),
    "words.csv": (b"ts,store_id,item_id,units\nmonday,S1,I1,3\n", r"1 value\(s\) are not times"),
    "1970.csv": (b"ts,store_id,item_id,units\n1970-01-01 00:00,S1,I1,3\n", "more than 10 years from the pipeline"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_every_bad_file_is_one_clear_line_exit_1_and_lands_nothing(settings, lake, tmp_path, name):
    content, message = BAD_FILES[name]
    (tmp_path / name).write_bytes(content)
    _rows(["2026-05-03 10:00"]).to_csv(tmp_path / "good.csv", index=False)  # good files beside it land nothing either
    result = _cli_land(settings, str(tmp_path / "good.csv"), str(tmp_path / name))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert name in result.output and __import__("re").search(message, result.output), result.output
    assert lake.partitions("raw", "demand") == []


def test_a_semicolon_csv_with_decimal_commas_and_epoch_seconds_lands_on_the_right_days(settings, lake, tmp_path):
    text = "ts;store_id;item_id;units;price\n1330560000;S1;I1;3;1,25\n1330644600;S1;I1;4;2,5\n1330646400;S1;I1;5;0,75\n"
    (tmp_path / "export.csv").write_text(text)  # 2012-03-01 00:00, 2012-03-01 23:30 and 2012-03-02 00:00 UTC
    result = _cli_land(settings, str(tmp_path / "export.csv"), "--delimiter", ",")
    assert result.exit_code == 1 and "no column 'ts'" in result.output and "give --delimiter" in result.output
    result = _cli_land(settings, str(tmp_path / "export.csv"), "--allow-distant")  # 2012, far from the spec's start
    assert result.exit_code == 0, result.output
    assert lake.partitions("raw", "demand") == [date(2012, 3, 1), date(2012, 3, 2)]
    first = lake.read_partition("raw", "demand", date(2012, 3, 1))
    assert first["price"].tolist() == [1.25, 2.5] and str(first["ts"].iloc[1]) == "2012-03-01 23:30:00+00:00"
    result = _cli_land(settings, str(tmp_path / "export.csv"))  # now the pipeline's history is 2012: no flag needed
    assert result.exit_code == 0, result.output


def test_validate_names_times_off_the_spec_cadence(settings, lake, demand_spec, tmp_path):
    from ml_tasks.platform.cli.spec_check import check_all

    half_hours = pd.date_range("2026-05-03", periods=48, freq="30min", tz="UTC")
    land_files(lake, demand_spec, [_write(_rows(half_hours), tmp_path / "half.parquet")], say=lambda m: None)
    problems = [str(p) for p in check_all(settings, ["demand"])["demand"]]
    assert any(
        "features.frequency" in p
        and "24 of 48 rows of raw day 2026-05-03 are off the hourly grid (e.g. 00:30:00); the data looks 30min" in p
        for p in problems
    ), problems


def _write(frame, path):
    frame.to_parquet(path)
    return path
