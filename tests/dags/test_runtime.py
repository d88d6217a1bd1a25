from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from conveyor_factory.runtime import partition_date


def test_param_dt_wins():
    assert partition_date({"params": {"dt": "2026-03-02"}, "data_interval_start": datetime(2026, 1, 1)}) == date(
        2026, 3, 2
    )


def test_scheduled_run_processes_its_data_interval_day():
    ctx = {"params": {"dt": ""}, "data_interval_start": datetime(2026, 3, 1, tzinfo=UTC)}
    assert partition_date(ctx) == date(2026, 3, 1)


def test_manual_run_without_logical_date_processes_the_last_complete_day():
    ctx = {
        "params": {},
        "data_interval_start": None,
        "dag_run": SimpleNamespace(run_after=datetime(2026, 3, 5, 14, 0, tzinfo=UTC)),
    }
    assert partition_date(ctx) == date(2026, 3, 4)


def test_malformed_dt_param_is_named():
    with pytest.raises(ValueError, match="param dt='03/02/2026' is not a date in YYYY-MM-DD form"):
        partition_date({"params": {"dt": "03/02/2026"}})


def _tick(run_type: str, dt: str = ""):
    return {
        "params": {"dt": dt},
        "logical_date": datetime(2026, 3, 5, 3, 0, tzinfo=UTC),
        "dag_run": SimpleNamespace(run_type=run_type),
    }


def test_scheduled_and_backfill_checks_look_at_the_day_before_their_tick():
    from conveyor_factory.runtime import checked_day

    assert checked_day(_tick("scheduled")) == checked_day(_tick("backfill")) == date(2026, 3, 4)
    assert checked_day(_tick("backfill", "2026-02-01")) == date(2026, 2, 1)  # the param still wins
    assert checked_day(_tick("manual")) is None  # manual: the newest partition
    assert checked_day(_tick("asset_triggered")) is None


def test_a_day_without_features_skips_on_a_tick_and_fails_at_once_by_hand_when_quarantined(lake):
    """A tick's day not built yet skips (the features run is the alarm); a day asked for by hand
    whose raw day is in quarantine fails without a retry, naming the quarantine folder."""
    import pandas as pd
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from conveyor_factory.runtime import day_to_check

    day = date(2026, 3, 4)
    with pytest.raises(AirflowSkipException, match="not published \\(yet\\)"):
        day_to_check(_tick("scheduled"), lake, "p")
    lake.write_partition(pd.DataFrame({"a": [1]}), "quarantine", "p", day)
    with pytest.raises(AirflowFailException, match=r"in quarantine \(.*quarantine/p/dt=2026-03-04"):
        day_to_check(_tick("manual", day.isoformat()), lake, "p")
    lake.write_partition(pd.DataFrame({"a": [1]}), "features", "p", day)
    assert day_to_check(_tick("manual", day.isoformat()), lake, "p") == day
    assert day_to_check(_tick("scheduled"), lake, "p") == day
