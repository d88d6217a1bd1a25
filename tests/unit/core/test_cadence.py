"""Cadences: frequencies as names or offset aliases, durations in steps, names of spans, detection."""

import numpy as np
import pandas as pd
import pytest

from ml_tasks.core import cadence
from ml_tasks.core.spec import SpecError, load_spec
from ml_tasks.features.columns import calendar_columns, feature_names, lookback_days, naive_columns


@pytest.mark.parametrize(
    "written, step, name",
    [
        ("hourly", 3600, "hourly"),
        ("h", 3600, "hourly"),
        ("1h", 3600, "hourly"),
        ("60min", 3600, "hourly"),
        ("30min", 1800, "30min"),
        ("15T", 900, "15min"),
        ("5min", 300, "5min"),
        ("2h", 7200, "2h"),
        ("D", 86_400, "daily"),
        ("daily", 86_400, "daily"),
        ("W", 604_800, "weekly"),
        ("7d", 604_800, "weekly"),
    ],
)
def test_frequencies_are_names_or_offset_aliases(written, step, name):
    assert cadence.step_of(written) == step and cadence.name(step) == name


@pytest.mark.parametrize("written", ["7min", "5h", "2d", "monthly", "30 parsecs"])
def test_a_step_that_does_not_divide_the_day_is_refused_with_the_choices(written):
    with pytest.raises(cadence.CadenceError, match="30min|duration"):
        cadence.step_of(written)


def _half_hourly_spec(tmp_path, features: str):
    text = f"""name: power
task: regression
data: {{timestamp: ts, target: mw, raw_suite: power_raw, features_suite: power_features}}
features:
  frequency: 30min
{features}
  start_date: "2000-06-05"
training: {{window_days: 40, holdout_days: 7}}
drift: {{columns: [hour]}}
"""
    (tmp_path / "power.yaml").write_text(text)
    return load_spec(tmp_path / "power.yaml")


def test_lags_windows_and_horizon_may_be_durations_and_name_their_span(tmp_path):
    spec = _half_hourly_spec(tmp_path, "  horizon: 24h\n  lags: [24h, 48h, 337]\n  windows: [90min, 7d]")
    f = spec.features
    assert (f.horizon, f.lags, f.windows, f.rows_per_day) == (48, [48, 96, 337], [3, 336], 48)
    names = feature_names(spec)
    assert calendar_columns(spec) == ["hour", "minute", "day_of_week", "is_weekend"]
    assert {"lag_24h", "lag_48h", "lag_10110min", "rolling_mean_90min", "rolling_std_168h"} <= set(names)
    assert naive_columns(spec) == ["lag_24h"]  # the horizon's; the spec builds no lag of a week
    assert lookback_days(spec) == 8


def test_a_duration_that_is_not_whole_steps_or_a_lag_shorter_than_the_horizon_is_refused(tmp_path):
    with pytest.raises(SpecError, match="45min is not a whole number of 30min steps"):
        _half_hourly_spec(tmp_path, "  horizon: 24h\n  lags: [45min]\n  windows: [24h]")
    with pytest.raises(SpecError, match=r"lags \[2\] are shorter than the horizon \(48\)"):
        _half_hourly_spec(tmp_path, "  horizon: 24h\n  lags: [1h]\n  windows: [24h]")


def test_the_cadence_of_a_sample_is_detected_through_gaps_and_across_series():
    times = pd.date_range("2000-06-05", periods=480, freq="30min")
    gappy = times.delete([5, 6, 7, 100])  # missing readings are multiples of the step
    assert cadence.detect(pd.Series(gappy).sample(frac=1.0, random_state=0)) == 1800
    hourly_two_series = pd.concat([pd.Series(times[::2]), pd.Series(times[1::2])])  # :00 and :30 series
    ids = ["a"] * 240 + ["b"] * 240
    assert cadence.detect(hourly_two_series, ids) == 3600
    weekly = pd.Series(pd.date_range("1958-03-29", periods=200, freq="7D"))
    assert cadence.detect(weekly) == cadence.WEEK


def test_irregular_timestamps_are_refused_naming_the_spacings_seen():
    rng = np.random.default_rng(0)
    readings = pd.Timestamp("2015-02-04") + pd.to_timedelta(np.cumsum(rng.integers(50, 70, 300)), unit="s")
    with pytest.raises(
        cadence.CadenceError,
        match=r"irregular: the spacings seen most are 0:0\d:\d\d .*"
        r"Aggregate the rows",
    ):
        cadence.detect(readings)
