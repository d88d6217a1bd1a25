"""Suites fitted to each partition: null shares and profiled ranges by size, unused columns warn,
lag nulls as raw gaps explain them, and a backfill that would quarantine too much stops."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import numpy as np
import pytest

from ml_tasks.core.settings import load_settings
from ml_tasks.data.backfill import SuiteProblem, backfill_features
from ml_tasks.data.feature_nulls import explained_null_shares
from ml_tasks.data.gates import calibrate, check_raw_partition, null_share_bound
from ml_tasks.data.suite_profile import profiled_range
from ml_tasks.demo.demand_data import DemandDataConfig, generate_day, series_params

from ..conftest import DAY0


def test_the_null_share_bound_depends_on_the_partitions_size():
    assert null_share_bound(0.01, 24) == pytest.approx(3 / 24)
    assert 0.0104 < null_share_bound(0.01, 500_000) < 0.0105
    assert null_share_bound(0.0, 24) == null_share_bound(0.01, 24)  # never stricter than 1%
    assert null_share_bound(0.3, 24) > 0.5 and null_share_bound(0.01, 0) == 1.0


def test_calibration_warns_on_unused_columns_and_sizes_partial_checks(demand_spec):
    suite = {
        "expectations": [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "humidity"},
                "meta": {"notes": "x", "null_share": 0.02},
            },
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "price"},
                "meta": {"notes": "x", "null_share": 0.02},
            },
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "units"}, "meta": {"notes": "x"}},
        ]
    }
    small, large = calibrate(suite, demand_spec, 24), calibrate(suite, demand_spec, 100_000)
    humidity, price, units, price_collapse = small["expectations"]
    assert humidity["severity"] == "warning" and "no feature, key or target uses" in humidity["meta"]["notes"]
    assert "severity" not in units and "mostly" not in units["kwargs"]  # the target: every null blocks
    assert price["severity"] == "warning" and "the models take missing values" in price["meta"]["notes"]
    assert price["kwargs"]["mostly"] < large["expectations"][1]["kwargs"]["mostly"] < 0.98
    assert "severity" not in price_collapse and price_collapse["kwargs"] == {"column": "price", "mostly": 0.5}
    assert "severity" not in suite["expectations"][0]  # the file's data is not changed


def test_a_profiled_range_allows_a_few_values_outside_and_blocks_a_scale_change(settings, lake, demand_spec, tmp_path):
    cfg = DemandDataConfig(stores=2, items=3, days=9, start=DAY0)
    params = series_params(cfg)
    history = [generate_day(cfg, params, d) for d in cfg.dates]
    expectations = tmp_path / "expectations"
    shutil.copytree(load_settings().expectations_dir, expectations)
    suite = json.loads((expectations / "demand_raw.json").read_text())
    suite["expectations"].append(profiled_range(history[0]["price"]))
    (expectations / "demand_raw.json").write_text(json.dumps(suite))
    for d, frame in zip(cfg.dates, history, strict=True):
        lake.write_partition(frame, "raw", "demand", d)
    last = cfg.dates[-1]
    record_price = history[-1].copy()
    record_price.loc[0, "price"] = record_price["price"].max() * 1.5  # one new record price
    lake.write_partition(record_price, "raw", "demand", last)
    assert check_raw_partition(lake, expectations, demand_spec, last).success
    in_cents = history[-1].assign(price=history[-1]["price"] * 100)  # the feed switched to cents
    lake.write_partition(in_cents, "raw", "demand", last)
    result = check_raw_partition(lake, expectations, demand_spec, last)
    assert not result.success and any(f["target"] == "price" for f in result.failures)


def test_lag_nulls_are_explained_by_missing_raw_days(demand_spec):
    d = date(2026, 3, 20)
    rows = {d - timedelta(days=k): 240 for k in range(30)}
    assert all(v == 0 for v in explained_null_shares(demand_spec, d, rows).values())
    rows[d - timedelta(days=1)] = 0  # yesterday quarantined or never delivered
    explained = explained_null_shares(demand_spec, d, rows)
    assert explained["lag_24h"] == 1.0 and explained["lag_48h"] == 0.0 and explained["lag_168h"] == 0.0
    assert explained["rolling_mean_24h"] == 0.0  # the window reaches into the day before too
    rows[d - timedelta(days=7)] = 180  # a quarter of last week's hours missing
    assert explained_null_shares(demand_spec, d, rows)["lag_168h"] == pytest.approx(0.25)


def test_a_backfill_that_would_quarantine_most_days_stops_and_blames_the_suite(settings, lake, demand_spec, tmp_path):
    expectations = tmp_path / "expectations"
    shutil.copytree(load_settings().expectations_dir, expectations)
    suite = json.loads((expectations / "demand_raw.json").read_text())
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "units", "max_value": 3},
            "meta": {"notes": "a limit written for another shop"},
        }
    )
    (expectations / "demand_raw.json").write_text(json.dumps(suite))
    cfg = DemandDataConfig(stores=2, items=3, days=30, start=DAY0)
    params = series_params(cfg)
    for d in cfg.dates:
        lake.write_partition(generate_day(cfg, params, d), "raw", "demand", d)
    tight = settings.model_copy(update={"expectations_dir": expectations})
    with pytest.raises(SuiteProblem) as err:
        backfill_features(tight, demand_spec, cfg.dates[8:], progress=lambda m: None)
    message = str(err.value)
    assert "looks like a problem with the suite" in message and "expect_column_values_to_be_between(units)" in message
    assert lake.partitions("raw", "demand") == cfg.dates  # nothing moved
    assert lake.partitions("quarantine", "demand") == [] and lake.partitions("features", "demand") == []


def test_nulls_in_a_column_no_feature_uses_never_quarantine_a_day(settings, lake, demand_spec):
    cfg = DemandDataConfig(stores=2, items=3, days=8, start=DAY0)
    params = series_params(cfg)
    for d in cfg.dates:
        frame = generate_day(cfg, params, d).assign(humidity=np.nan if d == cfg.dates[-1] else 50.0)
        lake.write_partition(frame, "raw", "demand", d)
    result = check_raw_partition(lake, settings.expectations_dir, demand_spec, cfg.dates[-1])
    assert result.success and result.coverage["share"] == 1.0
