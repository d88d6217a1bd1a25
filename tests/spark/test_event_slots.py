"""Events to slots on Spark give the same rows as the pandas view the gates and `validate` use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks.core import events
from ml_tasks.core.spec import PipelineSpec, load_spec

pytestmark = [pytest.mark.spark, pytest.mark.timeout(300)]


def _spec(tmp_path, frequency: str) -> PipelineSpec:
    (tmp_path / "trips.yaml").write_text(f"""name: trips
task: regression
data:
  timestamp: at
  keys: [station]
  target: trips
  raw_suite: trips_raw
  features_suite: trips_features
  events: {{trips: count, fare: {{sum: fare}}, longest: {{max: minutes}}, state: {{last: status}}}}
features: {{frequency: {frequency}, horizon: 1, lags: [1], windows: [2], start_date: "2024-01-01"}}
training: {{window_days: 10, holdout_days: 2}}
drift: {{columns: [trips]}}
""")
    return load_spec(tmp_path / "trips.yaml")


@pytest.mark.parametrize("frequency", ["30min", "hourly", "daily"])
def test_spark_and_pandas_aggregate_events_alike(tmp_path, spark, frequency):
    from spark_jobs.event_slots import aggregate_events

    spec = _spec(tmp_path, frequency)
    rng = np.random.default_rng(4)
    n = 400
    log = pd.DataFrame(
        {
            "at": pd.Timestamp("2024-03-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.integers(0, 2 * 86_400, n)), unit="s"),
            "station": rng.choice(["a", "b", "c"], n),
            "fare": rng.gamma(2.0, 5.0, n).round(2),
            "minutes": rng.integers(1, 90, n).astype(float),
            "status": rng.choice(["ok", "late"], n),
        }
    )
    log.loc[log.sample(frac=0.05, random_state=1).index, "fare"] = np.nan
    expected = events.series_view(log, spec)
    got = aggregate_events(spark.createDataFrame(log), spec).toPandas()
    got["at"] = pd.to_datetime(got["at"]).dt.tz_localize("UTC") if got["at"].dt.tz is None else got["at"]
    order = ["at", "station"]
    expected, got = (f.sort_values(order).reset_index(drop=True) for f in (expected, got))
    assert len(got) == len(expected) == 3 * 2 * max(1, 86_400 // spec.features.step_seconds)
    assert (got["at"].dt.tz_convert("UTC") == expected["at"]).all() and (got["station"] == expected["station"]).all()
    assert (got["trips"].to_numpy() == expected["trips"].to_numpy()).all() and got["trips"].sum() == n
    assert np.allclose(got["fare"], expected["fare"]) and np.allclose(
        got["longest"], expected["longest"], equal_nan=True
    )
    assert got["state"].fillna("-").tolist() == expected["state"].fillna("-").tolist()
