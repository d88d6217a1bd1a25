"""Timestamps as they come: epoch numbers by magnitude, dates as integers, local times across DST."""

import pandas as pd
import pytest

from ml_tasks.data.timestamps import TimestampError, to_utc

INSTANTS = pd.Series(pd.to_datetime(["2012-03-01 00:00", "2012-03-01 23:30", "2012-03-02 00:00"], utc=True))


@pytest.mark.parametrize("unit, factor", [("s", 1), ("ms", 1_000), ("us", 1_000_000), ("ns", 1_000_000_000)])
def test_epoch_numbers_are_read_in_the_unit_their_magnitude_tells(unit, factor):
    seconds = INSTANTS.astype("int64") // 1_000_000_000
    assert to_utc(seconds * factor).equals(INSTANTS)
    assert to_utc((seconds * factor).astype(float)).equals(INSTANTS)


def test_eight_digit_dates_are_days_and_small_numbers_are_refused():
    assert to_utc(pd.Series([20120301, 20120302])).dt.date.astype(str).tolist() == ["2012-03-01", "2012-03-02"]
    with pytest.raises(TimestampError, match=r"numbers like \[1, 2, 3\] are not epoch times"):
        to_utc(pd.Series([1, 2, 3]))


def test_naive_local_times_become_utc_across_both_clock_changes():
    # London, 2022: clocks skip 01:00-02:00 on 27 March and repeat 01:00-02:00 on 30 October.
    spring = pd.Series(pd.date_range("2022-03-27 00:00", periods=23, freq="h").delete(1))  # local, 01:00 absent
    utc = to_utc(spring, "Europe/London")
    assert utc.diff().dropna().eq(pd.Timedelta(hours=1)).all()  # a 23-hour local day is 23 contiguous UTC hours
    autumn_local = ["2022-10-30 00:00", "2022-10-30 01:00", "2022-10-30 01:00", "2022-10-30 02:00"]
    utc = to_utc(pd.Series(pd.to_datetime(autumn_local)), "Europe/London")
    assert utc.dt.strftime("%H:%M").tolist() == ["23:00", "00:00", "01:00", "02:00"]  # summer time first
    two_series = pd.Series(pd.to_datetime(autumn_local * 2))
    utc = to_utc(two_series, "Europe/London", series=pd.Series(["a"] * 4 + ["b"] * 4))
    assert utc.is_unique is False and utc[:4].tolist() == utc[4:].tolist()  # each series ordered on its own
    with pytest.raises(TimestampError, match=r"1 row\(s\) have local times that do not exist in Europe/London"):
        to_utc(pd.Series(pd.to_datetime(["2022-03-27 00:00", "2022-03-27 01:30"])), "Europe/London")


def test_times_written_with_offsets_are_instants_and_dates_stay_on_their_day():
    with_offsets = pd.Series(["2022-03-27T00:00:00+00:00", "2022-03-27T03:00:00+01:00"])
    assert to_utc(with_offsets, "America/New_York").dt.hour.tolist() == [0, 2]  # the zone is for naive times only
    days = pd.Series(["2022-03-26", "2022-03-27"])
    assert to_utc(days, "Asia/Tokyo", dates_are_days=True).dt.date.astype(str).tolist() == ["2022-03-26", "2022-03-27"]
    assert to_utc(days, "Asia/Tokyo").dt.date.astype(str).tolist() == ["2022-03-25", "2022-03-26"]


def test_values_that_are_not_times_are_named():
    with pytest.raises(TimestampError, match=r"2 value\(s\) are not times, e.g. \['soon', 'later'\]"):
        to_utc(pd.Series(["2022-01-01 00:00", "soon", "later"]))
